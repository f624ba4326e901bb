//! A tonic gRPC server behind m2m-auth, taking JWT access tokens and API
//! keys on one layer.
//!
//! ```text
//! cargo run --example grpc --features jwt
//! ```
//!
//! Serves `demo.Whoami/Whoami` on `127.0.0.1:50051` (or `$PORT`); the
//! method returns the caller's subject. Every call needs a credential with
//! scope `whoami`. At start it prints a demo JWT (signed with a fresh HMAC
//! secret) and a demo API key; `tests/servers/grpc.rs` calls the server
//! with a tonic client. Stops on Ctrl-C.
//!
//! The service is written without code generation so that the example
//! needs no `protoc`: `whoami` below is what `tonic-prost-build` would
//! generate for
//!
//! ```proto
//! package demo;
//! service Whoami { rpc Whoami(WhoamiRequest) returns (WhoamiReply); }
//! message WhoamiRequest {}
//! message WhoamiReply { string subject = 1; string method = 2; }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use m2m_auth::{AuthLayer, RequireScopesLayer, Scopes};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// The `demo.Whoami` service, its messages and a client call.
pub mod whoami {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http::uri::PathAndQuery;
    use m2m_auth::Identity;
    use tonic::body::Body;
    use tonic::server::NamedService;
    use tonic::transport::Channel;
    use tonic::{Request, Response, Status};
    use tonic_prost::ProstCodec;

    /// `WhoamiRequest {}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WhoamiRequest {}

    /// `WhoamiReply { subject, method }`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WhoamiReply {
        /// The caller's subject.
        #[prost(string, tag = "1")]
        pub subject: String,
        /// How the caller proved it: `jwt` or `api_key`.
        #[prost(string, tag = "2")]
        pub method: String,
    }

    const PATH: &str = "/demo.Whoami/Whoami";

    /// The method: reads the `Identity` the layer put into the request.
    async fn whoami(request: Request<WhoamiRequest>) -> Result<Response<WhoamiReply>, Status> {
        let identity = request
            .extensions()
            .get::<Identity>()
            .ok_or_else(|| Status::internal("no identity: is the auth layer missing?"))?;
        Ok(Response::new(WhoamiReply {
            subject: identity.subject().to_owned(),
            method: identity.credential().method().to_owned(),
        }))
    }

    /// The server side of `demo.Whoami`.
    #[derive(Clone, Debug, Default)]
    pub struct WhoamiServer;

    impl NamedService for WhoamiServer {
        const NAME: &'static str = "demo.Whoami";
    }

    type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    impl tower::Service<http::Request<Body>> for WhoamiServer {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<Body>) -> Self::Future {
            if req.uri().path() != PATH {
                return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
            }
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(tower::service_fn(whoami), req).await)
            })
        }
    }

    /// Calls `Whoami` over `channel`, with `authorization` as the
    /// `authorization` metadata if given.
    ///
    /// # Errors
    ///
    /// The call's status: `Unauthenticated`, `PermissionDenied`, …
    pub async fn call(
        channel: Channel,
        authorization: Option<&str>,
    ) -> Result<WhoamiReply, Status> {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut request = Request::new(WhoamiRequest {});
        if let Some(value) = authorization {
            let value = value
                .parse()
                .map_err(|_| Status::invalid_argument("bad metadata value"))?;
            request.metadata_mut().insert("authorization", value);
        }
        let path = PathAndQuery::from_static(PATH);
        Ok(grpc
            .unary(request, path, ProstCodec::default())
            .await?
            .into_inner())
    }
}

/// Serves `demo.Whoami` on `listener` behind `auth` and a guard requiring
/// scope `whoami`, until `shutdown` completes.
///
/// # Errors
///
/// A transport error from tonic, or a scope the guard refuses.
pub async fn serve(
    listener: tokio::net::TcpListener,
    auth: AuthLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Server::builder()
        .layer(auth)
        .layer(RequireScopesLayer::new(["whoami"])?)
        .add_service(whoami::WhoamiServer)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 50051,
    };

    // API keys: a demo key with scope `whoami`.
    let format = KeyFormat::new("demo")?;
    let store = MemoryKeyStore::new();
    let api_key = format.generate()?;
    store.insert(
        api_key.digest(),
        KeyRecord::builder("key_demo", "demo-api-client")
            .scopes(Scopes::new(["whoami"])?)
            .build(),
    );

    // JWTs: an identity provider would sign these; here the example signs
    // one itself with a fresh secret.
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    let jwt = JwtAuthenticator::builder()
        .issuer("https://idp.example")
        .audience("demo-grpc")
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([Key::hmac(&secret)?])?)
        .build()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({
            "iss": "https://idp.example",
            "aud": "demo-grpc",
            "sub": "demo-jwt-client",
            "scope": "whoami",
            "exp": now + 3600, // valid for an hour
        }),
        &jsonwebtoken::EncodingKey::from_secret(&secret)?,
    )?;

    let auth = AuthLayer::new(jwt).or(ApiKeyAuthenticator::new(format, store));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "m2m-auth gRPC example, serving demo.Whoami on {}",
        listener.local_addr()?
    );
    println!();
    println!("JWT: {token}");
    println!("API key: {}", api_key.expose_secret());
    println!();
    println!("Send either as `authorization: Bearer <credential>` metadata.");
    println!("Press Ctrl-C to stop.");
    serve(listener, auth, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
