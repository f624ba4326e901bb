//! The self-serve portal: its REST API over a real socket, and its page in
//! headless Chromium.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(clippy::too_many_lines, reason = "a scenario reads best in one piece")]

mod browser;
mod rest;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyManager, MemoryKeyStore, NewKey};
use m2m_auth::portal::Portal;
use m2m_auth::{AuthLayer, Identity, Scopes};

pub(crate) const SCOPES: [&str; 2] = ["invoices:read", "invoices:write"];

/// An API with the portal under `/portal` and a protected `/whoami`, and
/// one key each for `alice` and `bob`.
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) alice: String,
    pub(crate) bob: String,
}

pub(crate) async fn api() -> Api {
    let format = KeyFormat::new("acme_test").unwrap();
    let store = MemoryKeyStore::new();
    let keys = KeyManager::new(format.clone(), store.clone());
    let seed = |owner: &'static str| {
        let keys = &keys;
        async move {
            keys.create(NewKey::new(owner).scopes(Scopes::new(["invoices:read"]).unwrap()))
                .await
                .unwrap()
                .key
                .expose_secret()
                .to_owned()
        }
    };
    let (alice, bob) = (seed("alice").await, seed("bob").await);
    let portal = Portal::builder(keys)
        .allowed_scopes(SCOPES)
        .unwrap()
        .build();
    let auth = ApiKeyAuthenticator::new(format, store);
    let app = Router::new()
        .route(
            "/whoami",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .layer(AuthLayer::new(auth.clone()))
        .nest(
            "/portal",
            portal.router().layer(AuthLayer::new(auth).optional()),
        );
    Api {
        base: serve(app).await.to_string(),
        alice,
        bob,
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}
