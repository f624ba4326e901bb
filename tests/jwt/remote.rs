//! Remote key sets against a local JWKS server on 127.0.0.1 that counts
//! its requests: storms of unknown kids, refreshes that must not block,
//! outages, rotation, discovery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm as J, EncodingKey};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, RemoteJwks};
use m2m_auth::{AuthErrorKind, Authenticator, ConfigError};
use serde_json::json;
use tokio::sync::Notify;

use crate::{AUD, EC_PRIV, ISS, OTHER_RSA_PRIV, RSA_PRIV, claims, sign};

/// The JWKS server's state, shared with the test.
#[derive(Default)]
struct Idp {
    jwks: std::sync::Mutex<String>,
    metadata: std::sync::Mutex<Option<String>>,
    fetches: AtomicUsize,
    down: AtomicBool,
    /// While set, a JWKS request waits for `release`.
    hold: AtomicBool,
    release: Notify,
}

impl Idp {
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve_keys(&self, keys: &[(&EncodingKey, J, &str)]) {
        *self.jwks.lock().unwrap() = jwks(keys);
    }
}

fn jwks(keys: &[(&EncodingKey, J, &str)]) -> String {
    crate::provider_ready();
    let keys = keys
        .iter()
        .map(|(key, alg, kid)| {
            let mut jwk = Jwk::from_encoding_key(key, *alg).unwrap();
            jwk.common.key_id = Some((*kid).to_owned());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

async fn jwks_handler(State(idp): State<Arc<Idp>>) -> impl IntoResponse {
    idp.fetches.fetch_add(1, Ordering::SeqCst);
    if idp.hold.load(Ordering::SeqCst) {
        idp.release.notified().await;
    }
    if idp.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    (StatusCode::OK, idp.jwks.lock().unwrap().clone())
}

async fn metadata_handler(State(idp): State<Arc<Idp>>) -> impl IntoResponse {
    match idp.metadata.lock().unwrap().clone() {
        Some(m) => (StatusCode::OK, m),
        None => (StatusCode::NOT_FOUND, String::new()),
    }
}

/// Starts the server; returns its state and base URL.
async fn idp() -> (Arc<Idp>, String) {
    let idp = Arc::new(Idp::default());
    let app = Router::new()
        .route("/jwks", get(jwks_handler))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata_handler),
        )
        .with_state(Arc::clone(&idp));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (idp, base)
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PRIV).unwrap()
}

fn token(key: &EncodingKey, alg: J, kid: &str) -> String {
    sign(alg, key, json!({"kid": kid, "typ": "at+jwt"}), &claims())
}

fn authenticator(keys: RemoteJwks) -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([Algorithm::ES256, Algorithm::RS256])
        .remote_keys(keys)
        .build()
        .unwrap()
}

/// What the layer decides for `token`: the subject, or the error kind and
/// reason.
async fn decide(auth: &JwtAuthenticator, token: &str) -> Result<String, (AuthErrorKind, String)> {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    match auth.authenticate(&request.into_parts().0).await {
        Ok(Some(identity)) => Ok(identity.subject().to_owned()),
        Ok(None) => panic!("the token was not recognised as a JWT"),
        Err(e) => Err((e.kind(), e.reason().to_owned())),
    }
}

#[tokio::test]
async fn a_storm_of_unknown_kids_causes_one_fetch_per_cooldown() {
    let (idp, base) = idp().await;
    let key = ec();
    idp.serve_keys(&[(&key, J::ES256, "k1")]);
    let keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .build()
        .await
        .unwrap();
    assert_eq!(idp.fetches(), 1, "the first fetch");
    // The fetch at build time counts: wait out its cooldown with a short one.
    let auth = authenticator(keys);

    // Unknown kids within the cooldown of the first fetch: no fetch at all.
    let storm = |n: usize| {
        let auth = auth.clone();
        let key = key.clone();
        async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let (auth, t) = (auth.clone(), token(&key, J::ES256, &format!("kid-{i}")));
                    tokio::spawn(async move { decide(&auth, &t).await })
                })
                .collect();
            let mut refused = 0;
            for t in tasks {
                let (kind, reason) = t.await.unwrap().unwrap_err();
                assert_eq!(
                    (kind, reason.as_str()),
                    (AuthErrorKind::Invalid, "unknown_kid")
                );
                refused += 1;
            }
            refused
        }
    };
    assert_eq!(storm(1000).await, 1000);
    assert_eq!(
        idp.fetches(),
        1,
        "within the cooldown of a good fetch: 401, no fetch"
    );
}

#[tokio::test]
async fn after_the_cooldown_a_storm_causes_exactly_one_fetch() {
    let (idp, base) = idp().await;
    let key = ec();
    idp.serve_keys(&[(&key, J::ES256, "k1")]);
    let keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .cooldown(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let auth = authenticator(keys);
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Hold the fetch so that every request of the storm arrives while it is
    // in flight.
    idp.hold.store(true, Ordering::SeqCst);
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (auth, t) = (auth.clone(), token(&key, J::ES256, &format!("kid-{i}")));
            tokio::spawn(async move { decide(&auth, &t).await })
        })
        .collect();
    while idp.fetches() < 2 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    idp.hold.store(false, Ordering::SeqCst);
    idp.release.notify_waiters();
    for t in tasks {
        let (kind, reason) = t.await.unwrap().unwrap_err();
        assert_eq!(
            (kind, reason.as_str()),
            (AuthErrorKind::Invalid, "unknown_kid")
        );
    }
    assert_eq!(idp.fetches(), 2, "1 000 unknown kids, one fetch");

    // A foreign issuer never causes a fetch, whatever the cooldown.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut foreign = claims();
    foreign["iss"] = json!("https://evil.test");
    let t = sign(J::ES256, &key, json!({"kid": "kid-x"}), &foreign);
    let (_, reason) = decide(&auth, &t).await.unwrap_err();
    assert_eq!(reason, "wrong_issuer");
    assert_eq!(idp.fetches(), 2, "iss is checked before any fetch");
}

#[tokio::test]
async fn known_kids_never_wait_for_a_refresh_in_flight() {
    let (idp, base) = idp().await;
    let key = ec();
    idp.serve_keys(&[(&key, J::ES256, "k1")]);
    let keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .cooldown(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let auth = authenticator(keys);

    // An unknown kid starts a fetch that the server holds until released.
    idp.hold.store(true, Ordering::SeqCst);
    let unknown = {
        let (auth, t) = (auth.clone(), token(&key, J::ES256, "k-new"));
        tokio::spawn(async move { decide(&auth, &t).await })
    };
    while idp.fetches() < 2 {
        tokio::task::yield_now().await;
    }
    // 1 000 requests with the known kid complete while it is held; if any
    // waited for the fetch, this would never finish.
    let good = token(&key, J::ES256, "k1");
    let known: Vec<_> = (0..1000)
        .map(|_| {
            let (auth, t) = (auth.clone(), good.clone());
            tokio::spawn(async move { decide(&auth, &t).await })
        })
        .collect();
    let all = async {
        for t in known {
            assert_eq!(t.await.unwrap().unwrap(), "billing-service");
        }
    };
    tokio::time::timeout(Duration::from_mins(1), all)
        .await
        .expect("known-kid requests waited for the refresh");
    assert!(!unknown.is_finished(), "the fetch is still held");
    idp.hold.store(false, Ordering::SeqCst);
    idp.release.notify_waiters();
    assert_eq!(
        unknown.await.unwrap().unwrap_err().1,
        "unknown_kid",
        "after the fetch, still unknown: 401"
    );
}

#[tokio::test]
async fn an_outage_keeps_known_keys_and_answers_503_for_unknown_ones() {
    let (idp, base) = idp().await;
    let key = ec();
    let rotated = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    idp.serve_keys(&[(&key, J::ES256, "k1")]);
    let keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .cooldown(Duration::from_millis(200))
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let auth = authenticator(keys.clone());
    let good = token(&key, J::ES256, "k1");
    let new = token(&rotated, J::RS256, "k2");

    idp.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        decide(&auth, &good).await.is_ok(),
        "known kid, IdP down: accepted"
    );
    let (kind, _) = decide(&auth, &new).await.unwrap_err();
    assert_eq!(
        kind,
        AuthErrorKind::Unavailable,
        "unknown kid, IdP down: 503"
    );
    assert_eq!(
        decide(&auth, &new).await.unwrap_err().0,
        AuthErrorKind::Unavailable,
        "within the cooldown of a failed fetch: still 503, no new fetch"
    );
    assert!(keys.refresh().await.is_err());
    assert!(
        decide(&auth, &good).await.is_ok(),
        "the last good set stays"
    );

    // A server that hangs is cut off by the timeout.
    idp.down.store(false, Ordering::SeqCst);
    idp.hold.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        decide(&auth, &new).await.unwrap_err().0,
        AuthErrorKind::Unavailable,
        "a fetch that times out: 503"
    );
    idp.hold.store(false, Ordering::SeqCst);
    idp.release.notify_waiters();

    // Back, with the key rotated in.
    idp.serve_keys(&[(&key, J::ES256, "k1"), (&rotated, J::RS256, "k2")]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        decide(&auth, &new).await.is_ok(),
        "recovered: the new kid works"
    );
    assert!(decide(&auth, &good).await.is_ok());
}

#[tokio::test]
async fn rotation_fetches_once_and_a_bad_jwk_does_not_spoil_the_set() {
    let (idp, base) = idp().await;
    let key = ec();
    let rotated = EncodingKey::from_rsa_pem(RSA_PRIV).unwrap();
    idp.serve_keys(&[(&key, J::ES256, "k1")]);
    let keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .cooldown(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let auth = authenticator(keys);
    tokio::time::sleep(Duration::from_millis(150)).await;

    // The provider rotates: a new key (without `alg`), a malformed one, a
    // key for encryption, and an unsupported curve beside it.
    let mut set: serde_json::Value =
        serde_json::from_str(&jwks(&[(&rotated, J::RS256, "k2")])).unwrap();
    set["keys"][0].as_object_mut().unwrap().remove("alg");
    let keys = set["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}));
    keys.push(
        json!({"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "AA", "y": "AA"}),
    );
    keys.push(json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}));
    *idp.jwks.lock().unwrap() = set.to_string();

    let before = idp.fetches();
    let new = token(&rotated, J::RS256, "k2");
    assert_eq!(decide(&auth, &new).await.unwrap(), "billing-service");
    assert_eq!(
        idp.fetches(),
        before + 1,
        "the first token with the new kid: one fetch"
    );
    assert_eq!(decide(&auth, &new).await.unwrap(), "billing-service");
    assert_eq!(idp.fetches(), before + 1, "then none");
    let (_, reason) = decide(&auth, &token(&key, J::ES256, "k1"))
        .await
        .unwrap_err();
    assert_eq!(reason, "unknown_kid", "the rotated-out key is gone");
    // An attacker's key under a published kid is still refused.
    let forged = token(
        &EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap(),
        J::RS256,
        "k2",
    );
    assert_eq!(decide(&auth, &forged).await.unwrap_err().1, "bad_signature");
}

#[tokio::test]
async fn the_set_is_refreshed_on_a_timer() {
    let (idp, base) = idp().await;
    idp.serve_keys(&[(&ec(), J::ES256, "k1")]);
    let _keys = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .refresh_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(idp.fetches() >= 3, "{} fetches", idp.fetches());
}

#[tokio::test]
async fn discovery_checks_the_issuer_and_falls_back_to_rfc8414() {
    let (idp, base) = idp().await;
    idp.serve_keys(&[(&ec(), J::ES256, "k1")]);
    // No OpenID configuration: the RFC 8414 document is used.
    *idp.metadata.lock().unwrap() =
        Some(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string());
    let keys = RemoteJwks::builder().discover(&base).build().await.unwrap();
    assert_eq!(keys.jwks_uri(), format!("{base}/jwks"));

    *idp.metadata.lock().unwrap() = Some(
        json!({"issuer": "https://someone-else.test", "jwks_uri": format!("{base}/jwks")})
            .to_string(),
    );
    let e = RemoteJwks::builder()
        .discover(&base)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, ConfigError::InvalidSetting(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("names issuer \"https://someone-else.test\""),
        "{e}"
    );

    *idp.metadata.lock().unwrap() = None;
    let e = RemoteJwks::builder()
        .discover(&base)
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, ConfigError::KeySetUnavailable(_)), "{e:?}");

    let e = RemoteJwks::builder()
        .jwks_uri("http://idp.example/jwks")
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
}

#[tokio::test]
async fn oversized_and_unusable_documents_are_refused() {
    let (idp, base) = idp().await;
    *idp.jwks.lock().unwrap() = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(300_000));
    let e = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    *idp.jwks.lock().unwrap() = r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}"#.to_owned();
    let e = RemoteJwks::builder()
        .jwks_uri(format!("{base}/jwks"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, ConfigError::KeySetUnavailable(_)), "{e:?}");
}
