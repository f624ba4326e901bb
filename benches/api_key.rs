//! What API-key authentication costs per request.
//!
//! `cargo bench --bench api_key`
//!
//! Every request goes through an axum router via `oneshot`, as in a server
//! minus the socket: without auth; through a no-op layer; through
//! `AuthLayer` with an authenticator that accepts everything; with a valid
//! key from a store of 100 000 keys; with a malformed key; with a
//! well-formed key the store does not know. Beside them, the raw check
//! (format + SHA-256 + store lookup) and its parts.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use m2m_auth::Authenticator;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyDigest};

use common::request;

fn bench(c: &mut Criterion) {
    let s = common::setup(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("request");
    for (name, app, key) in [
        ("no_auth", &s.plain, &s.valid),
        ("noop_layer", &s.noop_layer, &s.valid),
        ("fixed_identity", &s.fixed, &s.valid),
        ("valid_key", &s.api_key, &s.valid),
        ("valid_key_wrapped", &s.api_key_wrapped, &s.valid),
        ("malformed_key", &s.api_key, &s.malformed),
        ("unknown_key", &s.api_key, &s.unknown),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| app.call(key));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("check");
    let (format, store, valid) = (&s.format, &s.store, s.valid.as_str());
    g.bench_function("raw_valid", |b| {
        b.iter(|| {
            let key = black_box(valid);
            format.check(key).unwrap();
            store.get(&KeyDigest::of(key))
        });
    });
    let authenticator = ApiKeyAuthenticator::new(s.format.clone(), s.store.clone());
    let (parts, ()) = request(valid).map(|_| ()).into_parts();
    g.bench_function("authenticate_valid", |b| {
        let mut cx = Context::from_waker(Waker::noop());
        b.iter(|| {
            let authentication = authenticator.authenticate(black_box(&parts));
            let ready = std::pin::pin!(authentication).poll(&mut cx);
            matches!(ready, Poll::Ready(Ok(Some(_))))
        });
    });
    g.bench_function("format_valid", |b| {
        b.iter(|| format.check(black_box(valid)).is_ok());
    });
    g.bench_function("sha256", |b| {
        b.iter(|| KeyDigest::of(black_box(valid)));
    });
    let digest = KeyDigest::of(valid);
    g.bench_function("store_get", |b| {
        b.iter(|| store.get(black_box(&digest)));
    });
    g.bench_function("malformed_checksum", |b| {
        b.iter(|| format.check(black_box(s.malformed.as_str())).is_err());
    });
    g.bench_function("malformed_garbage", |b| {
        b.iter(|| format.check(black_box("not-a-key")).is_err());
    });
    g.finish();

    // Verify cost against store size: `same` asks for one key again and
    // again (its bucket stays in the CPU cache); `spread` cycles through
    // 1 024 keys spread over the store, as real traffic would.
    let mut g = c.benchmark_group("scaling");
    let mut cx = Context::from_waker(Waker::noop());
    for n in [1_000, 100_000, 1_000_000] {
        let (store, sample) = common::store_of(&s.format, n);
        let authenticator = ApiKeyAuthenticator::new(s.format.clone(), store);
        let heads: Vec<_> = sample
            .iter()
            .map(|k| request(k).map(|_| ()).into_parts().0)
            .collect();
        let mut verify = |parts: &http::request::Parts| {
            let authentication = authenticator.authenticate(black_box(parts));
            let ready = std::pin::pin!(authentication).poll(&mut cx);
            assert!(matches!(ready, Poll::Ready(Ok(Some(_)))));
        };
        g.bench_function(format!("same_{n}"), |b| b.iter(|| verify(&heads[0])));
        let mut i = 0;
        g.bench_function(format!("spread_{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % heads.len();
                verify(&heads[i]);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
