//! API-key authentication end to end: an axum server on 127.0.0.1 and a real
//! HTTP client.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use m2m_auth::api_key::{
    ApiKey, ApiKeyAuthenticator, KeyDigest, KeyFormat, KeyRecord, KeyRecordBuilder, KeyStore,
    MemoryKeyStore, StoreError,
};
use m2m_auth::{AuthLayer, Identity, RequireScopesLayer, Scopes, async_trait};
use reqwest::StatusCode;

const PREFIX: &str = "acme_live";
const OWNER: &str = "billing-service";

/// A store with one key in every state.
struct Fixture {
    store: MemoryKeyStore,
    format: KeyFormat,
    valid: ApiKey,
    unscoped: ApiKey,
    revoked: ApiKey,
    expired: ApiKey,
    disabled: ApiKey,
}

impl Fixture {
    fn new() -> Self {
        let format = KeyFormat::new(PREFIX).unwrap();
        let store = MemoryKeyStore::new();
        let issue = |id: &str, edit: &dyn Fn(KeyRecordBuilder) -> KeyRecordBuilder| {
            let key = format.generate().unwrap();
            let record = KeyRecord::builder(id, OWNER)
                .hint(key.hint())
                .scopes(Scopes::new(["reports:read"]).unwrap());
            store.insert(key.digest(), edit(record).build());
            key
        };
        let now = SystemTime::now();
        Self {
            valid: issue("key_valid", &|r| r),
            unscoped: issue("key_unscoped", &|r| r.scopes(Scopes::default())),
            revoked: issue("key_revoked", &|r| r.revoked_at(Some(now))),
            expired: issue("key_expired", &|r| {
                r.expires_at(Some(now - Duration::from_secs(1)))
            }),
            disabled: issue("key_disabled", &|r| r.enabled(false)),
            store,
            format,
        }
    }
}

async fn whoami(identity: Identity) -> String {
    identity.subject().to_owned()
}

async fn maybe_whoami(identity: Option<Identity>) -> String {
    identity.map_or_else(|| "anonymous".to_owned(), |i| i.subject().to_owned())
}

fn app<S: KeyStore>(format: KeyFormat, store: S) -> Router {
    let reports = Router::new()
        .route("/reports", get(whoami))
        .layer(RequireScopesLayer::new(["reports:read"]).unwrap());
    Router::new()
        .route("/whoami", get(whoami))
        .merge(reports)
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)))
}

fn optional_app(format: KeyFormat, store: MemoryKeyStore) -> Router {
    Router::new()
        .route("/maybe", get(maybe_whoami))
        .route("/whoami", get(whoami))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)).optional())
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    Reply {
        status: res.status(),
        challenge: header("www-authenticate"),
        content_type: header("content-type"),
        body: res.text().await.unwrap(),
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn no_key_gets_401_with_a_bare_bearer_challenge() {
    let f = Fixture::new();
    let addr = serve(app(f.format, f.store)).await;
    let r = get_with(addr, "/whoami", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["status"], 401);

    // Another scheme is not our credential: still "missing".
    let r = get_with(addr, "/whoami", &[("authorization", "Basic dXNlcjpwYXNz")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn a_valid_key_is_accepted_in_each_header_form() {
    let f = Fixture::new();
    let key = f.valid.expose_secret();
    let addr = serve(app(f.format.clone(), f.store.clone())).await;
    for (name, value) in [
        ("authorization", bearer(key)),
        ("authorization", format!("bearer {key}")),
        ("api-key", key.to_owned()),
        ("x-api-key", key.to_owned()),
    ] {
        let r = get_with(addr, "/whoami", &[(name, &value)]).await;
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.body, OWNER, "{name}");
    }
}

#[tokio::test]
async fn every_bad_key_gets_the_same_401() {
    let f = Fixture::new();
    let other_format = KeyFormat::new("acme_test").unwrap();
    let other = other_format.generate().unwrap();
    let unknown = f.format.generate().unwrap();
    let valid = f.valid.expose_secret();
    let mut bad_checksum = valid.to_owned();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'a' { 'b' } else { 'a' });

    let addr = serve(app(f.format.clone(), f.store.clone())).await;
    let cases: Vec<(&str, (&str, String))> = vec![
        ("garbage", ("api-key", "hello".into())),
        ("garbage bearer", ("authorization", bearer("hello"))),
        ("wrong prefix", ("api-key", other.expose_secret().into())),
        (
            "wrong prefix bearer",
            ("authorization", bearer(other.expose_secret())),
        ),
        (
            "oversized",
            ("api-key", format!("{PREFIX}_{}", "a".repeat(6000))),
        ),
        ("bad checksum", ("x-api-key", bad_checksum)),
        (
            "unknown",
            ("authorization", bearer(unknown.expose_secret())),
        ),
        ("revoked", ("api-key", f.revoked.expose_secret().into())),
        ("expired", ("api-key", f.expired.expose_secret().into())),
        (
            "disabled",
            ("authorization", bearer(f.disabled.expose_secret())),
        ),
    ];
    let mut bodies = Vec::new();
    for (case, (name, value)) in &cases {
        let r = get_with(addr, "/whoami", &[(name, value)]).await;
        assert_eq!(r.status, 401, "{case}");
        assert_eq!(
            r.challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#),
            "{case}"
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/problem+json"),
            "{case}"
        );
        bodies.push(r.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "bodies differ: {bodies:?}"
    );
}

#[tokio::test]
async fn ambiguous_credentials_get_400() {
    let f = Fixture::new();
    let key = f.valid.expose_secret();
    let addr = serve(app(f.format.clone(), f.store.clone())).await;
    for headers in [
        vec![("api-key", key), ("x-api-key", key)],
        vec![("api-key", key), ("authorization", &bearer(key))],
    ] {
        let r = get_with(addr, "/whoami", &headers).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.challenge.as_deref(),
            Some(r#"Bearer error="invalid_request""#)
        );
    }
}

/// A store that cannot be reached.
#[derive(Debug)]
struct DownStore;

#[async_trait]
impl KeyStore for DownStore {
    async fn lookup(&self, _: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

#[tokio::test]
async fn a_failing_store_gets_503_not_401() {
    let format = KeyFormat::new(PREFIX).unwrap();
    let key = format.generate().unwrap();
    let addr = serve(app(format, DownStore)).await;
    let r = get_with(addr, "/whoami", &[("api-key", key.expose_secret())]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.challenge, None);
    assert_eq!(r.content_type.as_deref(), Some("application/problem+json"));
    // Malformed keys are still refused without asking the store.
    let r = get_with(addr, "/whoami", &[("api-key", "nope")]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_missing_scope_gets_403_insufficient_scope() {
    let f = Fixture::new();
    let addr = serve(app(f.format.clone(), f.store.clone())).await;
    let r = get_with(addr, "/reports", &[("api-key", f.unscoped.expose_secret())]).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="reports:read""#)
    );
    let r = get_with(addr, "/reports", &[("api-key", f.valid.expose_secret())]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, OWNER);
    // Authentication comes before the scope check.
    let r = get_with(addr, "/reports", &[]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn grpc_requests_get_a_trailers_only_unauthenticated() {
    let f = Fixture::new();
    let addr = serve(app(f.format.clone(), f.store.clone())).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for (headers, status) in [
        (vec![], "16"),
        (vec![("authorization", bearer("garbage"))], "16"),
        (
            vec![("authorization", bearer(f.unscoped.expose_secret()))],
            "7",
        ),
    ] {
        let mut req = client
            .post(format!("http://{addr}/reports"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(vec![0u8, 0, 0, 0, 0]);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/grpc");
        assert_eq!(res.headers()["grpc-status"], status);
        assert!(res.headers().contains_key("grpc-message"));
        assert!(
            res.bytes().await.unwrap().is_empty(),
            "trailers-only has no body"
        );
    }
}

#[tokio::test]
async fn optional_mode_passes_anonymous_requests_but_not_bad_keys() {
    let f = Fixture::new();
    let addr = serve(optional_app(f.format.clone(), f.store.clone())).await;

    let r = get_with(addr, "/maybe", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "anonymous"));

    let r = get_with(addr, "/maybe", &[("api-key", f.valid.expose_secret())]).await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, OWNER));

    for bad in ["garbage", f.revoked.expose_secret()] {
        let r = get_with(addr, "/maybe", &[("api-key", bad)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
    let r = get_with(
        addr,
        "/maybe",
        &[("authorization", "Bearer nobody-knows-me")],
    )
    .await;
    assert_eq!(r.status, 401);

    // A handler that needs an identity answers an anonymous request with the
    // layer's 401.
    let r = get_with(addr, "/whoami", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.challenge.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn the_identity_extractor_names_a_missing_layer() {
    let addr = serve(Router::new().route("/whoami", get(whoami))).await;
    let r = get_with(addr, "/whoami", &[]).await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("AuthLayer"), "{}", r.body);
}

/// Counts lookups, then asks a memory store.
#[derive(Clone, Debug, Default)]
struct CountingStore {
    inner: MemoryKeyStore,
    lookups: Arc<AtomicUsize>,
}

#[async_trait]
impl KeyStore for CountingStore {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(digest).await
    }
}

#[tokio::test]
async fn malformed_keys_never_reach_the_store() {
    let f = Fixture::new();
    let store = CountingStore {
        inner: f.store.clone(),
        ..CountingStore::default()
    };
    let addr = serve(app(f.format.clone(), store.clone())).await;
    let valid = f.valid.expose_secret();
    let mut bad_checksum = valid.to_owned();
    bad_checksum.replace_range(12..13, if &valid[12..13] == "x" { "y" } else { "x" });
    let other = KeyFormat::new("acme_test").unwrap().generate().unwrap();
    let malformed = [
        "",
        "x",
        "acme_live_",
        &valid[..valid.len() - 1],
        &format!("{valid}0"),
        &format!("{}-{}", &valid[..20], &valid[21..]),
        &bad_checksum,
        other.expose_secret(),
        &"a".repeat(4000),
    ];
    for key in malformed {
        for header in ["api-key", "x-api-key"] {
            let r = get_with(addr, "/whoami", &[(header, key)]).await;
            assert_eq!(r.status, 401, "{key:?}");
        }
        let r = get_with(addr, "/whoami", &[("authorization", &bearer(key))]).await;
        assert_eq!(r.status, 401, "{key:?}");
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 0);

    // The counter works: a well-formed key is looked up once.
    let unknown = f.format.generate().unwrap();
    get_with(addr, "/whoami", &[("api-key", unknown.expose_secret())]).await;
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
}

/// Every 8-character window of the part of `key` after its prefix: a hint
/// shows 4 + 4 characters, so any longer run means key material leaked.
fn key_windows(key: &str) -> Vec<&str> {
    let secret = &key[PREFIX.len() + 1..];
    (0..=secret.len() - 8).map(|i| &secret[i..i + 8]).collect()
}

fn assert_no_key_material(text: &str, key: &str, what: &str) {
    assert!(!text.contains(key), "{what} contains the key: {text}");
    for w in key_windows(key) {
        assert!(
            !text.contains(w),
            "{what} contains key material {w:?}: {text}"
        );
    }
}

#[tokio::test]
async fn no_public_type_shows_key_material_in_debug() {
    let f = Fixture::new();
    let key = f.valid.expose_secret().to_owned();
    let digest = f.valid.digest();
    let record = f.store.lookup(&digest).await.unwrap().unwrap();
    let auth = ApiKeyAuthenticator::new(f.format.clone(), f.store.clone());
    let builder = ApiKeyAuthenticator::builder(f.format.clone(), f.store.clone());
    let layer = AuthLayer::new(ApiKeyAuthenticator::new(f.format.clone(), f.store.clone()));
    let error = m2m_auth::AuthError::invalid("revoked").with_credential_id("key_revoked");
    let debugs = [
        format!("{:?}", f.valid),
        format!("{digest:?}"),
        format!("{record:?}"),
        format!("{:?}", record.identity()),
        format!("{:?}", record.identity().credential()),
        format!("{:?}", f.format),
        format!("{:?}", f.store),
        format!("{auth:?}"),
        format!("{builder:?}"),
        format!("{layer:?}"),
        format!("{error:?} {error}"),
        format!("{:?}", StoreError::new("down")),
        format!("{:?}", RequireScopesLayer::new(["a"]).unwrap()),
        format!("{:?}", m2m_auth::DefaultRejection::new()),
        format!("{:?}", m2m_auth::IdentityRejection::MissingAuthLayer),
    ];
    for d in &debugs {
        assert_no_key_material(d, &key, "Debug output");
    }
    assert!(
        debugs[2].contains(&f.valid.hint()),
        "the hint is meant to show"
    );
}

/// `AuthLayer::axum_body` (and `RequireScopesLayer::axum_body`): the same
/// answers as the default body mode, over a socket, whether the layer is
/// added by `Router::layer` or wraps the router (which `axum::serve` then
/// takes as it is).
#[tokio::test]
async fn the_axum_body_mode_answers_as_the_default_one() {
    use tower::ServiceExt;
    use tower_layer::Layer;

    let f = Fixture::new();
    let key = f.valid.expose_secret().to_owned();
    let layer = || AuthLayer::new(ApiKeyAuthenticator::new(f.format.clone(), f.store.clone()));
    let default = serve(app(f.format.clone(), f.store.clone())).await;
    let reports = Router::new().route("/reports", get(whoami)).layer(
        RequireScopesLayer::new(["reports:read"])
            .unwrap()
            .axum_body(),
    );
    let layered = serve(
        Router::new()
            .route("/whoami", get(whoami))
            .merge(reports)
            .layer(layer().axum_body()),
    )
    .await;
    let wrapped_service = layer()
        .axum_body()
        .layer(Router::new().route("/whoami", get(whoami)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let wrapped = listener.local_addr().unwrap();
    let service = wrapped_service.clone();
    tokio::spawn(async move {
        axum::serve(listener, tower::make::Shared::new(service))
            .await
            .unwrap();
    });

    let tampered = {
        let mut k = key.clone();
        let last = k.pop().unwrap();
        k.push(if last == 'a' { 'b' } else { 'a' });
        k
    };
    let unscoped = f.unscoped.expose_secret().to_owned();
    for (path, headers) in [
        ("/whoami", vec![("api-key", key.as_str())]),
        ("/whoami", vec![("api-key", tampered.as_str())]),
        ("/whoami", vec![]),
        ("/reports", vec![("api-key", key.as_str())]),
        ("/reports", vec![("api-key", unscoped.as_str())]),
    ] {
        let expected = get_with(default, path, &headers).await;
        let addrs: &[SocketAddr] = if path == "/whoami" {
            &[layered, wrapped]
        } else {
            &[layered]
        };
        for &addr in addrs {
            let r = get_with(addr, path, &headers).await;
            assert_eq!(
                (r.status, &r.challenge, &r.content_type, &r.body),
                (
                    expected.status,
                    &expected.challenge,
                    &expected.content_type,
                    &expected.body
                ),
                "{path} {headers:?}"
            );
        }
    }

    // The rejection still carries its `AuthError`, and the response body
    // is axum's own type.
    let res: axum::response::Response = wrapped_service
        .oneshot(
            http::Request::get("/whoami")
                .header("api-key", &tampered)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let error = res.extensions().get::<m2m_auth::AuthError>().unwrap();
    assert_eq!(error.reason(), "bad_checksum");
}
