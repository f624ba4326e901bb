//! Quick start: an axum API protected by API keys.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Serves on `127.0.0.1:3000` (or `$PORT`), creates a demo key, prints it as
//! `API key: …` with curl lines to try, and stops on Ctrl-C.
//!
//! Keys live in the SQLite file `quickstart-keys.db` (or `$KEYS_DB`;
//! `KEYS_DB=:memory:` keeps them in memory), so the keys of earlier runs
//! keep working after a restart.

use axum::routing::get;
use axum::{Extension, Router};
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyManager, NewKey, SqliteKeyStore};
use m2m_auth::{AuthLayer, Identity, RequireScopesLayer, Scopes};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Show the layer's decisions (never a key) on stderr.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(Targets::new().with_target("m2m_auth", tracing::Level::DEBUG))
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3000,
    };

    // Keys look like `demo_<32 random base62 characters><6-character checksum>`.
    let format = KeyFormat::new("demo")?;
    let db = std::env::var("KEYS_DB").unwrap_or_else(|_| "quickstart-keys.db".to_owned());
    let store = if db == ":memory:" {
        SqliteKeyStore::in_memory().await?
    } else {
        SqliteKeyStore::open(&db).await?
    };
    store.migrate().await?;
    let keys = KeyManager::new(format.clone(), store.clone());

    // Issue a demo key. Only its digest is stored; the plaintext is printed
    // once below and then dropped.
    let created = keys
        .create(
            NewKey::new("demo-client")
                .name("quick start demo key")
                .scopes(Scopes::new(["reports:read"])?),
        )
        .await?;
    let earlier = keys.list("demo-client", None, 1000).await?.keys.len() - 1;

    let protected = Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/reports",
            get(reports).layer(RequireScopesLayer::new(["reports:read"])?),
        )
        .route(
            "/admin",
            get(admin).layer(RequireScopesLayer::new(["admin"])?),
        )
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)));
    let app = Router::new()
        .route("/", get(|| async { "public: no key needed\n" }))
        .merge(protected);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let key = created.key.expose_secret();
    println!("m2m-auth quick start, listening on {base}");
    println!();
    println!("API key: {key}");
    println!();
    if db == ":memory:" {
        println!("Keys are kept in memory (KEYS_DB=:memory:).");
    } else {
        println!(
            "Keys are kept in {db} ({earlier} from earlier runs still work); KEYS_DB=:memory: keeps them in memory."
        );
    }
    println!();
    println!("Try it:");
    println!("  curl -i {base}/    # 200: public");
    println!("  curl -i {base}/whoami    # 401: no key");
    println!("  curl -i -H 'Authorization: Bearer {key}' {base}/whoami    # 200: the key's owner");
    println!(
        "  curl -i -H 'API-Key: {key}' {base}/reports    # 200: the key has scope reports:read"
    );
    println!("  curl -i -H 'X-API-Key: {key}' {base}/admin    # 403: the key lacks scope admin");
    println!();
    println!("Press Ctrl-C to stop.");

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, serve until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    println!("stopped");
    Ok(())
}

async fn whoami(Extension(identity): Extension<Identity>) -> String {
    format!(
        "you are {} (key {})\n",
        identity.subject(),
        identity.credential().id().unwrap_or("-")
    )
}

async fn reports(Extension(identity): Extension<Identity>) -> String {
    format!("reports for {}\n", identity.subject())
}

async fn admin() -> &'static str {
    "admin area\n"
}
