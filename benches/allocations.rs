//! Heap allocations per request, counted by a global allocator.
//!
//! `cargo bench --bench allocations [-- <filter>]`
//!
//! Prints, for each configuration of `benches/api_key.rs`, how many
//! allocations (and bytes) one request through the axum router makes, and
//! how many more than without auth. With a filter, only configurations
//! whose name contains it run (handy under a profiler).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::alloc::System;

use common::App;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations and bytes per request, averaged over many requests.
fn measure(rt: &tokio::runtime::Runtime, app: &App, key: &str, expect: u16) -> (f64, f64) {
    const N: u32 = 10_000;
    rt.block_on(async {
        // Warm up: first requests fill lazily built state.
        for _ in 0..100 {
            app.call(key).await;
        }
        let region = Region::new(GLOBAL);
        for _ in 0..N {
            assert_eq!(app.call(key).await, expect);
        }
        let stats = region.change();
        let per_request = |n: usize| f64::from(u32::try_from(n).unwrap()) / f64::from(N);
        (
            per_request(stats.allocations + stats.reallocations),
            per_request(stats.bytes_allocated),
        )
    })
}

/// Heap bytes a `MemoryKeyStore` holds per key, at `n` keys: records,
/// identities and both maps, after the plaintexts are gone.
fn bytes_per_key(n: usize) -> f64 {
    let format = m2m_auth::api_key::KeyFormat::new("acme_live").unwrap();
    let region = Region::new(GLOBAL);
    let (store, sample) = common::store_of(&format, n);
    drop(sample);
    let stats = region.change();
    let i = |n: usize| i64::try_from(n).unwrap();
    let held = i(stats.bytes_allocated) + i64::try_from(stats.bytes_reallocated).unwrap()
        - i(stats.bytes_deallocated);
    assert_eq!(store.len(), n);
    drop(store);
    #[expect(clippy::cast_precision_loss, reason = "a byte count, printed")]
    let per_key = held as f64 / n as f64;
    per_key
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter
        .as_deref()
        .is_none_or(|f| "bytes per key".contains(f))
    {
        println!("{:<28} {:>12}", "keys in a MemoryKeyStore", "bytes per key");
        for n in [1_000, 100_000, 1_000_000] {
            println!("{n:<28} {:>12.0}", bytes_per_key(n));
        }
        println!();
    }
    let s = common::setup(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let configs = s.configurations();
    println!(
        "{:<28} {:>8} {:>10} {:>8}",
        "configuration", "allocs", "bytes", "added"
    );
    let mut base = None;
    for (name, app, key, status) in configs {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let (n, bytes) = measure(&rt, app, key, status);
        let added = base.map_or_else(|| "-".to_owned(), |b: f64| format!("{:+.1}", n - b));
        base.get_or_insert(n);
        println!("{name:<28} {n:>8.1} {bytes:>10.0} {added:>8}");
    }
    #[cfg(feature = "jwt")]
    jwt(&rt, filter.as_deref());
}

/// The same for JWTs through `Router::layer`, against no auth with the
/// same request.
#[cfg(feature = "jwt")]
fn jwt(rt: &tokio::runtime::Runtime, filter: Option<&str>) {
    use tower::ServiceExt;
    const N: u32 = 2_000;
    let count = |app: &axum::Router, token: &str| {
        rt.block_on(async {
            let call = || app.clone().oneshot(common::jwt::request(token));
            for _ in 0..20 {
                call().await.unwrap();
            }
            let region = Region::new(GLOBAL);
            for _ in 0..N {
                assert_eq!(call().await.unwrap().status(), 200);
            }
            let stats = region.change();
            let per = |n: usize| f64::from(u32::try_from(n).unwrap()) / f64::from(N);
            (
                per(stats.allocations + stats.reallocations),
                per(stats.bytes_allocated),
            )
        })
    };
    for case in common::jwt::cases() {
        let name = format!("jwt {}", case.name);
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let (base, _) = count(&case.plain, &case.token);
        let (n, bytes) = count(&case.layered, &case.token);
        println!("{name:<28} {n:>8.1} {bytes:>10.0} {:>+8.1}", n - base);
    }
}
