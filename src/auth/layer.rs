use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::{AuthService, Shared};
use crate::authenticator::Authenticator;
use crate::reject::{DefaultRejection, Reject};

/// Authenticates every request with an ordered chain of
/// [`Authenticator`]s; see the [module docs](crate::auth).
///
/// Cloning is cheap; every service made by the layer shares one
/// configuration.
#[must_use]
pub struct AuthLayer<R = DefaultRejection> {
    shared: Arc<Shared<R>>,
}

impl AuthLayer {
    /// A layer requiring a credential that `authenticator` accepts, rejecting
    /// with [`DefaultRejection`].
    pub fn new<A: Authenticator>(authenticator: A) -> Self {
        Self {
            shared: Arc::new(Shared {
                authenticators: vec![Arc::new(authenticator)],
                optional: false,
                reject: DefaultRejection::new(),
            }),
        }
    }
}

impl<R: Reject> AuthLayer<R> {
    fn edit(self, f: impl FnOnce(&mut Shared<R>)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        f(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Adds `authenticator` to the end of the chain: it is asked when the
    /// ones before it found no credential of theirs.
    pub fn or<A: Authenticator>(self, authenticator: A) -> Self {
        self.edit(|s| s.authenticators.push(Arc::new(authenticator)))
    }

    /// Lets requests without any credential through, without an
    /// [`Identity`](crate::Identity). A credential that is present but bad
    /// is still rejected. Defaults to off: a credential is required.
    pub fn optional(self) -> Self {
        self.edit(|s| s.optional = true)
    }

    /// Rejects with `reject` instead of the [`DefaultRejection`].
    pub fn reject_with<R2: Reject>(self, reject: R2) -> AuthLayer<R2> {
        let shared = Arc::unwrap_or_clone(self.shared);
        AuthLayer {
            shared: Arc::new(Shared {
                authenticators: shared.authenticators,
                optional: shared.optional,
                reject,
            }),
        }
    }
}

impl<R> Clone for AuthLayer<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticators", &self.shared.authenticators.len())
            .field("optional", &self.shared.optional)
            .field("reject", &self.shared.reject)
            .finish()
    }
}

impl<S, R> Layer<S> for AuthLayer<R> {
    type Service = AuthService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::from_shared(inner, Arc::clone(&self.shared))
    }
}
