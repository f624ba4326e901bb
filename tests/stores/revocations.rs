//! JWT revocation lists shared through PostgreSQL.

use std::time::{Duration, Instant, SystemTime};

use m2m_auth::jwt::{PostgresRevocations, Revocations, TokenRef};
use sqlx::postgres::PgPoolOptions;

use crate::pg::database;

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
