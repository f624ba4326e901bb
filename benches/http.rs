//! Over HTTP: every configuration served on 127.0.0.1 and loaded with
//! `wrk`, configurations alternated (A B C … A B C …) over several rounds,
//! so that each sees the machine as the others do.
//!
//! `cargo bench --bench http --features jwt [-- --rounds 5 --seconds 5 --only a,b]`
//!
//! Needs `wrk` (`apt-get install wrk`). On a 2-core machine the server is
//! pinned to core 0 (one tokio worker) and `wrk` to core 1 (one thread, 32
//! connections). One server process serves every configuration, each on a
//! port of its own: this VM runs some processes 1.5× slower than others,
//! and a process per configuration compared those speeds more than the
//! configurations. Before each load, the configuration must accept its
//! credential (200) and refuse a bad one (401), so that no open door is
//! measured. Prints, per configuration, the median over rounds of req/s,
//! server CPU per request, p50 and p99 latency, with ratios to no auth; and
//! the peak RSS of a server of its own, loaded for a second after the
//! rounds.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::interleave::median;

/// What a server process serves, in the order of each round: what is
/// compared stands side by side (drift between neighbours is smallest).
/// `extension` is no auth layer but a reference: axum's own `Extension`
/// layer handing the handler a fixed identity, what axum charges any layer
/// that gives the handler a value.
const CONFIGS: [&str; 10] = [
    "no-auth",
    "api-key",
    "api-key-axum-body",
    "api-key-wrapped",
    "extension",
    "no-auth-axum07",
    "jwt-authorizer-hs256",
    "ours-hs256",
    "jwt-authorizer-rs256",
    "ours-rs256",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    if let Some(i) = args.iter().position(|a| a == "serve") {
        serve(&args[i + 1]);
        return;
    }
    let flag = |name: &str, default: u32| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let (rounds, seconds) = (flag("--rounds", 5), flag("--seconds", 5));
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(2);
    }
    // `--only a,b`: run these configurations alone (the others report 0).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_owned).collect());
    let selected: Vec<&str> = CONFIGS
        .iter()
        .copied()
        .filter(|c| only.as_ref().is_none_or(|o| o.iter().any(|x| x == c)))
        .collect();
    // One server process serves every configuration, each on its own port:
    // this VM runs some processes 1.5x slower than others, so servers of
    // their own would compare machines, not configurations.
    let mut server = Server::start(&selected);
    let mut results: Vec<Vec<Sample>> = vec![Vec::new(); CONFIGS.len()];
    for round in 0..rounds {
        for (i, config) in CONFIGS.iter().enumerate() {
            if !selected.contains(config) {
                results[i].push(Sample::default());
                continue;
            }
            let sample = server.load(config, seconds);
            println!(
                "round {} {config:<22} {:>9.0} req/s  {:>5.2} µs CPU/req  p50 {:>6} µs  p99 {:>6} µs",
                round + 1,
                sample.rps,
                sample.cpu_us,
                sample.p50_us,
                sample.p99_us,
            );
            results[i].push(sample);
        }
    }
    server.stop();
    // Memory is per process: each configuration once more in a server of
    // its own, loaded for a second.
    for (i, config) in CONFIGS.iter().enumerate() {
        if selected.contains(config) {
            let mut alone = Server::start(&[config]);
            alone.load(config, 1);
            let rss_kib = alone.peak_rss_kib();
            alone.stop();
            for sample in &mut results[i] {
                sample.rss_kib = rss_kib;
            }
        }
    }
    report(&results);
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rps: f64,
    /// Server CPU time (user + system) per request, in microseconds.
    cpu_us: f64,
    p50_us: u64,
    p99_us: u64,
    rss_kib: u64,
}

fn report(results: &[Vec<Sample>]) {
    let med = |i: usize, f: &dyn Fn(&Sample) -> f64| {
        let mut v: Vec<f64> = results[i].iter().map(f).collect();
        median(&mut v)
    };
    #[expect(clippy::cast_precision_loss, reason = "microseconds and KiB, printed")]
    let rows: Vec<(f64, f64, f64, f64, f64)> = (0..CONFIGS.len())
        .map(|i| {
            (
                med(i, &|s| s.rps),
                med(i, &|s| s.cpu_us),
                med(i, &|s| s.p50_us as f64),
                med(i, &|s| s.p99_us as f64),
                med(i, &|s| s.rss_kib as f64),
            )
        })
        .collect();
    println!(
        "\n{:<22} {:>10} {:>12} {:>9} {:>9} {:>10} {:>12}",
        "configuration", "req/s", "CPU µs/req", "p50 µs", "p99 µs", "RSS KiB", "vs no auth"
    );
    // Configurations left out by `--only` have empty samples (0 req/s).
    let ran = |c: &str| {
        let i = CONFIGS.iter().position(|x| *x == c).unwrap();
        results[i].iter().all(|s| s.rps > 0.0)
    };
    for (i, config) in CONFIGS.iter().enumerate() {
        if !ran(config) {
            continue;
        }
        // jwt-authorizer runs on axum 0.7: compare it with axum 0.7.
        let base = if config.starts_with("jwt-authorizer") {
            CONFIGS
                .iter()
                .position(|c| *c == "no-auth-axum07")
                .unwrap_or(0)
        } else {
            0
        };
        let (rps, cpu, p50, p99, rss) = rows[i];
        println!(
            "{config:<22} {rps:>10.0} {cpu:>12.2} {p50:>9.0} {p99:>9.0} {rss:>10.0} {:>11.1} %",
            100.0 * rps / rows[base].0
        );
    }
    let pair = |a: &str, b: &str, f: &dyn Fn(&Sample, &Sample) -> f64| {
        let ia = CONFIGS.iter().position(|c| *c == a).unwrap();
        let ib = CONFIGS.iter().position(|c| *c == b).unwrap();
        let mut v: Vec<f64> = results[ia]
            .iter()
            .zip(&results[ib])
            .map(|(x, y)| f(x, y))
            .collect();
        median(&mut v)
    };
    let rps = |x: &Sample, y: &Sample| x.rps / y.rps;
    // Fewer CPU µs per request is more requests per core.
    let cpu = |x: &Sample, y: &Sample| y.cpu_us / x.cpu_us;
    println!();
    for (name, config) in [
        ("api key", "api-key"),
        ("api key, axum body", "api-key-axum-body"),
        ("api key, wrapped", "api-key-wrapped"),
        ("axum Extension layer", "extension"),
    ] {
        if ran(config) && ran("no-auth") {
            println!(
                "{name} / no auth, per round: req/s {:.3}; requests per CPU second {:.3}",
                pair(config, "no-auth", &rps),
                pair(config, "no-auth", &cpu)
            );
        }
    }
    let jwt = [
        "ours-hs256",
        "jwt-authorizer-hs256",
        "ours-rs256",
        "jwt-authorizer-rs256",
    ];
    if jwt.iter().all(|c| ran(c)) {
        println!(
            "ours / jwt-authorizer, per round: req/s HS256 {:.2}x, RS256 {:.2}x; requests per CPU second HS256 {:.2}x, RS256 {:.2}x",
            pair("ours-hs256", "jwt-authorizer-hs256", &rps),
            pair("ours-rs256", "jwt-authorizer-rs256", &rps),
            pair("ours-hs256", "jwt-authorizer-hs256", &cpu),
            pair("ours-rs256", "jwt-authorizer-rs256", &cpu)
        );
    }
}

/// A server process of this binary (`serve a,b,…`), pinned to core 0, and
/// where each of its configurations listens.
struct Server {
    child: Child,
    /// Configuration, port, a good credential, a bad one.
    configs: Vec<(String, String, String, String)>,
}

impl Server {
    fn start(configs: &[&str]) -> Self {
        let mut child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe().unwrap())
            .args(["serve", &configs.join(",")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // One line per configuration: name, port, good and bad credential.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let configs = configs
            .iter()
            .map(|_| {
                let mut line = String::new();
                out.read_line(&mut line).unwrap();
                let w: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
                assert_eq!(w.len(), 4, "server said {line:?}");
                (w[0].clone(), w[1].clone(), w[2].clone(), w[3].clone())
            })
            .collect();
        Self { child, configs }
    }

    /// Checks `config`, then loads it with `wrk` for `seconds`.
    fn load(&self, config: &str, seconds: u32) -> Sample {
        let (_, port, good, bad) = self.configs.iter().find(|c| c.0 == config).unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        let header = |credential: &str| {
            if config.starts_with("api-key") {
                format!("API-Key: {credential}")
            } else {
                format!("Authorization: Bearer {credential}")
            }
        };
        let status = |credential: &str| {
            let out = Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
                .arg(header(credential))
                .arg(&url)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(status(good), "200", "{config} accepts its credential");
        if !config.starts_with("no-auth") && config != "extension" {
            assert_eq!(status(bad), "401", "{config} refuses a bad credential");
        }
        // The other configurations are idle meanwhile: the CPU the process
        // uses is this one's.
        let cpu_before = cpu_ticks(&self.child);
        let out = Command::new("taskset")
            .args(["-c", "1", "wrk", "-t1", "-c32", "--latency"])
            .arg(format!("-d{seconds}s"))
            .arg("-H")
            .arg(header(good))
            .arg(&url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let cpu_ticks_used = cpu_ticks(&self.child) - cpu_before;
        assert!(
            !text.contains("Non-2xx"),
            "{config}: wrk saw failed requests:\n{text}"
        );
        let mut sample = parse_wrk(&text);
        let requests: f64 = text
            .lines()
            .find_map(|l| l.trim().split_once(" requests in "))
            .and_then(|(n, _)| n.trim().parse().ok())
            .unwrap_or(f64::NAN);
        // Clock ticks are 1/100 s on Linux.
        sample.cpu_us = cpu_ticks_used * 10_000.0 / requests;
        sample
    }

    fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's user + system CPU time so far, in clock ticks.
fn cpu_ticks(server: &Child) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.id())).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line.
    tick(11) + tick(12)
}

/// req/s and the 50 % and 99 % latencies of `wrk --latency` output.
fn parse_wrk(text: &str) -> Sample {
    let micros = |v: &str| -> u64 {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse().unwrap_or(0.0);
        let us = match unit {
            "ms" => n * 1_000.0,
            "s" => n * 1_000_000.0,
            _ => n, // "us"
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a latency"
        )]
        let us = us.round() as u64;
        us
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    Sample {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        cpu_us: 0.0,
        p50_us: micros(&field("50%")),
        p99_us: micros(&field("99%")),
        rss_kib: 0,
    }
}

/// Serves each configuration of the comma-separated `list` on a free port
/// of its own, all on one tokio worker; prints `config port
/// good-credential bad-credential` for each, then serves until killed.
fn serve(list: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let configs: Vec<&str> = list.split(',').collect();
        let with_keys = configs.iter().any(|c| c.starts_with("api-key"));
        let s = common::setup(if with_keys { keys() } else { 1 });
        let cases = common::jwt::cases();
        let case = |config: &str| {
            cases
                .iter()
                .find(|c| config.ends_with(&c.name.to_lowercase()))
                .unwrap()
        };
        let mut servers = Vec::new();
        for config in configs {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let router = |app: &common::App| match app {
                common::App::Router(r) => r.clone(),
                common::App::Wrapped(_) => unreachable!("a router"),
            };
            let (good, bad) = match config {
                "no-auth" | "extension" | "api-key" | "api-key-axum-body" => {
                    let app = match config {
                        "no-auth" => router(&s.plain),
                        "extension" => router(&s.extension_layer),
                        "api-key-axum-body" => router(&s.api_key_axum_body),
                        _ => router(&s.api_key),
                    };
                    servers.push(tokio::spawn(async move {
                        axum::serve(listener, app).await.unwrap();
                    }));
                    (s.valid.clone(), s.unknown.clone())
                }
                "api-key-wrapped" => {
                    // The layer around the whole router, as
                    // `ServiceBuilder::new().layer(auth).service(router)`
                    // does; axum's server wants its own response type.
                    use axum::response::IntoResponse;
                    use tower::ServiceExt;
                    let common::App::Wrapped(service) = s.api_key_wrapped.clone() else {
                        unreachable!("api_key_wrapped is wrapped")
                    };
                    let service = ServiceExt::<axum::extract::Request>::map_response(
                        service,
                        IntoResponse::into_response,
                    );
                    servers.push(tokio::spawn(async move {
                        axum::serve(listener, tower::make::Shared::new(service))
                            .await
                            .unwrap();
                    }));
                    (s.valid.clone(), s.unknown.clone())
                }
                "ours-hs256" | "ours-rs256" => {
                    let case = case(config);
                    let app = case.layered.clone();
                    servers.push(tokio::spawn(async move {
                        axum::serve(listener, app).await.unwrap();
                    }));
                    (case.token.clone(), tampered(&case.token))
                }
                "no-auth-axum07" => {
                    servers.push(tokio::spawn(async move {
                        axum07::serve(listener, common::peers::axum07_plain())
                            .await
                            .unwrap();
                    }));
                    ("none".to_owned(), "none".to_owned())
                }
                _ => {
                    let case = case(config);
                    let app = common::peers::jwt_authorizer(case).await;
                    servers.push(tokio::spawn(async move {
                        axum07::serve(listener, app).await.unwrap();
                    }));
                    (case.token.clone(), tampered(&case.token))
                }
            };
            println!("{config} {port} {good} {bad}");
        }
        for server in servers {
            server.await.unwrap();
        }
    });
}

/// Keys in the API-key servers' stores: `KEYS`, 100 000 by default.
fn keys() -> usize {
    std::env::var("KEYS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(100_000)
}

/// `token` with one character of its signature changed.
fn tampered(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 8;
    let mut t = token.to_owned();
    let c = if &token[at..=at] == "A" { "B" } else { "A" };
    t.replace_range(at..=at, c);
    t
}
