//! Soak: the quick-start server and a JWT configuration, each its own
//! process on 127.0.0.1, under a steady load of good, bad, expired and
//! revoked credentials for a bounded time, while keys are created, rolled
//! and revoked through the portal (`KeyManager`) and tokens are revoked
//! through the admin routes.
//!
//! `cargo bench --bench soak -- [--seconds 600] [--warmup 60] [--connections 16]`
//!
//! Every response is checked against the status its credential must get:
//! a credential moves from the good pool to the refused ones only after
//! the change that refuses it has returned, and leaves the good pool a
//! second before that change is made, so no request can race it. Prints,
//! every 10 s, requests per second and the servers' RSS; at the end, the
//! unexpected statuses (must be 0) and the RSS growth from the end of the
//! warm-up to the end (must be ≤ 10 %). Exits non-zero if either fails.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(clippy::too_many_lines, reason = "a scenario reads best in one piece")]
#![allow(clippy::cast_precision_loss, reason = "counts and KiB far below 2^52")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use jsonwebtoken::{EncodingKey, Header};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet, MemoryRevocations, Revocations};
use m2m_auth::{AuthLayer, Identity};
use serde_json::{Value, json};

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

const ISS: &str = "https://idp.soak";
const AUD: &str = "https://api.soak";
const HMAC: &[u8] = b"soak-hmac-secret-of-thirty-two-bytes!";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches`: nothing to check here.
    }
    if let Some(i) = args.iter().position(|a| a == "serve-quickstart") {
        serve_quickstart(&args[i + 1]);
        return;
    }
    if args.iter().any(|a| a == "serve-jwt") {
        serve_jwt();
        return;
    }
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let settings = Settings {
        seconds: flag("--seconds", 600),
        warmup: flag("--warmup", 60),
        connections: flag("--connections", 16),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(soak(&settings));
    std::process::exit(i32::from(!ok));
}

struct Settings {
    seconds: u64,
    warmup: u64,
    connections: u64,
}

// ---------------------------------------------------------------- servers

fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// The quick start as `cargo run --example quickstart` serves it, its keys
/// in the SQLite file `db`.
fn serve_quickstart(db: &str) {
    server_runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = quickstart::Config {
            port: 0,
            keys_db: db.to_owned(),
            jwt: None,
        };
        let (app, banner) = quickstart::app(&config, &base).await.unwrap();
        println!("LISTEN {base}");
        println!("{banner}");
        println!("END");
        axum::serve(listener, app).await.unwrap();
    });
}

/// A JWT API: a static HMAC key, a revocation list the soak writes to
/// through `POST /admin/revoke/{jti}`.
fn serve_jwt() {
    server_runtime().block_on(async {
        let revocations = MemoryRevocations::new();
        let auth = JwtAuthenticator::builder()
            .issuer(ISS)
            .audience(AUD)
            .algorithms([Algorithm::HS256])
            .keys(KeySet::new([Key::hmac(HMAC).unwrap().with_kid("soak")]).unwrap())
            .revocations(revocations.clone())
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/whoami",
                get(|id: Identity| async move { id.subject().to_owned() }),
            )
            .layer(AuthLayer::new(auth))
            .route(
                "/admin/revoke/{jti}",
                post(
                    |State(r): State<MemoryRevocations>, Path(jti): Path<String>| async move {
                        r.revoke_token(ISS, &jti, SystemTime::now() + Duration::from_hours(1))
                            .await
                            .unwrap();
                        "revoked"
                    },
                )
                .with_state(revocations),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("LISTEN http://{}", listener.local_addr().unwrap());
        println!("END");
        axum::serve(listener, app).await.unwrap();
    });
}

/// A server process of this binary; its first lines up to `END`.
struct Server {
    child: Child,
    lines: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        for line in out.lines() {
            let line = line.unwrap();
            if line == "END" {
                break;
            }
            lines.push(line);
        }
        Self { child, lines }
    }

    fn base(&self) -> String {
        self.line("LISTEN ")
    }

    fn line(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- pools

/// Credentials by what they must get.
#[derive(Default)]
struct Pools {
    /// API keys that must get 200.
    good_keys: Vec<String>,
    /// API keys revoked (directly or by a roll with no grace).
    revoked_keys: Vec<String>,
    /// API keys past their expiry.
    expired_keys: Vec<String>,
    /// Tokens of the quick start's token endpoint that must get 200.
    good_tokens: Vec<String>,
    /// Its tokens after their client's tokens were revoked.
    revoked_tokens: Vec<String>,
    /// JWTs (the JWT configuration) that must get 200, by `jti`.
    good_jwts: Vec<(String, String)>,
    /// JWTs whose `jti` was revoked.
    revoked_jwts: Vec<String>,
}

fn pick<T: Clone>(v: &[T], n: u64) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::try_from(n).unwrap() % v.len()].clone())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("soak".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn jwt_claims(jti: &str, exp: u64) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "soak-client", "exp": exp, "iat": now(), "jti": jti})
}

// ---------------------------------------------------------------- the run

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    unexpected: AtomicU64,
    /// Requests by class, for the report.
    by_class: Mutex<BTreeMap<&'static str, u64>>,
    /// The first unexpected answers, for the report.
    first_unexpected: Mutex<Vec<String>>,
}

struct World {
    qs: String,
    jwt: String,
    demo_key: String,
    admin_key: String,
    secret: String,
    pools: Mutex<Pools>,
    counts: Counts,
    stop: AtomicBool,
    http: reqwest::Client,
}

impl World {
    /// Sends one request; counts it and checks its status.
    async fn check(&self, class: &'static str, url: &str, header: Option<(&str, &str)>, want: u16) {
        let mut req = self.http.get(url);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let got = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let _ = res.bytes().await;
                status
            }
            Err(_) => 0,
        };
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .counts
            .by_class
            .lock()
            .unwrap()
            .entry(class)
            .or_default() += 1;
        if got != want {
            self.counts.unexpected.fetch_add(1, Ordering::Relaxed);
            let mut first = self.counts.first_unexpected.lock().unwrap();
            if first.len() < 20 {
                first.push(format!("{class}: got {got}, wanted {want}"));
            }
        }
    }

    /// One request of the mix, chosen by `n`.
    async fn one(&self, n: u64) {
        let qs = format!("{}/whoami", self.qs);
        let jwt_url = format!("{}/whoami", self.jwt);
        let (key, revoked, expired, token, revoked_token, good_jwt, revoked_jwt) = {
            let p = self.pools.lock().unwrap();
            (
                pick(&p.good_keys, n / 16),
                pick(&p.revoked_keys, n / 16),
                pick(&p.expired_keys, n / 16),
                pick(&p.good_tokens, n / 16),
                pick(&p.revoked_tokens, n / 16),
                pick(&p.good_jwts, n / 16),
                pick(&p.revoked_jwts, n / 16),
            )
        };
        let bearer = |t: &str| format!("Bearer {t}");
        match n % 16 {
            0..=3 => {
                if let Some(k) = key {
                    self.check("api key, good", &qs, Some(("api-key", &k)), 200)
                        .await;
                }
            }
            4 => {
                let mut k = self.demo_key.clone();
                let c = if &k[8..9] == "x" { "y" } else { "x" };
                k.replace_range(8..9, c);
                self.check("api key, malformed", &qs, Some(("api-key", &k)), 401)
                    .await;
            }
            5 => {
                if let Some(k) = revoked {
                    self.check(
                        "api key, revoked",
                        &qs,
                        Some(("authorization", &bearer(&k))),
                        401,
                    )
                    .await;
                }
            }
            6 => {
                if let Some(k) = expired {
                    self.check("api key, expired", &qs, Some(("x-api-key", &k)), 401)
                        .await;
                }
            }
            7 => self.check("no credential", &qs, None, 401).await,
            8 | 9 => {
                if let Some(t) = token {
                    self.check(
                        "token, good",
                        &qs,
                        Some(("authorization", &bearer(&t))),
                        200,
                    )
                    .await;
                }
            }
            10 => {
                if let Some(t) = revoked_token {
                    self.check(
                        "token, revoked",
                        &qs,
                        Some(("authorization", &bearer(&t))),
                        401,
                    )
                    .await;
                }
            }
            11 | 12 => {
                if let Some((_, t)) = good_jwt {
                    self.check(
                        "jwt, good",
                        &jwt_url,
                        Some(("authorization", &bearer(&t))),
                        200,
                    )
                    .await;
                }
            }
            13 => {
                let t = jwt(&jwt_claims(&format!("exp-{n}"), now() - 3600), HMAC);
                self.check(
                    "jwt, expired",
                    &jwt_url,
                    Some(("authorization", &bearer(&t))),
                    401,
                )
                .await;
            }
            14 => {
                let t = jwt(
                    &jwt_claims(&format!("forged-{n}"), now() + 600),
                    b"not-the-soak-secret-but-32-bytes-long",
                );
                self.check(
                    "jwt, bad signature",
                    &jwt_url,
                    Some(("authorization", &bearer(&t))),
                    401,
                )
                .await;
            }
            _ => {
                if let Some(t) = revoked_jwt {
                    self.check(
                        "jwt, revoked",
                        &jwt_url,
                        Some(("authorization", &bearer(&t))),
                        401,
                    )
                    .await;
                }
            }
        }
    }

    async fn portal(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/portal/api{path}", self.qs))
            .header("api-key", &self.demo_key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "portal {path}: {status} {body}");
        body
    }

    async fn token(&self) -> String {
        let res = self
            .http
            .post(format!("{}/oauth/token", self.qs))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id=demo-service&client_secret={}&audience={}",
                self.secret, self.qs
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Keys created, rolled, revoked and left to expire; tokens fetched and
    /// revoked; JWT ids revoked. One change every ~2 s.
    async fn manage(&self) {
        let settle = || tokio::time::sleep(Duration::from_secs(1));
        let mut step = 0u64;
        let mut owned: Vec<(String, String)> = Vec::new(); // (id, key) made here
        while !self.stop.load(Ordering::Relaxed) {
            step += 1;
            match step % 6 {
                // Create a key; it is good as soon as it is returned.
                0 | 1 => {
                    let made = self
                        .portal(
                            reqwest::Method::POST,
                            "/keys",
                            Some(
                                json!({"name": format!("soak {step}"), "scopes": ["reports:read"]}),
                            ),
                        )
                        .await;
                    let key = made["key"].as_str().unwrap().to_owned();
                    let id = made["record"]["id"].as_str().unwrap().to_owned();
                    self.pools.lock().unwrap().good_keys.push(key.clone());
                    owned.push((id, key));
                }
                // Roll the oldest key with no grace: the old one is revoked.
                2 if owned.len() > 2 => {
                    let (id, old) = owned.remove(0);
                    self.pools.lock().unwrap().good_keys.retain(|k| *k != old);
                    settle().await;
                    let rolled = self
                        .portal(
                            reqwest::Method::POST,
                            &format!("/keys/{id}/roll"),
                            Some(json!({"grace_seconds": 0})),
                        )
                        .await;
                    let key = rolled["key"].as_str().unwrap().to_owned();
                    let new_id = rolled["record"]["id"].as_str().unwrap().to_owned();
                    let mut p = self.pools.lock().unwrap();
                    p.revoked_keys.push(old);
                    p.good_keys.push(key.clone());
                    owned.push((new_id, key));
                }
                // Revoke the oldest key.
                3 if owned.len() > 2 => {
                    let (id, old) = owned.remove(0);
                    self.pools.lock().unwrap().good_keys.retain(|k| *k != old);
                    settle().await;
                    self.portal(reqwest::Method::POST, &format!("/keys/{id}/revoke"), None)
                        .await;
                    self.pools.lock().unwrap().revoked_keys.push(old);
                }
                // A key that expires in 2 s: refused once it has.
                4 => {
                    let made = self
                        .portal(
                            reqwest::Method::POST,
                            "/keys",
                            Some(json!({"name": "short-lived", "expires_at": now() + 2})),
                        )
                        .await;
                    let key = made["key"].as_str().unwrap().to_owned();
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    self.pools.lock().unwrap().expired_keys.push(key);
                }
                // Tokens: fetch two; every 4th time revoke the client's
                // tokens first. JWT ids: mint one, revoke the oldest.
                _ => {
                    if step % 24 == 5 {
                        let gone: Vec<String> =
                            std::mem::take(&mut self.pools.lock().unwrap().good_tokens);
                        settle().await;
                        let res = self
                            .http
                            .post(format!(
                                "{}/admin/clients/demo-service/revoke-tokens",
                                self.qs
                            ))
                            .header("api-key", &self.admin_key)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), 200);
                        self.pools.lock().unwrap().revoked_tokens.extend(gone);
                        // `iat` has whole seconds: a token of the same second
                        // as the revocation counts as revoked.
                        tokio::time::sleep(Duration::from_millis(1100)).await;
                    }
                    for _ in 0..2 {
                        let t = self.token().await;
                        self.pools.lock().unwrap().good_tokens.push(t);
                    }
                    let jti = format!("soak-{step}");
                    let t = jwt(&jwt_claims(&jti, now() + 3600), HMAC);
                    let oldest = {
                        let mut p = self.pools.lock().unwrap();
                        p.good_jwts.push((jti, t));
                        (p.good_jwts.len() > 4).then(|| p.good_jwts.remove(0))
                    };
                    if let Some((jti, t)) = oldest {
                        settle().await;
                        let res = self
                            .http
                            .post(format!("{}/admin/revoke/{jti}", self.jwt))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), 200);
                        self.pools.lock().unwrap().revoked_jwts.push(t);
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

async fn soak(s: &Settings) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("soak-keys.db");
    let qs = Server::start(&["serve-quickstart", db.to_str().unwrap()]);
    let jwt_server = Server::start(&["serve-jwt"]);
    let world = Arc::new(World {
        qs: qs.base(),
        jwt: jwt_server.base(),
        demo_key: qs.line("API key:"),
        admin_key: qs.line("Admin key:"),
        secret: qs.line("Client secret:"),
        pools: Mutex::new(Pools::default()),
        counts: Counts::default(),
        stop: AtomicBool::new(false),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    });
    world
        .pools
        .lock()
        .unwrap()
        .good_keys
        .push(world.demo_key.clone());
    println!(
        "soak: {} s ({} s warm-up), {} connections; quick start {} , JWT {}",
        s.seconds, s.warmup, s.connections, world.qs, world.jwt
    );

    let manager = tokio::spawn({
        let w = Arc::clone(&world);
        async move { w.manage().await }
    });
    let mut load = Vec::new();
    for c in 0..s.connections {
        let w = Arc::clone(&world);
        load.push(tokio::spawn(async move {
            let mut n = c * 7919;
            while !w.stop.load(Ordering::Relaxed) {
                w.one(n).await;
                n += 1;
            }
        }));
    }

    let start = Instant::now();
    let (mut last, mut last_t) = (0, start);
    let mut warm: Option<(u64, u64)> = None;
    let rss = |s: &Server| s.rss_kib();
    let rss_start = (rss(&qs), rss(&jwt_server));
    println!(
        "{:>6} {:>10} {:>12} {:>14} {:>12}",
        "t (s)", "req/s", "unexpected", "RSS qs (KiB)", "RSS jwt (KiB)"
    );
    let mut rates = Vec::new();
    while start.elapsed() < Duration::from_secs(s.seconds) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let total = world.counts.requests.load(Ordering::Relaxed);
        let t = Instant::now();
        let rate = (total - last) as f64 / (t - last_t).as_secs_f64();
        (last, last_t) = (total, t);
        let (a, b) = (rss(&qs), rss(&jwt_server));
        if warm.is_none() && start.elapsed() >= Duration::from_secs(s.warmup) {
            warm = Some((a, b));
        }
        rates.push(rate);
        println!(
            "{:>6} {:>10.0} {:>12} {:>14} {:>12}",
            start.elapsed().as_secs(),
            rate,
            world.counts.unexpected.load(Ordering::Relaxed),
            a,
            b
        );
    }
    world.stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    manager.await.unwrap();
    let end = (rss(&qs), rss(&jwt_server));
    let warm = warm.unwrap_or(end);
    let growth = |w: u64, e: u64| (e as f64 / w as f64 - 1.0) * 100.0;
    let (gq, gj) = (growth(warm.0, end.0), growth(warm.1, end.1));
    let total = world.counts.requests.load(Ordering::Relaxed);
    let unexpected = world.counts.unexpected.load(Ordering::Relaxed);
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    println!("\nrequests: {total}, unexpected statuses: {unexpected}");
    for (class, n) in world.counts.by_class.lock().unwrap().iter() {
        println!("  {class:<20} {n}");
    }
    for u in world.counts.first_unexpected.lock().unwrap().iter() {
        println!("  unexpected: {u}");
    }
    {
        let p = world.pools.lock().unwrap();
        println!(
            "pools at the end: {} good keys, {} revoked, {} expired; {} good tokens, {} revoked; {} good JWTs, {} revoked",
            p.good_keys.len(),
            p.revoked_keys.len(),
            p.expired_keys.len(),
            p.good_tokens.len(),
            p.revoked_tokens.len(),
            p.good_jwts.len(),
            p.revoked_jwts.len()
        );
    }
    println!(
        "req/s per 10 s: min {:.0}, median {:.0}, max {:.0}",
        sorted.first().copied().unwrap_or(0.0),
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0)
    );
    println!(
        "RSS quick start: start {} KiB, after warm-up {} KiB, end {} KiB ({gq:+.1} %)",
        rss_start.0, warm.0, end.0
    );
    println!(
        "RSS JWT server:  start {} KiB, after warm-up {} KiB, end {} KiB ({gj:+.1} %)",
        rss_start.1, warm.1, end.1
    );
    let ok = unexpected == 0 && gq <= 10.0 && gj <= 10.0 && total > 0;
    println!("{}", if ok { "soak: PASS" } else { "soak: FAIL" });
    ok
}
