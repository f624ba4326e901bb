//! The whole layer (API keys and JWTs on one `AuthLayer`) fed arbitrary
//! request heads: method, path and headers. Every one must get a 401 or
//! a 400: nothing random authenticates, nothing panics, nothing is a 5xx.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use m2m_auth::AuthLayer;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use tower::{Layer, ServiceExt, service_fn};

#[derive(Arbitrary, Debug)]
struct Head<'a> {
    method: &'a [u8],
    path: &'a [u8],
    headers: Vec<(Name<'a>, &'a [u8])>,
}

#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Authorization,
    ApiKey,
    XApiKey,
    ContentType,
    Other(&'a [u8]),
}

fn layer() -> &'static AuthLayer {
    static LAYER: OnceLock<AuthLayer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let format = KeyFormat::new("acme_live").unwrap();
        let store = MemoryKeyStore::new();
        let key = format.generate().unwrap();
        store.insert(key.digest(), KeyRecord::builder("key_1", "owner").build());
        let jwt = JwtAuthenticator::builder()
            .issuer("https://idp.example")
            .audience("https://api.example")
            .algorithms([Algorithm::HS256])
            .keys(KeySet::new([Key::hmac(&[7; 32]).unwrap()]).unwrap())
            .build()
            .unwrap();
        AuthLayer::new(ApiKeyAuthenticator::new(format, store)).or(jwt)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|head: Head<'_>| {
    let mut req = http::Request::builder();
    if let Ok(method) = http::Method::from_bytes(head.method) {
        req = req.method(method);
    }
    if let Ok(uri) = http::Uri::try_from(head.path) {
        req = req.uri(uri);
    }
    for (name, value) in &head.headers {
        let name = match name {
            Name::Authorization => http::header::AUTHORIZATION,
            Name::ApiKey => http::HeaderName::from_static("api-key"),
            Name::XApiKey => http::HeaderName::from_static("x-api-key"),
            Name::ContentType => http::header::CONTENT_TYPE,
            Name::Other(n) => match http::HeaderName::from_bytes(n) {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        let Ok(value) = http::HeaderValue::from_bytes(value) else {
            continue;
        };
        req = req.header(name, value);
    }
    let Ok(req) = req.body(()) else {
        return;
    };
    // gRPC: `application/grpc` or `application/grpc-web[-text]`, alone or
    // with `+format` or parameters.
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_ascii_lowercase())
        .is_some_and(|v| {
            v.strip_prefix(b"application/grpc").is_some_and(|rest| {
                let rest = rest.strip_prefix(b"-web").unwrap_or(rest);
                let rest = rest.strip_prefix(b"-text").unwrap_or(rest);
                matches!(rest.first(), None | Some(b'+' | b';' | b' '))
            })
        });
    let svc = layer().layer(service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(()))
    }));
    let res = runtime().block_on(svc.oneshot(req)).unwrap();
    if grpc {
        // Trailers-only: 200 with grpc-status 16 UNAUTHENTICATED.
        let status = res
            .headers()
            .get("grpc-status")
            .map(|v| v.as_bytes().to_vec());
        assert!(
            status.as_deref() == Some(b"16"),
            "{:?} {:?}",
            res.status(),
            status
        );
    } else {
        assert!(
            res.status() == 401 || res.status() == 400,
            "{}",
            res.status()
        );
    }
});
