use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::reject::{BodyMode, RejectionBody, WrapBody};

pin_project! {
    /// Response future of [`RequireScopes`](super::RequireScopes).
    pub struct ResponseFuture<F, M = WrapBody> {
        #[pin]
        kind: Kind<F>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<RejectionBody>> },
    }
}

impl<F, M> ResponseFuture<F, M> {
    pub(super) const fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
            mode: PhantomData,
        }
    }

    pub(super) const fn rejected(response: Response<RejectionBody>) -> Self {
        Self {
            kind: Kind::Rejected {
                response: Some(response),
            },
            mode: PhantomData,
        }
    }
}

impl<F, M, B, E> Future for ResponseFuture<F, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx).map_ok(|r| r.map(M::inner)),
            KindProj::Rejected { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res.map(M::rejection))),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

impl<F, M> fmt::Debug for ResponseFuture<F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
