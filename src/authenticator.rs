//! The [`Authenticator`] trait and its answer, [`Authentication`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;

use crate::error::AuthError;
use crate::identity::Identity;

/// What an authenticator decides about one request.
pub(crate) type Outcome = Result<Option<Identity>, AuthError>;

type BoxFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Checks one kind of credential in a request head.
///
/// [`AuthLayer`](crate::AuthLayer) asks its authenticators in order; each
/// answers with an [`Authentication`] that resolves to one of:
///
/// - `Ok(None)`: no credential of mine in this request; ask the next one.
/// - `Ok(Some(identity))`: authenticated; stop.
/// - `Err(error)`: my credential, but it is not acceptable; reject.
///
/// Like [`tower::Service::call`](https://docs.rs/tower/latest/tower/trait.Service.html#tymethod.call),
/// `authenticate` looks at the request synchronously and returns an answer
/// that does not borrow it: [`Authentication::ready`] when it can decide at
/// once (no credential, a malformed one, an in-memory hit), or
/// [`Authentication::pending`] with a `'static` future that owns what it
/// needs (the digest to look up, a clone of a pool). Decisions made at once
/// cost no allocation, and the layer never has to box or copy the request
/// head for them.
///
/// The trait is object safe: `Arc<dyn Authenticator>` and `Box<dyn
/// Authenticator>` are authenticators too.
///
/// ```
/// use std::sync::Arc;
/// use m2m_auth::{AuthError, Authentication, Authenticator, Credential, Identity};
///
/// /// Accepts tokens that a remote service vouches for.
/// struct Introspecting {
///     client: Arc<IntrospectionClient>,
/// }
///
/// impl Authenticator for Introspecting {
///     fn authenticate(&self, request: &http::request::Parts) -> Authentication {
///         let Some(value) = request.headers.get("x-session-token") else {
///             return Authentication::none();
///         };
///         let Ok(token) = value.to_str() else {
///             return Authentication::reject(AuthError::invalid("malformed_header"));
///         };
///         let (client, token) = (self.client.clone(), token.to_owned());
///         Authentication::pending(async move {
///             match client.introspect(&token).await {
///                 Ok(Some(subject)) => {
///                     let credential = Credential::custom("session", None);
///                     Ok(Some(Identity::builder(subject, credential).build()))
///                 }
///                 Ok(None) => Err(AuthError::invalid("unknown_session")),
///                 Err(e) => Err(AuthError::unavailable(e)),
///             }
///         })
///     }
/// }
/// # struct IntrospectionClient;
/// # impl IntrospectionClient {
/// #     async fn introspect(&self, _: &str) -> Result<Option<String>, std::io::Error> { Ok(None) }
/// # }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Looks for this authenticator's credential in `request` and checks it.
    fn authenticate(&self, request: &Parts) -> Authentication;

    /// A short, stable, lowercase label for this authenticator's method
    /// (`"api_key"`, `"jwt"`), given to the `tracing` events and metrics of
    /// the requests it rejects; accepted requests are labelled with their
    /// [`Credential::method`](crate::Credential::method).
    ///
    /// Defaults to `"custom"`.
    fn method(&self) -> &'static str {
        "custom"
    }
}

impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    fn authenticate(&self, request: &Parts) -> Authentication {
        (**self).authenticate(request)
    }

    fn method(&self) -> &'static str {
        (**self).method()
    }
}

impl<T: Authenticator + ?Sized> Authenticator for Box<T> {
    fn authenticate(&self, request: &Parts) -> Authentication {
        (**self).authenticate(request)
    }

    fn method(&self) -> &'static str {
        (**self).method()
    }
}

/// The answer of an [`Authenticator`]: decided now, or a future that
/// decides later.
///
/// It is itself a future, so an authenticator can `.await` another's
/// answer.
#[must_use]
pub struct Authentication {
    state: State,
}

enum State {
    Ready(Option<Outcome>),
    Pending(BoxFuture),
}

impl Authentication {
    /// Decided now with `outcome`.
    pub const fn ready(outcome: Result<Option<Identity>, AuthError>) -> Self {
        Self {
            state: State::Ready(Some(outcome)),
        }
    }

    /// No credential of this authenticator in the request.
    pub const fn none() -> Self {
        Self::ready(Ok(None))
    }

    /// Authenticated as `identity`.
    pub const fn accept(identity: Identity) -> Self {
        Self::ready(Ok(Some(identity)))
    }

    /// The credential is not acceptable, or cannot be checked now.
    pub const fn reject(error: AuthError) -> Self {
        Self::ready(Err(error))
    }

    /// Decided when `future` completes. It must not borrow the request.
    pub fn pending<F>(future: F) -> Self
    where
        F: Future<Output = Result<Option<Identity>, AuthError>> + Send + 'static,
    {
        Self {
            state: State::Pending(Box::pin(future)),
        }
    }

    /// The outcome, if it was decided without waiting; otherwise the future
    /// to wait for.
    pub(crate) fn into_ready(self) -> Result<Outcome, Self> {
        match self.state {
            State::Ready(Some(outcome)) => Ok(outcome),
            state => Err(Self { state }),
        }
    }
}

impl From<Result<Option<Identity>, AuthError>> for Authentication {
    fn from(outcome: Result<Option<Identity>, AuthError>) -> Self {
        Self::ready(outcome)
    }
}

impl Future for Authentication {
    type Output = Result<Option<Identity>, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Ready(outcome) => match outcome.take() {
                Some(outcome) => Poll::Ready(outcome),
                None => panic!("Authentication polled after completion"),
            },
            State::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Ready(outcome) => f.debug_tuple("Ready").field(outcome).finish(),
            State::Pending(_) => f.write_str("Pending"),
        }
    }
}
