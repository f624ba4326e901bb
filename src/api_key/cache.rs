//! [`CachedKeyStore`]: a bounded cache in front of any [`KeyStore`]
//! (feature `cache`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::digest::DigestHasher;
use super::{
    Invalidate, KeyChange, KeyDigest, KeyRecord, KeyRepository, KeyStore, StoreError, StoredKey,
};

/// Default time a found record is served from the cache.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// Default time a digest the store does not know is remembered as unknown.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Default number of digests the cache holds.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// A [`KeyStore`] that remembers answers of another one for a while.
///
/// - A found record is served for the TTL ([`DEFAULT_TTL`], 30 s), a digest
///   the store does not know for the shorter negative TTL
///   ([`DEFAULT_NEGATIVE_TTL`], 5 s), so that a burst of unknown keys
///   costs one query per key and a key just created is not refused for
///   long. Store errors are never cached: the next request asks again.
/// - A cached record's expiry and grace deadline are still checked against
///   the clock on every request ([`KeyRecord::status`]): the cache can make
///   a change late by its TTL, never an expiry.
/// - Every change made through it (as the repository of a
///   [`KeyManager`](super::KeyManager)) forgets the changed key at once.
///   Changes made by other instances reach it through [`handle`]
///   (`Invalidate`), fed by
///   [`PostgresKeyStore::listen`](super::PostgresKeyStore::listen) with the
///   `postgres` feature; without that, other instances' changes show within
///   the TTL.
/// - It holds at most [`DEFAULT_CAPACITY`] digests (configurable), evicting
///   the least useful first.
///
/// Hits are answered without waiting ([`KeyStore::lookup_ready`]), so a
/// request authenticated from the cache costs no allocation for the lookup.
///
/// [`handle`]: Self::handle
///
/// ```
/// use std::time::Duration;
/// use m2m_auth::api_key::{CachedKeyStore, MemoryKeyStore};
///
/// let store = CachedKeyStore::builder(MemoryKeyStore::new())
///     .ttl(Duration::from_secs(60))
///     .negative_ttl(Duration::from_secs(2))
///     .capacity(10_000)
///     .build();
/// # let _ = store;
/// ```
pub struct CachedKeyStore<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What the cache and its [`CacheHandle`]s share.
struct Shared {
    cache: moka::sync::Cache<KeyDigest, Entry, DigestHasher>,
    /// Bumped by every invalidation, so that a lookup that started before
    /// one does not put what it read back into the cache.
    epoch: AtomicU64,
}

#[derive(Clone)]
enum Entry {
    Found(Arc<KeyRecord>),
    Missing,
}

struct Ttl {
    found: Duration,
    missing: Duration,
}

impl moka::Expiry<KeyDigest, Entry> for Ttl {
    fn expire_after_create(&self, _: &KeyDigest, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(match entry {
            Entry::Found(_) => self.found,
            Entry::Missing => self.missing,
        })
    }

    fn expire_after_update(
        &self,
        key: &KeyDigest,
        entry: &Entry,
        at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, entry, at)
    }
}

impl<S: KeyStore> CachedKeyStore<S> {
    /// A cache with the default TTLs and capacity in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self::builder(inner).build()
    }

    /// Starts a cache in front of `inner` with non-default settings.
    pub fn builder(inner: S) -> CachedKeyStoreBuilder<S> {
        CachedKeyStoreBuilder {
            inner,
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// A handle that forgets keys in this cache, for invalidations that
    /// come from elsewhere (another instance, an admin tool).
    pub fn handle(&self) -> CacheHandle {
        CacheHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many digests the cache holds (approximately: eviction runs in
    /// the background).
    pub fn len(&self) -> u64 {
        self.shared.cache.entry_count()
    }

    /// Whether the cache holds no digest (approximately).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    fn forget(&self, digest: &KeyDigest) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(digest);
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }
}

/// Forgets keys in a [`CachedKeyStore`]; made by
/// [`CachedKeyStore::handle`]. Cheap to clone.
#[derive(Clone)]
pub struct CacheHandle {
    shared: Arc<Shared>,
}

impl Invalidate for CacheHandle {
    fn invalidate(&self, digest: &KeyDigest) {
        self.shared.forget(digest);
    }

    fn invalidate_all(&self) {
        self.shared.forget_all();
    }
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for CachedKeyStore<S> {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Some(hit) = self.lookup_ready(digest) {
            return Ok(hit);
        }
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let found = self.inner.lookup(digest).await?;
        // Nothing was invalidated meanwhile: what we read is still current.
        if self.shared.epoch.load(Ordering::Acquire) == epoch {
            let entry = found.clone().map_or(Entry::Missing, Entry::Found);
            self.shared.cache.insert(*digest, entry);
        }
        Ok(found)
    }

    fn lookup_ready(&self, digest: &KeyDigest) -> Option<Option<Arc<KeyRecord>>> {
        match self.shared.cache.get(digest) {
            Some(Entry::Found(record)) => Some(Some(record)),
            Some(Entry::Missing) => Some(None),
            None => self.inner.lookup_ready(digest),
        }
    }
}

/// Changes go to the store behind, and the changed key is forgotten here.
#[async_trait]
impl<S: KeyRepository> KeyRepository for CachedKeyStore<S> {
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
        let digest = key.digest;
        let result = self.inner.insert(key).await;
        self.shared.forget(&digest);
        result
    }

    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        self.inner.get(key_id).await
    }

    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        self.inner.list(owner, after, limit).await
    }

    async fn update(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Option<StoredKey>, StoreError> {
        match self.inner.update(key_id, change, now).await {
            Ok(updated) => {
                if let Some(k) = &updated {
                    self.shared.forget(&k.digest);
                }
                Ok(updated)
            }
            Err(e) => {
                // The change may have been made; which key it was is unknown.
                self.shared.forget_all();
                Err(e)
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for CachedKeyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedKeyStore")
            .field("inner", &self.inner)
            .field("entries", &self.shared.cache.entry_count())
            .finish()
    }
}

/// Configures a [`CachedKeyStore`].
#[must_use]
#[derive(Debug)]
pub struct CachedKeyStoreBuilder<S> {
    inner: S,
    ttl: Duration,
    negative_ttl: Duration,
    capacity: u64,
}

impl<S: KeyStore> CachedKeyStoreBuilder<S> {
    /// How long a found record is served. Defaults to [`DEFAULT_TTL`]
    /// (30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long an unknown digest is remembered as unknown. Defaults to
    /// [`DEFAULT_NEGATIVE_TTL`] (5 s); zero turns negative caching off.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl;
        self
    }

    /// How many digests the cache holds at most. Defaults to
    /// [`DEFAULT_CAPACITY`] (100 000).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// The cache.
    pub fn build(self) -> CachedKeyStore<S> {
        let cache = moka::sync::Cache::builder()
            .max_capacity(self.capacity)
            .expire_after(Ttl {
                found: self.ttl,
                missing: self.negative_ttl,
            })
            .build_with_hasher(DigestHasher::default());
        CachedKeyStore {
            inner: self.inner,
            shared: Arc::new(Shared {
                cache,
                epoch: AtomicU64::new(0),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::api_key::MemoryKeyStore;

    /// Counts lookups, answers from a memory store, fails on demand, and
    /// never answers at once (as a database would not).
    #[derive(Default)]
    struct Slow {
        keys: MemoryKeyStore,
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl KeyStore for Slow {
        async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(StoreError::new("down"));
            }
            Ok(self.keys.get(digest))
        }
    }

    fn calls(s: &CachedKeyStore<Arc<Slow>>) -> usize {
        s.inner().calls.load(Ordering::SeqCst)
    }

    /// Any TTL a user may set works, however long: no panic, and a found
    /// record is served from the cache.
    #[tokio::test]
    async fn huge_ttls_are_accepted() {
        let slow = Arc::new(Slow::default());
        let cached = CachedKeyStore::builder(Arc::clone(&slow))
            .ttl(Duration::MAX)
            .negative_ttl(Duration::MAX)
            .build();
        let (a, b) = (KeyDigest::of("a"), KeyDigest::of("b"));
        slow.keys.insert(a, KeyRecord::builder("ka", "o").build());
        for _ in 0..2 {
            assert!(cached.lookup(&a).await.unwrap().is_some());
            assert!(cached.lookup(&b).await.unwrap().is_none());
        }
        assert_eq!(calls(&cached), 2, "the second round from the cache");
    }

    #[tokio::test]
    async fn hits_misses_errors_and_invalidation() {
        let slow = Arc::new(Slow::default());
        let cached = CachedKeyStore::builder(Arc::clone(&slow))
            .negative_ttl(Duration::from_millis(200))
            .build();
        let (a, b) = (KeyDigest::of("a"), KeyDigest::of("b"));
        slow.keys.insert(a, KeyRecord::builder("ka", "o").build());

        assert!(cached.lookup_ready(&a).is_none(), "cold");
        assert_eq!(cached.lookup(&a).await.unwrap().unwrap().key_id(), "ka");
        assert_eq!(cached.lookup(&a).await.unwrap().unwrap().key_id(), "ka");
        assert_eq!(calls(&cached), 1, "a hit does not ask the store");
        assert!(cached.lookup_ready(&a).is_some_and(|r| r.is_some()));

        assert!(cached.lookup(&b).await.unwrap().is_none());
        assert!(cached.lookup(&b).await.unwrap().is_none());
        assert_eq!(calls(&cached), 2, "an unknown digest is remembered");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(cached.lookup(&b).await.unwrap().is_none());
        assert_eq!(calls(&cached), 3, "for the negative TTL only");

        slow.failing.store(true, Ordering::SeqCst);
        let c = KeyDigest::of("c");
        assert!(cached.lookup(&c).await.is_err());
        assert!(cached.lookup(&c).await.is_err());
        assert_eq!(calls(&cached), 5, "errors are never cached");
        assert!(
            cached.lookup(&a).await.is_ok(),
            "cached entries still serve"
        );
        slow.failing.store(false, Ordering::SeqCst);

        slow.keys
            .update(&a, |r| r.to_builder().enabled(false).build());
        assert!(
            cached.lookup(&a).await.unwrap().unwrap().is_enabled(),
            "stale until told"
        );
        cached.handle().invalidate(&a);
        assert!(!cached.lookup(&a).await.unwrap().unwrap().is_enabled());
        cached.handle().invalidate_all();
        assert!(cached.lookup_ready(&a).is_none());
    }

    #[async_trait]
    impl KeyRepository for Slow {
        async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
            KeyRepository::insert(&self.keys, key).await
        }

        async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
            KeyRepository::get(&self.keys, key_id).await
        }

        async fn list(
            &self,
            owner: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<StoredKey>, StoreError> {
            self.keys.list(owner, after, limit).await
        }

        async fn update(
            &self,
            key_id: &str,
            change: &KeyChange,
            now: SystemTime,
        ) -> Result<Option<StoredKey>, StoreError> {
            KeyRepository::update(&self.keys, key_id, change, now).await
        }
    }

    #[tokio::test]
    async fn changes_through_the_cache_forget_the_key() {
        let slow = Arc::new(Slow::default());
        let keys = crate::api_key::KeyManager::new(
            crate::api_key::KeyFormat::new("ab").unwrap(),
            CachedKeyStore::builder(Arc::clone(&slow)).build(),
        );
        let created = keys.create(crate::api_key::NewKey::new("o")).await.unwrap();
        let digest = created.key.digest();
        let cached = keys.repository();
        assert!(cached.lookup(&digest).await.unwrap().is_some());
        assert!(cached.lookup(&digest).await.unwrap().is_some());
        assert_eq!(calls(cached), 1, "cached");
        keys.revoke(created.record.key_id()).await.unwrap();
        let after = cached.lookup(&digest).await.unwrap().unwrap();
        assert!(
            after.revoked_at().is_some(),
            "the revocation is seen at once"
        );
        assert_eq!(calls(cached), 2);
    }

    #[test]
    fn capacity_is_bounded() {
        let cached = CachedKeyStore::builder(MemoryKeyStore::new())
            .capacity(10)
            .build();
        for i in 0..100 {
            cached
                .shared
                .cache
                .insert(KeyDigest::of(&i.to_string()), Entry::Missing);
        }
        cached.shared.cache.run_pending_tasks();
        assert!(cached.len() <= 10, "{} entries", cached.len());
    }
}
