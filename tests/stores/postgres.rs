//! PostgreSQL: the conformance suite, two instances sharing one database,
//! the database going away and coming back, and rolling over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use m2m_auth::api_key::{
    ApiKeyAuthenticator, CachedKeyStore, KeyFormat, KeyManager, NewKey, PostgresKeyStore,
    conformance,
};
use m2m_auth::{AuthLayer, Identity};
use reqwest::StatusCode;
use sqlx::postgres::PgPoolOptions;

use crate::pg::{Cluster, database, error_chain, partitionable_proxy};

const PREFIX: &str = "pgtest";

async fn store(url: &str) -> PostgresKeyStore {
    // A short acquire timeout: a test with the server down fails fast.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect(url)
        .await
        .unwrap();
    let store = PostgresKeyStore::from_pool(pool);
    store.migrate().await.unwrap();
    store
}

/// One API instance: a cache over the shared database, the key manager
/// writing through it, and an HTTP server authenticating with it.
struct Instance {
    keys: KeyManager<Arc<CachedKeyStore<PostgresKeyStore>>>,
    addr: SocketAddr,
    listener: Option<m2m_auth::api_key::ListenerHandle>,
}

async fn instance(url: &str, ttl: Duration, listen: bool) -> Instance {
    let pg = store(url).await;
    let cached = Arc::new(CachedKeyStore::builder(pg.clone()).ttl(ttl).build());
    let listener = listen.then(|| pg.listen(cached.handle()));
    let format = KeyFormat::new(PREFIX).unwrap();
    let auth = ApiKeyAuthenticator::new(format.clone(), Arc::clone(&cached));
    let app = Router::new()
        .route(
            "/",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .layer(AuthLayer::new(auth));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    Instance {
        keys: KeyManager::new(format, cached),
        addr,
        listener,
    }
}

impl Instance {
    async fn status(&self, key: &str) -> StatusCode {
        reqwest::Client::new()
            .get(format!("http://{}/", self.addr))
            .header("api-key", key)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn wait_listening(&self) {
        let listener = self.listener.as_ref().unwrap();
        let start = Instant::now();
        while !listener.is_listening() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "listener never connected"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some((url, _cluster)) = database("postgres_store_conforms") else {
        return;
    };
    let a = PostgresKeyStore::connect(&url).await.unwrap();
    let b = PostgresKeyStore::connect(&url).await.unwrap();
    // Instances starting together migrate together.
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    conformance::run(a).await;
    // Behind the cache, too.
    conformance::run(CachedKeyStore::new(b)).await;
}

#[tokio::test]
async fn a_revoke_on_one_instance_is_seen_by_another_within_a_second() {
    let Some((url, _cluster)) = database("two_instances") else {
        return;
    };
    let ttl = Duration::from_mins(1);
    let a = instance(&url, ttl, true).await;
    let b = instance(&url, ttl, true).await;
    b.wait_listening().await;

    let created = a.keys.create(NewKey::new("fleet-client")).await.unwrap();
    let key = created.key.expose_secret();
    assert_eq!(a.status(key).await, StatusCode::OK);
    assert_eq!(b.status(key).await, StatusCode::OK, "B caches the key");

    let revoked_at = Instant::now();
    a.keys.revoke(created.record.key_id()).await.unwrap();
    assert_eq!(a.status(key).await, StatusCode::UNAUTHORIZED, "A at once");
    let seen = loop {
        if b.status(key).await == StatusCode::UNAUTHORIZED {
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "B still accepts the revoked key after 5 s (its TTL is 60 s)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!("revocation on instance A seen by instance B after {seen:?} (B's cache TTL: {ttl:?})");
    assert!(seen < Duration::from_secs(1), "took {seen:?}");

    // A scope change travels the same way.
    let other = a.keys.create(NewKey::new("fleet-client")).await.unwrap();
    assert_eq!(b.status(other.key.expose_secret()).await, StatusCode::OK);
    a.keys.disable(other.record.key_id()).await.unwrap();
    let start = Instant::now();
    while b.status(other.key.expose_secret()).await != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "disable not seen by B"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_database_going_away_gives_503_and_coming_back_recovers() {
    let Some(cluster) = Cluster::start("database_down") else {
        return;
    };
    let ttl = Duration::from_secs(3);
    let app = instance(&cluster.url(), ttl, true).await;
    app.wait_listening().await;
    let cached = app.keys.create(NewKey::new("client")).await.unwrap();
    let uncached = app.keys.create(NewKey::new("client")).await.unwrap();
    let unknown = KeyFormat::new(PREFIX).unwrap().generate().unwrap();
    assert_eq!(app.status(cached.key.expose_secret()).await, StatusCode::OK);
    let warmed = Instant::now();

    cluster.stop();
    assert_eq!(
        app.status(uncached.key.expose_secret()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "a key not in the cache: 503, never 401"
    );
    assert_eq!(
        app.status(unknown.expose_secret()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "an unknown key cannot be told from a good one: 503"
    );
    if warmed.elapsed() < ttl {
        assert_eq!(
            app.status(cached.key.expose_secret()).await,
            StatusCode::OK,
            "a cached key works until its TTL"
        );
    }
    let e = app
        .keys
        .create(NewKey::new("client"))
        .await
        .expect_err("no database, no new key");
    assert_eq!(e.kind(), m2m_auth::api_key::KeyErrorKind::Store);
    tokio::time::sleep(ttl.saturating_sub(warmed.elapsed()) + Duration::from_millis(200)).await;
    assert_eq!(
        app.status(cached.key.expose_secret()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "past its TTL, a cached key needs the database"
    );

    cluster.resume();
    let back = Instant::now();
    loop {
        let status = app.status(uncached.key.expose_secret()).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(back.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.status(cached.key.expose_secret()).await, StatusCode::OK);
    assert_eq!(
        app.status(unknown.expose_secret()).await,
        StatusCode::UNAUTHORIZED
    );
    // The listener came back too: another instance's revoke is seen.
    app.wait_listening().await;
    let other = instance(&cluster.url(), ttl, false).await;
    other.keys.revoke(cached.record.key_id()).await.unwrap();
    let start = Instant::now();
    while app.status(cached.key.expose_secret()).await != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "listener did not recover"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn rolled_keys_over_http() {
    let Some((url, _cluster)) = database("rolled_keys_over_http") else {
        return;
    };
    let app = instance(&url, Duration::from_secs(30), false).await;
    let old = app.keys.create(NewKey::new("roller")).await.unwrap();
    assert_eq!(app.status(old.key.expose_secret()).await, StatusCode::OK);

    let new = app
        .keys
        .roll(old.record.key_id(), Duration::from_secs(2))
        .await
        .unwrap();
    let rolled = Instant::now();
    assert_eq!(
        app.status(old.key.expose_secret()).await,
        StatusCode::OK,
        "old, in grace"
    );
    assert_eq!(
        app.status(new.key.expose_secret()).await,
        StatusCode::OK,
        "new"
    );
    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(rolled.elapsed()) + Duration::from_millis(100),
    )
    .await;
    assert_eq!(
        app.status(old.key.expose_secret()).await,
        StatusCode::UNAUTHORIZED,
        "old, after its grace (served from the cache: expiry is checked per request)"
    );
    assert_eq!(app.status(new.key.expose_secret()).await, StatusCode::OK);

    let newer = app
        .keys
        .roll(new.record.key_id(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        app.status(new.key.expose_secret()).await,
        StatusCode::UNAUTHORIZED,
        "a zero grace: at once"
    );
    assert_eq!(app.status(newer.key.expose_secret()).await, StatusCode::OK);
}

/// A database that stops answering (the connection open, nothing coming
/// back) fails each lookup after the store's query timeout: a 503, not a
/// request held until TCP gives up. Once it answers again, keys work.
#[tokio::test]
async fn a_database_that_stops_answering_times_out_with_503() {
    let Some(cluster) = Cluster::start("database_partitioned") else {
        return;
    };
    let upstream: SocketAddr = format!("127.0.0.1:{}", cluster.port()).parse().unwrap();
    let (proxy, frozen) = partitionable_proxy(upstream).await;
    let url = format!("postgres://postgres@{proxy}/postgres");
    let pg = PostgresKeyStore::connect(&url)
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(500));
    pg.migrate().await.unwrap();
    let format = KeyFormat::new(PREFIX).unwrap();
    let keys = KeyManager::new(format.clone(), pg.clone());
    let key = keys.create(NewKey::new("client")).await.unwrap().key;
    let app = Router::new()
        .route(
            "/",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, pg.clone())));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    let status = || async {
        reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .header("api-key", key.expose_secret())
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status().await, StatusCode::OK);

    frozen.store(true, Ordering::SeqCst);
    // Bounded so that a missing timeout fails the test instead of hanging it.
    let during = tokio::time::timeout(Duration::from_secs(30), status())
        .await
        .expect("the lookup must time out by itself");
    assert_eq!(during, StatusCode::SERVICE_UNAVAILABLE);
    let e = tokio::time::timeout(Duration::from_secs(30), keys.get("key_x"))
        .await
        .expect("management queries time out too")
        .expect_err("no answer, no key");
    let chain = error_chain(&e);
    assert!(chain.contains("did not answer within 500ms"), "{chain}");

    frozen.store(false, Ordering::SeqCst);
    let back = Instant::now();
    while status().await != StatusCode::OK {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "keys work again once the database answers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
