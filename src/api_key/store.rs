use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use super::digest::DigestHasher;
use super::{KeyChange, KeyDigest, KeyRecord, KeyRepository, StoredKey};
use crate::error::StoreError;

/// Where API-key records live: the one thing a custom backend must
/// implement.
///
/// A store maps the [`KeyDigest`] of a key to its [`KeyRecord`]. It never
/// sees a key: the authenticator hashes it first, and only after the key's
/// format and checksum were checked. Return `Ok(None)` for a digest you do
/// not know, and an error only when the store cannot answer (the request
/// then gets `503`, not `401`).
///
/// ```
/// use std::sync::Arc;
/// use m2m_auth::api_key::{KeyDigest, KeyRecord, KeyStore, StoreError};
/// use m2m_auth::async_trait;
///
/// struct MyStore { /* a database pool */ }
///
/// #[async_trait]
/// impl KeyStore for MyStore {
///     async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
///         // SELECT … FROM api_keys WHERE digest = $1
///         # let _ = digest;
///         Ok(None)
///     }
/// }
/// ```
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The record of the key whose digest is `digest`, if there is one.
    ///
    /// Return revoked, disabled and expired records too: the authenticator
    /// decides what they mean.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be asked.
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError>;

    /// The answer to [`lookup`](Self::lookup) if the store has it at hand
    /// without waiting: `Some(Some(record))` for a record, `Some(None)` for
    /// a digest it knows to be unknown, `None` to fall back to `lookup`.
    ///
    /// In-memory stores and caches implement it so that requests they can
    /// answer cost no allocation; the default always falls back.
    fn lookup_ready(&self, digest: &KeyDigest) -> Option<Option<Arc<KeyRecord>>> {
        let _ = digest;
        None
    }
}

#[async_trait]
impl<S: KeyStore + ?Sized> KeyStore for Arc<S> {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        (**self).lookup(digest).await
    }

    fn lookup_ready(&self, digest: &KeyDigest) -> Option<Option<Arc<KeyRecord>>> {
        (**self).lookup_ready(digest)
    }
}

#[async_trait]
impl<S: KeyStore + ?Sized> KeyStore for Box<S> {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        (**self).lookup(digest).await
    }

    fn lookup_ready(&self, digest: &KeyDigest) -> Option<Option<Arc<KeyRecord>>> {
        (**self).lookup_ready(digest)
    }
}

/// Told which keys changed, to forget what it remembers of them:
/// implemented by caches ([`CacheHandle`](super::CacheHandle) with the
/// `cache` feature), fed by change feeds such as
/// [`PostgresKeyStore::listen`](super::PostgresKeyStore::listen).
pub trait Invalidate: Send + Sync + 'static {
    /// The key with `digest` may have changed.
    fn invalidate(&self, digest: &KeyDigest);

    /// Any key may have changed (changes were missed).
    fn invalidate_all(&self);
}

impl<T: Invalidate + ?Sized> Invalidate for Arc<T> {
    fn invalidate(&self, digest: &KeyDigest) {
        (**self).invalidate(digest);
    }

    fn invalidate_all(&self) {
        (**self).invalidate_all();
    }
}

/// An in-memory [`KeyStore`] and [`KeyRepository`], for tests, examples and
/// small deployments.
///
/// Lookups read a lock-free snapshot; every change copies the maps (the
/// records themselves are shared), so it suits key sets that are read far
/// more often than they change. Add many keys at once with
/// [`extend`](Self::extend). Clones share the same keys. Nothing survives
/// the process.
#[derive(Clone, Default)]
pub struct MemoryKeyStore {
    keys: Arc<ArcSwap<Snapshot>>,
}

/// The store's content at one instant.
#[derive(Clone, Default)]
struct Snapshot {
    by_digest: HashMap<KeyDigest, Arc<KeyRecord>, DigestHasher>,
    by_id: HashMap<Arc<str>, KeyDigest>,
}

impl Snapshot {
    fn put(&mut self, digest: KeyDigest, record: Arc<KeyRecord>) -> Option<Arc<KeyRecord>> {
        let id: Arc<str> = Arc::from(record.key_id());
        let previous = self.by_digest.insert(digest, record);
        if let Some(p) = &previous
            && p.key_id() != &*id
            && self.by_id.get(p.key_id()) == Some(&digest)
        {
            self.by_id.remove(p.key_id());
        }
        self.by_id.insert(id, digest);
        previous
    }

    fn stored(&self, key_id: &str) -> Option<StoredKey> {
        let digest = *self.by_id.get(key_id)?;
        let record = self.by_digest.get(&digest)?;
        Some(StoredKey::new(digest, Arc::clone(record)))
    }
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `record` for the key with `digest`, returning the record it
    /// replaced. Unlike [`KeyRepository::insert`], this replaces.
    pub fn insert(&self, digest: KeyDigest, record: KeyRecord) -> Option<Arc<KeyRecord>> {
        let record = Arc::new(record);
        let mut replaced = None;
        self.keys.rcu(|keys| {
            let mut keys = Snapshot::clone(keys);
            replaced = keys.put(digest, Arc::clone(&record));
            keys
        });
        replaced
    }

    /// Stores many records with one copy of the maps.
    pub fn extend<I>(&self, records: I)
    where
        I: IntoIterator<Item = (KeyDigest, KeyRecord)>,
    {
        let records: Vec<(KeyDigest, Arc<KeyRecord>)> =
            records.into_iter().map(|(d, r)| (d, Arc::new(r))).collect();
        self.keys.rcu(|keys| {
            let mut keys = Snapshot::clone(keys);
            keys.by_digest.reserve(records.len());
            keys.by_id.reserve(records.len());
            for (d, r) in &records {
                keys.put(*d, Arc::clone(r));
            }
            keys
        });
    }

    /// Replaces the record of the key with `digest` by `f(record)`, if the
    /// key is stored; returns the new record.
    pub fn update(
        &self,
        digest: &KeyDigest,
        f: impl Fn(&KeyRecord) -> KeyRecord,
    ) -> Option<Arc<KeyRecord>> {
        let mut updated = None;
        self.keys.rcu(|keys| {
            let mut keys = Snapshot::clone(keys);
            updated = keys
                .by_digest
                .get(digest)
                .map(|r| Arc::new(f(r)))
                .inspect(|r| {
                    keys.put(*digest, Arc::clone(r));
                });
            keys
        });
        updated
    }

    /// Removes the key with `digest`, returning its record.
    pub fn remove(&self, digest: &KeyDigest) -> Option<Arc<KeyRecord>> {
        let mut removed = None;
        self.keys.rcu(|keys| {
            let mut keys = Snapshot::clone(keys);
            removed = keys.by_digest.remove(digest);
            if let Some(r) = &removed
                && keys.by_id.get(r.key_id()) == Some(digest)
            {
                keys.by_id.remove(r.key_id());
            }
            keys
        });
        removed
    }

    /// The record of the key with `digest`.
    pub fn get(&self, digest: &KeyDigest) -> Option<Arc<KeyRecord>> {
        self.keys.load().by_digest.get(digest).cloned()
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.keys.load().by_digest.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.load().by_digest.is_empty()
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

#[async_trait]
impl KeyStore for MemoryKeyStore {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        Ok(self.get(digest))
    }

    fn lookup_ready(&self, digest: &KeyDigest) -> Option<Option<Arc<KeyRecord>>> {
        Some(self.get(digest))
    }
}

/// The id or the digest of a key to insert is taken.
#[derive(Debug)]
struct Taken;

impl fmt::Display for Taken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key with this id or digest is already stored")
    }
}

impl StdError for Taken {}

#[async_trait]
impl KeyRepository for MemoryKeyStore {
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
        let mut taken = false;
        self.keys.rcu(|keys| {
            taken = keys.by_digest.contains_key(&key.digest)
                || keys.by_id.contains_key(key.record.key_id());
            let mut keys = Snapshot::clone(keys);
            if !taken {
                keys.put(key.digest, Arc::clone(&key.record));
            }
            keys
        });
        if taken {
            return Err(StoreError::new(Taken));
        }
        Ok(())
    }

    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        Ok(self.keys.load().stored(key_id))
    }

    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        let keys = self.keys.load();
        let mut found: Vec<StoredKey> = keys
            .by_digest
            .iter()
            .filter(|(_, r)| r.owner() == owner && after.is_none_or(|a| r.key_id() > a))
            .map(|(d, r)| StoredKey::new(*d, Arc::clone(r)))
            .collect();
        found.sort_unstable_by(|a, b| a.record.key_id().cmp(b.record.key_id()));
        found.truncate(limit);
        Ok(found)
    }

    async fn update(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Option<StoredKey>, StoreError> {
        let mut result = None;
        self.keys.rcu(|keys| {
            let mut keys = Snapshot::clone(keys);
            result = keys.stored(key_id).map(|old| {
                let new = StoredKey::new(old.digest, change.apply(&old.record, now));
                keys.put(new.digest, Arc::clone(&new.record));
                new
            });
            keys
        });
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_lookup_update_remove() {
        let store = MemoryKeyStore::new();
        let a = KeyDigest::of("a");
        assert!(store.is_empty());
        assert!(
            store
                .insert(a, KeyRecord::builder("1", "o").build())
                .is_none()
        );
        let shared = store.clone();
        assert_eq!(shared.lookup(&a).await.unwrap().unwrap().key_id(), "1");
        assert!(shared.lookup(&KeyDigest::of("b")).await.unwrap().is_none());
        let updated = store.update(&a, |r| r.to_builder().enabled(false).build());
        assert!(!updated.unwrap().is_enabled());
        assert!(store.update(&KeyDigest::of("b"), Clone::clone).is_none());
        store.extend((0..10).map(|i| {
            (
                KeyDigest::of(&i.to_string()),
                KeyRecord::builder(i.to_string(), "o").build(),
            )
        }));
        assert_eq!(store.len(), 11);
        assert_eq!(store.remove(&a).unwrap().key_id(), "1");
        assert!(store.lookup(&a).await.unwrap().is_none());
        assert_eq!(store.lookup_ready(&a), Some(None));
        assert_eq!(format!("{store:?}"), "MemoryKeyStore { keys: 10 }");
    }
}
