//! The routers and keys every bench measures, built one way.
// Each bench binary uses part of the setup.
#![allow(dead_code, unreachable_pub)]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::Request;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::{AuthLayer, Authentication, Authenticator, Identity};

pub struct Setup {
    pub format: KeyFormat,
    pub store: MemoryKeyStore,
    /// A stored key.
    pub valid: String,
    /// A well-formed key that is not stored.
    pub unknown: String,
    /// The valid key with one character changed: fails the checksum.
    pub malformed: String,
    /// No auth at all.
    pub plain: Router,
    /// A layer that does nothing: what any layer costs in axum.
    pub noop_layer: Router,
    /// `AuthLayer` with an authenticator that accepts every request: the
    /// layer's own cost.
    pub fixed: Router,
    /// `AuthLayer` with `ApiKeyAuthenticator` over `store`.
    pub api_key: Router,
}

/// Accepts every request as one identity.
struct Fixed(Identity);

impl Authenticator for Fixed {
    fn authenticate(&self, _: &http::request::Parts) -> Authentication {
        Authentication::accept(self.0.clone())
    }
}

pub fn setup(keys: usize) -> Setup {
    let format = KeyFormat::new("acme_live").unwrap();
    let store = MemoryKeyStore::new();
    let generated: Vec<_> = (0..keys).map(|_| format.generate().unwrap()).collect();
    store.extend(generated.iter().enumerate().map(|(i, k)| {
        (
            k.digest(),
            KeyRecord::builder(format!("key_{i}"), format!("owner_{i}")).build(),
        )
    }));
    let valid = generated[keys / 2].expose_secret().to_owned();
    let unknown = format.generate().unwrap().expose_secret().to_owned();
    let mut malformed = valid.clone();
    malformed.replace_range(20..21, if &valid[20..21] == "x" { "y" } else { "x" });

    // `with_state(())` finalises a router once, as `axum::serve` does;
    // without it axum rebuilds every route (and re-applies every layer) per
    // request.
    let plain = Router::new()
        .route("/", get(|| async { "ok" }))
        .with_state(());
    let noop_layer = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r))
        .with_state(());
    let fixed = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(AuthLayer::new(Fixed(
            KeyRecord::builder("key_fixed", "owner")
                .build()
                .identity()
                .clone(),
        )))
        .with_state(());
    let api_key = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(
            format.clone(),
            store.clone(),
        )))
        .with_state(());
    Setup {
        format,
        store,
        valid,
        unknown,
        malformed,
        plain,
        noop_layer,
        fixed,
        api_key,
    }
}

/// A request carrying `key` in the `API-Key` header.
pub fn request(key: &str) -> Request<Body> {
    Request::get("/")
        .header("api-key", key)
        .body(Body::empty())
        .unwrap()
}
