//! [`PostgresKeyStore`]: API keys in PostgreSQL, shared by many API
//! instances (feature `postgres`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::SqlSafeStr as _;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use super::repository::to_micros;
use super::sql::{Fields, Update, columns, db, stored};
use super::{
    Invalidate, KeyChange, KeyDigest, KeyRecord, KeyRepository, KeyStore, StoreError, StoredKey,
};

/// The channel every change is announced on, with the key's digest in
/// hex as the payload.
pub const NOTIFY_CHANNEL: &str = "m2m_auth_api_keys";

/// The columns every query reads, in [`Fields`] order.
macro_rules! pg_columns {
    () => {
        "key_id, digest, owner, name, hint, scopes, metadata::text, created_at, updated_at, \
         expires_at, revoked_at, enabled, rolled_from"
    };
}

/// API keys in PostgreSQL: the store for fleets of API instances that
/// share one key table.
///
/// The table `m2m_auth_api_keys` holds each key's SHA-256 digest (under a
/// unique index), never the key. Create it with [`migrate`](Self::migrate),
/// which records what it applied in its own table, `m2m_auth_migrations`,
/// and takes a lock so that instances starting together do not race.
/// Every change is one SQL statement, so concurrent changes never lose
/// each other, and announces itself with `NOTIFY` on [`NOTIFY_CHANNEL`]:
/// [`listen`](Self::listen) feeds those to a cache
/// ([`CachedKeyStore`](super::CachedKeyStore) with the `cache` feature), so
/// that a key revoked on one instance stops working on all of them within
/// moments, not at the end of a cache TTL.
///
/// TLS to the server is sqlx's: enable one of its `tls-*` features in your
/// own `Cargo.toml`.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use m2m_auth::api_key::{KeyFormat, KeyManager, PostgresKeyStore};
///
/// let store = PostgresKeyStore::connect("postgres://api@db.internal/api").await?;
/// store.migrate().await?;
/// let keys = KeyManager::new(KeyFormat::new("acme_live")?, store.clone());
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresKeyStore {
    pool: PgPool,
    timeout: Duration,
}

/// How long a query may take before it fails with a [`StoreError`] (and a
/// request with `503`), unless [`PostgresKeyStore::with_timeout`] says
/// otherwise: a database that stopped answering must not hold requests
/// until TCP gives up.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

impl PostgresKeyStore {
    /// Connects a pool to the database at `url` (`postgres://…`), waiting
    /// at most 5 s for a connection per query.
    ///
    /// # Errors
    ///
    /// When the URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(db)?;
        Ok(Self::from_pool(pool))
    }

    /// A store over a pool you configured.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }

    /// Fails every query that takes longer than `timeout`, waiting for a
    /// connection included. Defaults to [`DEFAULT_QUERY_TIMEOUT`] (5 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `query`, failed after the store's timeout.
    async fn within<T>(
        &self,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        within(self.timeout, query).await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates or upgrades the table. Safe to run at every start, from
    /// many instances at once.
    ///
    /// # Errors
    ///
    /// When a migration fails, or the database holds migrations of a newer
    /// version of this crate.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate(&self.pool).await
    }

    /// Listens for changes made by any instance and tells `target` (a
    /// cache) which keys changed, in a task on the current tokio runtime.
    ///
    /// When the connection is lost, `target` is told that every key may
    /// have changed, and the listener reconnects (after 1 s, then up to
    /// every 30 s); until then the cache serves entries until their TTL.
    /// A connection that dies without a word (a partition, a NAT that
    /// forgot it) is found out by a heartbeat: the listener notifies itself
    /// every twice the store's query timeout (within 100 ms and 10 s) and gives
    /// the connection up when it has heard nothing for three heartbeats.
    /// The task runs until [`ListenerHandle::stop`] is called; dropping
    /// the handle leaves it running.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn listen<T: Invalidate>(&self, target: T) -> ListenerHandle {
        ListenerHandle::spawn(
            &self.pool,
            NOTIFY_CHANNEL,
            Invalidating(target),
            self.timeout,
        )
    }
}

/// `query`, failed with a [`StoreError`] after `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, query).await {
        Ok(result) => result.map_err(db),
        Err(_) => Err(StoreError::new(format!(
            "the database did not answer within {timeout:?}"
        ))),
    }
}

/// Feeds key-change notifications to a cache.
struct Invalidating<T>(T);

#[async_trait]
impl<T: Invalidate> Subscriber for Invalidating<T> {
    async fn resync(&self) -> Result<(), StoreError> {
        self.0.invalidate_all();
        Ok(())
    }

    fn notified(&self, payload: &str) {
        match parse_digest(payload) {
            Some(digest) => self.0.invalidate(&digest),
            None => self.0.invalidate_all(),
        }
    }
}

/// What a [`ListenerHandle`]'s task tells about one channel.
#[async_trait]
pub(crate) trait Subscriber: Send + Sync + 'static {
    /// Listening (again): notifications sent meanwhile were missed.
    async fn resync(&self) -> Result<(), StoreError>;

    /// One notification.
    fn notified(&self, payload: &str);
}

/// Creates or upgrades every table of the crate in `pool`'s database: the
/// API keys and the JWT revocations share one list of migrations, recorded
/// in `m2m_auth_migrations`.
pub(crate) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let migration = |version, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(
            1,
            "api keys",
            include_str!("migrations/postgres_0001_api_keys.sql"),
        ),
        migration(
            2,
            "jwt revocations",
            include_str!("migrations/postgres_0002_jwt_revocations.sql"),
        ),
    ]);
    migrator.dangerous_set_table_name("m2m_auth_migrations");
    migrator.run(pool).await.map_err(StoreError::new)
}

impl fmt::Debug for PostgresKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresKeyStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The task started by [`PostgresKeyStore::listen`] (or
/// `PostgresRevocations::connect`), following a notification channel.
#[derive(Debug)]
pub struct ListenerHandle {
    task: tokio::task::JoinHandle<()>,
    listening: Arc<AtomicBool>,
}

impl ListenerHandle {
    /// Follows `channel` of `pool`'s database in a task on the current
    /// tokio runtime, reconnecting after 1 s, then up to every 30 s; every
    /// query of the task (connecting included) fails after `timeout`.
    pub(crate) fn spawn<S: Subscriber>(
        pool: &PgPool,
        channel: &'static str,
        to: S,
        timeout: Duration,
    ) -> Self {
        let listening = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(follow(
            pool.clone(),
            channel,
            to,
            Heartbeat::for_timeout(timeout),
            Arc::clone(&listening),
        ));
        Self { task, listening }
    }

    /// Whether the listener is connected and listening now: it has heard
    /// from the database (if only its own heartbeat) within the last three
    /// heartbeats.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Stops the listener.
    pub fn stop(&self) {
        self.task.abort();
        self.listening.store(false, Ordering::Release);
    }
}

/// Most time between two heartbeats of a listener.
const MAX_HEARTBEAT: Duration = Duration::from_secs(10);
/// Least time between two heartbeats, whatever the query timeout.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// How a listener finds out that its connection died without a word (a
/// partition, a NAT or firewall that forgot it): a connection that only
/// receives would otherwise wait for notifications that never come, for
/// hours, while it reports itself listening. Every `every` the listener
/// notifies itself through the pool, on a channel of its own, and it gives
/// the connection up (and reconnects, and resyncs) when nothing at all has
/// arrived on it for three heartbeats.
#[derive(Clone, Copy, Debug)]
struct Heartbeat {
    every: Duration,
    timeout: Duration,
}

impl Heartbeat {
    /// Every twice the query timeout, within [`MIN_HEARTBEAT`] and
    /// [`MAX_HEARTBEAT`].
    fn for_timeout(timeout: Duration) -> Self {
        Self {
            every: timeout
                .saturating_mul(2)
                .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT),
            timeout,
        }
    }

    fn silence(self) -> Duration {
        self.every * 3
    }
}

/// A channel name of this listener's own, for its heartbeat.
fn own_channel() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Random, so that listeners of other processes do not hear it; the
    // counter keeps it unique here should the OS RNG fail.
    let random = getrandom::u64().unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "m2m_auth_heartbeat_{random:016x}_{}_{n}",
        std::process::id()
    )
}

async fn follow<S: Subscriber>(
    pool: PgPool,
    channel: &'static str,
    to: S,
    heartbeat: Heartbeat,
    listening: Arc<AtomicBool>,
) {
    const FIRST_RETRY: Duration = Duration::from_secs(1);
    const MAX_RETRY: Duration = Duration::from_secs(30);
    let own = own_channel();
    let mut retry = FIRST_RETRY;
    loop {
        match within(heartbeat.timeout, subscribe(&pool, channel, &own)).await {
            Ok(mut listener) => match to.resync().await {
                Ok(()) => {
                    listening.store(true, Ordering::Release);
                    retry = FIRST_RETRY;
                    tracing::debug!(target: "m2m_auth", channel, "listening for changes");
                    // The heartbeat stops with this connection, or with
                    // the task.
                    let beating = Beating(tokio::spawn(beat(pool.clone(), own.clone(), heartbeat)));
                    receive(&mut listener, channel, &own, &to, heartbeat).await;
                    drop(beating);
                    listening.store(false, Ordering::Release);
                }
                Err(e) => {
                    tracing::warn!(target: "m2m_auth", channel, error = %e, "change listener cannot resync");
                }
            },
            Err(e) => {
                tracing::warn!(target: "m2m_auth", channel, error = %e, "change listener cannot connect");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Hands notifications to `to` until the connection is lost, or silent
/// for longer than the heartbeat allows.
async fn receive<S: Subscriber>(
    listener: &mut PgListener,
    channel: &'static str,
    own: &str,
    to: &S,
    heartbeat: Heartbeat,
) {
    loop {
        // On a timeout the listener is dropped, so an unfinished receive
        // leaves nothing behind.
        match tokio::time::timeout(heartbeat.silence(), listener.try_recv()).await {
            Ok(Ok(Some(n))) if n.channel() == own => {}
            Ok(Ok(Some(n))) => to.notified(n.payload()),
            // The connection is lost (`None`, or an error): reconnect (and
            // resync) in `follow`, not listening meanwhile.
            Ok(lost) => {
                tracing::warn!(
                    target: "m2m_auth",
                    channel,
                    error = lost.err().map(tracing::field::display),
                    "change listener lost its connection; reconnecting"
                );
                return;
            }
            Err(_) => {
                tracing::warn!(
                    target: "m2m_auth",
                    channel,
                    silent_for = ?heartbeat.silence(),
                    "change listener heard nothing, not even its heartbeat; reconnecting"
                );
                return;
            }
        }
    }
}

/// Stops the heartbeat when dropped.
struct Beating(tokio::task::JoinHandle<()>);

impl Drop for Beating {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Notifies `own` through the pool every heartbeat, forever.
async fn beat(pool: PgPool, own: String, heartbeat: Heartbeat) {
    let mut every = tokio::time::interval(heartbeat.every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let ping = sqlx::query("SELECT pg_notify($1, '')").bind(&own);
        if let Err(e) = within(heartbeat.timeout, ping.execute(&pool)).await {
            // The listener's silence decides; this only explains it.
            tracing::debug!(target: "m2m_auth", error = %e, "change listener heartbeat not sent");
        }
    }
}

/// A listener on `channel` and `own`; the caller bounds how long it may
/// take.
async fn subscribe(pool: &PgPool, channel: &str, own: &str) -> Result<PgListener, sqlx::Error> {
    // The listener's connection comes from a pool of its own: sqlx hands a
    // listener's connection back to its pool after an `UNLISTEN`, which on
    // a connection given up for silence may wait until TCP gives up, and
    // must not hold a connection the queries need meanwhile.
    let solo = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(PgConnectOptions::clone(&pool.connect_options()));
    let mut listener = PgListener::connect_with(&solo).await?;
    // A lost connection is reported, not replaced behind our back: until
    // `follow` has reconnected, the listener does not claim to listen.
    listener.eager_reconnect(false);
    listener.listen_all([channel, own]).await?;
    Ok(listener)
}

fn parse_digest(hex: &str) -> Option<KeyDigest> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (b, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *b = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(KeyDigest::from_bytes(bytes))
}

#[async_trait]
impl KeyStore for PostgresKeyStore {
    async fn lookup(&self, digest: &KeyDigest) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        let row = self
            .within(
                sqlx::query(concat!(
                    "SELECT ",
                    pg_columns!(),
                    " FROM m2m_auth_api_keys WHERE digest = $1"
                ))
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.pool),
            )
            .await?;
        Ok(stored(row)?.map(|k| k.record))
    }
}

#[async_trait]
impl KeyRepository for PostgresKeyStore {
    async fn insert(&self, key: StoredKey) -> Result<(), StoreError> {
        // Announced too: another instance may cache this digest as unknown.
        self.within(
            Fields::of(&key)?
                .bind(sqlx::query(concat!(
                    "INSERT INTO m2m_auth_api_keys (",
                    columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13) \
             RETURNING pg_notify('m2m_auth_api_keys', encode(digest, 'hex'))"
                )))
                .execute(&self.pool),
        )
        .await?;
        Ok(())
    }

    async fn get(&self, key_id: &str) -> Result<Option<StoredKey>, StoreError> {
        let row = self
            .within(
                sqlx::query(concat!(
                    "SELECT ",
                    pg_columns!(),
                    " FROM m2m_auth_api_keys WHERE key_id = $1"
                ))
                .bind(key_id)
                .fetch_optional(&self.pool),
            )
            .await?;
        stored(row)
    }

    async fn list(
        &self,
        owner: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredKey>, StoreError> {
        let rows = self.within(
            sqlx::query(concat!(
            "SELECT ",
            pg_columns!(),
            " FROM m2m_auth_api_keys WHERE owner = $1 AND ($2::text IS NULL OR key_id > $2) \
             ORDER BY key_id LIMIT $3"
        ))
        .bind(owner)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool),
        )
        .await?;
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
        // One statement: atomic, a revoked row is never touched, and the
        // change is announced when it commits.
        let row = self
            .within(
                sqlx::query(concat!(
                    "UPDATE m2m_auth_api_keys SET \
               name = COALESCE($2, name), \
               scopes = COALESCE($3, scopes), \
               metadata = COALESCE($4::jsonb, metadata), \
               expires_at = CASE $5::int WHEN 1 THEN NULL WHEN 2 THEN $6::bigint \
                 WHEN 3 THEN LEAST(COALESCE(expires_at, $6::bigint), $6::bigint) \
                 ELSE expires_at END, \
               enabled = COALESCE($7, enabled), \
               revoked_at = $8, \
               updated_at = $9 \
             WHERE key_id = $1 AND revoked_at IS NULL \
             RETURNING ",
                    pg_columns!(),
                    ", pg_notify('m2m_auth_api_keys', encode(digest, 'hex'))"
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
                .fetch_optional(&self.pool),
            )
            .await?;
        match row {
            Some(row) => stored(Some(row)),
            // Revoked (left as it is) or not there.
            None => self.get(key_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn any_timeout_is_taken() {
        for timeout in [Duration::ZERO, Duration::MAX] {
            let answer = within(timeout, std::future::ready(Ok::<_, sqlx::Error>(1))).await;
            assert_eq!(answer.unwrap(), 1, "an answer at once is taken");
        }
        let never = std::future::pending::<Result<(), sqlx::Error>>();
        let e = within(Duration::from_millis(1), never).await.unwrap_err();
        let why = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            why.as_deref(),
            Some("the database did not answer within 1ms")
        );
    }

    #[test]
    fn heartbeats_follow_the_timeout_within_bounds() {
        let every = |t| Heartbeat::for_timeout(t).every;
        assert_eq!(every(Duration::from_millis(500)), Duration::from_secs(1));
        assert_eq!(every(DEFAULT_QUERY_TIMEOUT), MAX_HEARTBEAT);
        // Any timeout a user may set gives a heartbeat a timer accepts.
        assert_eq!(every(Duration::ZERO), MIN_HEARTBEAT);
        assert_eq!(every(Duration::MAX), MAX_HEARTBEAT);
        assert_eq!(
            Heartbeat::for_timeout(Duration::MAX).silence(),
            MAX_HEARTBEAT * 3
        );
    }

    #[test]
    fn digests_parse_from_hex() {
        let d = KeyDigest::of("abc");
        let hex: String = d
            .as_bytes()
            .iter()
            .flat_map(|b| [b >> 4, b & 15])
            .map(|n| char::from_digit(u32::from(n), 16).unwrap())
            .collect();
        assert_eq!(parse_digest(&hex), Some(d));
        assert_eq!(parse_digest(&hex.to_uppercase()), Some(d));
        assert_eq!(parse_digest(&hex[1..]), None);
        assert_eq!(parse_digest(&format!("{}zz", &hex[2..])), None);
        assert_eq!(parse_digest(""), None);
        assert_eq!(parse_digest(&"é".repeat(32)), None);
    }
}
