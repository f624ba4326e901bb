//! What the stores cost per request: `MemoryKeyStore` against
//! `CachedKeyStore` over PostgreSQL (a hit), and PostgreSQL without a
//! cache.
//!
//! `cargo bench --bench stores --features postgres,cache`
//!
//! Needs PostgreSQL: `DATABASE_URL`, or the server binaries for a
//! throwaway cluster (as the tests use). First an interleaved comparison
//! (the ratio to read), then criterion's view of the same requests and of
//! the bare lookups.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;
#[allow(dead_code, reason = "the bench uses part of the harness")]
#[path = "../tests/stores/pg.rs"]
mod pg;

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use criterion::Criterion;
use m2m_auth::api_key::{
    ApiKeyAuthenticator, CachedKeyStore, KeyFormat, KeyManager, KeyStore, NewKey, PostgresKeyStore,
};
use m2m_auth::{AuthLayer, Identity};
use tower::ServiceExt;

use common::interleave::{Config, ROUNDS, median, run, timed_async};

/// Keys in the database besides the one measured.
const KEYS: usize = 2_000;

fn router<S: KeyStore>(format: &KeyFormat, store: S) -> Router {
    Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(AuthLayer::new(ApiKeyAuthenticator::new(
            format.clone(),
            store,
        )))
        .with_state(())
}

async fn call(app: &Router, key: &str) -> u16 {
    let res = app
        .clone()
        .oneshot(
            http::Request::get("/")
                .header("api-key", key)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    res.status().as_u16()
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    let Some((url, _cluster)) = pg::database("stores bench") else {
        return;
    };
    // Leaked: the timing closures below borrow it for the rest of `main`.
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ));
    let format = KeyFormat::new("acme_live").unwrap();

    let (pg, key) = rt.block_on(async {
        let pg = PostgresKeyStore::connect(&url).await.unwrap();
        pg.migrate().await.unwrap();
        let keys = KeyManager::new(format.clone(), pg.clone());
        for chunk in 0..KEYS / 100 {
            let batch = (0..100).map(|i| keys.create(NewKey::new(format!("owner_{chunk}_{i}"))));
            for r in futures_util::future::join_all(batch).await {
                r.unwrap();
            }
        }
        let key = keys.create(NewKey::new("measured")).await.unwrap();
        (pg, key.key.expose_secret().to_owned())
    });
    let digest = m2m_auth::api_key::KeyDigest::of(&key);

    // The same key in a memory store of 100 000 others.
    let (memory, _) = common::store_of(&format, 100_000);
    memory.insert(
        digest,
        m2m_auth::api_key::KeyRecord::builder("key_measured", "measured").build(),
    );
    let cached = Arc::new(CachedKeyStore::new(pg.clone()));
    let plain = Router::new()
        .route("/", get(|| async { "ok" }))
        .with_state(());
    let on_memory = router(&format, memory.clone());
    let on_cached = router(&format, Arc::clone(&cached));
    let on_pg = router(&format, pg.clone());
    for app in [&on_memory, &on_cached, &on_pg] {
        assert_eq!(rt.block_on(call(app, &key)), 200);
    }

    let on = |app: &'static Router| -> Box<dyn Fn(u32) -> f64> {
        let key = key.clone();
        Box::new(move |n| timed_async(rt, n, || call(app, &key)))
    };
    let leak = |r: Router| -> &'static Router { Box::leak(Box::new(r)) };
    let (plain, on_memory, on_cached, on_pg) =
        (leak(plain), leak(on_memory), leak(on_cached), leak(on_pg));
    let configs: Vec<Config<'_>> = vec![
        ("no auth", on(plain)),
        ("MemoryKeyStore", on(on_memory)),
        ("CachedKeyStore(PG), hit", on(on_cached)),
    ];
    let t = run("valid key through the layer", 4000, &configs);
    let mut ratio: Vec<f64> = (0..ROUNDS).map(|r| t[2][r] / t[1][r]).collect();
    let mut over: Vec<f64> = (0..ROUNDS)
        .map(|r| (t[2][r] - t[0][r]) / (t[1][r] - t[0][r]))
        .collect();
    println!(
        "cached hit / memory, per request: {:.3}; overhead over no auth, cached / memory: {:.3}",
        median(&mut ratio),
        median(&mut over)
    );
    let configs: Vec<Config<'_>> = vec![
        ("MemoryKeyStore", on(on_memory)),
        ("PostgresKeyStore, uncached", on(on_pg)),
    ];
    run("valid key through the layer, no cache", 100, &configs);

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("layer");
    g.bench_function("memory", |b| {
        b.to_async(rt).iter(|| call(on_memory, &key));
    });
    g.bench_function("cached_pg_hit", |b| {
        b.to_async(rt).iter(|| call(on_cached, &key));
    });
    g.bench_function("pg_uncached", |b| {
        b.to_async(rt).iter(|| call(on_pg, &key));
    });
    g.finish();
    let mut g = c.benchmark_group("lookup");
    g.bench_function("memory", |b| {
        b.iter(|| memory.lookup_ready(black_box(&digest)));
    });
    g.bench_function("cached_pg_hit", |b| {
        b.iter(|| cached.lookup_ready(black_box(&digest)));
    });
    g.bench_function("pg_uncached", |b| {
        b.to_async(rt).iter(|| pg.lookup(black_box(&digest)));
    });
    g.finish();
    c.final_summary();
}
