//! Hardening: what an auth layer in front of everything must never do
//! (panic, leak, grow without bound), checked on generated input, on every
//! kind of request, and at every limit.
//!
//! - `observability`: TRACE-level output of every kind of request holds no
//!   token, key, secret or claim value; the stable event fields and the
//!   metrics are there.
//! - `properties`: proptest over keys, headers and scope sets.
//! - `limits`: every size and time bound, each refused with a clear error.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(clippy::too_many_lines, reason = "a scenario reads best in one piece")]

mod limits;
mod observability;
mod properties;
mod regressions;

use std::net::SocketAddr;

use axum::Router;

/// Serves `app` on a loopback port.
pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Held by every test of this binary that sends requests through a layer,
/// so that the events the observability test reads are its own.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
