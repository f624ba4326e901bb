//! Managing stored keys: the [`KeyRepository`] trait on top of
//! [`KeyStore`], and the [`KeyChange`] it applies.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{KeyDigest, KeyRecord, KeyStore, StoreError};
use crate::identity::{Attributes, Scopes};

/// A record as a repository keeps it: with the digest of its key.
#[derive(Clone, PartialEq)]
pub struct StoredKey {
    /// The SHA-256 digest of the key, which [`KeyStore::lookup`] finds the
    /// record by.
    pub digest: KeyDigest,
    /// The record.
    pub record: Arc<KeyRecord>,
}

impl StoredKey {
    /// `record`, stored under `digest`.
    pub fn new(digest: KeyDigest, record: impl Into<Arc<KeyRecord>>) -> Self {
        Self {
            digest,
            record: record.into(),
        }
    }
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The digest prints nothing; the record is what there is to see.
        self.record.fmt(f)
    }
}

/// A change to a stored key; fields left `None` keep their value. Built
/// with [`KeyChange::new`] and its setters, applied by
/// [`KeyRepository::update`].
///
/// A revoked record is never changed again: a repository leaves it as it is
/// whatever the change, so revocation is permanent and its tombstone stays.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyChange {
    /// A new name.
    pub name: Option<String>,
    /// New scopes, replacing the old ones.
    pub scopes: Option<Scopes>,
    /// New metadata, replacing the old.
    pub metadata: Option<Attributes>,
    /// A new expiry.
    pub expires_at: Option<ExpiryChange>,
    /// Enables (`true`) or disables (`false`) the key.
    pub enabled: Option<bool>,
    /// Revokes the key as of this instant.
    pub revoked_at: Option<SystemTime>,
}

/// How a [`KeyChange`] moves a key's expiry.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    /// The key no longer expires.
    Never,
    /// The key expires at this instant.
    At(SystemTime),
    /// The key expires at this instant, or at its current expiry if that is
    /// sooner: what rolling a key does to the old one.
    NotAfter(SystemTime),
}

impl KeyChange {
    /// A change that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the key.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the key's scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Replaces the key's metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: Attributes) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the key's expiry: `Some(instant)`, or `None` for never.
    #[must_use]
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = Some(at.map_or(ExpiryChange::Never, ExpiryChange::At));
        self
    }

    /// Enables or disables the key.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The record `record` becomes under this change at `now`, for
    /// repositories that read, change and write back (under a lock or a
    /// compare-and-swap). A revoked record comes back unchanged.
    pub fn apply(&self, record: &KeyRecord, now: SystemTime) -> KeyRecord {
        if record.revoked_at().is_some() {
            return record.clone();
        }
        let mut b = record.to_builder().updated_at(now);
        if let Some(name) = &self.name {
            b = b.name(name.clone());
        }
        if let Some(scopes) = &self.scopes {
            b = b.scopes(scopes.clone());
        }
        if let Some(metadata) = &self.metadata {
            b = b.metadata(metadata.clone());
        }
        if let Some(expiry) = self.expires_at {
            b = b.expires_at(expiry.applied_to(record.expires_at()));
        }
        if let Some(enabled) = self.enabled {
            b = b.enabled(enabled);
        }
        if let Some(at) = self.revoked_at {
            b = b.revoked_at(Some(at));
        }
        b.build()
    }
}

impl ExpiryChange {
    /// The expiry a key with expiry `current` has after this change.
    pub fn applied_to(self, current: Option<SystemTime>) -> Option<SystemTime> {
        match self {
            Self::Never => None,
            Self::At(at) => Some(at),
            Self::NotAfter(at) => Some(current.map_or(at, |c| c.min(at))),
        }
    }
}

/// A [`KeyStore`] that can also be managed: what
/// [`KeyManager`](super::KeyManager) needs to create, list, change, roll and
/// revoke keys.
///
/// A read-only store implements [`KeyStore`] alone; this is the second
/// trait for stores that are written through this crate. Implementations
/// must
///
/// - refuse an [`insert`](Self::insert) whose key id or digest is taken,
///   leaving the stored record as it was;
/// - apply each [`update`](Self::update) atomically, so that concurrent
///   changes to different fields are all kept, and never change a revoked
///   record;
/// - list an owner's keys in ascending key-id order, revoked ones included.
///
/// The [conformance suite](super::conformance) checks all of it against an
/// implementation (feature `conformance`).
#[async_trait]
pub trait KeyRepository: KeyStore {
    /// Stores a new key.
    ///
    /// # Errors
    ///
    /// When the key id or the digest is already stored, or the store fails.
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError>;

    /// The key with id `key_id`, if there is one.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError>;

    /// Up to `limit` keys of `owner` whose ids sort after `after` (all, when
    /// `None`), in ascending key-id order.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError>;

    /// Applies `change` to the key with id `key_id` at `now` (its
    /// `updated_at`), in one atomic step, unless the key is revoked. Returns
    /// the key as it is afterwards, or `None` when there is no such key.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn update(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Option<StoredKey>, StoreError>;
}

#[async_trait]
impl<R: KeyRepository + ?Sized> KeyRepository for Arc<R> {
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
        (**self).insert(key).await
    }

    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        (**self).get(key_id).await
    }

    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        (**self).list(owner, after, limit).await
    }

    async fn update(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Option<StoredKey>, StoreError> {
        (**self).update(key_id, change, now).await
    }
}

/// `t` as whole microseconds since the epoch: the precision stores keep.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// The instant `micros` microseconds after the epoch.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn from_micros(micros: i64) -> SystemTime {
    let d = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

/// `t` cut to whole microseconds, so that it survives a round trip through
/// any store unchanged.
pub(crate) fn truncate_micros(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        // Beyond u64 microseconds (half a million years): the latest it can.
        Ok(d) => {
            UNIX_EPOCH + Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        }
        Err(_) => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_field_by_field_and_never_to_tombstones() {
        let now = SystemTime::now();
        let later = now + Duration::from_mins(1);
        let r = KeyRecord::builder("k", "o").name("a").build();
        let changed = KeyChange::new()
            .name("b")
            .scopes(Scopes::new(["x"]).unwrap())
            .enabled(false)
            .apply(&r, later);
        assert_eq!(changed.name(), "b");
        assert!(changed.scopes().contains("x"));
        assert!(!changed.is_enabled());
        assert_eq!(changed.updated_at(), later);
        assert_eq!(changed.created_at(), r.created_at());

        let revoked = KeyChange {
            revoked_at: Some(now),
            ..KeyChange::default()
        }
        .apply(&r, now);
        assert_eq!(revoked.revoked_at(), Some(now));
        assert_eq!(KeyChange::new().name("c").apply(&revoked, later), revoked);
        assert!(KeyChange::new().is_empty());
        assert!(!KeyChange::new().enabled(true).is_empty());
    }

    #[test]
    fn expiry_changes() {
        let t = SystemTime::now();
        let (a, b) = (t, t + Duration::from_secs(1));
        assert_eq!(ExpiryChange::Never.applied_to(Some(a)), None);
        assert_eq!(ExpiryChange::At(b).applied_to(Some(a)), Some(b));
        assert_eq!(ExpiryChange::NotAfter(b).applied_to(Some(a)), Some(a));
        assert_eq!(ExpiryChange::NotAfter(a).applied_to(Some(b)), Some(a));
        assert_eq!(ExpiryChange::NotAfter(b).applied_to(None), Some(b));
    }

    #[test]
    fn micros_round_trip() {
        let t = truncate_micros(SystemTime::now());
        assert_eq!(from_micros(to_micros(t)), t);
        assert_eq!(to_micros(UNIX_EPOCH), 0);
        let before = UNIX_EPOCH - Duration::from_micros(5);
        assert_eq!(from_micros(to_micros(before)), before);
    }
}
