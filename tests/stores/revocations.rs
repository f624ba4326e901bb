//! JWT revocation lists shared through PostgreSQL.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use m2m_auth::jwt::{PostgresRevocations, Revocations, TokenRef};
use sqlx::postgres::PgPoolOptions;

use crate::pg::{Cluster, database, error_chain, partitionable_proxy};

fn token<'a>(jti: &'a str, subject: &'a str, iat: SystemTime) -> TokenRef<'a> {
    TokenRef::of_parts("https://idp.test", subject, Some(jti), Some(iat))
}

async fn instance(url: &str) -> PostgresRevocations {
    let pool = PgPoolOptions::new().connect(url).await.unwrap();
    PostgresRevocations::migrate(&pool).await.unwrap();
    let r = PostgresRevocations::connect(pool).await.unwrap();
    let start = Instant::now();
    while !r.is_listening() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "listener never connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r
}

#[tokio::test]
async fn a_revocation_on_one_instance_reaches_the_others() {
    let Some((url, _cluster)) = database("shared_revocations") else {
        return;
    };
    let (a, b) = (instance(&url).await, instance(&url).await);
    let now = SystemTime::now();
    let leaked = token("jti-shared", "client-a", now);
    assert!(!b.is_revoked_ready(&leaked).unwrap().unwrap());

    let start = Instant::now();
    a.revoke_token(
        "https://idp.test",
        "jti-shared",
        now + Duration::from_mins(5),
    )
    .await
    .unwrap();
    assert!(
        a.is_revoked_ready(&leaked).unwrap().unwrap(),
        "at once on A"
    );
    while !b.is_revoked_ready(&leaked).unwrap().unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B did not learn of it within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("jti revocation on A seen by B after {:?}", start.elapsed());

    b.revoke_subject("https://idp.test", "client-b", now)
        .await
        .unwrap();
    let before = token("other", "client-b", now - Duration::from_secs(10));
    let start = Instant::now();
    while !a.is_revoked_ready(&before).unwrap().unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "A did not learn of it within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let later = token("new", "client-b", now + Duration::from_secs(10));
    assert!(
        !a.is_revoked_ready(&later).unwrap().unwrap(),
        "issued after"
    );

    // An instance started later loads what is there.
    let c = instance(&url).await;
    assert!(c.is_revoked_ready(&leaked).unwrap().unwrap());
    assert!(c.is_revoked_ready(&before).unwrap().unwrap());
    assert!(
        !c.is_revoked_ready(&token("unrelated", "client-a", now))
            .unwrap()
            .unwrap()
    );

    assert!(
        a.revoke_token("https://idp.test", &"x".repeat(2000), now)
            .await
            .is_err(),
        "values are bounded"
    );
}

/// A database that stops answering (the connection open, nothing coming
/// back) fails a revocation after the store's timeout instead of holding
/// it, while tokens are still checked at once from memory; once the
/// database answers again, revocations work.
#[tokio::test]
async fn a_database_that_stops_answering_fails_revocations_not_checks() {
    let Some(cluster) = Cluster::start("revocations_partitioned") else {
        return;
    };
    let upstream: SocketAddr = format!("127.0.0.1:{}", cluster.port()).parse().unwrap();
    let (proxy, frozen) = partitionable_proxy(upstream).await;
    let pool = PgPoolOptions::new()
        .connect(&format!("postgres://postgres@{proxy}/postgres"))
        .await
        .unwrap();
    PostgresRevocations::migrate(&pool).await.unwrap();
    let r = PostgresRevocations::connect_with_timeout(pool, Duration::from_millis(500))
        .await
        .unwrap();
    let now = SystemTime::now();
    let until = now + Duration::from_mins(5);
    r.revoke_token("https://idp.test", "jti-before", until)
        .await
        .unwrap();

    frozen.store(true, Ordering::SeqCst);
    // Bounded so that a missing timeout fails the test instead of hanging it.
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        r.revoke_token("https://idp.test", "jti-during", until),
    )
    .await
    .expect("the revocation must time out by itself")
    .expect_err("no answer, no revocation");
    let chain = error_chain(&e);
    assert!(chain.contains("did not answer within 500ms"), "{chain}");
    let revoked = token("jti-before", "client", now);
    let check = tokio::time::timeout(Duration::from_secs(1), r.is_revoked(&revoked))
        .await
        .expect("a check never waits for the database");
    assert!(check.unwrap(), "what was revoked before stays revoked");
    assert!(
        !r.is_revoked(&token("jti-other", "client", now))
            .await
            .unwrap()
    );

    frozen.store(false, Ordering::SeqCst);
    let back = Instant::now();
    while r
        .revoke_token("https://idp.test", "jti-after", until)
        .await
        .is_err()
    {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "revocations work again once the database answers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        r.is_revoked_ready(&token("jti-after", "client", now))
            .unwrap()
            .unwrap()
    );
}

/// A listener whose connection goes silent (a partition: open, nothing
/// arriving) notices by its heartbeat, says it is not listening, and once
/// the database is reachable again reconnects and loads what it missed.
#[tokio::test]
async fn a_silent_listener_notices_and_catches_up() {
    let Some(cluster) = Cluster::start("revocations_silent_listener") else {
        return;
    };
    let upstream: SocketAddr = format!("127.0.0.1:{}", cluster.port()).parse().unwrap();
    let (proxy, frozen) = partitionable_proxy(upstream).await;
    // A through the proxy, with a 500 ms timeout: a heartbeat every 1 s,
    // silence allowed for 3 s. B directly. A's pool has one connection,
    // which the listener must leave to the queries and the heartbeat.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("postgres://postgres@{proxy}/postgres"))
        .await
        .unwrap();
    PostgresRevocations::migrate(&pool).await.unwrap();
    let a = PostgresRevocations::connect_with_timeout(pool, Duration::from_millis(500))
        .await
        .unwrap();
    let b = instance(&cluster.url()).await;
    let start = Instant::now();
    while !a.is_listening() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "A never listened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Quiet for longer than the silence allowed: the heartbeat alone
    // keeps the listener up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(a.is_listening(), "a quiet connection is not a dead one");
    a.revoke_token(
        "https://idp.test",
        "jti-a",
        SystemTime::now() + Duration::from_mins(5),
    )
    .await
    .expect("the listener holds no connection of the pool");

    frozen.store(true, Ordering::SeqCst);
    let start = Instant::now();
    while a.is_listening() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the silent connection was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("silent listener noticed after {:?}", start.elapsed());
    let now = SystemTime::now();
    b.revoke_token(
        "https://idp.test",
        "jti-missed",
        now + Duration::from_mins(5),
    )
    .await
    .unwrap();
    let missed = token("jti-missed", "client", now);
    assert!(!a.is_revoked_ready(&missed).unwrap().unwrap());

    frozen.store(false, Ordering::SeqCst);
    let start = Instant::now();
    while !(a.is_listening() && a.is_revoked_ready(&missed).unwrap().unwrap()) {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "A must reconnect and load what it missed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
