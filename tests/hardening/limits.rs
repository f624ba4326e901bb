//! Every size bound, refused with a clear error before any work is spent
//! on the input. (The JWKS and discovery document cap and the fetch
//! timeout are tested against a real server in `tests/jwt/remote.rs`; the
//! portal's body cap in `tests/portal/rest.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use m2m_auth::api_key::{
    ApiKeyAuthenticator, DEFAULT_MAX_METADATA_BYTES, KeyDigest, KeyErrorKind, KeyFormat,
    KeyManager, KeyRecord, KeyStore, MAX_NAME_BYTES, MAX_OWNER_BYTES, MemoryKeyStore, NewKey,
    StoreError,
};
use m2m_auth::jwt::{Algorithm, DEFAULT_MAX_TOKEN_BYTES, JwtAuthenticator, Key, KeySet};
use m2m_auth::{Attributes, AuthLayer, async_trait};
use serde_json::{Map, Value, json};

use crate::{client, serve};

/// A store that counts its lookups.
#[derive(Clone, Default)]
struct Counting {
    inner: MemoryKeyStore,
    lookups: Arc<AtomicUsize>,
}

#[async_trait]
impl KeyStore for Counting {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(digest).await
    }
}

fn jwt() -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer("https://idp.example")
        .audience("https://api.example")
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([Key::hmac(&[7; 32]).unwrap()]).unwrap())
        .build()
        .unwrap()
}

/// Oversized credentials over a socket: API keys far past the key length
/// and bearer tokens past the token cap get a 401 without a store call,
/// however large (up to what hyper itself accepts in a head).
#[tokio::test]
async fn oversized_headers_are_refused_before_any_work() {
    let _serial = crate::SERIAL.lock().await;
    let format = KeyFormat::new("acme_live").unwrap();
    let store = Counting::default();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format.clone(), store.clone())).or(jwt()));
    let addr = serve(app).await;
    let body = "a".repeat(format.key_len());
    let cases = [
        ("api-key", format!("acme_live_{body}a")),
        ("api-key", format!("acme_live_{}", "a".repeat(60 * 1024))),
        ("x-api-key", "x".repeat(60 * 1024)),
        (
            "authorization",
            format!("Bearer {}", "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1)),
        ),
        (
            "authorization",
            format!("Bearer eyJ{}.e30.sig", "a".repeat(60 * 1024)),
        ),
        (
            "authorization",
            format!("Bearer acme_live_{}", "a".repeat(60 * 1024)),
        ),
    ];
    for (name, value) in &cases {
        let r = client()
            .get(format!("http://{addr}/"))
            .header(*name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{name}: {} bytes", value.len());
        let body = r.text().await.unwrap();
        assert!(body.len() < 512, "a short body: {body}");
        assert!(!body.contains("aaaaaaaa"), "the credential is not echoed");
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 0);
}

/// The token cap holds at its edge, and can be set.
#[test]
fn token_size_cap_is_exact_and_settable() {
    let tight = JwtAuthenticator::builder()
        .issuer("https://idp.example")
        .audience("https://api.example")
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([Key::hmac(&[7; 32]).unwrap()]).unwrap())
        .max_token_size(100)
        .build()
        .unwrap();
    let at = format!("eyJ{}.e30.c2ln", "a".repeat(100 - 3 - 9));
    assert_eq!(at.len(), 100);
    let over = format!("{at}x");
    assert_ne!(tight.verify(&at).unwrap_err().reason(), "token_too_large");
    assert_eq!(tight.verify(&over).unwrap_err().reason(), "token_too_large");
    // A megabyte is turned away as fast as a kilobyte: nothing is decoded.
    let huge = format!("eyJ{}.e30.c2ln", "a".repeat(1 << 20));
    let start = Instant::now();
    for _ in 0..100 {
        assert_eq!(jwt().verify(&huge).unwrap_err().reason(), "token_too_large");
    }
    // Not a timing assertion: a bound so loose that only decoding 100 MB
    // could break it.
    assert!(start.elapsed().as_secs() < 30);
}

/// Names, owners and metadata are bounded when keys are made.
#[tokio::test]
async fn key_settings_are_bounded() {
    let keys = KeyManager::new(KeyFormat::new("acme_live").unwrap(), MemoryKeyStore::new());
    let big = |n: usize| {
        let mut m = Map::new();
        m.insert("blob".to_owned(), Value::String("x".repeat(n)));
        Attributes::new(m)
    };
    // Just under the metadata cap is fine; over it is refused.
    keys.create(NewKey::new("owner").metadata(big(DEFAULT_MAX_METADATA_BYTES - 32)))
        .await
        .unwrap();
    let e = keys
        .create(NewKey::new("owner").metadata(big(DEFAULT_MAX_METADATA_BYTES + 1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
    assert!(e.to_string().contains("metadata"), "{e}");
    let e = keys
        .create(NewKey::new("owner").name("n".repeat(MAX_NAME_BYTES + 1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
    let e = keys
        .create(NewKey::new("o".repeat(MAX_OWNER_BYTES + 1)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
    // Deeply nested metadata is bounded by its size as well. (Deeper than
    // serde_json parses, 128; `Value` itself drops recursively, so a test
    // cannot build much deeper on a test thread's stack.)
    let mut deep = json!("x".repeat(DEFAULT_MAX_METADATA_BYTES));
    for _ in 0..500 {
        deep = json!([deep]);
    }
    let mut m = Map::new();
    m.insert("deep".to_owned(), deep);
    let e = keys
        .create(NewKey::new("owner").metadata(Attributes::new(m)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
}

/// The token endpoint reads at most 8 KiB of form.
#[tokio::test]
async fn token_requests_are_bounded() {
    use m2m_auth::issuer::{Clients, TokenEndpoint};
    let _serial = crate::SERIAL.lock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let endpoint = TokenEndpoint::builder(&base, Clients::new(MemoryKeyStore::new()))
        .build()
        .unwrap();
    let app = endpoint.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r = client()
        .post(format!("{base}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=x&client_secret={}",
            "s".repeat(9 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}
