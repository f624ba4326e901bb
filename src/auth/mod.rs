//! The authentication middleware: [`AuthLayer`] and [`AuthService`].
//!
//! For each request, the configured [`Authenticator`](crate::Authenticator)s
//! look at the request head in order. The first that recognises its
//! credential decides: an [`Identity`](crate::Identity) is inserted into the
//! request extensions and the inner service is called, or the request is
//! rejected through the layer's [`Reject`](crate::Reject). When no
//! authenticator finds a credential, the request is rejected as missing its
//! credential, or, in [optional](AuthLayer::optional) mode, passed on without
//! an `Identity`. A `Bearer` token that no authenticator claims is rejected
//! as invalid in both modes.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "api-key")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use m2m_auth::{AuthLayer, Identity};
//! use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let format = KeyFormat::new("acme_live")?;
//! let key = format.generate()?;
//! let store = MemoryKeyStore::new();
//! store.insert(key.digest(), KeyRecord::builder("key_1", "billing-service").build());
//!
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)))
//!     .service_fn(|req: Request<String>| async move {
//!         let caller = req.extensions().get::<Identity>().unwrap().subject().to_owned();
//!         Ok::<_, std::convert::Infallible>(Response::new(caller))
//!     });
//!
//! let req = Request::get("/").header("api-key", key.expose_secret()).body(String::new())?;
//! let res = service.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! let res = service.oneshot(Request::get("/").body(String::new())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "api-key"))]
//! # fn main() {}
//! ```

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::AuthLayer;
pub use self::service::AuthService;

/// Marks a request that passed an optional-mode layer without credentials,
/// so extractors can tell "unauthenticated" from "no layer at all".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unauthenticated;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Ready;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::request::Parts;
    use http::{Request, Response, StatusCode};
    use http_body::Body as _;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::{
        AuthError, AuthErrorKind, Authentication, Authenticator, Credential, Identity,
        RejectionBody, ResponseBody,
    };

    /// Claims requests whose `x-test` header equals its name and answers
    /// with `result`, at once or (when `pending`) after a yield.
    struct Fake {
        name: &'static str,
        result: Result<(), AuthError>,
        pending: bool,
        calls: Arc<AtomicUsize>,
    }

    fn fake(name: &'static str, result: Result<(), AuthError>) -> (Fake, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let fake = Fake {
            name,
            result,
            pending: false,
            calls: calls.clone(),
        };
        (fake, calls)
    }

    impl Fake {
        fn pending(mut self) -> Self {
            self.pending = true;
            self
        }
    }

    impl Authenticator for Fake {
        fn authenticate(&self, request: &Parts) -> Authentication {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mine = request
                .headers
                .get("x-test")
                .is_some_and(|v| v == self.name);
            let outcome = if mine {
                let identity = Identity::builder(self.name, Credential::custom("fake", None));
                self.result.clone().map(|()| Some(identity.build()))
            } else {
                Ok(None)
            };
            if self.pending {
                Authentication::pending(async move {
                    tokio::task::yield_now().await;
                    outcome
                })
            } else {
                outcome.into()
            }
        }
    }

    type Handler = fn(Request<()>) -> Ready<Result<Response<String>, Infallible>>;

    #[expect(
        clippy::needless_pass_by_value,
        reason = "the signature of a service_fn"
    )]
    fn handler(req: Request<()>) -> Ready<Result<Response<String>, Infallible>> {
        let who = req
            .extensions()
            .get::<Identity>()
            .map_or("anonymous", Identity::subject);
        std::future::ready(Ok(Response::new(who.to_owned())))
    }

    async fn call<L>(layer: L, header: Option<&str>) -> Response<ResponseBody<String>>
    where
        L: tower_layer::Layer<tower::util::ServiceFn<Handler>>,
        L::Service: tower_service::Service<
                Request<()>,
                Response = Response<ResponseBody<String>>,
                Error = Infallible,
            >,
    {
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service_fn(handler as Handler);
        let mut req = Request::builder();
        if let Some(h) = header {
            req = req.header("x-test", h);
        }
        svc.oneshot(req.body(()).unwrap()).await.unwrap()
    }

    /// The body of a successful response: the subject the handler saw.
    fn subject(res: Response<ResponseBody<String>>) -> String {
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        let waker = std::task::Waker::noop();
        match std::pin::Pin::new(&mut body).poll_frame(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
            }
            _ => String::new(),
        }
    }

    #[tokio::test]
    async fn the_chain_stops_at_the_first_authenticator_that_decides() {
        for pending in [false, true] {
            let (a, a_calls) = fake("a", Ok(()));
            let (b, b_calls) = fake("b", Ok(()));
            let (a, b) = if pending {
                (a.pending(), b.pending())
            } else {
                (a, b)
            };
            let layer = AuthLayer::new(a).or(b);
            assert_eq!(subject(call(layer.clone(), Some("a")).await), "a");
            assert_eq!(b_calls.load(Ordering::SeqCst), 0, "b asked after a decided");
            assert_eq!(subject(call(layer.clone(), Some("b")).await), "b");
            assert_eq!(a_calls.load(Ordering::SeqCst), 2);
            let res = call(layer, None).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                res.extensions().get::<AuthError>().map(AuthError::kind),
                Some(AuthErrorKind::Missing)
            );
        }
    }

    #[tokio::test]
    async fn a_pending_authenticator_can_hand_over_to_a_ready_one() {
        let (a, _) = fake("a", Ok(()));
        let (b, _) = fake("b", Err(AuthError::invalid("revoked")));
        let layer = AuthLayer::new(a.pending()).or(b);
        let res = call(layer, Some("b")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.extensions().get::<AuthError>().unwrap().reason(),
            "revoked"
        );
    }

    #[tokio::test]
    async fn an_error_stops_the_chain_and_rides_on_the_response() {
        let (a, _) = fake("a", Err(AuthError::invalid("revoked")));
        let (b, b_calls) = fake("a", Ok(()));
        let res = call(AuthLayer::new(a).or(b), Some("a")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(b_calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            res.extensions().get::<AuthError>().unwrap().reason(),
            "revoked"
        );
    }

    #[tokio::test]
    async fn optional_mode_still_rejects_bad_and_unavailable() {
        let (a, _) = fake("a", Err(AuthError::unavailable("down")));
        let layer = AuthLayer::new(a.pending()).optional();
        assert_eq!(subject(call(layer.clone(), None).await), "anonymous");
        let res = call(layer, Some("a")).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_closure_can_replace_the_rejection() {
        let (a, _) = fake("a", Ok(()));
        let layer = AuthLayer::new(a).reject_with(|e: &AuthError, _: &Parts| {
            let body = RejectionBody::from(format!("custom {}", e.kind().as_str()));
            let mut res = Response::new(body);
            *res.status_mut() = StatusCode::IM_A_TEAPOT;
            res
        });
        let res = call(layer, None).await;
        assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(
            res.body().size_hint().exact(),
            Some("custom missing".len() as u64)
        );
        assert!(res.extensions().get::<AuthError>().is_some());
    }

    #[tokio::test]
    async fn arc_dyn_authenticators_chain() {
        let (a, _) = fake("a", Ok(()));
        let (b, _) = fake("b", Ok(()));
        let a: Arc<dyn Authenticator> = Arc::new(a);
        let b: Box<dyn Authenticator> = Box::new(b.pending());
        let layer = AuthLayer::new(a).or(b);
        assert_eq!(subject(call(layer, Some("b")).await), "b");
    }

    #[tokio::test]
    async fn an_authentication_is_a_future() {
        assert!(Authentication::none().await.unwrap().is_none());
        let pending = Authentication::pending(async { Err(AuthError::expired()) });
        assert_eq!(format!("{pending:?}"), "Pending");
        assert_eq!(pending.await.unwrap_err().kind(), AuthErrorKind::Expired);
    }
}
