//! A plain hyper server behind m2m-auth, through `hyper-util`'s tower
//! adapter.
//!
//! ```text
//! cargo run --example hyper --features jwt
//! ```
//!
//! Serves on `127.0.0.1:3001` (or `$PORT`): `GET /whoami` answers with the
//! caller's subject. At start it prints a demo API key and a curl line.
//! Stops on Ctrl-C, letting open connections finish.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::{AuthLayer, Identity};
use tower::Layer;

/// The handler: the layer guarantees an `Identity` in the extensions.
async fn whoami(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let subject = req
        .extensions()
        .get::<Identity>()
        .map_or("nobody", |id| id.subject());
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello, {subject}\n"
    )))))
}

/// Serves `whoami` behind `auth` on `listener` until `shutdown` completes,
/// then waits for open connections to finish.
///
/// # Errors
///
/// An error accepting connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    auth: AuthLayer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let service = auth.layer(tower::service_fn(whoami));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let connection = auto::Builder::new(TokioExecutor::new())
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("connection error: {e}");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3001,
    };
    let format = KeyFormat::new("demo")?;
    let store = MemoryKeyStore::new();
    let key = format.generate()?;
    store.insert(
        key.digest(),
        KeyRecord::builder("key_demo", "demo-client").build(),
    );
    let auth = AuthLayer::new(ApiKeyAuthenticator::new(format, store));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("m2m-auth hyper example, listening on {base}");
    println!();
    println!("API key: {}", key.expose_secret());
    println!();
    println!(
        "  curl -i -H 'Authorization: Bearer {}' {base}/whoami    # 200",
        key.expose_secret()
    );
    println!("  curl -i {base}/whoami    # 401");
    println!();
    println!("Press Ctrl-C to stop.");
    serve(listener, auth, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
