//! Timing configurations interleaved, so that all of them see the same
//! machine: on a shared VM, drift between runs is larger than the costs
//! measured.

use std::time::Instant;

use tokio::runtime::Runtime;

pub const ROUNDS: usize = 41;

/// One configuration: a name and a function timing one batch of `n`
/// operations, returning nanoseconds per operation.
pub type Config<'a> = (&'static str, Box<dyn Fn(u32) -> f64 + 'a>);

pub fn timed(n: u32, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
}

pub fn timed_async<F: Future>(rt: &Runtime, n: u32, mut op: impl FnMut() -> F) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(op().await);
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
    })
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `configs` interleaved; returns each one's per-round times. The
/// first configuration is the baseline of the printed differences.
pub fn run(title: &str, batch: u32, configs: &[Config<'_>]) -> Vec<Vec<f64>> {
    for (_, f) in configs {
        f(batch); // warm up
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); configs.len()];
    for round in 0..ROUNDS {
        for i in 0..configs.len() {
            let i = (i + round) % configs.len();
            times[i].push((configs[i].1)(batch));
        }
    }
    println!("\n{title} ({ROUNDS} rounds of {batch})");
    println!(
        "{:<28} {:>12} {:>14}",
        "configuration", "median ns", "over first"
    );
    for ((name, _), t) in configs.iter().zip(&times) {
        let mut diffs: Vec<f64> = t.iter().zip(&times[0]).map(|(a, b)| a - b).collect();
        let over = median(&mut diffs);
        let mut t = t.clone();
        println!("{name:<28} {:>12.0} {over:>+14.0}", median(&mut t));
    }
    times
}
