use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::AuthLayer;
use crate::authenticator::Authenticator;
use crate::credentials::bearer_token;
use crate::error::AuthError;
use crate::identity::Identity;
use crate::reject::{Reject, ResponseBody};

/// The configuration every service of one [`AuthLayer`] shares.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(super) authenticators: Vec<Arc<dyn Authenticator>>,
    pub(super) optional: bool,
    pub(crate) reject: R,
}

/// What the authenticators decided: an identity, a pass without one
/// (optional mode), or a rejection.
pub(super) type Outcome = Result<Option<Identity>, AuthError>;

pub(super) type AuthFuture = Pin<Box<dyn Future<Output = (Parts, Outcome)> + Send>>;

/// Middleware that authenticates requests before they reach `S`; made by
/// [`AuthLayer`].
pub struct AuthService<S, R> {
    inner: S,
    shared: Arc<Shared<R>>,
}

impl<S> AuthService<S, crate::reject::DefaultRejection> {
    /// The layer for this service; same as [`AuthLayer::new`].
    pub fn layer<A: Authenticator>(authenticator: A) -> AuthLayer {
        AuthLayer::new(authenticator)
    }
}

impl<S, R> AuthService<S, R> {
    pub(super) const fn from_shared(inner: S, shared: Arc<Shared<R>>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, R> Clone for AuthService<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for AuthService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("authenticators", &self.shared.authenticators.len())
            .field("optional", &self.shared.optional)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, R> Service<Request<ReqBody>> for AuthService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: Reject,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The ready service is the one to call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = req.into_parts();
        let auth = Box::pin(authenticate(Arc::clone(&self.shared), parts));
        ResponseFuture::new(auth, body, inner, Arc::clone(&self.shared))
    }
}

async fn authenticate<R: Send + Sync + 'static>(
    shared: Arc<Shared<R>>,
    parts: Parts,
) -> (Parts, Outcome) {
    let outcome = decide(&shared, &parts).await;
    crate::trace::outcome(&outcome);
    (parts, outcome)
}

async fn decide<R>(shared: &Shared<R>, parts: &Parts) -> Outcome {
    for authenticator in &shared.authenticators {
        if let Some(identity) = authenticator.authenticate(parts).await? {
            return Ok(Some(identity));
        }
    }
    // Bearer is the scheme we answer for (RFC 6750): a bearer token nobody
    // recognised is a bad credential, not a missing one, in both modes.
    if bearer_token(&parts.headers)?.is_some() {
        return Err(AuthError::invalid("unrecognized_bearer_token"));
    }
    if shared.optional {
        Ok(None)
    } else {
        Err(AuthError::missing())
    }
}
