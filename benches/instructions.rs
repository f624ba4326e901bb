//! Instructions per request, counted by callgrind: the one measure of
//! this machine that does not drift.
//!
//! `cargo bench --bench instructions [-- <filter>]`
//!
//! Needs valgrind (`apt-get install valgrind`). For each configuration of
//! `benches/common` (the API-key configurations of `benches/interleaved.rs`
//! and `benches/allocations.rs`), re-runs this binary under
//! `valgrind --tool=callgrind`, counting only the instructions executed
//! inside [`measured`]: `N` requests through the axum router, after a warm-up.
//! Prints instructions per request and how many more than without auth.
//!
//! Timings on a shared VM move by tens of percent from one hour to the next
//! (BENCHMARKS.md); instruction counts are the same on every run of the
//! same binary, so they show what a change to the code did. They are not
//! time: a cache miss or an allocation costs more than its instructions.
//! And valgrind hides SHA-NI from the program, so SHA-256 runs in software
//! under it: the second column leaves out the instructions spent in
//! SHA-256's compression function (read off `callgrind_annotate`), which
//! on the host is a few SHA-NI instructions (about 48 ns for the one block
//! of a key).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::process::Command;

use tokio::runtime::Runtime;

/// Requests counted per configuration.
const N: u32 = 20_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    if let Some(i) = args.iter().position(|a| a == "count") {
        count(args[i + 1].parse().unwrap());
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: apt-get install valgrind");
        std::process::exit(2);
    }
    let filter = args.iter().skip(1).find(|a| !a.starts_with("--"));
    // Only the names are needed here; the children build their own.
    let names = common::setup(1).configurations().map(|(name, ..)| name);
    println!(
        "{:<28} {:>12} {:>12} {:>14} {:>14}",
        "configuration", "instr/req", "over first", "without SHA", "over first"
    );
    let mut base = None;
    for (i, name) in names.iter().enumerate() {
        if i > 0 && filter.is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let (all, sha) = callgrind(i);
        let without_sha = all - sha;
        let (b_all, b_sha) = *base.get_or_insert((all, without_sha));
        println!(
            "{name:<28} {all:>12.0} {:>+12.0} {without_sha:>14.0} {:>+14.0}",
            all - b_all,
            without_sha - b_sha
        );
    }
}

/// Instructions per request of configuration `i`, in all and in
/// SHA-256's compression function.
fn callgrind(i: usize) -> (f64, f64) {
    let file = std::env::temp_dir().join(format!("m2m-instructions-{}-{i}", std::process::id()));
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--toggle-collect=*instructions::measured*",
        ])
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(std::env::current_exe().unwrap())
        .args(["count", &i.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "configuration {i}:\n{stderr}");
    let collected: f64 = stderr
        .lines()
        .find_map(|l| l.split_once("Collected :"))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count from callgrind:\n{stderr}"));
    // Inclusive costs per function; the compression function's largest
    // entry is the whole of it (inlined parts get entries of their own).
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let sha = String::from_utf8_lossy(&annotated.stdout)
        .lines()
        .filter(|l| {
            l.contains(":sha2::sha256::compress256 ") || l.ends_with(":sha2::sha256::compress256")
        })
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .replace(',', "")
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    (collected / f64::from(N), sha / f64::from(N))
}

/// Under callgrind: warms up configuration `i`, then sends it `N`
/// requests inside [`measured`].
fn count(i: usize) {
    // As in the other benches: 100 000 keys in the store.
    let s = common::setup(100_000);
    let (_, app, key, status) = s.configurations()[i];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    send(&rt, app, key, status, 100);
    measured(&rt, app, key, status);
}

/// The requests counted; its name is what callgrind toggles on.
#[inline(never)]
fn measured(rt: &Runtime, app: &common::App, key: &str, status: u16) {
    send(rt, app, key, status, N);
}

fn send(rt: &Runtime, app: &common::App, key: &str, status: u16, n: u32) {
    rt.block_on(async {
        for _ in 0..n {
            assert_eq!(app.call(key).await, status);
        }
    });
}
