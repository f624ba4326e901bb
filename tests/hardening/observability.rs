//! What the crate says about requests, and what it must never say.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use http::{Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header};
use m2m_auth::api_key::{
    ApiKeyAuthenticator, KeyDigest, KeyFormat, KeyRecord, KeyStore, MemoryKeyStore, StoreError,
};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet, MemoryRevocations, Revocations};
use m2m_auth::{AuthLayer, Identity, RequireScopesLayer, async_trait};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{client, serve};

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

const ISS: &str = "https://idp.example";
const AUD: &str = "https://api.example";
const HMAC: &[u8] = b"hmac-secret-0b6f4c1e9a7d2e5f8c3b6a9d0e1f2a3b";
// Claim values a log must never show.
const SUB: &str = "svc-7f3a-subject";
const TENANT: &str = "tenant-9c2e-private";
const JTI: &str = "jti-4b1d-unique";
const REVOKED_JTI: &str = "jti-revoked-51c0";
const SCOPE: &str = "ledger:write-7e1";

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Everything this test binary traces, every target at TRACE level (ours,
/// sqlx, hyper, reqwest, …). Global: a thread-scoped subscriber misses
/// events whose callsites other threads registered first.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": SUB, "exp": now() + 600, "iat": now(),
        "jti": JTI, "scope": SCOPE, "tenant": TENANT,
    })
}

fn sign(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// A JWT API with a static HMAC key and a revocation list.
async fn jwt_api() -> (Router, MemoryRevocations) {
    let revocations = MemoryRevocations::new();
    revocations
        .revoke_token(
            ISS,
            REVOKED_JTI,
            SystemTime::now() + Duration::from_hours(1),
        )
        .await
        .unwrap();
    let auth = JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([Key::hmac(HMAC).unwrap().with_kid("hs-1")]).unwrap())
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .route(
            "/ledger",
            get(|| async { "ok" }).layer(RequireScopesLayer::new(["ledger:admin"]).unwrap()),
        )
        .layer(AuthLayer::new(auth));
    (app, revocations)
}

/// A store that is down.
#[derive(Clone)]
struct Down;

#[async_trait]
impl KeyStore for Down {
    async fn lookup(&self, _: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

/// Every 8-character window of `secret` after `skip` bytes: a hint shows
/// 4 + 4 characters, so any longer run means material leaked.
fn assert_absent(text: &str, secret: &str, skip: usize, what: &str) {
    assert!(!text.contains(secret), "the trace shows {what}");
    let s = &secret[skip.min(secret.len())..];
    for i in 0..s.len().saturating_sub(7) {
        let w = &s[i..i + 8];
        assert!(!text.contains(w), "the trace shows part of {what}: {w:?}");
    }
}

struct Call {
    status: StatusCode,
    body: String,
}

async fn call(
    base: &str,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Call {
    let mut req = client().request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    Call {
        status: res.status(),
        body: res.text().await.unwrap(),
    }
}

#[tokio::test]
async fn trace_output_of_every_kind_of_request_holds_no_secret() {
    let captured = captured();
    let _serial = crate::SERIAL.lock().await;
    let from = captured.text().len();
    let mut secrets: Vec<(String, usize, &str)> = Vec::new();

    // The quick start: API keys in SQLite, the portal, the token endpoint.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = quickstart::Config {
        port: 0,
        keys_db: ":memory:".to_owned(),
        jwt: None,
    };
    let (app, banner) = quickstart::app(&config, &base).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let line = |label: &str| {
        banner
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (key, admin, secret) = (line("API key:"), line("Admin key:"), line("Client secret:"));
    secrets.push((key.clone(), 5, "the demo key"));
    secrets.push((admin.clone(), 5, "the admin key"));
    secrets.push((secret.clone(), 0, "the client secret"));
    let b = |t: &str| format!("Bearer {t}");
    let fetch = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let base = base.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(&base, http::Method::GET, path, &h, None).await.status
        }
    };

    // API keys: accepted in each header, scope refused, malformed, unknown,
    // two credentials at once.
    assert_eq!(
        fetch("/whoami", vec![("authorization", b(&key))]).await,
        200
    );
    assert_eq!(fetch("/reports", vec![("api-key", key.clone())]).await, 200);
    assert_eq!(fetch("/admin", vec![("x-api-key", key.clone())]).await, 403);
    assert_eq!(fetch("/whoami", vec![]).await, 401);
    let mut bad_checksum = key.clone();
    let c = if &key[10..11] == "x" { "y" } else { "x" };
    bad_checksum.replace_range(10..11, c);
    assert_eq!(
        fetch("/whoami", vec![("api-key", bad_checksum.clone())]).await,
        401
    );
    secrets.push((bad_checksum, 5, "a malformed key"));
    let unknown = KeyFormat::new("demo").unwrap().generate().unwrap();
    let unknown = unknown.expose_secret().to_owned();
    assert_eq!(
        fetch("/whoami", vec![("api-key", unknown.clone())]).await,
        401
    );
    secrets.push((unknown, 5, "an unknown key"));
    let mut two = reqwest::header::HeaderMap::new();
    two.append("authorization", b(&key).parse().unwrap());
    two.append("authorization", b(&admin).parse().unwrap());
    let r = client()
        .get(format!("{base}/whoami"))
        .headers(two)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The portal: a key made, rolled, revoked, and refused afterwards.
    let auth = [("api-key", key.as_str())];
    let made = call(
        &base,
        http::Method::POST,
        "/portal/api/keys",
        &auth,
        Some(json!({"name": "ci", "scopes": ["reports:read"], "metadata": {"team": TENANT}})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let made: Value = serde_json::from_str(&made.body).unwrap();
    let new_key = made["key"].as_str().unwrap().to_owned();
    let id = made["record"]["id"].as_str().unwrap().to_owned();
    secrets.push((new_key.clone(), 5, "a key made in the portal"));
    let rolled = call(
        &base,
        http::Method::POST,
        &format!("/portal/api/keys/{id}/roll"),
        &auth,
        Some(json!({"grace_seconds": 0})),
    )
    .await;
    assert_eq!(rolled.status, 201, "{}", rolled.body);
    let rolled: Value = serde_json::from_str(&rolled.body).unwrap();
    let rolled_key = rolled["key"].as_str().unwrap().to_owned();
    let rolled_id = rolled["record"]["id"].as_str().unwrap().to_owned();
    secrets.push((rolled_key.clone(), 5, "a rolled key"));
    assert_eq!(fetch("/whoami", vec![("api-key", new_key)]).await, 401);
    let revoked = call(
        &base,
        http::Method::POST,
        &format!("/portal/api/keys/{rolled_id}/revoke"),
        &auth,
        None,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(fetch("/whoami", vec![("api-key", rolled_key)]).await, 401);

    // The token endpoint: a good and a bad secret, the token used, the
    // client's tokens revoked, the token refused.
    let token_request = |secret: String| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                // Secrets and the loopback address need no escaping.
                .body(format!(
                    "grant_type=client_credentials&client_id=demo-service&client_secret={secret}&audience={base}"
                ))
                .send()
                .await
                .unwrap()
        }
    };
    let r = token_request(secret.clone()).await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let mut wrong_secret = secret.clone();
    wrong_secret.replace_range(12..13, if &secret[12..13] == "A" { "B" } else { "A" });
    assert_eq!(token_request(wrong_secret.clone()).await.status(), 401);
    secrets.push((wrong_secret, 0, "a wrong client secret"));
    assert_eq!(
        fetch("/whoami", vec![("authorization", b(&token))]).await,
        200
    );
    let r = call(
        &base,
        http::Method::POST,
        "/admin/clients/demo-service/revoke-tokens",
        &[("api-key", admin.as_str())],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        fetch("/whoami", vec![("authorization", b(&token))]).await,
        401
    );
    for part in token.split('.').skip(1) {
        secrets.push((part.to_owned(), 0, "a token of the token endpoint"));
    }

    // JWTs with a static key: accepted, and refused for every reason.
    let (jwt_app, _revocations) = jwt_api().await;
    let jwt_base = format!("http://{}", serve(jwt_app).await);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims();
        edit(&mut c);
        sign("hs-1", &c, HMAC)
    };
    let tokens = [
        (with(&|_| {}), 200, "/whoami"),
        (with(&|_| {}), 403, "/ledger"),
        (with(&|c| c["exp"] = json!(now() - 3600)), 401, "/whoami"),
        (
            with(&|c| c["aud"] = json!("https://other.example")),
            401,
            "/whoami",
        ),
        (with(&|c| c["jti"] = json!(REVOKED_JTI)), 401, "/whoami"),
        (
            sign("hs-1", &claims(), b"another-secret-of-thirty-two-bytes!!"),
            401,
            "/whoami",
        ),
        (sign("hs-unknown", &claims(), HMAC), 401, "/whoami"),
        (
            {
                // alg none, the claims intact.
                let t = with(&|_| {});
                let payload = t.split('.').nth(1).unwrap().to_owned();
                format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
            },
            401,
            "/whoami",
        ),
        (
            format!("eyJ{}.{}", "a".repeat(9000), "e30.c2ln"),
            401,
            "/whoami",
        ),
    ];
    for (token, status, path) in &tokens {
        let r = call(
            &jwt_base,
            http::Method::GET,
            path,
            &[("authorization", &b(token))],
            None,
        )
        .await;
        assert_eq!(r.status, *status, "{path} {}", r.body);
        for part in token.split('.').skip(1).filter(|p| p.len() >= 8) {
            secrets.push((part.to_owned(), 0, "a JWT"));
        }
    }

    // Keys past their expiry, and disabled.
    let format = KeyFormat::new("acme_live").unwrap();
    let store = MemoryKeyStore::new();
    let expired = format.generate().unwrap();
    store.insert(
        expired.digest(),
        KeyRecord::builder("key_expired", "acme-owner")
            .expires_at(Some(SystemTime::now() - Duration::from_secs(1)))
            .build(),
    );
    let disabled = format.generate().unwrap();
    store.insert(
        disabled.digest(),
        KeyRecord::builder("key_disabled", "acme-owner")
            .enabled(false)
            .build(),
    );
    let memory = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)));
    let memory_base = format!("http://{}", serve(memory).await);
    for key in [&expired, &disabled] {
        let r = call(
            &memory_base,
            http::Method::GET,
            "/",
            &[("api-key", key.expose_secret())],
            None,
        )
        .await;
        assert_eq!(r.status, 401);
        secrets.push((
            key.expose_secret().to_owned(),
            10,
            "an expired or disabled key",
        ));
    }

    // A store that is down: 503, and a WARN event.
    let down = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(
            KeyFormat::new("demo").unwrap(),
            Down,
        )));
    let down_base = format!("http://{}", serve(down).await);
    let r = call(
        &down_base,
        http::Method::GET,
        "/",
        &[("api-key", &key)],
        None,
    )
    .await;
    assert_eq!(r.status, 503);

    let text = captured.text()[from..].to_owned();
    for (secret, skip, what) in &secrets {
        assert_absent(&text, secret, *skip, what);
    }
    assert_absent(
        &text,
        std::str::from_utf8(HMAC).unwrap(),
        0,
        "the HMAC secret",
    );
    for value in [
        SUB,
        TENANT,
        JTI,
        REVOKED_JTI,
        SCOPE,
        "demo-client",
        "demo-operator",
        "acme-owner",
    ] {
        assert!(
            !text.contains(value),
            "the trace shows the claim value {value}"
        );
    }

    // What it does say, in the stable fields.
    let ours: Vec<&str> = text.lines().filter(|l| l.contains(" m2m_auth: ")).collect();
    let has = |needles: &[&str]| ours.iter().any(|l| needles.iter().all(|n| l.contains(n)));
    for needles in [
        &[
            "outcome=\"accepted\"",
            "method=\"api_key\"",
            "key_id=",
            "latency_us=",
        ][..],
        &[
            "outcome=\"accepted\"",
            "method=\"jwt\"",
            "kid=\"hs-1\"",
            &format!("iss=\"{ISS}\""),
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"api_key\"",
            "reason=\"revoked\"",
            "key_id=",
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"api_key\"",
            "reason=\"unknown_key\"",
        ],
        &["reason=\"expired\"", "key_id=\"key_expired\""],
        &["reason=\"disabled\"", "key_id=\"key_disabled\""],
        &[
            "outcome=\"rejected\"",
            "method=\"api_key\"",
            "reason=\"bad_checksum\"",
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"none\"",
            "reason=\"missing\"",
        ],
        &["outcome=\"rejected\"", "kind=\"invalid_request\""],
        &[
            "outcome=\"rejected\"",
            "method=\"api_key\"",
            "reason=\"insufficient_scope\"",
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"jwt\"",
            "reason=\"insufficient_scope\"",
        ],
        &["outcome=\"rejected\"", "method=\"jwt\"", "kind=\"expired\""],
        &[
            "outcome=\"rejected\"",
            "method=\"jwt\"",
            "reason=\"bad_signature\"",
            "kid=\"hs-1\"",
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"jwt\"",
            "reason=\"revoked\"",
        ],
        &[
            "outcome=\"rejected\"",
            "method=\"jwt\"",
            "reason=\"token_too_large\"",
        ],
        &[
            "WARN",
            "outcome=\"rejected\"",
            "kind=\"unavailable\"",
            "connection refused",
        ],
    ] {
        assert!(
            has(needles),
            "no event with {needles:?} in:\n{}",
            ours.join("\n")
        );
    }
}

/// Counters and the histogram, recorded through a local recorder.
#[test]
fn metrics_count_every_decision() {
    let format = KeyFormat::new("acme_live").unwrap();
    let store = MemoryKeyStore::new();
    let valid = format.generate().unwrap();
    store.insert(
        valid.digest(),
        KeyRecord::builder("key_ok", "owner").build(),
    );
    let revoked = format.generate().unwrap();
    store.insert(
        revoked.digest(),
        KeyRecord::builder("key_gone", "owner")
            .revoked_at(Some(SystemTime::now()))
            .build(),
    );
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)));
    let _serial = crate::SERIAL.blocking_lock();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let requests = [
        (valid.expose_secret(), 3),
        (revoked.expose_secret(), 2),
        ("", 1),
    ];
    let expected = [
        ("method=api_key,outcome=accepted,reason=ok".to_owned(), 3),
        (
            "method=api_key,outcome=rejected,reason=revoked".to_owned(),
            2,
        ),
        ("method=none,outcome=rejected,reason=missing".to_owned(), 1),
    ];
    // Twice, each time with a new recorder: the layer keeps the metric
    // keys it built on this thread, and a recorder installed after that
    // must still see every decision.
    for _ in 0..2 {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                for (key, times) in requests {
                    for _ in 0..times {
                        let mut req = Request::get("/");
                        if !key.is_empty() {
                            req = req.header("api-key", key);
                        }
                        let req = req.body(axum::body::Body::empty()).unwrap();
                        app.clone().oneshot(req).await.unwrap();
                    }
                }
            });
        });
        let (counters, observations) = recorded(&snapshotter);
        assert_eq!(counters, expected);
        assert_eq!(observations, 6);
    }
}

/// The counters (labels sorted, joined) and the number of latency
/// observations a recorder saw.
fn recorded(snapshotter: &metrics_util::debugging::Snapshotter) -> (Vec<(String, u64)>, usize) {
    let mut counters = Vec::new();
    let mut observations = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        match value {
            DebugValue::Counter(n) => {
                assert_eq!(key.name(), "m2m_auth_requests_total");
                counters.push((labels.join(","), n));
            }
            DebugValue::Histogram(v) => {
                assert_eq!(key.name(), "m2m_auth_request_duration_seconds");
                assert!(v.iter().all(|s| s.into_inner() >= 0.0));
                observations += v.len();
            }
            DebugValue::Gauge(_) => panic!("no gauges"),
        }
    }
    counters.sort();
    (counters, observations)
}
