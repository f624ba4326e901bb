//! The portal page of the quick start in headless Chromium (Debian's
//! `chromium`, driven by `playwright-core` from `tests/browser/`): sign in
//! with the demo key, create, use, roll and revoke a key, and a name that
//! is HTML shown as text. Leaves a screenshot at
//! `target/tmp/portal.png`.
//!
//! Without Chromium, Node.js or `npm ci --prefix tests/browser` it prints a
//! notice and skips, unless `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

fn unavailable(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "the browser test is required when CI is set, but {why}"
    );
    eprintln!(
        "skipping the portal browser test: {why} (install chromium and Node.js, run `npm ci --prefix tests/browser`)"
    );
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    path.is_file().then_some(path)
}

#[tokio::test]
async fn the_portal_page_in_a_real_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let Some(chromium) = chromium() else {
        return unavailable("Chromium is not installed");
    };
    if Command::new("node").arg("--version").output().is_err() {
        return unavailable("`node` is not installed");
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return unavailable("tests/browser has no node_modules");
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = quickstart::Config {
        port: 0,
        keys_db: ":memory:".to_owned(),
        jwt: None,
    };
    let (app, banner) = quickstart::app(&config, &base).await.unwrap();
    let demo_key = banner
        .lines()
        .find_map(|l| l.strip_prefix("API key: "))
        .unwrap()
        .to_owned();
    assert!(
        banner.contains(&format!("{base}/portal")),
        "the quick start prints the portal's URL:\n{banner}"
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = tokio::process::Command::new("node")
        .arg("portal.mjs")
        .arg(format!("{base}/portal"))
        .arg(&demo_key)
        .arg(format!("{base}/reports"))
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    let seen: serde_json::Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap()).unwrap();
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["created"], 200);
    assert_eq!(seen["oldAfterRoll"], 401);
    assert_eq!(seen["newAfterRoll"], 200);
    assert_eq!(seen["revoked"], 401);
    assert_eq!(seen["xssText"], "<img src=x onerror=alert(1)>");
    assert!(
        std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 1000),
        "a screenshot at {}",
        screenshot.display()
    );
    println!("screenshot of the portal: {}", screenshot.display());
}
