//! OAuth clients of the token endpoint: [`Clients`], kept as API keys.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::api_key::{
    CreatedKey, KeyChange, KeyDigest, KeyError, KeyErrorKind, KeyFormat, KeyManager, KeyRecord,
    KeyRepository, KeyStatus, NewKey,
};
use crate::error::StoreError;
use crate::identity::{Attributes, Scopes};

/// Default lifetime of the tokens a client gets.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_hours(1);
/// The prefix of client secrets made by [`Clients::new`].
pub const DEFAULT_SECRET_PREFIX: &str = "m2m_cs";

/// What a client may ask for.
#[must_use]
#[derive(Clone, Debug)]
pub struct ClientSettings {
    scopes: Scopes,
    default_scopes: Option<Scopes>,
    audiences: Vec<String>,
    token_lifetime: Duration,
}

impl ClientSettings {
    /// A client that may get tokens for `audiences` (the first is the
    /// default when a request names none), with no scopes, living
    /// [`DEFAULT_TOKEN_LIFETIME`] (1 hour).
    pub fn new<I>(audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self {
            scopes: Scopes::default(),
            default_scopes: None,
            audiences: audiences.into_iter().map(Into::into).collect(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }

    /// The scopes the client may ask for. Defaults to none.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// The scopes a token gets when the request names none. Defaults to all
    /// of [`scopes`](Self::scopes).
    pub fn default_scopes(mut self, scopes: Scopes) -> Self {
        self.default_scopes = Some(scopes);
        self
    }

    /// How long the client's tokens live. Defaults to
    /// [`DEFAULT_TOKEN_LIFETIME`] (1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    fn metadata(&self) -> Attributes {
        let mut m = Map::new();
        m.insert("audiences".to_owned(), Value::from(self.audiences.clone()));
        if let Some(d) = &self.default_scopes {
            m.insert("default_scopes".to_owned(), Value::from(d.to_string()));
        }
        m.insert(
            "token_lifetime".to_owned(),
            Value::from(self.token_lifetime.as_secs()),
        );
        Attributes::new(m)
    }
}

/// A client that proved who it is with a good secret.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Client {
    /// The client id: the tokens' `sub` and `client_id`.
    pub id: Arc<str>,
    /// What it may ask for.
    pub scopes: Scopes,
    /// What it gets when it asks for no scope.
    pub default_scopes: Scopes,
    /// The audiences it may ask for; the first is the default.
    pub audiences: Vec<String>,
    /// How long its tokens live.
    pub token_lifetime: Duration,
}

impl Client {
    fn from_record(record: &KeyRecord) -> Self {
        let m = record.metadata();
        let audiences = m
            .get("audiences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(ToOwned::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let default_scopes = m
            .get("default_scopes")
            .and_then(Value::as_str)
            .and_then(|s| Scopes::from_space_separated(s).ok())
            .unwrap_or_else(|| record.scopes().clone());
        let token_lifetime = m
            .get("token_lifetime")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Self {
            id: Arc::from(record.owner()),
            scopes: record.scopes().clone(),
            default_scopes,
            audiences,
            token_lifetime,
        }
    }
}

/// The OAuth clients of a [`TokenEndpoint`](super::TokenEndpoint), kept
/// in any API-key store: a client's secret *is* an API key (prefixed,
/// checksummed, stored as a digest, shown once), its owner the client id,
/// its scopes and metadata the client's settings. So clients get the key
/// lifecycle for free: a secret rolls with a grace period, a client is
/// disabled by disabling its secrets, and every store (memory, SQLite,
/// PostgreSQL, cached) works.
///
/// Keep clients in a store of their own (or at least a prefix of their
/// own), so that a client secret is never accepted as an API key.
pub struct Clients<R> {
    keys: KeyManager<R>,
}

impl<R: KeyRepository> Clients<R> {
    /// Clients in `repo`, with secrets prefixed [`DEFAULT_SECRET_PREFIX`].
    pub fn new(repo: R) -> Self {
        let format = KeyFormat::new(DEFAULT_SECRET_PREFIX)
            .unwrap_or_else(|_| unreachable!("the default prefix is valid"));
        Self::with_format(format, repo)
    }

    /// Clients in `repo`, with secrets of `format`.
    pub fn with_format(format: KeyFormat, repo: R) -> Self {
        Self {
            keys: KeyManager::new(format, repo),
        }
    }

    /// The key manager behind: the clients' secrets are its keys.
    pub fn keys(&self) -> &KeyManager<R> {
        &self.keys
    }

    /// Registers client `id`; returns its first secret, to hand over once.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::InvalidInput`](crate::api_key::KeyErrorKind::InvalidInput)
    /// for an id that is empty, longer than 128 bytes or holds a space,
    /// `:` or a control character, no audience, or a client that exists;
    /// a store error.
    pub async fn register(
        &self,
        id: &str,
        settings: &ClientSettings,
    ) -> Result<CreatedKey, KeyError> {
        if id.is_empty()
            || id.len() > 128
            || id.chars().any(|c| c.is_control() || c == ' ' || c == ':')
        {
            return Err(KeyError::new(
                KeyErrorKind::InvalidInput,
                "a client id is 1 to 128 bytes without spaces, colons or control characters",
            ));
        }
        if settings.audiences.is_empty() {
            return Err(KeyError::new(
                KeyErrorKind::InvalidInput,
                "a client needs an audience",
            ));
        }
        if !self.keys.list(id, None, 1).await?.keys.is_empty() {
            return Err(KeyError::new(
                KeyErrorKind::InvalidInput,
                "this client id is taken",
            ));
        }
        self.keys
            .create(
                NewKey::new(id)
                    .name("client secret")
                    .scopes(settings.scopes.clone())
                    .metadata(settings.metadata()),
            )
            .await
    }

    /// A new secret for client `id`; its current secrets keep working for
    /// `grace` (zero: they stop now).
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::NotFound`](crate::api_key::KeyErrorKind::NotFound)
    /// for a client without a usable secret; a store error.
    pub async fn roll_secret(&self, id: &str, grace: Duration) -> Result<CreatedKey, KeyError> {
        let mut rolled = self.keys.roll_all(id, grace).await?;
        // The newest secret is the one to hand over; with several secrets
        // rolled at once, the others are revoked rather than lost.
        let newest = rolled.pop().ok_or_else(KeyError::not_found)?;
        for extra in rolled {
            self.keys.revoke(extra.record.key_id()).await?;
        }
        Ok(newest)
    }

    /// Disables (`false`) or enables (`true`) every secret of client `id`.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::NotFound`](crate::api_key::KeyErrorKind::NotFound)
    /// for an unknown client; a store error.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), KeyError> {
        let mut after: Option<String> = None;
        let mut any = false;
        loop {
            let page = self.keys.list(id, after.as_deref(), 100).await?;
            for secret in &page.keys {
                any = true;
                if secret.status() != KeyStatus::Revoked {
                    self.keys
                        .update(secret.key_id(), KeyChange::new().enabled(enabled))
                        .await?;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if any {
            Ok(())
        } else {
            Err(KeyError::not_found())
        }
    }

    /// The client, if `secret` is a good secret of client `id`: well
    /// formed, stored, active, and `id`'s.
    ///
    /// # Errors
    ///
    /// When the store cannot answer.
    pub async fn authenticate(&self, id: &str, secret: &str) -> Result<Option<Client>, StoreError> {
        if self.keys.format().check(secret).is_err() {
            return Ok(None);
        }
        let record = self
            .keys
            .repository()
            .lookup(&KeyDigest::of(secret))
            .await?;
        Ok(record
            .filter(|r| r.owner() == id && r.status() == KeyStatus::Active)
            .map(|r| Client::from_record(&r)))
    }
}

impl<R: fmt::Debug> fmt::Debug for Clients<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients").field("keys", &self.keys).finish()
    }
}
