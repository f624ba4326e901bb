use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::Unauthenticated;
use super::service::{AuthFuture, Shared};
use crate::reject::{Reject, ResponseBody};

pin_project! {
    /// Response future of [`AuthService`](super::AuthService).
    pub struct ResponseFuture<S, B, R>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, R>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateProjReplace]
    enum State<S, B, R>
    where
        S: Service<Request<B>>,
    {
        Authenticating {
            auth: AuthFuture,
            body: B,
            inner: S,
            shared: Arc<Shared<R>>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Done,
    }
}

impl<S, B, R> ResponseFuture<S, B, R>
where
    S: Service<Request<B>>,
{
    pub(super) fn new(auth: AuthFuture, body: B, inner: S, shared: Arc<Shared<R>>) -> Self {
        Self {
            state: State::Authenticating {
                auth,
                body,
                inner,
                shared,
            },
        }
    }
}

impl<S, B, R, ResBody> Future for ResponseFuture<S, B, R>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    R: Reject,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Authenticating { auth, .. } => {
                    let (mut parts, outcome) = ready!(auth.as_mut().poll(cx));
                    let StateProjReplace::Authenticating {
                        body,
                        mut inner,
                        shared,
                        ..
                    } = this.state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("state was Authenticating")
                    };
                    match outcome {
                        Ok(identity) => {
                            if let Some(identity) = identity {
                                parts.extensions.insert(identity);
                            } else {
                                parts.extensions.insert(Unauthenticated);
                            }
                            let future = inner.call(Request::from_parts(parts, body));
                            this.state.set(State::Calling { future });
                        }
                        Err(error) => {
                            let mut res = shared.reject.reject(&error, &parts);
                            res.extensions_mut().insert(error);
                            return Poll::Ready(Ok(res.map(ResponseBody::rejection)));
                        }
                    }
                }
                StateProj::Calling { future } => {
                    return future.poll(cx).map_ok(|res| res.map(ResponseBody::inner));
                }
                StateProj::Done => panic!("ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, B, R> fmt::Debug for ResponseFuture<S, B, R>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
