//! Opaque API keys: the key format, digests, stores and the authenticator.
//!
//! - [`KeyFormat`] makes and checks keys shaped `{prefix}_{body}{checksum}`;
//!   [`ApiKey`] holds a key's plaintext, shown to its owner once.
//! - A [`KeyStore`] maps each key's [`KeyDigest`] (SHA-256) to its
//!   [`KeyRecord`]: owner, scopes, metadata, expiry, revocation. The key
//!   itself is never stored. [`MemoryKeyStore`] is the in-memory store.
//! - [`KeyRepository`] adds management to a store, and [`KeyManager`] runs
//!   the lifecycle on top: create, list, update, disable, revoke, roll
//!   with a grace period.
//! - Backends: `SqliteKeyStore` (feature `sqlite`), `PostgresKeyStore`
//!   (feature `postgres`), and `CachedKeyStore` in front of any of them
//!   (feature `cache`); `conformance` (feature `conformance`) tests any
//!   implementation.
//! - [`ApiKeyAuthenticator`] reads keys from requests for
//!   [`AuthLayer`](crate::AuthLayer).
//!
//! # Example
//!
//! ```
//! use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
//! use m2m_auth::{AuthLayer, Scopes};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let format = KeyFormat::new("acme_live")?;
//! let store = MemoryKeyStore::new();
//!
//! // Issue a key: hand `key` to its owner once, keep only the digest.
//! let key = format.generate()?;
//! let record = KeyRecord::builder("key_7f3a", "billing-service")
//!     .scopes(Scopes::new(["invoices:read"])?)
//!     .hint(key.hint())
//!     .build();
//! store.insert(key.digest(), record);
//!
//! let layer = AuthLayer::new(ApiKeyAuthenticator::new(format, store));
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```

mod authenticator;
#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
pub(crate) mod digest;
mod format;
mod manager;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod record;
pub(crate) mod repository;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use self::authenticator::{ApiKeyAuthenticator, ApiKeyAuthenticatorBuilder};
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub use self::cache::{
    CacheHandle, CachedKeyStore, CachedKeyStoreBuilder, DEFAULT_CAPACITY, DEFAULT_NEGATIVE_TTL,
    DEFAULT_TTL,
};
pub use self::digest::KeyDigest;
pub use self::format::{ApiKey, CHECKSUM_LEN, KeyFormat, MAX_BODY_LEN, MIN_BODY_LEN};
pub use self::manager::{
    CreatedKey, DEFAULT_MAX_METADATA_BYTES, KeyError, KeyErrorKind, KeyManager, KeyPage,
    MAX_NAME_BYTES, MAX_OWNER_BYTES, MAX_PAGE, NewKey,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::{DEFAULT_QUERY_TIMEOUT, ListenerHandle, NOTIFY_CHANNEL, PostgresKeyStore};
pub use self::record::{KeyRecord, KeyRecordBuilder, KeyStatus};
pub use self::repository::{ExpiryChange, KeyChange, KeyRepository, StoredKey};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use self::sqlite::SqliteKeyStore;
pub use self::store::{Invalidate, KeyStore, MemoryKeyStore};
pub use crate::error::StoreError;
