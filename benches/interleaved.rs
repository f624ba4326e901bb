//! Per-request time of each configuration, measured interleaved.
//!
//! `cargo bench --bench interleaved`
//!
//! On a shared 2-core VM, run-to-run drift is larger than the costs being
//! measured, and criterion measures configurations one after another. Here
//! every round times a batch of requests of every configuration, in rotating
//! order, so all of them see the same machine; the overhead of a
//! configuration is the median over rounds of its difference to `no auth`
//! *in the same round*.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::time::Instant;

use common::App;

const ROUNDS: usize = 41;
const BATCH: u32 = 4000;

fn batch(rt: &tokio::runtime::Runtime, app: &App, key: &str) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(app.call(key).await);
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    let s = common::setup(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let configs: [(&str, &App, &str); 7] = [
        ("no auth", &s.plain, &s.valid),
        ("no-op layer", &s.noop_layer, &s.valid),
        ("AuthLayer, fixed identity", &s.fixed, &s.valid),
        ("api key, valid", &s.api_key, &s.valid),
        ("api key, valid, wrapped", &s.api_key_wrapped, &s.valid),
        ("api key, malformed", &s.api_key, &s.malformed),
        ("api key, unknown", &s.api_key, &s.unknown),
    ];
    for (_, app, key) in configs {
        batch(&rt, app, key); // warm up
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); configs.len()];
    for round in 0..ROUNDS {
        for i in 0..configs.len() {
            let i = (i + round) % configs.len();
            let (_, app, key) = configs[i];
            times[i].push(batch(&rt, app, key));
        }
    }
    let base = times[0].clone();
    println!(
        "{:<28} {:>12} {:>14}   ({ROUNDS} rounds of {BATCH} requests)",
        "configuration", "median ns", "over no auth"
    );
    for ((name, _, _), t) in configs.iter().zip(&times) {
        let mut diffs: Vec<f64> = t.iter().zip(&base).map(|(a, b)| a - b).collect();
        let over = median(&mut diffs);
        let mut t = t.clone();
        println!("{name:<28} {:>12.0} {over:>+14.0}", median(&mut t));
    }
}
