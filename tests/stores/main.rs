//! Key stores: the conformance suite against every store, and the store
//! behaviour that only a real database shows.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod memory;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(all(feature = "postgres", feature = "cache"))]
mod postgres;
#[cfg(all(feature = "postgres", feature = "jwt"))]
mod revocations;
#[cfg(feature = "sqlite")]
mod sqlite;
