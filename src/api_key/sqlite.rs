//! [`SqliteKeyStore`]: API keys in an SQLite database (feature `sqlite`).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::repository::to_micros;
use super::sql::{Fields, Update, columns, db, stored};
use super::{KeyChange, KeyDigest, KeyRecord, KeyRepository, KeyStore, StoreError, StoredKey};

/// API keys in an SQLite database: the embedded, persistent store for one
/// machine.
///
/// The table `m2m_auth_api_keys` holds each key's SHA-256 digest (under a
/// unique index), never the key. Create it with [`migrate`](Self::migrate),
/// which records what it applied in its own table,
/// `m2m_auth_migrations`, so it sits beside your application's sqlx
/// migrations. Every change is one SQL statement, so concurrent changes to
/// one key never lose each other.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use m2m_auth::api_key::{KeyFormat, KeyManager, SqliteKeyStore};
///
/// let store = SqliteKeyStore::open("keys.db").await?;
/// store.migrate().await?;
/// let keys = KeyManager::new(KeyFormat::new("acme_live")?, store.clone());
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteKeyStore {
    pool: SqlitePool,
}

impl SqliteKeyStore {
    /// Opens (creating it if needed) the database file at `path`, in WAL
    /// mode, with a pool of connections.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(Self { pool })
    }

    /// A database in memory, gone when the store (and its clones) are
    /// dropped: for tests.
    ///
    /// # Errors
    ///
    /// When SQLite cannot start.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(db)?;
        // One connection: each in-memory connection has its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(Self { pool })
    }

    /// A store over a pool you configured.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates or upgrades the table. Safe to run at every start.
    ///
    /// # Errors
    ///
    /// When a migration fails, or the database holds migrations of a newer
    /// version of this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = Migrator::with_migrations(vec![Migration::new(
            1,
            "api keys".into(),
            MigrationType::Simple,
            include_str!("migrations/sqlite_0001_api_keys.sql").into_sql_str(),
            false,
        )]);
        migrator.dangerous_set_table_name("m2m_auth_migrations");
        migrator.run(&self.pool).await.map_err(StoreError::new)
    }
}

impl fmt::Debug for SqliteKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteKeyStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl KeyStore for SqliteKeyStore {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM m2m_auth_api_keys WHERE digest = ?1"
        ))
        .bind(&digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(stored(row)?.map(|k| k.record))
    }
}

#[async_trait]
impl KeyRepository for SqliteKeyStore {
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
        Fields::of(&key)?
            .bind(sqlx::query(concat!(
                "INSERT INTO m2m_auth_api_keys (",
                columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            )))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM m2m_auth_api_keys WHERE key_id = ?1"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        stored(row)
    }

    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM m2m_auth_api_keys WHERE owner = ?1 AND (?2 IS NULL OR key_id > ?2) \
             ORDER BY key_id LIMIT ?3"
        ))
        .bind(owner)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| Fields::from_row(r)?.into_stored())
            .collect()
    }

    async fn update(
        &self,
        key_id: &str,
        change: &KeyChange,
        now: SystemTime,
    ) -> Result<Option<StoredKey>, StoreError> {
        let u = Update::new(change)?;
        // One statement: atomic, and a revoked row is never touched.
        let row = sqlx::query(concat!(
            "UPDATE m2m_auth_api_keys SET \
               name = COALESCE(?2, name), \
               scopes = COALESCE(?3, scopes), \
               metadata = COALESCE(?4, metadata), \
               expires_at = CASE ?5 WHEN 1 THEN NULL WHEN 2 THEN ?6 \
                 WHEN 3 THEN MIN(COALESCE(expires_at, ?6), ?6) ELSE expires_at END, \
               enabled = COALESCE(?7, enabled), \
               revoked_at = ?8, \
               updated_at = ?9 \
             WHERE key_id = ?1 AND revoked_at IS NULL \
             RETURNING ",
            columns!()
        ))
        .bind(key_id)
        .bind(u.name)
        .bind(u.scopes)
        .bind(u.metadata)
        .bind(u.expiry_mode)
        .bind(u.expiry)
        .bind(u.enabled)
        .bind(u.revoked_at)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => stored(Some(row)),
            // Revoked (left as it is) or not there.
            None => self.get(key_id).await,
        }
    }
}
