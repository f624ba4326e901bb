//! Per-request time of each configuration, measured interleaved.
//!
//! `cargo bench --bench interleaved [--features jwt,metrics]`
//!
//! On a shared 2-core VM, run-to-run drift is larger than the costs being
//! measured, and criterion measures configurations one after another. Here
//! every round times a batch of every configuration of a group, in
//! rotating order, so all of them see the same machine; a configuration's
//! overhead is the median over rounds of its difference to the group's
//! baseline *in the same round*. With `jwt`, the JWT groups also report the
//! overhead as `BENCHMARKS.md` defines it: (layer − no auth) ÷ raw − 1,
//! computed per round, median over rounds.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use common::interleave::{Config, run, timed_async};
use tokio::runtime::Runtime;

/// One configuration of `s` for each of its API-key configurations, timed
/// by `on`.
fn each<'a>(
    s: &'static common::Setup,
    on: impl Fn(&'static common::App, String) -> Box<dyn Fn(u32) -> f64 + 'a>,
) -> Vec<Config<'a>> {
    s.configurations()
        .into_iter()
        .map(|(name, app, key, _)| (name, on(app, key.to_owned())))
        .collect()
}

fn api_key(rt: &Runtime, s: &'static common::Setup) {
    let configs = each(s, |app, key| {
        Box::new(move |n| timed_async(rt, n, || app.call(&key)))
    });
    run(
        "API keys, per request through an axum router",
        4000,
        &configs,
    );
}

/// The same configurations with cold caches: before each request, a walk
/// over 4 MiB (one write per cache line) evicts what the last request left
/// in the caches, as a server's own work between two requests does. Only
/// the request is timed.
fn cold(rt: &Runtime, s: &'static common::Setup) {
    let evict: &'static std::cell::RefCell<Vec<u8>> =
        Box::leak(Box::new(std::cell::RefCell::new(vec![1u8; 4 << 20])));
    let configs = each(s, |app, key| {
        Box::new(move |n| {
            rt.block_on(async {
                let mut spent = std::time::Duration::ZERO;
                for _ in 0..n {
                    for line in evict.borrow_mut().iter_mut().step_by(64) {
                        *line = line.wrapping_add(1);
                    }
                    let start = std::time::Instant::now();
                    std::hint::black_box(app.call(&key).await);
                    spent += start.elapsed();
                }
                spent.as_secs_f64() * 1e9 / f64::from(n)
            })
        })
    });
    run(
        "API keys with cold caches (4 MiB evicted before each request)",
        300,
        &configs,
    );
}

/// With the `metrics` feature: the same requests with and without a
/// Prometheus recorder installed (on this thread only, so both run in one
/// process, interleaved). Without a recorder the facade's no-op one takes
/// the calls.
#[cfg(feature = "metrics")]
fn metrics(rt: &Runtime) {
    let s: &'static common::Setup = Box::leak(Box::new(common::setup(100_000)));
    let recorder: &'static _ = Box::leak(Box::new(
        metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
    ));
    let without = |app: &'static common::App, key: String| -> Box<dyn Fn(u32) -> f64> {
        Box::new(move |n| timed_async(rt, n, || app.call(&key)))
    };
    let with_prometheus = |app: &'static common::App, key: String| -> Box<dyn Fn(u32) -> f64> {
        Box::new(move |n| {
            metrics::with_local_recorder(recorder, || timed_async(rt, n, || app.call(&key)))
        })
    };
    let configs: Vec<Config<'_>> = vec![
        ("no auth", without(&s.plain, s.valid.clone())),
        ("api key, valid", without(&s.api_key, s.valid.clone())),
        (
            "api key, valid, Prometheus",
            with_prometheus(&s.api_key, s.valid.clone()),
        ),
        ("api key, unknown", without(&s.api_key, s.unknown.clone())),
        (
            "api key, unknown, Prometheus",
            with_prometheus(&s.api_key, s.unknown.clone()),
        ),
    ];
    run(
        "metrics feature: API keys with and without a recorder",
        4000,
        &configs,
    );
    // The recorder saw every request: nobody measures a recorder that
    // records nothing.
    let rendered = recorder.handle().render();
    assert!(
        rendered
            .lines()
            .any(|l| l
                .starts_with("m2m_auth_requests_total{outcome=\"accepted\",method=\"api_key\"")),
        "{rendered}"
    );
}

#[cfg(feature = "jwt")]
fn jwt(rt: &Runtime) {
    use common::interleave::{ROUNDS, median, timed};
    use tower::ServiceExt;
    for case in common::jwt::cases() {
        let token = case.token.as_str();
        let batch = if case.name.starts_with("HS") {
            4000
        } else {
            300
        };
        let configs: Vec<Config<'_>> = vec![
            (
                "no auth",
                Box::new(|n| {
                    timed_async(rt, n, || {
                        case.plain.clone().oneshot(common::jwt::request(token))
                    })
                }),
            ),
            (
                "raw jsonwebtoken::decode",
                Box::new(|n| {
                    timed(n, || {
                        std::hint::black_box(case.raw(std::hint::black_box(token)));
                    })
                }),
            ),
            (
                "JwtAuthenticator::verify",
                Box::new(|n| {
                    timed(n, || {
                        std::hint::black_box(
                            case.ours.verify(std::hint::black_box(token)).unwrap(),
                        );
                    })
                }),
            ),
            (
                "layer (Router::layer)",
                Box::new(|n| {
                    timed_async(rt, n, || {
                        case.layered.clone().oneshot(common::jwt::request(token))
                    })
                }),
            ),
            (
                "layer wrapped around router",
                Box::new(|n| {
                    timed_async(rt, n, || {
                        case.wrapped.clone().oneshot(common::jwt::request(token))
                    })
                }),
            ),
        ];
        let t = run(&format!("JWT {}", case.name), batch, &configs);
        let overhead = |layer: &[f64]| {
            let mut v: Vec<f64> = (0..ROUNDS)
                .map(|r| (layer[r] - t[0][r]) / t[1][r] - 1.0)
                .collect();
            median(&mut v) * 100.0
        };
        println!(
            "overhead (layer - no auth) / raw - 1: Router::layer {:+.1} %, wrapped {:+.1} %",
            overhead(&t[3]),
            overhead(&t[4])
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |group: &str| filter.as_ref().is_none_or(|f| group.contains(f.as_str()));
    // Both API-key groups measure one store of 100 000 keys, built once.
    if wants("api_key") || wants("cold") {
        let s: &'static common::Setup = Box::leak(Box::new(common::setup(100_000)));
        if wants("api_key") {
            api_key(&rt, s);
        }
        if wants("cold") {
            cold(&rt, s);
        }
    }
    #[cfg(feature = "metrics")]
    if wants("metrics") {
        metrics(&rt);
    }
    #[cfg(feature = "jwt")]
    if wants("jwt") {
        jwt(&rt);
    }
}
