//! A built-in OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4)
//! for teams without an identity provider, and for tests (feature
//! `issuer`).
//!
//! [`TokenEndpoint::router`] serves, under the issuer URL:
//!
//! | path | what |
//! |---|---|
//! | `POST {token_path}` (default `/oauth/token`) | form-encoded `grant_type=client_credentials`, client authentication by HTTP Basic or `client_id` + `client_secret`, optional `scope` and `audience` (or RFC 8707 `resource`) |
//! | `GET /.well-known/jwks.json` | the public signing keys |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata |
//! | `GET /.well-known/openid-configuration` | the same, where OpenID validators look |
//!
//! Tokens follow RFC 9068: header `typ: at+jwt` and `kid`; claims `iss`,
//! `sub` = `client_id` = the client id, `aud`, `exp`, `iat`, `jti`, `scope`.
//! They are signed with Ed25519 by default (keys made by the endpoint), or
//! RS256 / ES256 with keys you give ([`SigningKeys`]). Any standard
//! validator accepts them, ours included
//! ([`TokenEndpoint::authenticator`] for the same process; `RemoteJwks`
//! discovery from the issuer URL elsewhere).
//!
//! Clients ([`Clients`]) live in an API-key store; their secrets roll,
//! expire and are disabled like keys. A client's tokens can be revoked
//! without touching its secret ([`TokenEndpoint::revoke_client_tokens`],
//! [`TokenEndpoint::revoke_token`]), through the JWT [`Revocations`] the
//! API's authenticator checks: shared across instances with
//! `PostgresRevocations`.
//!
//! Errors follow RFC 6749 §5.2: `invalid_client` (`401`,
//! `WWW-Authenticate: Basic`), `invalid_request`, `invalid_scope`,
//! `invalid_target`, `unsupported_grant_type` (`400`). Every answer carries
//! `Cache-Control: no-store`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::Router;
//! use m2m_auth::api_key::MemoryKeyStore;
//! use m2m_auth::issuer::{ClientSettings, Clients, SigningKeys, TokenEndpoint};
//! use m2m_auth::{AuthLayer, Scopes};
//!
//! let clients = Clients::new(MemoryKeyStore::new());
//! let secret = clients
//!     .register(
//!         "billing-service",
//!         &ClientSettings::new(["https://api.example.com"]).scopes(Scopes::new(["invoices:read"])?),
//!     )
//!     .await?;
//! # let _ = secret;
//! let tokens = TokenEndpoint::builder("https://api.example.com", clients)
//!     .signing_keys(SigningKeys::generate()?)
//!     .build()?;
//! let api: Router = Router::new()
//!     // … your routes, then:
//!     .layer(AuthLayer::new(tokens.authenticator("https://api.example.com")?))
//!     .merge(tokens.router());
//! # let _ = api;
//! # Ok(())
//! # }
//! ```

mod clients;
mod keys;
mod token;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::axum::Router;
use ::axum::routing::{get, post};

pub use self::clients::{
    Client, ClientSettings, Clients, DEFAULT_SECRET_PREFIX, DEFAULT_TOKEN_LIFETIME,
};
pub use self::keys::{SigningAlgorithm, SigningKeys};
use crate::api_key::KeyRepository;
use crate::error::{ConfigError, StoreError};
use crate::jwt::{JwtAuthenticator, Revocations};

/// Longest token lifetime a client may be given.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_hours(24);

/// The token endpoint; see the [module docs](self).
pub struct TokenEndpoint<R> {
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    issuer: Arc<str>,
    token_path: String,
    clients: Clients<R>,
    keys: SigningKeys,
    revocations: Option<Arc<dyn Revocations>>,
}

impl<R: KeyRepository> TokenEndpoint<R> {
    /// Starts an endpoint that names itself `issuer` (an `https://` URL,
    /// or `http://` for loopback; no query or fragment) and serves
    /// `clients`.
    pub fn builder(issuer: impl Into<String>, clients: Clients<R>) -> TokenEndpointBuilder<R> {
        TokenEndpointBuilder {
            issuer: issuer.into(),
            clients,
            keys: None,
            token_path: "/oauth/token".to_owned(),
            revocations: None,
        }
    }

    /// The issuer URL, the tokens' `iss`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The clients.
    pub fn clients(&self) -> &Clients<R> {
        &self.shared.clients
    }

    /// The signing keys (to rotate them).
    pub fn signing_keys(&self) -> &SigningKeys {
        &self.shared.keys
    }

    /// The routes, with paths as seen from the issuer URL: merge them at
    /// the root of the server that answers for it.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let prefix = issuer_path(&self.shared.issuer);
        Router::new()
            .route(&self.shared.token_path, post(token::token::<R>))
            .route(
                &format!("{prefix}/.well-known/jwks.json"),
                get(token::jwks::<R>),
            )
            .route(
                &format!("{prefix}/.well-known/openid-configuration"),
                get(token::metadata::<R>),
            )
            .route(
                // RFC 8414 §3: the well-known part comes before the path.
                &format!("/.well-known/oauth-authorization-server{prefix}"),
                get(token::metadata::<R>),
            )
            .with_state(Arc::clone(&self.shared))
    }

    /// An authenticator for tokens of this endpoint for `audience`, in the
    /// same process: it verifies with the endpoint's published keys (also
    /// after a rotation) and checks its revocations.
    ///
    /// # Errors
    ///
    /// As [`JwtAuthenticatorBuilder::build`](crate::jwt::JwtAuthenticatorBuilder::build).
    pub fn authenticator(&self, audience: &str) -> Result<JwtAuthenticator, ConfigError> {
        let mut b = JwtAuthenticator::builder()
            .issuer(&*self.shared.issuer)
            .audience(audience)
            .algorithms([self.shared.keys.algorithm().verified_as()])
            .require_at_jwt(true)
            .live_keys(self.shared.keys.verification_keys());
        if let Some(r) = &self.shared.revocations {
            b = b.revocations(Arc::clone(r));
        }
        b.build()
    }

    /// Revokes every token client `id` holds now, without touching its
    /// secret: tokens it gets from now on work. Returns once that holds,
    /// within a second (`iat` counts whole seconds).
    ///
    /// # Errors
    ///
    /// [`ConfigError`]-free: a [`StoreError`] when the revocations cannot be
    /// written, or none are configured.
    pub async fn revoke_client_tokens(&self, id: &str) -> Result<(), StoreError> {
        let revocations = self.revocations()?;
        // Tokens issued up to now have `iat` at most this second; those
        // issued from the next whole second on are not revoked.
        let now = SystemTime::now();
        let next_second = UNIX_EPOCH
            + Duration::from_secs(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 1);
        revocations
            .revoke_subject(&self.shared.issuer, id, next_second)
            .await?;
        if let Ok(wait) = next_second.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Revokes one token by its `jti`, until its `exp`.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the revocations cannot be written, or none are
    /// configured.
    pub async fn revoke_token(&self, jti: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        self.revocations()?
            .revoke_token(&self.shared.issuer, jti, expires_at)
            .await
    }

    fn revocations(&self) -> Result<&Arc<dyn Revocations>, StoreError> {
        self.shared
            .revocations
            .as_ref()
            .ok_or_else(|| StoreError::new("the token endpoint has no revocation store"))
    }
}

impl<R> Clone for TokenEndpoint<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for TokenEndpoint<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("issuer", &self.shared.issuer)
            .field("token_path", &self.shared.token_path)
            .field("keys", &self.shared.keys)
            .field("clients", &self.shared.clients)
            .finish_non_exhaustive()
    }
}

/// The path of an issuer URL, without a trailing `/` (`""` for none).
fn issuer_path(issuer: &str) -> String {
    let after = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    let path = after.find('/').map_or("", |i| &after[i..]);
    path.trim_end_matches('/').to_owned()
}

/// Configures a [`TokenEndpoint`].
#[must_use]
pub struct TokenEndpointBuilder<R> {
    issuer: String,
    clients: Clients<R>,
    keys: Option<SigningKeys>,
    token_path: String,
    revocations: Option<Arc<dyn Revocations>>,
}

impl<R: KeyRepository> TokenEndpointBuilder<R> {
    /// The keys tokens are signed with. Defaults to new Ed25519 keys
    /// ([`SigningKeys::generate`]).
    pub fn signing_keys(mut self, keys: SigningKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Where tokens are asked for, from the server's root. Defaults to
    /// `/oauth/token`.
    pub fn token_path(mut self, path: impl Into<String>) -> Self {
        self.token_path = path.into();
        self
    }

    /// Where revocations go, and what [`TokenEndpoint::authenticator`]
    /// checks. Defaults to none: tokens cannot be revoked.
    pub fn revocations<V: Revocations>(mut self, revocations: V) -> Self {
        self.revocations = Some(Arc::new(revocations));
        self
    }

    /// The endpoint.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSetting`] for an issuer that is not an
    /// `https://` URL (or `http://` to loopback), or a token path that does
    /// not start with `/`; errors of [`SigningKeys::generate`].
    pub fn build(self) -> Result<TokenEndpoint<R>, ConfigError> {
        let uri: http::Uri = self
            .issuer
            .parse()
            .map_err(|_| ConfigError::InvalidSetting(format!("{:?} is not a URL", self.issuer)))?;
        let loopback = matches!(
            uri.host(),
            Some("127.0.0.1" | "[::1]" | "::1" | "localhost")
        );
        let scheme_ok = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => loopback,
            _ => false,
        };
        if !scheme_ok || uri.query().is_some() || self.issuer.contains('#') {
            return Err(ConfigError::InvalidSetting(format!(
                "issuer {:?} must be an https URL (http only for loopback) without query or fragment",
                self.issuer
            )));
        }
        if !self.token_path.starts_with('/') {
            return Err(ConfigError::InvalidSetting(
                "the token path must start with /".to_owned(),
            ));
        }
        let keys = match self.keys {
            Some(k) => k,
            None => SigningKeys::generate()?,
        };
        Ok(TokenEndpoint {
            shared: Arc::new(Shared {
                issuer: Arc::from(self.issuer),
                token_path: self.token_path,
                clients: self.clients,
                keys,
                revocations: self.revocations,
            }),
        })
    }
}

impl<R: fmt::Debug> fmt::Debug for TokenEndpointBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointBuilder")
            .field("issuer", &self.issuer)
            .field("token_path", &self.token_path)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_paths() {
        assert_eq!(issuer_path("https://a.example"), "");
        assert_eq!(issuer_path("https://a.example/"), "");
        assert_eq!(issuer_path("https://a.example/auth/"), "/auth");
        assert_eq!(issuer_path("http://127.0.0.1:8080/t/1"), "/t/1");
    }
}
