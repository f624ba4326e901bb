use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;

use super::Unauthenticated;
use super::future::{Pending, ResponseFuture};
use super::layer::AuthLayer;
use crate::authenticator::{Authentication, Authenticator, Outcome};
use crate::credentials::bearer_token;
use crate::error::AuthError;
use crate::reject::{BodyMode, Reject, RejectionBody, WrapBody};
use crate::trace::Clock;

/// The configuration every service of one [`AuthLayer`] shares.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(super) authenticators: Vec<Arc<dyn Authenticator>>,
    pub(super) optional: bool,
    pub(super) reject: R,
}

/// Where the chain of authenticators got to.
pub(super) enum Step {
    /// With the method label of the authenticator that decided; `None`
    /// when no authenticator did.
    Decided(Outcome, Option<&'static str>),
    /// Authenticator `next - 1` must be waited for.
    Pending(Authentication, usize),
}

impl<R: Reject> Shared<R> {
    /// Asks the authenticators from index `from` on, until one decides or
    /// has to be waited for.
    pub(super) fn run(&self, parts: &Parts, from: usize) -> Step {
        for (i, authenticator) in self.authenticators.iter().enumerate().skip(from) {
            match authenticator.authenticate(parts).into_ready() {
                Ok(Ok(None)) => {}
                Ok(outcome) => return Step::Decided(outcome, Some(authenticator.method())),
                Err(pending) => return Step::Pending(pending, i + 1),
            }
        }
        // Bearer is the scheme we answer for (RFC 6750): a bearer token that
        // nobody recognised is a bad credential, not a missing one, in both
        // modes.
        let outcome = match bearer_token(&parts.headers) {
            Err(e) => Err(e),
            Ok(Some(_)) => Err(AuthError::invalid("unrecognized_bearer_token")),
            Ok(None) if self.optional => Ok(None),
            Ok(None) => Err(AuthError::missing()),
        };
        Step::Decided(outcome, None)
    }

    /// Applies a decision to the request head: the identity (or the
    /// optional-mode marker) goes into its extensions, or it becomes a
    /// rejection carrying the error in its extensions.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the rejection response itself, moved once into the future"
    )]
    pub(super) fn admit(
        &self,
        outcome: Outcome,
        method: Option<&'static str>,
        clock: Clock,
        parts: &mut Parts,
    ) -> Result<(), Response<RejectionBody>> {
        crate::trace::outcome(&outcome, method, clock);
        match outcome {
            Ok(Some(identity)) => {
                parts.extensions.insert(identity);
                Ok(())
            }
            Ok(None) => {
                parts.extensions.insert(Unauthenticated);
                Ok(())
            }
            Err(error) => {
                let mut res = self.reject.reject(&error, parts);
                res.extensions_mut().insert(error);
                Err(res)
            }
        }
    }
}

/// Middleware that authenticates requests before they reach `S`; made by
/// [`AuthLayer`]. `M` is the layer's [`BodyMode`].
pub struct AuthService<S, R, M = WrapBody> {
    inner: S,
    shared: Arc<Shared<R>>,
    mode: PhantomData<fn() -> M>,
}

impl<S> AuthService<S, crate::reject::DefaultRejection> {
    /// The layer for this service; same as [`AuthLayer::new`].
    pub fn layer<A: Authenticator>(authenticator: A) -> AuthLayer {
        AuthLayer::new(authenticator)
    }
}

impl<S, R, M> AuthService<S, R, M> {
    pub(super) const fn from_shared(inner: S, shared: Arc<Shared<R>>) -> Self {
        Self {
            inner,
            shared,
            mode: PhantomData,
        }
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

impl<S: Clone, R, M> Clone for AuthService<S, R, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            mode: PhantomData,
        }
    }
}

impl<S: fmt::Debug, R, M> fmt::Debug for AuthService<S, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("authenticators", &self.shared.authenticators.len())
            .field("optional", &self.shared.optional)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, R, M> Service<Request<ReqBody>> for AuthService<S, R, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: Reject,
    M: BodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clock = Clock::start();
        let (mut parts, body) = req.into_parts();
        match self.shared.run(&parts, 0) {
            // Decided at once: no allocation, and the ready service is
            // called right here.
            Step::Decided(outcome, method) => {
                match self.shared.admit(outcome, method, clock, &mut parts) {
                    Ok(()) => {
                        ResponseFuture::calling(self.inner.call(Request::from_parts(parts, body)))
                    }
                    Err(rejection) => ResponseFuture::rejected(rejection),
                }
            }
            Step::Pending(authentication, next) => {
                // The ready service is the one to call later; leave a fresh
                // clone behind.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::authenticating(Pending {
                    authentication,
                    next,
                    parts,
                    body,
                    inner,
                    shared: Arc::clone(&self.shared),
                    clock,
                })
            }
        }
    }
}
