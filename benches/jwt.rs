//! What JWT verification costs: raw `jsonwebtoken::decode` against our
//! `JwtAuthenticator` alone and through the layer in an axum router.
//!
//! `cargo bench --bench jwt --features jwt`
//!
//! For HS256, RS256, ES256 and `EdDSA`, one token each (typical
//! client-credentials claims), verified:
//! - `raw`: `jsonwebtoken::decode` into a claims struct, with issuer,
//!   audience and algorithm checked: a minimal hand-written layer's work;
//! - `verify`: `JwtAuthenticator::verify`, claims to `Identity`;
//! - `no_auth`: a request carrying the token through an axum router without
//!   auth;
//! - `layer`: the same request through `AuthLayer` (added by
//!   `Router::layer`) with the JWT authenticator, the handler extracting the
//!   `Identity`;
//! - `wrapped`: the layer wrapped around the router instead.
//!
//! Overhead = (`layer` − `no_auth`) ÷ `raw` − 1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

use common::jwt::{cases, request};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for case in cases() {
        let mut g = c.benchmark_group(case.name);
        let token = case.token.as_str();
        g.bench_function("raw", |b| b.iter(|| case.raw(black_box(token))));
        g.bench_function("verify", |b| {
            b.iter(|| case.ours.verify(black_box(token)).unwrap());
        });
        let (plain, layered, wrapped) = (&case.plain, &case.layered, &case.wrapped);
        assert_eq!(
            rt.block_on(layered.clone().oneshot(request(token)))
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            rt.block_on(wrapped.clone().oneshot(request(token)))
                .unwrap()
                .status(),
            200
        );
        g.bench_function("no_auth", |b| {
            b.to_async(&rt)
                .iter(|| plain.clone().oneshot(request(token)));
        });
        g.bench_function("layer", |b| {
            b.to_async(&rt)
                .iter(|| layered.clone().oneshot(request(token)));
        });
        g.bench_function("wrapped", |b| {
            b.to_async(&rt)
                .iter(|| wrapped.clone().oneshot(request(token)));
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
