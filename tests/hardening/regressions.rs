//! Inputs the fuzzers found (`fuzz/`, `FUZZING.md`), kept as tests.

use std::convert::Infallible;

use http::{HeaderValue, Request, Response};
use m2m_auth::AuthLayer;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, MemoryKeyStore};
use tower::{Layer, ServiceExt, service_fn};

async fn status_and_grpc(req: Request<()>) -> (u16, Option<HeaderValue>) {
    let layer = AuthLayer::new(ApiKeyAuthenticator::new(
        KeyFormat::new("acme_live").unwrap(),
        MemoryKeyStore::new(),
    ));
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let res = svc.oneshot(req).await.unwrap();
    (
        res.status().as_u16(),
        res.headers().get("grpc-status").cloned(),
    )
}

/// `layer`, crash-bfa2f66c: a content type that only starts with
/// `application/grpc` (then bytes that are not even UTF-8) was answered as
/// gRPC (HTTP 200 with `grpc-status`), which an HTTP client takes for a
/// success. It is not gRPC: 401.
#[tokio::test]
async fn a_content_type_that_only_starts_like_grpc_gets_http_401() {
    let content_type = b"application/grpcKK\xedKKCKKKQgrpcKK\xedKKCKKK";
    // The fuzzer's method bytes did not parse, so the request was a GET.
    let req = Request::get("/")
        .header("x-api-key", "")
        .header(
            "content-type",
            HeaderValue::from_bytes(content_type).unwrap(),
        )
        .header("authorization", "")
        .body(())
        .unwrap();
    assert_eq!(status_and_grpc(req).await, (401, None));
    // gRPC proper still gets its trailers-only answer.
    for grpc in [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc-web-text",
    ] {
        let req = Request::get("/")
            .header("content-type", grpc)
            .body(())
            .unwrap();
        let (status, code) = status_and_grpc(req).await;
        assert_eq!(
            (status, code.unwrap()),
            (200, HeaderValue::from_static("16"))
        );
    }
}
