use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::{AuthService, Shared};
use crate::authenticator::Authenticator;
use crate::reject::{DefaultRejection, Reject, WrapBody};

/// Authenticates every request with an ordered chain of
/// [`Authenticator`]s; see the [module docs](crate::auth).
///
/// Cloning is cheap; every service made by the layer shares one
/// configuration. `M`, the [`BodyMode`](crate::BodyMode), says what body
/// the responses have: a [`ResponseBody`](crate::ResponseBody) by default,
/// axum's own with [`axum_body`](Self::axum_body).
#[must_use]
pub struct AuthLayer<R = DefaultRejection, M = WrapBody> {
    shared: Arc<Shared<R>>,
    mode: PhantomData<fn() -> M>,
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
            mode: PhantomData,
        }
    }
}

impl<R: Reject, M> AuthLayer<R, M> {
    fn edit(self, f: impl FnOnce(&mut Shared<R>)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        f(&mut shared);
        Self {
            shared: Arc::new(shared),
            mode: PhantomData,
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
    pub fn reject_with<R2: Reject>(self, reject: R2) -> AuthLayer<R2, M> {
        let shared = Arc::unwrap_or_clone(self.shared);
        AuthLayer {
            shared: Arc::new(Shared {
                authenticators: shared.authenticators,
                optional: shared.optional,
                reject,
            }),
            mode: PhantomData,
        }
    }

    /// Answers with axum's own response body
    /// ([`AxumBody`](crate::AxumBody)) instead of a
    /// [`ResponseBody`](crate::ResponseBody), for a layer around axum
    /// routes or routers: axum then has no body of ours to box, one
    /// allocation less per request. The inner service must answer with
    /// `axum::body::Body`, as axum's routes and routers do.
    ///
    /// ```
    /// # use m2m_auth::{AuthLayer, Authentication, Authenticator};
    /// # struct Anyone;
    /// # impl Authenticator for Anyone {
    /// #     fn authenticate(&self, _: &http::request::Parts) -> Authentication {
    /// #         Authentication::none()
    /// #     }
    /// # }
    /// use axum::{Router, routing::get};
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "ok" }))
    ///     .layer(AuthLayer::new(Anyone).axum_body());
    /// ```
    #[cfg(feature = "axum")]
    pub fn axum_body(self) -> AuthLayer<R, crate::reject::AxumBody> {
        AuthLayer {
            shared: self.shared,
            mode: PhantomData,
        }
    }
}

impl<R, M> Clone for AuthLayer<R, M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            mode: PhantomData,
        }
    }
}

impl<R: fmt::Debug, M> fmt::Debug for AuthLayer<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticators", &self.shared.authenticators.len())
            .field("optional", &self.shared.optional)
            .field("reject", &self.shared.reject)
            .finish()
    }
}

impl<S, R, M> Layer<S> for AuthLayer<R, M> {
    type Service = AuthService<S, R, M>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::from_shared(inner, Arc::clone(&self.shared))
    }
}
