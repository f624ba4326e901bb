//! Ours against what users would pick instead, per request through an axum
//! router via `oneshot`, in one run:
//!
//! - no auth (axum 0.8), and no auth on axum 0.7 (jwt-authorizer's baseline);
//! - tower-http's `ValidateRequestHeaderLayer::bearer` (one static token);
//! - `jwt-authorizer` 0.15 (axum 0.7, jsonwebtoken 9 on ring);
//! - `axum-jwt-auth` 0.7 (an extractor; jsonwebtoken 10 on `RustCrypto`);
//! - ours: an API key from a store of 100 000 (with the default body mode
//!   and with `AuthLayer::axum_body`), and JWTs (HS256, RS256, ES256,
//!   `EdDSA`) on the default backend.
//!
//! `cargo bench --bench peers` (add `-- --quick` for a shorter criterion
//! part; `-- interleaved` for the interleaved table alone).
//!
//! First an interleaved table (every round times a batch of each
//! configuration in turn; medians over 31 rounds of per-round overheads
//! and ratios), which is the one to read on a shared machine; then
//! criterion's own measurement of every configuration.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use criterion::Criterion;
use tower::ServiceExt;

use common::interleave::{Config, median, run, timed_async};
use common::peers;

/// Overhead over a baseline: the per-round differences of `t` to `base`.
fn over(t: &[f64], base: &[f64]) -> Vec<f64> {
    t.iter().zip(base).map(|(a, b)| a - b).collect()
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    let only_interleaved = std::env::args().any(|a| a == "interleaved");
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ));
    let leak = |r: axum::Router| -> &'static axum::Router { Box::leak(Box::new(r)) };

    let keys = common::setup(100_000);
    let plain = leak(keys.plain_router());
    let tower_http = leak(peers::tower_http_bearer());
    let plain07: &'static axum07::Router = Box::leak(Box::new(peers::axum07_plain()));
    let api_key = leak(keys.api_key_router());
    let api_key_axum_body = leak(keys.api_key_axum_body_router());
    let valid = keys.valid.clone();
    let cases = common::jwt::cases();

    // Everything accepts what it is given, and refuses a bad credential.
    let status = |app: &axum::Router, req: http::Request<axum::body::Body>| {
        rt.block_on(app.clone().oneshot(req))
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(tower_http, peers::request(peers::STATIC_TOKEN)), 200);
    assert_eq!(status(tower_http, peers::request("wrong")), 401);
    assert_eq!(status(api_key, common::request(&valid)), 200);
    assert_eq!(status(api_key, common::request(&keys.unknown)), 401);
    assert_eq!(status(api_key_axum_body, common::request(&valid)), 200);
    assert_eq!(
        status(api_key_axum_body, common::request(&keys.unknown)),
        401
    );

    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    {
        let configs: Vec<Config<'_>> = vec![
            (
                "no auth",
                Box::new(|n| timed_async(rt, n, || plain.clone().oneshot(peers::request(&valid)))),
            ),
            (
                "tower-http bearer",
                Box::new(|n| {
                    timed_async(rt, n, || {
                        tower_http
                            .clone()
                            .oneshot(peers::request(peers::STATIC_TOKEN))
                    })
                }),
            ),
            (
                "ours, API key",
                Box::new(|n| {
                    timed_async(rt, n, || api_key.clone().oneshot(common::request(&valid)))
                }),
            ),
            (
                "ours, API key, axum body",
                Box::new(|n| {
                    timed_async(rt, n, || {
                        api_key_axum_body.clone().oneshot(common::request(&valid))
                    })
                }),
            ),
        ];
        let t = run("static credentials (axum 0.8)", 4000, &configs);
        for (i, name) in [
            (1, "tower-http bearer"),
            (2, "ours, API key"),
            (3, "ours, API key, axum body"),
        ] {
            let mut o = over(&t[i], &t[0]);
            let mut all = t[i].clone();
            rows.push((name.to_owned(), median(&mut all), median(&mut o)));
        }
    }

    let mut jwt_rows = Vec::new();
    for case in &cases {
        jwt_rows.push(jwt_group(rt, case, plain, plain07));
    }

    println!("\nstatic credentials: median per request, median overhead over no auth");
    for (name, per, overhead) in &rows {
        println!("  {name:<20} {per:>8.0} ns {overhead:>+8.0} ns");
    }
    if only_interleaved {
        return;
    }

    criterion_part(
        rt,
        [plain, tower_http, api_key],
        plain07,
        &valid,
        &cases,
        jwt_rows,
    );
}

type Routers = (
    &'static str,
    &'static axum07::Router,
    &'static axum::Router,
    &'static axum::Router,
);

/// One JWT algorithm: jwt-authorizer, axum-jwt-auth and ours, interleaved
/// with both no-auth baselines; prints the overheads and ratios and returns
/// the routers for criterion.
fn jwt_group(
    rt: &'static tokio::runtime::Runtime,
    case: &common::jwt::Case,
    plain: &'static axum::Router,
    plain07: &'static axum07::Router,
) -> Routers {
    let leak = |r: axum::Router| -> &'static axum::Router { Box::leak(Box::new(r)) };
    let status = |app: &axum::Router, req: http::Request<axum::body::Body>| {
        rt.block_on(app.clone().oneshot(req))
            .unwrap()
            .status()
            .as_u16()
    };
    let token = case.token.as_str();
    let ja: &'static axum07::Router = Box::leak(Box::new(rt.block_on(peers::jwt_authorizer(case))));
    let aja = leak(peers::axum_jwt_auth(case));
    let ours = leak(case.layered.clone());
    // The token with its signature changed: every one must refuse it.
    let bad = {
        let at = token.rfind('.').unwrap() + 8;
        let mut t = token.to_owned();
        let c = if &token[at..=at] == "A" { "B" } else { "A" };
        t.replace_range(at..=at, c);
        t
    };
    assert_eq!(
        rt.block_on(ja.clone().oneshot(peers::request07(token)))
            .unwrap()
            .status(),
        200,
        "jwt-authorizer accepts the {} token",
        case.name
    );
    assert_eq!(
        rt.block_on(ja.clone().oneshot(peers::request07(&bad)))
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        status(aja, peers::request(token)),
        200,
        "axum-jwt-auth, {}",
        case.name
    );
    assert_eq!(status(aja, peers::request(&bad)), 401);
    assert_eq!(status(ours, peers::request(token)), 200);
    assert_eq!(status(ours, peers::request(&bad)), 401);
    let batch = if case.name == "HS256" { 3000 } else { 200 };
    let configs: Vec<Config<'_>> = vec![
        (
            "no auth (axum 0.8)",
            Box::new(|n| timed_async(rt, n, || plain.clone().oneshot(peers::request(token)))),
        ),
        (
            "no auth (axum 0.7)",
            Box::new(|n| timed_async(rt, n, || plain07.clone().oneshot(peers::request07(token)))),
        ),
        (
            "jwt-authorizer",
            Box::new(|n| timed_async(rt, n, || ja.clone().oneshot(peers::request07(token)))),
        ),
        (
            "axum-jwt-auth",
            Box::new(|n| timed_async(rt, n, || aja.clone().oneshot(peers::request(token)))),
        ),
        (
            "ours",
            Box::new(|n| timed_async(rt, n, || ours.clone().oneshot(peers::request(token)))),
        ),
    ];
    let t = run(&format!("JWT {}", case.name), batch, &configs);
    let (ours_o, ja_o, aja_o) = (over(&t[4], &t[0]), over(&t[2], &t[1]), over(&t[3], &t[0]));
    let ratio = |peer: &[f64]| {
        let mut r: Vec<f64> = peer.iter().zip(&ours_o).map(|(p, o)| p / o).collect();
        median(&mut r)
    };
    println!(
        "{}: overhead ours {:.0} ns, jwt-authorizer {:.0} ns ({:.2}x ours), axum-jwt-auth {:.0} ns ({:.2}x ours)",
        case.name,
        median(&mut ours_o.clone()),
        median(&mut ja_o.clone()),
        ratio(&ja_o),
        median(&mut aja_o.clone()),
        ratio(&aja_o),
    );
    (case.name, ja, aja, ours)
}

/// Criterion's own measurement of every configuration.
fn criterion_part(
    rt: &'static tokio::runtime::Runtime,
    [plain, tower_http, api_key]: [&'static axum::Router; 3],
    plain07: &'static axum07::Router,
    valid: &str,
    cases: &[common::jwt::Case],
    jwt_rows: Vec<Routers>,
) {
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("static");
    g.bench_function("no_auth", |b| {
        b.to_async(rt)
            .iter(|| plain.clone().oneshot(peers::request(valid)));
    });
    g.bench_function("no_auth_axum07", |b| {
        b.to_async(rt)
            .iter(|| plain07.clone().oneshot(peers::request07(valid)));
    });
    g.bench_function("tower_http_bearer", |b| {
        b.to_async(rt).iter(|| {
            tower_http
                .clone()
                .oneshot(peers::request(peers::STATIC_TOKEN))
        });
    });
    g.bench_function("ours_api_key", |b| {
        b.to_async(rt)
            .iter(|| api_key.clone().oneshot(common::request(valid)));
    });
    g.finish();
    for (case, (name, ja, aja, ours)) in cases.iter().zip(jwt_rows) {
        let token = case.token.as_str();
        let mut g = c.benchmark_group(name);
        g.bench_function("jwt_authorizer", |b| {
            b.to_async(rt)
                .iter(|| ja.clone().oneshot(peers::request07(token)));
        });
        g.bench_function("axum_jwt_auth", |b| {
            b.to_async(rt)
                .iter(|| aja.clone().oneshot(peers::request(token)));
        });
        g.bench_function("ours", |b| {
            b.to_async(rt)
                .iter(|| ours.clone().oneshot(peers::request(token)));
        });
        g.finish();
    }
    c.final_summary();
}
