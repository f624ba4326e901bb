//! Self-serve API keys: a mountable axum router with a REST API and a
//! portal page, where each consumer creates, lists, rolls and revokes its
//! own keys (feature `portal`).
//!
//! [`Portal::router`] serves, relative to where it is mounted:
//!
//! | method and path | what |
//! |---|---|
//! | `GET /` | the portal page (HTML, with `portal.js` and `portal.css`) |
//! | `GET /api/me` | who the caller is: `{"owner"}` |
//! | `GET /api/scopes` | the scopes a consumer may give its keys |
//! | `GET /api/keys?after=&limit=` | the caller's keys, a page at a time |
//! | `POST /api/keys` | a new key: `{"name", "scopes", "expires_at", "metadata"}`; `201` with the plaintext, once |
//! | `GET /api/keys/{id}` | one key |
//! | `PATCH /api/keys/{id}` | change `name`, `scopes`, `expires_at` (`null`: never) or `metadata` |
//! | `POST /api/keys/{id}/roll` | a new key for an old one: `{"grace_seconds"}`; `201` with the plaintext |
//! | `POST /api/keys/{id}/revoke` | revoke, for good |
//!
//! Times are seconds since the Unix epoch. Records carry a hint of the key
//! (`acme_live_AbCd...WxYz`), never the key. Errors are RFC 9457
//! `application/problem+json`: `400` with a plain reason for bad input
//! (unknown scope, expiry in the past, name too long, oversized metadata),
//! `401` without a caller, `404` for a key that does not exist *or belongs
//! to someone else* (a consumer cannot tell the two apart).
//!
//! Who the caller is comes from an [`OwnerResolver`]: by default the
//! [`Identity`] subject our [`AuthLayer`](crate::AuthLayer)
//! put in the request, so mount the portal behind an optional-mode layer
//! (the page itself loads without credentials; its API calls carry the
//! consumer's key), or behind your own login with a resolver of your own.
//!
//! The page is one HTML file with plain JavaScript and CSS, served by the
//! router (no build step, no CDN). It asks for a key to sign in with, keeps
//! it in the tab's session storage, renders every value as text (never as
//! HTML), and is served with a strict `Content-Security-Policy`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::Router;
//! use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyManager, MemoryKeyStore};
//! use m2m_auth::portal::Portal;
//! use m2m_auth::AuthLayer;
//!
//! let format = KeyFormat::new("acme_live")?;
//! let store = MemoryKeyStore::new();
//! let portal = Portal::builder(KeyManager::new(format.clone(), store.clone()))
//!     .allowed_scopes(["invoices:read", "invoices:write"])?
//!     .build();
//! let app: Router = Router::new().nest(
//!     "/portal",
//!     portal
//!         .router()
//!         .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)).optional()),
//! );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod api;

use std::fmt;
use std::sync::Arc;

use ::axum::Router;
use ::axum::routing::{get, post};
use http::request::Parts;

use crate::api_key::{KeyManager, KeyRepository};
use crate::error::ConfigError;
use crate::identity::{Identity, Scopes};

/// Longest grace period a roll may ask for.
pub const MAX_GRACE: std::time::Duration = std::time::Duration::from_hours(30 * 24);

/// Says who owns the keys a request may see and change.
///
/// Implemented by every `Fn(&Parts) -> Option<String>` closure that is
/// `Send + Sync + 'static`; [`IdentitySubject`] is the default.
pub trait OwnerResolver: Send + Sync + 'static {
    /// The owner acting in `request`, or `None` for an unauthenticated
    /// request (`401`).
    fn owner(&self, request: &Parts) -> Option<String>;
}

impl<F> OwnerResolver for F
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    fn owner(&self, request: &Parts) -> Option<String> {
        self(request)
    }
}

/// The default [`OwnerResolver`]: the subject of the
/// [`Identity`] in the request's extensions.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentitySubject;

impl OwnerResolver for IdentitySubject {
    fn owner(&self, request: &Parts) -> Option<String> {
        request
            .extensions
            .get::<Identity>()
            .map(|id| id.subject().to_owned())
    }
}

/// The self-serve key portal; see the [module docs](self).
pub struct Portal<R> {
    shared: Arc<Shared<R>>,
}

struct Shared<R> {
    keys: KeyManager<R>,
    allowed: Scopes,
    owner: Box<dyn OwnerResolver>,
}

impl<R: KeyRepository> Portal<R> {
    /// Starts a portal managing keys through `keys`.
    pub fn builder(keys: KeyManager<R>) -> PortalBuilder<R> {
        PortalBuilder {
            keys,
            allowed: Scopes::default(),
            owner: Box::new(IdentitySubject),
        }
    }

    /// The router, to mount with `Router::nest` (under any path) or
    /// `Router::merge`.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let shared = Arc::clone(&self.shared);
        Router::new()
            .route("/", get(api::page))
            .route("/portal.js", get(api::script))
            .route("/portal.css", get(api::style))
            .route("/favicon.svg", get(api::icon))
            .route("/api/me", get(api::me::<R>))
            .route("/api/scopes", get(api::scopes::<R>))
            .route("/api/keys", get(api::list::<R>).post(api::create::<R>))
            .route("/api/keys/{id}", get(api::get::<R>).patch(api::update::<R>))
            .route("/api/keys/{id}/roll", post(api::roll::<R>))
            .route("/api/keys/{id}/revoke", post(api::revoke::<R>))
            .with_state(shared)
    }
}

impl<R> Clone for Portal<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for Portal<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portal")
            .field("keys", &self.shared.keys)
            .field("allowed", &self.shared.allowed)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Portal`].
#[must_use]
pub struct PortalBuilder<R> {
    keys: KeyManager<R>,
    allowed: Scopes,
    owner: Box<dyn OwnerResolver>,
}

impl<R: KeyRepository> PortalBuilder<R> {
    /// The scopes consumers may give their keys; asking for any other is a
    /// `400`. Defaults to none: keys without scopes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] for a scope that is not a valid scope
    /// token.
    pub fn allowed_scopes<I>(mut self, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.allowed = Scopes::new(scopes)?;
        Ok(self)
    }

    /// Who the caller is. Defaults to [`IdentitySubject`].
    pub fn owner_resolver<O: OwnerResolver>(mut self, resolver: O) -> Self {
        self.owner = Box::new(resolver);
        self
    }

    /// The portal.
    pub fn build(self) -> Portal<R> {
        Portal {
            shared: Arc::new(Shared {
                keys: self.keys,
                allowed: self.allowed,
                owner: self.owner,
            }),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for PortalBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalBuilder")
            .field("keys", &self.keys)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}
