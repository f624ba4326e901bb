//! The routers and keys every bench measures, built one way.
// Each bench binary uses part of the setup.
#![allow(dead_code, unreachable_pub)]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

pub mod interleave;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "jwt")]
pub mod peers;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::{Request, StatusCode};
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::{AuthLayer, AuthService, Authentication, Authenticator, DefaultRejection, Identity};
use tower::{Layer, ServiceExt};

/// A service under measurement: an axum router, or our layer wrapped
/// around one.
#[derive(Clone)]
pub enum App {
    /// A router, with any layers added by `Router::layer`.
    Router(Router),
    /// `AuthLayer` wrapped around the whole router, as
    /// `ServiceBuilder::new().layer(auth).service(router)` does.
    Wrapped(AuthService<Router, DefaultRejection>),
}

impl App {
    /// Sends one request carrying `key` and returns the response status
    /// (the response itself is dropped, as a server would after writing it).
    pub async fn call(&self, key: &str) -> StatusCode {
        match self {
            Self::Router(r) => r.clone().oneshot(request(key)).await.unwrap().status(),
            Self::Wrapped(s) => s.clone().oneshot(request(key)).await.unwrap().status(),
        }
    }
}

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
    pub plain: App,
    /// A layer that does nothing, added by `Router::layer`: what any layer
    /// costs in axum.
    pub noop_layer: App,
    /// axum's own `Extension` layer handing the handler a fixed identity,
    /// read with `Extension<Identity>`: what axum charges any layer that
    /// gives the handler a value through the request's extensions.
    pub extension_layer: App,
    /// `AuthLayer` with an authenticator that accepts every request: the
    /// layer's own cost.
    pub fixed: App,
    /// `AuthLayer` with `ApiKeyAuthenticator` over `store`, added by
    /// `Router::layer`.
    pub api_key: App,
    /// The same layer wrapped around the whole router.
    pub api_key_wrapped: App,
    /// The same layer with `AuthLayer::axum_body`, added by
    /// `Router::layer`: axum's own response body, not boxed again.
    pub api_key_axum_body: App,
}

impl Setup {
    /// The router without auth.
    pub fn plain_router(&self) -> Router {
        match &self.plain {
            App::Router(r) => r.clone(),
            App::Wrapped(_) => unreachable!("plain is a router"),
        }
    }

    /// The configurations the per-request benches measure, each with the
    /// key it is sent and the status it must answer: no auth first, the
    /// baseline of the others.
    pub fn configurations(&self) -> [(&'static str, &App, &str, u16); 9] {
        [
            ("no auth", &self.plain, &self.valid, 200),
            ("no-op layer", &self.noop_layer, &self.valid, 200),
            (
                "axum Extension layer",
                &self.extension_layer,
                &self.valid,
                200,
            ),
            ("AuthLayer, fixed identity", &self.fixed, &self.valid, 200),
            ("api key, valid", &self.api_key, &self.valid, 200),
            (
                "api key, valid, axum body",
                &self.api_key_axum_body,
                &self.valid,
                200,
            ),
            (
                "api key, valid, wrapped",
                &self.api_key_wrapped,
                &self.valid,
                200,
            ),
            ("api key, malformed", &self.api_key, &self.malformed, 401),
            ("api key, unknown", &self.api_key, &self.unknown, 401),
        ]
    }

    /// The router with the API-key layer in axum body mode.
    pub fn api_key_axum_body_router(&self) -> Router {
        match &self.api_key_axum_body {
            App::Router(r) => r.clone(),
            App::Wrapped(_) => unreachable!("api_key_axum_body is a router"),
        }
    }

    /// The router with the API-key layer added by `Router::layer`.
    pub fn api_key_router(&self) -> Router {
        match &self.api_key {
            App::Router(r) => r.clone(),
            App::Wrapped(_) => unreachable!("api_key is a router"),
        }
    }
}

/// Accepts every request as one identity.
struct Fixed(Identity);

impl Authenticator for Fixed {
    fn authenticate(&self, _: &http::request::Parts) -> Authentication {
        Authentication::accept(self.0.clone())
    }
}

/// A memory store of `keys` keys of `format`, each with its own owner, and
/// up to 1 024 of its keys spread evenly over it (the middle one first).
pub fn store_of(format: &KeyFormat, keys: usize) -> (MemoryKeyStore, Vec<String>) {
    let store = MemoryKeyStore::new();
    let generated: Vec<_> = (0..keys).map(|_| format.generate().unwrap()).collect();
    store.extend(generated.iter().enumerate().map(|(i, k)| {
        (
            k.digest(),
            KeyRecord::builder(format!("key_{i}"), format!("owner_{i}")).build(),
        )
    }));
    let step = (keys / 1024).max(1);
    let mut sample = vec![generated[keys / 2].expose_secret().to_owned()];
    sample.extend(
        generated
            .iter()
            .step_by(step)
            .take(1024)
            .map(|k| k.expose_secret().to_owned()),
    );
    (store, sample)
}

pub fn setup(keys: usize) -> Setup {
    let format = KeyFormat::new("acme_live").unwrap();
    let (store, sample) = store_of(&format, keys);
    let valid = sample[0].clone();
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
    let fixed_identity = KeyRecord::builder("key_fixed", "owner")
        .build()
        .identity()
        .clone();
    let extension_layer = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(Extension(fixed_identity.clone()))
        .with_state(());
    let fixed = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(AuthLayer::new(Fixed(fixed_identity)))
        .with_state(());
    let auth = AuthLayer::new(ApiKeyAuthenticator::new(format.clone(), store.clone()));
    let api_key = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(auth.clone())
        .with_state(());
    let api_key_axum_body = App::Router(
        Router::new()
            .route("/", get(|_: Extension<Identity>| async { "ok" }))
            .layer(auth.clone().axum_body())
            .with_state(()),
    );
    let api_key_wrapped = auth.layer(
        Router::new()
            .route("/", get(|_: Extension<Identity>| async { "ok" }))
            .with_state(()),
    );
    Setup {
        format,
        store,
        valid,
        unknown,
        malformed,
        plain: App::Router(plain),
        noop_layer: App::Router(noop_layer),
        extension_layer: App::Router(extension_layer),
        fixed: App::Router(fixed),
        api_key: App::Router(api_key),
        api_key_wrapped: App::Wrapped(api_key_wrapped),
        api_key_axum_body,
    }
}

/// A request carrying `key` in the `API-Key` header.
pub fn request(key: &str) -> Request<Body> {
    Request::get("/")
        .header("api-key", key)
        .body(Body::empty())
        .unwrap()
}
