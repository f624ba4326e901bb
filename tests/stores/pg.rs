//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary
//! directory and `postgres` on a free loopback port, stopped and removed
//! when dropped.
//!
//! Tests that need PostgreSQL call [`database`] (which prefers
//! `DATABASE_URL`) or [`Cluster::start`]. Without a server they print a
//! notice and skip, unless `CI` is set: then they fail, so that CI never
//! passes by skipping.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A running cluster of our own.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root: the server refuses to run as
    /// root, so it runs as this user.
    user: Option<String>,
}

/// Says why PostgreSQL is not available: a skip by hand, a failure in CI.
/// Returns `None` when the test should skip.
pub(crate) fn unavailable<T>(test: &str, why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: PostgreSQL is required when CI is set, but {why}"
    );
    eprintln!("skipping {test}: {why} (install the PostgreSQL server or set DATABASE_URL)");
    None
}

/// A database URL: `DATABASE_URL` if set, else a cluster of our own (kept
/// alive by the returned guard).
pub(crate) fn database(test: &str) -> Option<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Some((url, None));
    }
    let cluster = Cluster::start(test)?;
    Some((cluster.url(), Some(cluster)))
}

impl Cluster {
    /// Starts a fresh cluster, or says why it cannot (see [`unavailable`]).
    pub(crate) fn start(test: &str) -> Option<Self> {
        let Some(bin) = find_bin() else {
            return unavailable(test, "no initdb found in PATH or /usr/lib/postgresql/*/bin");
        };
        let user = is_root().then(|| "postgres".to_owned());
        let dir = tempfile::Builder::new()
            .prefix("m2m-auth-pg-")
            .tempdir()
            .expect("a temporary directory");
        if let Some(user) = &user {
            let Some((uid, gid)) = ids(user) else {
                return unavailable(test, "running as root and there is no `postgres` user");
            };
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let cluster = Self {
            dir,
            bin,
            port: free_port(),
            user,
        };
        let data = cluster.data();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", text(&out));
        cluster.resume();
        Some(cluster)
    }

    /// The loopback port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub(crate) fn stop(&self) {
        let data = self.data();
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
        assert!(out.status.success(), "pg_ctl stop failed: {}", text(&out));
    }

    /// Starts the server (again), on the same port.
    pub(crate) fn resume(&self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().expect("utf-8 path"),
                "-l",
                log.to_str().expect("utf-8 path"),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            text(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or(""),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

fn find_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|b| {
        b.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Passes bytes between a client and `upstream` until `frozen` is set, then
/// holds them: a network partition, where the connection stays open and
/// nothing arrives.
pub(crate) async fn partitionable_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let frozen = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let f = Arc::clone(&frozen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pipe(cr, sw, Arc::clone(&f)));
            tokio::spawn(pipe(sr, cw, Arc::clone(&f)));
        }
    });
    (addr, frozen)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `e` and its sources, joined by `: `.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain = format!("{chain}: {s}");
        source = s.source();
    }
    chain
}
