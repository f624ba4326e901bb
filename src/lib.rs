#![cfg_attr(
    all(
        feature = "axum",
        feature = "sqlite",
        feature = "postgres",
        feature = "cache",
        feature = "conformance",
        feature = "remote-jwks",
        feature = "portal",
        feature = "issuer"
    ),
    doc = include_str!("../README.md")
)]
#![cfg_attr(
    not(all(
        feature = "axum",
        feature = "sqlite",
        feature = "postgres",
        feature = "cache",
        feature = "conformance",
        feature = "remote-jwks",
        feature = "portal",
        feature = "issuer"
    )),
    doc = "Authentication for machine-to-machine APIs: opaque API keys and JWT access tokens behind one tower layer. (Build the docs with all features for the full guide.)"
)]
//!
//! # Crate map
//!
//! - [`AuthLayer`] / [`AuthService`]: the middleware, with its
//!   [`Authenticator`] chain and a [`Reject`]ion that can be replaced.
//! - [`Identity`]: who called, inserted into the request extensions.
//! - [`RequireScopesLayer`]: `403 insufficient_scope` for callers lacking a
//!   scope.
//! - [`api_key`]: key format, [`KeyStore`](api_key::KeyStore) and its
//!   backends, [`KeyManager`](api_key::KeyManager) for the key lifecycle,
//!   and the authenticator (feature `api-key`).
//! - [`jwt`]: the JWT access-token authenticator and its keys (feature
//!   `jwt`).
//! - `portal`: self-serve keys for consumers, a router to mount (feature
//!   `portal`).
//! - `issuer`: an OAuth 2.0 client-credentials token endpoint for teams
//!   without an identity provider (feature `issuer`).
//!
//! # Features
//!
//! | feature       | default | what it adds |
//! |---------------|---------|--------------|
//! | `api-key`     | yes     | [`api_key`]: opaque API keys, `KeyManager`, `MemoryKeyStore`, `ApiKeyAuthenticator` |
//! | `sqlite`      | yes     | `SqliteKeyStore`: keys in an SQLite file |
//! | `postgres`    | no      | `PostgresKeyStore`: keys in PostgreSQL, with change notifications |
//! | `cache`       | no      | `CachedKeyStore`: a bounded cache in front of any store |
//! | `portal`      | yes     | `portal`: the self-serve key router and page (axum) |
//! | `issuer`      | yes     | `issuer`: a client-credentials token endpoint of our own; implies `jwt` |
//! | `conformance` | no      | `api_key::conformance`: the behavioural test suite for stores |
//! | `jwt`         | yes     | [`jwt`]: `JwtAuthenticator`, `Key`, `KeySet`, `JwtIssuers`, revocation |
//! | `remote-jwks` | no      | `RemoteJwks`: keys fetched from the identity provider |
//! | `aws-lc-rs`   | yes     | JWT signatures by aws-lc-rs (only with `jwt`) |
//! | `rust-crypto` | no      | JWT signatures by the pure-Rust `RustCrypto` crates; with both backends on, aws-lc-rs is used |
//! | `axum`        | no      | `Identity` and `Option<Identity>` extractors; `AuthError` as a response |
//! | `metrics`     | no      | counters and a latency histogram through the `metrics` facade |
//!
//! Without features the crate depends on `http`, `http-body`, `tower-service`
//! and `tower-layer` (plus `serde_json` for attributes and `tracing` for
//! events); no async runtime.
//!
//! # Observability
//!
//! The crate emits one `tracing` event under the target `m2m_auth` per
//! decision of the layer, a scope guard or an `AuthError` returned as a
//! response. Field names are stable:
//!
//! | field | value |
//! |---|---|
//! | `outcome` | `accepted`, `rejected`, or `passed` (optional mode, no credential) |
//! | `method` | `api_key`, `jwt`, a custom label ([`Authenticator::method`], [`Credential::method`]), or `none` when no authenticator found a credential |
//! | `kind` | rejections: [`AuthErrorKind::as_str`] (`missing`, `invalid`, `expired`, …) |
//! | `reason` | rejections: [`AuthError::reason`] (`unknown`, `revoked`, `bad_signature`, …) |
//! | `key_id` | API keys: the key's public id |
//! | `kid` | JWTs: the `kid` of the token header |
//! | `iss` | accepted JWTs: the verified issuer |
//! | `credential_id` | custom credentials: their public id |
//! | `latency_us` | the time the layer spent deciding, in µs |
//!
//! No event carries a token, key, secret, or claim value (subject, scopes,
//! `jti` and custom claims included). `unavailable` rejections (a store
//! or key set down) are `WARN` events with the error chain; everything
//! else is `DEBUG`. The clock is only read when the event is enabled (or
//! the `metrics` feature is on).
//!
//! With the `metrics` feature, the same decisions go to the
//! [`metrics`](https://docs.rs/metrics) facade, to whatever recorder the
//! application installs (a Prometheus exporter, for one):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `m2m_auth_requests_total` | counter | `outcome`, `method`, `reason` (`ok` when accepted, `no_credential` when passed) |
//! | `m2m_auth_request_duration_seconds` | histogram | `outcome`, `method` (decisions of the layer only) |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod authenticator;
mod credentials;
mod error;
mod identity;
mod reject;
pub mod scope;
mod trace;

#[cfg(feature = "api-key")]
#[cfg_attr(docsrs, doc(cfg(feature = "api-key")))]
pub mod api_key;

#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;

#[cfg(feature = "axum")]
mod axum;

#[cfg(feature = "portal")]
#[cfg_attr(docsrs, doc(cfg(feature = "portal")))]
pub mod portal;

#[cfg(feature = "issuer")]
#[cfg_attr(docsrs, doc(cfg(feature = "issuer")))]
pub mod issuer;

pub use async_trait::async_trait;

pub use crate::auth::{AuthLayer, AuthService};
pub use crate::authenticator::{Authentication, Authenticator};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use crate::axum::IdentityRejection;
pub use crate::error::{AuthError, AuthErrorKind, ConfigError, StoreError};
pub use crate::identity::{Attributes, Credential, Identity, IdentityBuilder, Scopes};
#[cfg(feature = "axum")]
pub use crate::reject::AxumBody;
pub use crate::reject::{
    BodyMode, DefaultRejection, Reject, RejectionBody, ResponseBody, WrapBody,
};
pub use crate::scope::{RequireScopes, RequireScopesLayer};
