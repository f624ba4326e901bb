//! The key lifecycle: [`KeyManager`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::repository::truncate_micros;
use super::{
    ApiKey, ExpiryChange, KeyChange, KeyFormat, KeyRecord, KeyRepository, KeyStatus, StoreError,
    StoredKey,
};
use crate::identity::{Attributes, Scopes};

/// Default cap on a key's metadata, as compact JSON.
pub const DEFAULT_MAX_METADATA_BYTES: usize = 4 * 1024;
/// Longest key name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest owner, in bytes.
pub const MAX_OWNER_BYTES: usize = 256;
/// Most keys one [`KeyManager::list`] call returns.
pub const MAX_PAGE: usize = 1000;

/// Creates, lists, changes, rolls and revokes API keys in a
/// [`KeyRepository`].
///
/// Plaintext keys exist only in what [`create`](Self::create) and
/// [`roll`](Self::roll) return, once; the repository keeps digests. Every
/// change goes through [`KeyRepository::update`], which is atomic per key,
/// and a revoked key is never changed again.
///
/// Expiry is not enforced here but on every request, against the clock, by
/// [`KeyRecord::status`]: a key rolled with a grace period stops working
/// when the period ends, without any further call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use m2m_auth::api_key::{KeyFormat, KeyManager, MemoryKeyStore, NewKey};
/// use m2m_auth::Scopes;
///
/// let store = MemoryKeyStore::new();
/// let keys = KeyManager::new(KeyFormat::new("acme_live")?, store.clone());
///
/// let created = keys
///     .create(NewKey::new("billing-service").name("ci").scopes(Scopes::new(["invoices:read"])?))
///     .await?;
/// let plaintext = created.key.expose_secret(); // show it once
/// # let _ = plaintext;
///
/// // A week later: a new key, the old one working for another hour.
/// let rolled = keys.roll(created.record.key_id(), Duration::from_secs(3600)).await?;
/// assert_eq!(rolled.record.rolled_from(), Some(created.record.key_id()));
/// # Ok(())
/// # }
/// ```
pub struct KeyManager<R> {
    format: KeyFormat,
    repo: R,
    max_metadata_bytes: usize,
}

/// A key just made: its plaintext, to hand over once, and its record.
#[non_exhaustive]
#[derive(Debug)]
pub struct CreatedKey {
    /// The plaintext, wiped from memory when dropped.
    pub key: ApiKey,
    /// What the repository stores about it.
    pub record: Arc<KeyRecord>,
}

/// What to create with [`KeyManager::create`].
#[must_use]
#[derive(Clone, Debug)]
pub struct NewKey {
    owner: String,
    name: String,
    scopes: Scopes,
    metadata: Attributes,
    expires_at: Option<SystemTime>,
}

impl NewKey {
    /// A key for `owner`, which becomes the caller's
    /// [`Identity::subject`](crate::Identity::subject).
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            name: String::new(),
            scopes: Scopes::default(),
            metadata: Attributes::default(),
            expires_at: None,
        }
    }

    /// A label for people. Defaults to empty.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// What the key may do. Defaults to no scopes.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Data handed to handlers as the identity's attributes. Defaults to
    /// none.
    pub fn metadata(mut self, metadata: Attributes) -> Self {
        self.metadata = metadata;
        self
    }

    /// When the key stops working. Defaults to never.
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }
}

/// One page of an owner's keys, from [`KeyManager::list`].
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct KeyPage {
    /// The keys, in ascending key-id order (which is creation order for
    /// ids made by [`KeyManager`]).
    pub keys: Vec<Arc<KeyRecord>>,
    /// Pass it as `after` to get the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<R: KeyRepository> KeyManager<R> {
    /// A manager of keys of `format` stored in `repo`.
    pub fn new(format: KeyFormat, repo: R) -> Self {
        Self {
            format,
            repo,
            max_metadata_bytes: DEFAULT_MAX_METADATA_BYTES,
        }
    }

    /// Caps a key's metadata at `bytes` of compact JSON. Defaults to
    /// [`DEFAULT_MAX_METADATA_BYTES`] (4 KiB).
    #[must_use]
    pub fn with_max_metadata_bytes(mut self, bytes: usize) -> Self {
        self.max_metadata_bytes = bytes;
        self
    }

    /// The key format of new keys.
    pub fn format(&self) -> &KeyFormat {
        &self.format
    }

    /// The repository.
    pub fn repository(&self) -> &R {
        &self.repo
    }

    /// Makes a new key. The plaintext is in the result and nowhere else.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::InvalidInput`] for an empty or overlong owner, an
    /// overlong name, oversized metadata or an expiry that has passed;
    /// [`KeyErrorKind::Store`] when the repository fails.
    pub async fn create(&self, new: NewKey) -> Result<CreatedKey, KeyError> {
        let now = now();
        check_owner(&new.owner)?;
        check_name(&new.name)?;
        self.check_metadata(&new.metadata)?;
        let expires_at = new.expires_at.map(truncate_micros);
        check_expiry(expires_at, now)?;
        let record = KeyRecord::builder(new_key_id()?, new.owner)
            .name(new.name)
            .scopes(new.scopes)
            .metadata(new.metadata)
            .expires_at(expires_at)
            .created_at(now)
            .updated_at(now);
        self.insert(record).await
    }

    /// The key with id `key_id`, if there is one. The record holds a hint
    /// of the key, never the key.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::Store`] when the repository fails.
    pub async fn get(&self, key_id: &str) -> Result<Option<Arc<KeyRecord>>, KeyError> {
        Ok(self.repo.get(key_id).await?.map(|k| k.record))
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) keys of `owner`, revoked ones
    /// included, after the key id `after` (from the previous page's
    /// [`next`](KeyPage::next)).
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::Store`] when the repository fails.
    pub async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, KeyError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut keys: Vec<Arc<KeyRecord>> = self
            .repo
            .list(owner, after, limit + 1)
            .await?
            .into_iter()
            .map(|k| k.record)
            .collect();
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().map(|k| k.key_id().to_owned())
        } else {
            None
        };
        Ok(KeyPage { keys, next })
    }

    /// Changes a key's name, scopes, metadata or expiry, or enables or
    /// disables it. Fields left out of `change` keep their values.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::NotFound`]; [`KeyErrorKind::Revoked`] (a revoked key
    /// cannot change); [`KeyErrorKind::InvalidInput`] as for
    /// [`create`](Self::create); [`KeyErrorKind::Store`].
    pub async fn update(
        &self,
        key_id: &str,
        change: KeyChange,
    ) -> Result<Arc<KeyRecord>, KeyError> {
        let now = now();
        let mut change = change;
        if let Some(name) = &change.name {
            check_name(name)?;
        }
        if let Some(metadata) = &change.metadata {
            self.check_metadata(metadata)?;
        }
        change.expires_at = match change.expires_at {
            Some(ExpiryChange::At(at)) => {
                let at = truncate_micros(at);
                check_expiry(Some(at), now)?;
                Some(ExpiryChange::At(at))
            }
            Some(ExpiryChange::NotAfter(at)) => Some(ExpiryChange::NotAfter(truncate_micros(at))),
            other => other,
        };
        if change.revoked_at.is_some() {
            return Err(KeyError::new(
                KeyErrorKind::InvalidInput,
                "use revoke() to revoke a key",
            ));
        }
        self.change(key_id, &change, now).await
    }

    /// Turns a key off until [`enable`](Self::enable) turns it on again.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub async fn disable(&self, key_id: &str) -> Result<Arc<KeyRecord>, KeyError> {
        self.change(key_id, &KeyChange::new().enabled(false), now())
            .await
    }

    /// Turns a disabled key on again.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub async fn enable(&self, key_id: &str) -> Result<Arc<KeyRecord>, KeyError> {
        self.change(key_id, &KeyChange::new().enabled(true), now())
            .await
    }

    /// Revokes a key, for good. Its record stays, as a tombstone. Revoking
    /// a revoked key changes nothing and is not an error.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::NotFound`]; [`KeyErrorKind::Store`].
    pub async fn revoke(&self, key_id: &str) -> Result<Arc<KeyRecord>, KeyError> {
        let now = now();
        let change = KeyChange {
            revoked_at: Some(now),
            ..KeyChange::default()
        };
        let stored = self
            .repo
            .update(key_id, &change, now)
            .await?
            .ok_or_else(KeyError::not_found)?;
        Ok(stored.record)
    }

    /// Replaces a key by a new one with the same owner, name, scopes,
    /// metadata, expiry and enabled state. The old key keeps working for
    /// `grace` (but not past its own expiry); a zero `grace` revokes it at
    /// once.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::NotFound`]; [`KeyErrorKind::Revoked`] and
    /// [`KeyErrorKind::Expired`]: such a key cannot be rolled;
    /// [`KeyErrorKind::Store`].
    pub async fn roll(&self, key_id: &str, grace: Duration) -> Result<CreatedKey, KeyError> {
        let old = self
            .repo
            .get(key_id)
            .await?
            .ok_or_else(KeyError::not_found)?;
        self.roll_stored(&old.record, grace).await
    }

    /// [`roll`](Self::roll)s every key of `owner` that is neither revoked
    /// nor expired, with the same `grace`. Returns the new keys.
    ///
    /// # Errors
    ///
    /// [`KeyErrorKind::Store`] when the repository fails; the keys rolled
    /// before the failure stay rolled, and their new plaintexts are lost, so
    /// roll the survivors again.
    pub async fn roll_all(
        &self,
        owner: &str,
        grace: Duration,
    ) -> Result<Vec<CreatedKey>, KeyError> {
        let mut rollable = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.list(owner, after.as_deref(), MAX_PAGE).await?;
            let now = SystemTime::now();
            rollable.extend(
                page.keys.into_iter().filter(|k| {
                    !matches!(k.status_at(now), KeyStatus::Revoked | KeyStatus::Expired)
                }),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut created = Vec::with_capacity(rollable.len());
        for old in rollable {
            match self.roll_stored(&old, grace).await {
                Ok(new) => created.push(new),
                // Revoked or expired since it was listed: nothing to roll.
                Err(e) if matches!(e.kind(), KeyErrorKind::Revoked | KeyErrorKind::Expired) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    async fn roll_stored(&self, old: &KeyRecord, grace: Duration) -> Result<CreatedKey, KeyError> {
        let now = now();
        match old.status_at(now) {
            KeyStatus::Revoked => return Err(KeyError::revoked()),
            KeyStatus::Expired => return Err(KeyError::expired()),
            KeyStatus::Active | KeyStatus::Disabled => {}
        }
        let record = KeyRecord::builder(new_key_id()?, old.owner())
            .name(old.name())
            .scopes(old.scopes().clone())
            .metadata(old.metadata().clone())
            .expires_at(old.expires_at())
            .enabled(old.is_enabled())
            .rolled_from(Some(Arc::from(old.key_id())))
            .created_at(now)
            .updated_at(now);
        let new = self.insert(record).await?;
        let retire = if grace.is_zero() {
            KeyChange {
                revoked_at: Some(now),
                ..KeyChange::default()
            }
        } else {
            KeyChange {
                // A grace past the end of time leaves the expiry alone.
                expires_at: now
                    .checked_add(grace)
                    .map(|end| ExpiryChange::NotAfter(truncate_micros(end))),
                ..KeyChange::default()
            }
        };
        let retired = self.repo.update(old.key_id(), &retire, now).await?;
        if grace.is_zero() || retired.is_none_or(|r| r.record.revoked_at().is_none()) {
            return Ok(new);
        }
        // Revoked while we rolled it: the new key must not outlive it.
        self.revoke(new.record.key_id()).await?;
        Err(KeyError::revoked())
    }

    async fn insert(&self, record: super::KeyRecordBuilder) -> Result<CreatedKey, KeyError> {
        let key = self.format.generate().map_err(KeyError::random)?;
        let record = Arc::new(record.hint(key.hint()).build());
        self.repo
            .insert(StoredKey::new(key.digest(), Arc::clone(&record)))
            .await?;
        Ok(CreatedKey { key, record })
    }

    async fn change(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Arc<KeyRecord>, KeyError> {
        let stored = self
            .repo
            .update(key_id, change, now)
            .await?
            .ok_or_else(KeyError::not_found)?;
        if stored.record.revoked_at().is_some() {
            return Err(KeyError::revoked());
        }
        Ok(stored.record)
    }

    fn check_metadata(&self, metadata: &Attributes) -> Result<(), KeyError> {
        let len = serde_json::to_vec(&**metadata).map_or(usize::MAX, |v| v.len());
        if len > self.max_metadata_bytes {
            return Err(KeyError::new(
                KeyErrorKind::InvalidInput,
                "metadata is larger than the limit",
            ));
        }
        Ok(())
    }
}

impl<R: fmt::Debug> fmt::Debug for KeyManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManager")
            .field("format", &self.format)
            .field("repo", &self.repo)
            .field("max_metadata_bytes", &self.max_metadata_bytes)
            .finish()
    }
}

fn now() -> SystemTime {
    truncate_micros(SystemTime::now())
}

fn check_owner(owner: &str) -> Result<(), KeyError> {
    if owner.is_empty() || owner.len() > MAX_OWNER_BYTES || owner.chars().any(char::is_control) {
        return Err(KeyError::new(
            KeyErrorKind::InvalidInput,
            "owner must be 1 to 256 bytes without control characters",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(KeyError::new(
            KeyErrorKind::InvalidInput,
            "name must be at most 200 bytes without control characters",
        ));
    }
    Ok(())
}

fn check_expiry(at: Option<SystemTime>, now: SystemTime) -> Result<(), KeyError> {
    if at.is_some_and(|at| at <= now) {
        return Err(KeyError::new(
            KeyErrorKind::InvalidInput,
            "expiry is not in the future",
        ));
    }
    Ok(())
}

/// A new key id: `key_`, 8 base62 digits of the creation time in
/// milliseconds (so ids sort by creation), 12 random base62 digits.
fn new_key_id() -> Result<String, KeyError> {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = [b'0'; 20];
    let mut ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for d in id[..8].iter_mut().rev() {
        *d = BASE62[(ms % 62) as usize];
        ms /= 62;
    }
    let mut random = [0u8; 32];
    let mut filled = 8;
    while filled < id.len() {
        getrandom::fill(&mut random).map_err(|e| KeyError::random(e.into()))?;
        // Rejection sampling: bytes at or above 248 would favour some digits.
        for &b in random.iter().filter(|&&b| b < 248) {
            if filled == id.len() {
                break;
            }
            id[filled] = BASE62[usize::from(b % 62)];
            filled += 1;
        }
    }
    let id: String = id.iter().map(|&b| char::from(b)).collect();
    Ok(format!("key_{id}"))
}

/// A key operation failed.
///
/// Inspect it with [`kind`](Self::kind). Its `Display` says what was wrong
/// with the request, and never holds a key.
#[derive(Debug)]
pub struct KeyError {
    kind: KeyErrorKind,
    message: &'static str,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// The class of a [`KeyError`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyErrorKind {
    /// There is no key with that id.
    NotFound,
    /// The key is revoked, and cannot be changed or rolled.
    Revoked,
    /// The key has expired, and cannot be rolled.
    Expired,
    /// A value given is not acceptable (owner, name, metadata size, expiry).
    InvalidInput,
    /// The repository failed, or the random number generator did.
    Store,
}

impl KeyError {
    pub(crate) const fn new(kind: KeyErrorKind, message: &'static str) -> Self {
        Self {
            kind,
            message,
            source: None,
        }
    }

    pub(crate) const fn not_found() -> Self {
        Self::new(KeyErrorKind::NotFound, "no such key")
    }

    const fn revoked() -> Self {
        Self::new(KeyErrorKind::Revoked, "the key is revoked")
    }

    const fn expired() -> Self {
        Self::new(KeyErrorKind::Expired, "the key has expired")
    }

    fn random(e: std::io::Error) -> Self {
        Self {
            source: Some(Box::new(e)),
            ..Self::new(KeyErrorKind::Store, "the random number generator failed")
        }
    }

    /// What went wrong.
    pub const fn kind(&self) -> KeyErrorKind {
        self.kind
    }
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        Self {
            source: Some(Box::new(e)),
            ..Self::new(KeyErrorKind::Store, "the key store failed")
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl StdError for KeyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_sort_by_creation_and_differ() {
        let a = new_key_id().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_key_id().unwrap();
        assert!(a < b, "{a} !< {b}");
        assert_eq!(a.len(), 24);
        assert!(a.starts_with("key_"));
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_key_id().unwrap(), new_key_id().unwrap());
    }

    #[test]
    fn inputs_are_checked() {
        assert!(check_owner("").is_err());
        assert!(check_owner(&"o".repeat(257)).is_err());
        assert!(check_owner("a\nb").is_err());
        assert!(check_owner("billing-service").is_ok());
        assert!(check_name(&"n".repeat(201)).is_err());
        assert!(check_name("").is_ok());
        let now = SystemTime::now();
        assert!(check_expiry(Some(now), now).is_err());
        assert!(check_expiry(Some(now + Duration::from_secs(1)), now).is_ok());
        assert!(check_expiry(None, now).is_ok());
    }
}
