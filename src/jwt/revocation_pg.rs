//! [`PostgresRevocations`]: JWT revocation lists shared through PostgreSQL
//! (features `jwt` and `postgres`).

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use sqlx::postgres::PgPool;

use super::revocation::{Entry, MemoryRevocations, Revocations, TokenRef};
use crate::api_key::postgres::{
    DEFAULT_QUERY_TIMEOUT, ListenerHandle, Subscriber, migrate, within,
};
use crate::api_key::repository::{from_micros, to_micros};
use crate::error::StoreError;

/// The channel revocations are announced on.
pub const REVOCATION_CHANNEL: &str = "m2m_auth_jwt_revocations";
/// Longest issuer, `jti` or subject a revocation may name, in bytes (a
/// notification carries them, and PostgreSQL caps its size).
pub const MAX_REVOCATION_VALUE_BYTES: usize = 1024;

/// JWT revocation lists in PostgreSQL, shared by every API instance.
///
/// The lists live in the table `m2m_auth_jwt_revocations` (created by
/// [`migrate`](Self::migrate), or by `PostgresKeyStore::migrate`: they
/// share one list of migrations), and each instance keeps a copy in
/// memory, so that checking a token never waits for the database. A
/// revocation is written to the table, applied to the local copy at once,
/// and announced with `NOTIFY`; every instance's listener applies it within
/// moments. When the listener loses its connection it reconnects and loads
/// the lists again, so nothing announced meanwhile is missed; one that
/// goes silent instead (a partition) is given up after three heartbeats
/// without a word, as for
/// [`PostgresKeyStore::listen`](crate::api_key::PostgresKeyStore::listen).
///
/// Every query fails after 5 s with a [`StoreError`] (set another limit
/// with [`connect_with_timeout`](Self::connect_with_timeout)); checking a
/// token never waits for the database, so a database that stops answering
/// delays revocations, not requests. A revocation that failed may still
/// have reached the database (and then every instance); revoking again is
/// safe.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::SystemTime;
/// use m2m_auth::jwt::{PostgresRevocations, Revocations};
///
/// let pool = sqlx::PgPool::connect("postgres://api@db.internal/api").await?;
/// let revocations = PostgresRevocations::connect(pool).await?;
/// // A client was compromised: refuse every token it holds now.
/// revocations
///     .revoke_subject("https://idp.example.com/", "billing-service", SystemTime::now())
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresRevocations {
    pool: PgPool,
    timeout: Duration,
    lists: MemoryRevocations,
    listener: std::sync::Arc<StopOnDrop>,
}

/// Stops the listener when the last clone of the store is gone.
#[derive(Debug)]
struct StopOnDrop(ListenerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A revocation as a notification carries it.
#[derive(Serialize, Deserialize)]
struct Notice {
    issuer: String,
    kind: String,
    value: String,
    at: i64,
}

impl Notice {
    fn entry(self) -> Option<Entry> {
        let at = from_micros(self.at);
        match self.kind.as_str() {
            "jti" => Some(Entry::Token {
                issuer: self.issuer,
                jti: self.value,
                until: at,
            }),
            "sub" => Some(Entry::Subject {
                issuer: self.issuer,
                subject: self.value,
                before: at,
            }),
            _ => None,
        }
    }
}

/// Keeps the local copy in step with the table.
struct Follower {
    pool: PgPool,
    timeout: Duration,
    lists: MemoryRevocations,
}

#[async_trait]
impl Subscriber for Follower {
    async fn resync(&self) -> Result<(), StoreError> {
        let entries = load(&self.pool, self.timeout).await?;
        self.lists.replace(&entries);
        Ok(())
    }

    fn notified(&self, payload: &str) {
        if let Some(entry) = serde_json::from_str::<Notice>(payload)
            .ok()
            .and_then(Notice::entry)
        {
            self.lists.apply(&[entry]);
        }
    }
}

async fn load(pool: &PgPool, timeout: Duration) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(
        "SELECT issuer, kind, value, at FROM m2m_auth_jwt_revocations \
         WHERE kind = 'sub' OR at > $1",
    )
    .bind(to_micros(SystemTime::now()));
    let rows = within(timeout, rows.fetch_all(pool)).await?;
    rows.iter()
        .map(|r| {
            Ok(Notice {
                issuer: r.try_get(0)?,
                kind: r.try_get(1)?,
                value: r.try_get(2)?,
                at: r.try_get(3)?,
            })
        })
        .filter_map(|n: Result<Notice, sqlx::Error>| n.map(Notice::entry).transpose())
        .collect::<Result<_, _>>()
        .map_err(StoreError::new)
}

impl PostgresRevocations {
    /// Loads the lists from the database behind `pool` and follows their
    /// changes in a task on the current tokio runtime. Run
    /// [`migrate`](Self::migrate) first.
    ///
    /// # Errors
    ///
    /// When the lists cannot be loaded.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub async fn connect(pool: PgPool) -> Result<Self, StoreError> {
        Self::connect_with_timeout(pool, DEFAULT_QUERY_TIMEOUT).await
    }

    /// As [`connect`](Self::connect), failing every query (loading the
    /// lists included) that takes longer than `timeout`, waiting for a
    /// connection included.
    ///
    /// # Errors
    ///
    /// When the lists cannot be loaded in time.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub async fn connect_with_timeout(pool: PgPool, timeout: Duration) -> Result<Self, StoreError> {
        let lists = MemoryRevocations::new();
        lists.replace(&load(&pool, timeout).await?);
        let follower = Follower {
            pool: pool.clone(),
            timeout,
            lists: lists.clone(),
        };
        let listener = ListenerHandle::spawn(&pool, REVOCATION_CHANNEL, follower, timeout);
        Ok(Self {
            pool,
            timeout,
            lists,
            listener: std::sync::Arc::new(StopOnDrop(listener)),
        })
    }

    /// Creates or upgrades the crate's tables (API keys and revocations).
    ///
    /// # Errors
    ///
    /// When a migration fails.
    pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        migrate(pool).await
    }

    /// Whether the change listener is connected now.
    pub fn is_listening(&self) -> bool {
        self.listener.0.is_listening()
    }

    async fn write(&self, notice: Notice) -> Result<(), StoreError> {
        if [&notice.issuer, &notice.value]
            .iter()
            .any(|v| v.len() > MAX_REVOCATION_VALUE_BYTES)
        {
            return Err(StoreError::new(format!(
                "issuer, jti and subject are limited to {MAX_REVOCATION_VALUE_BYTES} bytes"
            )));
        }
        let insert = sqlx::query(
            "INSERT INTO m2m_auth_jwt_revocations (issuer, kind, value, at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, kind, value) \
               DO UPDATE SET at = GREATEST(m2m_auth_jwt_revocations.at, EXCLUDED.at) \
             RETURNING pg_notify('m2m_auth_jwt_revocations', \
               json_build_object('issuer', issuer, 'kind', kind, 'value', value, 'at', at)::text)",
        )
        .bind(&notice.issuer)
        .bind(&notice.kind)
        .bind(&notice.value)
        .bind(notice.at);
        within(self.timeout, insert.execute(&self.pool)).await?;
        // Denied tokens past their expiry are no longer needed.
        let expired =
            sqlx::query("DELETE FROM m2m_auth_jwt_revocations WHERE kind = 'jti' AND at < $1")
                .bind(to_micros(SystemTime::now()));
        within(self.timeout, expired.execute(&self.pool)).await?;
        if let Some(entry) = notice.entry() {
            self.lists.apply(&[entry]);
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresRevocations")
            .field("lists", &self.lists)
            .field("timeout", &self.timeout)
            .field("listening", &self.is_listening())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Revocations for PostgresRevocations {
    async fn is_revoked(&self, token: &TokenRef<'_>) -> Result<bool, StoreError> {
        Ok(self.lists.check(token, SystemTime::now()))
    }

    fn is_revoked_ready(&self, token: &TokenRef<'_>) -> Option<Result<bool, StoreError>> {
        Some(Ok(self.lists.check(token, SystemTime::now())))
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: SystemTime,
    ) -> Result<(), StoreError> {
        self.write(Notice {
            issuer: issuer.to_owned(),
            kind: "jti".to_owned(),
            value: jti.to_owned(),
            at: to_micros(expires_at),
        })
        .await
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: SystemTime,
    ) -> Result<(), StoreError> {
        self.write(Notice {
            issuer: issuer.to_owned(),
            kind: "sub".to_owned(),
            value: subject.to_owned(),
            at: to_micros(issued_before),
        })
        .await
    }
}
