//! JWT access tokens (RFC 9068, RFC 7519).
//!
//! - [`JwtAuthenticator`] reads `Authorization: Bearer <jwt>`, verifies the
//!   signature and the claims, and turns them into an
//!   [`Identity`](crate::Identity): `sub` is the subject, scopes come from
//!   `scope` / `scp` / `permissions`, other non-registered claims become
//!   attributes.
//! - [`Key`] and [`KeySet`] hold static verification keys: HMAC secrets,
//!   PEM public keys, JWKs and JWKS documents. Each key verifies only the
//!   algorithms of its type.
//! - `RemoteJwks` (feature `remote-jwks`) fetches an identity provider's
//!   keys, by URL or discovery, and keeps them fresh; `Fetch` is how.
//! - [`JwtIssuers`] puts several issuers on one layer.
//! - [`Revocations`] refuses tokens before they expire: one `jti`, or a
//!   subject's tokens issued before an instant ([`MemoryRevocations`];
//!   `PostgresRevocations` with the `postgres` feature).
//! - [`Algorithm`] lists what can be verified.
//!
//! Public-key signatures (RS, PS, ES, `EdDSA`) are checked by
//! `jsonwebtoken`'s backend: aws-lc-rs (feature `aws-lc-rs`, the default)
//! or `RustCrypto` (feature `rust-crypto`); see [`backend`]. HMAC (HS) tags
//! are checked by the `RustCrypto` `hmac` and `sha2` crates with either
//! backend, keyed once when the [`Key`] is made rather than for every token,
//! and compared in constant time.
//!
//! # Rejections
//!
//! An expired token is [`Expired`](crate::AuthErrorKind::Expired); every
//! other failure is [`Invalid`](crate::AuthErrorKind::Invalid), with the
//! cause in [`AuthError::reason`](crate::AuthError::reason) for logs:
//! `token_too_large`, `malformed`, `malformed_header`, `crit_header`,
//! `unsupported_alg`, `alg_not_allowed`, `wrong_typ`, `unknown_kid`,
//! `key_alg_mismatch`, `no_key_for_alg`, `ambiguous_key`, `bad_signature`,
//! `malformed_claims`, `duplicate_claim`, `missing_iss`, `wrong_issuer`,
//! `missing_aud`, `wrong_audience`, `missing_exp`, `bad_exp`,
//! `not_yet_valid`, `issued_in_future`, `missing_sub`, `bad_scope`,
//! `revoked`, `unknown_issuer`. A token whose key may exist but cannot be
//! fetched is [`Unavailable`](crate::AuthErrorKind::Unavailable) (`503`).

mod algorithm;
mod authenticator;
mod backend;
mod claims;
#[cfg(feature = "remote-jwks")]
mod fetch;
mod issuers;
mod jws;
mod key;
#[cfg(feature = "aws-lc-rs")]
mod parsed;
#[cfg(feature = "remote-jwks")]
mod remote;
mod revocation;
#[cfg(feature = "postgres")]
mod revocation_pg;

pub use self::algorithm::Algorithm;
pub use self::authenticator::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SCOPE_CLAIMS, JwtAuthenticator,
    JwtAuthenticatorBuilder, MAX_LEEWAY,
};
pub use self::backend::backend;
#[cfg_attr(not(feature = "issuer"), allow(unused_imports))]
pub(crate) use self::backend::provider as backend_provider;

/// The PKCS#1 DER of an RSA key from a JWK, for parsing it once (empty
/// when aws-lc-rs does not verify).
fn parsed_rsa_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    #[cfg(feature = "aws-lc-rs")]
    return parsed::rsa_der(n, e).unwrap_or_default();
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        let _ = (n, e);
        Vec::new()
    }
}
#[cfg(feature = "remote-jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote-jwks")))]
pub use self::fetch::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_DOCUMENT_BYTES, Fetch, FetchError, HttpFetcher,
};
pub use self::issuers::JwtIssuers;
pub use self::key::{Key, KeyKind, KeySet, MIN_HMAC_BYTES, MIN_RSA_BITS};
#[cfg(feature = "remote-jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote-jwks")))]
pub use self::remote::{DEFAULT_COOLDOWN, DEFAULT_REFRESH_INTERVAL, RemoteJwks, RemoteJwksBuilder};
pub use self::revocation::{MemoryRevocations, Revocations, TokenRef};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::revocation_pg::{
    MAX_REVOCATION_VALUE_BYTES, PostgresRevocations, REVOCATION_CHANNEL,
};

#[cfg(test)]
mod tests {
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    #[test]
    fn without_a_backend_configuration_fails_cleanly() {
        use super::*;
        use crate::error::ConfigError;
        assert_eq!(backend(), None);
        assert_eq!(
            Key::hmac(&[7; 32]).unwrap_err(),
            ConfigError::NoCryptoBackend
        );
        assert_eq!(
            KeySet::from_jwks(r#"{"keys":[]}"#).unwrap_err(),
            ConfigError::NoUsableKey
        );
        let jwk = r#"{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}"#;
        assert_eq!(
            Key::from_jwk(jwk).unwrap_err(),
            ConfigError::NoCryptoBackend
        );
        let built = JwtAuthenticator::builder()
            .issuer("https://idp.example")
            .audience("api")
            .algorithms([Algorithm::HS256])
            .build();
        assert_eq!(built.unwrap_err(), ConfigError::NoCryptoBackend);
    }

    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    #[test]
    fn with_a_backend_keys_can_be_made() {
        assert!(super::Key::hmac(&[7; 32]).is_ok());
        assert!(super::backend().is_some());
    }
}
