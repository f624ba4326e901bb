use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::service::{Shared, Step};
use crate::authenticator::Authentication;
use crate::reject::{BodyMode, Reject, RejectionBody, WrapBody};

pin_project! {
    /// Response future of [`AuthService`](super::AuthService).
    pub struct ResponseFuture<S, B, R, M = WrapBody>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, R>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateProjReplace]
    enum State<S, B, R>
    where
        S: Service<Request<B>>,
    {
        // Boxed: only requests that wait for I/O pay for it, and the future
        // stays small for the ones decided at once.
        Authenticating {
            pending: Box<Pending<S, B, R>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Rejected {
            response: Option<Response<RejectionBody>>,
        },
        Done,
    }
}

/// A request waiting for an authenticator.
pub(super) struct Pending<S, B, R> {
    pub(super) authentication: Authentication,
    pub(super) next: usize,
    pub(super) parts: Parts,
    pub(super) body: B,
    pub(super) inner: S,
    pub(super) shared: Arc<Shared<R>>,
    pub(super) clock: crate::trace::Clock,
}

impl<S, B, R, M> ResponseFuture<S, B, R, M>
where
    S: Service<Request<B>>,
{
    pub(super) const fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
            mode: PhantomData,
        }
    }

    pub(super) const fn rejected(response: Response<RejectionBody>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
            mode: PhantomData,
        }
    }

    pub(super) fn authenticating(pending: Pending<S, B, R>) -> Self {
        Self {
            state: State::Authenticating {
                pending: Box::new(pending),
            },
            mode: PhantomData,
        }
    }
}

impl<S, B, R, M, ResBody> Future for ResponseFuture<S, B, R, M>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    R: Reject,
    M: BodyMode<ResBody>,
{
    type Output = Result<Response<M::Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authenticating { pending } => {
                    let outcome = ready!(Pin::new(&mut pending.authentication).poll(cx));
                    let (outcome, method) = match outcome {
                        // Not this authenticator's credential: ask the rest.
                        Ok(None) => match pending.shared.run(&pending.parts, pending.next) {
                            Step::Pending(authentication, next) => {
                                pending.authentication = authentication;
                                pending.next = next;
                                continue;
                            }
                            Step::Decided(outcome, method) => (outcome, method),
                        },
                        decided => {
                            let method = pending.shared.authenticators[pending.next - 1].method();
                            (decided, Some(method))
                        }
                    };
                    let StateProjReplace::Authenticating { pending } =
                        this.state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("state was Authenticating")
                    };
                    let Pending {
                        mut parts,
                        body,
                        mut inner,
                        shared,
                        clock,
                        ..
                    } = *pending;
                    match shared.admit(outcome, method, clock, &mut parts) {
                        Ok(()) => {
                            let future = inner.call(Request::from_parts(parts, body));
                            this.state.set(State::Calling { future });
                        }
                        Err(rejection) => {
                            return Poll::Ready(Ok(rejection.map(M::rejection)));
                        }
                    }
                }
                StateProj::Calling { future } => {
                    return future.poll(cx).map_ok(|res| res.map(M::inner));
                }
                StateProj::Rejected { response } => {
                    let Some(response) = response.take() else {
                        panic!("ResponseFuture polled after completion")
                    };
                    return Poll::Ready(Ok(response.map(M::rejection)));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, B, R, M> fmt::Debug for ResponseFuture<S, B, R, M>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
