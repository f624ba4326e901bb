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
//!
//! With `M2M_AUTH_ISSUER` and `M2M_AUTH_AUDIENCE` set (and the
//! `remote-jwks` feature), the protected routes also accept JWT access
//! tokens of that issuer for that audience, its keys found by discovery:
//!
//! ```text
//! M2M_AUTH_ISSUER=https://idp.example.com/ M2M_AUTH_AUDIENCE=https://api.example.com \
//!     cargo run --example quickstart --features remote-jwks
//! ```

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use m2m_auth::api_key::{
    ApiKeyAuthenticator, KeyErrorKind, KeyFormat, KeyManager, NewKey, SqliteKeyStore,
};
use m2m_auth::issuer::{ClientSettings, Clients, TokenEndpoint};
use m2m_auth::jwt::MemoryRevocations;
use m2m_auth::portal::Portal;
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

    let config = Config::from_env()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (app, banner) = app(&config, &base).await?;
    print!("{banner}");
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

/// What the quick start is told by its environment.
#[derive(Debug)]
pub struct Config {
    /// `PORT`; defaults to 3000.
    pub port: u16,
    /// `KEYS_DB`: an SQLite file, or `:memory:`.
    pub keys_db: String,
    /// `M2M_AUTH_ISSUER` and `M2M_AUTH_AUDIENCE`, to accept JWTs too.
    pub jwt: Option<(String, String)>,
}

impl Config {
    fn from_env() -> Result<Self, Box<dyn std::error::Error>> {
        let port = match std::env::var("PORT") {
            Ok(p) => p
                .parse()
                .map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
            Err(_) => 3000,
        };
        let keys_db = std::env::var("KEYS_DB").unwrap_or_else(|_| "quickstart-keys.db".to_owned());
        let jwt = match (
            std::env::var("M2M_AUTH_ISSUER"),
            std::env::var("M2M_AUTH_AUDIENCE"),
        ) {
            (Ok(issuer), Ok(audience)) => Some((issuer, audience)),
            _ => None,
        };
        Ok(Self { port, keys_db, jwt })
    }
}

/// The demo API, served at `base`, and the text to print at start: the
/// demo key it just created and curl lines to try it.
///
/// # Errors
///
/// When the key database cannot be opened, or the identity provider's
/// keys cannot be found.
pub async fn app(
    config: &Config,
    base: &str,
) -> Result<(Router, String), Box<dyn std::error::Error>> {
    // Keys look like `demo_<32 random base62 characters><6-character checksum>`.
    let format = KeyFormat::new("demo")?;
    let db = &config.keys_db;
    let store = if db == ":memory:" {
        SqliteKeyStore::in_memory().await?
    } else {
        SqliteKeyStore::open(db).await?
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
    let key = created.key.expose_secret().to_owned();
    // And a key for the operator, with scope `admin`.
    let admin_key = keys
        .create(
            NewKey::new("demo-operator")
                .name("quick start admin key")
                .scopes(Scopes::new(["admin"])?),
        )
        .await?
        .key
        .expose_secret()
        .to_owned();

    // A token endpoint of our own (client credentials), its clients kept
    // beside the keys (their secrets have another prefix, so a secret is
    // never taken for an API key). A restart gives the demo client a new
    // secret; the old one stops.
    let clients = Clients::new(store.clone());
    let client = ClientSettings::new([base]).scopes(Scopes::new(["reports:read"])?);
    let secret = match clients.register("demo-service", &client).await {
        Ok(created) => created,
        Err(e) if e.kind() == KeyErrorKind::InvalidInput => {
            clients.roll_secret("demo-service", Duration::ZERO).await?
        }
        Err(e) => return Err(e.into()),
    };
    let secret = secret.key.expose_secret().to_owned();
    let tokens = TokenEndpoint::builder(base, clients)
        .revocations(MemoryRevocations::new())
        .build()?;

    // The self-serve portal: consumers sign in with a key and manage their
    // own keys. The page loads without a key (optional mode); its API
    // calls carry one.
    let portal = Portal::builder(keys)
        .allowed_scopes(["reports:read"])?
        .build()
        .router()
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format.clone(), store.clone())).optional());

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
        .route(
            "/admin/clients/{id}/revoke-tokens",
            post(revoke_tokens)
                .layer(RequireScopesLayer::new(["admin"])?)
                .with_state(tokens.clone()),
        )
        .layer(
            auth_layer(ApiKeyAuthenticator::new(format, store), config.jwt.as_ref())
                .await?
                .or(tokens.authenticator(base)?),
        );
    let app = Router::new()
        .route("/", get(|| async { "public: no key needed\n" }))
        .merge(protected)
        .nest("/portal", portal)
        .merge(tokens.router());

    let demo = Demo {
        key,
        admin_key,
        secret,
        earlier,
    };
    Ok((app, banner(config, base, &demo)?))
}

/// The credentials the quick start made for this run.
struct Demo {
    key: String,
    admin_key: String,
    secret: String,
    earlier: usize,
}

/// What the quick start prints at start: the demo credentials and curl
/// lines to try them.
fn banner(config: &Config, base: &str, demo: &Demo) -> Result<String, std::fmt::Error> {
    use std::fmt::Write as _;

    let Demo {
        key,
        admin_key,
        secret,
        earlier,
    } = demo;
    let db = &config.keys_db;
    let mut out = String::new();
    writeln!(out, "m2m-auth quick start, listening on {base}")?;
    writeln!(out)?;
    writeln!(out, "API key: {key}")?;
    writeln!(out)?;
    if db == ":memory:" {
        writeln!(out, "Keys are kept in memory (KEYS_DB=:memory:).")?;
    } else {
        writeln!(
            out,
            "Keys are kept in {db} ({earlier} from earlier runs still work); KEYS_DB=:memory: keeps them in memory."
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Try it:")?;
    writeln!(out, "  curl -i {base}/    # 200: public")?;
    writeln!(out, "  curl -i {base}/whoami    # 401: no key")?;
    writeln!(
        out,
        "  curl -i -H 'Authorization: Bearer {key}' {base}/whoami    # 200: the key's owner"
    )?;
    writeln!(
        out,
        "  curl -i -H 'API-Key: {key}' {base}/reports    # 200: the key has scope reports:read"
    )?;
    writeln!(
        out,
        "  curl -i -H 'X-API-Key: {key}' {base}/admin    # 403: the key lacks scope admin"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Manage keys in the portal: {base}/portal (sign in with the key above)"
    )?;
    writeln!(out)?;
    writeln!(out, "OAuth client: demo-service")?;
    writeln!(out, "Client secret: {secret}")?;
    writeln!(out, "Admin key: {admin_key}")?;
    let token_request = format!(
        "curl -s -X POST {base}/oauth/token -d grant_type=client_credentials -d client_id=demo-service -d client_secret={secret} -d audience={base}"
    );
    writeln!(out)?;
    writeln!(
        out,
        "Get a token, call with it, revoke the client's tokens:"
    )?;
    writeln!(
        out,
        "  {}    # 200: an access token",
        token_request.replacen("-s", "-i", 1)
    )?;
    writeln!(
        out,
        "  TOKEN=$({token_request} | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    )?;
    writeln!(
        out,
        "  curl -i -H \"Authorization: Bearer $TOKEN\" {base}/whoami    # 200: the token's client"
    )?;
    writeln!(
        out,
        "  curl -i -X POST -H 'API-Key: {admin_key}' {base}/admin/clients/demo-service/revoke-tokens    # 200: its tokens so far stop working"
    )?;
    writeln!(
        out,
        "  curl -i -H \"Authorization: Bearer $TOKEN\" {base}/whoami    # 401: the token was revoked"
    )?;
    writeln!(out)?;
    if let Some((issuer, audience)) = &config.jwt {
        writeln!(
            out,
            "JWT access tokens from {issuer} for audience {audience} are accepted too:"
        )?;
        writeln!(
            out,
            "  send one as 'Authorization: Bearer <token>' to {base}/whoami"
        )?;
        writeln!(out)?;
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    Ok(out)
}

/// The API key authenticator, and a JWT one when `M2M_AUTH_ISSUER` and
/// `M2M_AUTH_AUDIENCE` are set.
async fn auth_layer(
    api_keys: ApiKeyAuthenticator<SqliteKeyStore>,
    jwt: Option<&(String, String)>,
) -> Result<AuthLayer, Box<dyn std::error::Error>> {
    let layer = AuthLayer::new(api_keys);
    let Some((issuer, audience)) = jwt else {
        return Ok(layer);
    };
    #[cfg(feature = "remote-jwks")]
    {
        use m2m_auth::jwt::{Algorithm, JwtAuthenticator, RemoteJwks};
        let keys = RemoteJwks::builder().discover(issuer).build().await?;
        let jwt = JwtAuthenticator::builder()
            .issuer(issuer.as_str())
            .audience(audience.as_str())
            .algorithms([
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
            ])
            .remote_keys(keys)
            .build()?;
        Ok(layer.or(jwt))
    }
    #[cfg(not(feature = "remote-jwks"))]
    {
        let _ = (issuer, audience);
        Err("M2M_AUTH_ISSUER is set: run with `--features remote-jwks` to accept JWTs".into())
    }
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

/// Revokes every token client `id` holds (an operator's route).
async fn revoke_tokens(
    State(tokens): State<TokenEndpoint<SqliteKeyStore>>,
    Path(id): Path<String>,
) -> Result<String, (StatusCode, String)> {
    tokens
        .revoke_client_tokens(&id)
        .await
        .map(|()| format!("the tokens {id} holds are revoked\n"))
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

async fn admin() -> &'static str {
    "admin area\n"
}
