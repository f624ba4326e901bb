//! JWT access tokens: the attack matrix, public vectors, tokens from an
//! independent implementation, key policy, and the layer.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod attacks;
#[cfg(feature = "remote-jwks")]
mod idp;
mod keys;
mod layer;
mod pyjwt;
#[cfg(feature = "remote-jwks")]
mod remote;
mod revocation;
mod vectors;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as J, EncodingKey};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, JwtAuthenticatorBuilder, Key, KeySet};
use serde_json::{Value, json};

pub(crate) const ISS: &str = "https://idp.test";
pub(crate) const AUD: &str = "https://api.test";

pub(crate) const RSA_PRIV: &[u8] = include_bytes!("../fixtures/jwt/rsa2048.key.pem");
pub(crate) const RSA_PUB: &[u8] = include_bytes!("../fixtures/jwt/rsa2048.pub.pem");
pub(crate) const EC_PRIV: &[u8] = include_bytes!("../fixtures/jwt/ec_p256.key.pem");
pub(crate) const EC_PUB: &[u8] = include_bytes!("../fixtures/jwt/ec_p256.pub.pem");
pub(crate) const ED_PRIV: &[u8] = include_bytes!("../fixtures/jwt/ed25519.key.pem");
pub(crate) const ED_PUB: &[u8] = include_bytes!("../fixtures/jwt/ed25519.pub.pem");
/// An RSA key the verifier does not know: the attacker's.
pub(crate) const OTHER_RSA_PRIV: &[u8] = include_bytes!("../fixtures/jwt/rsa2048_other.key.pem");
pub(crate) const HMAC_SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid access-token claims for `ISS` / `AUD`, expiring in 5 minutes.
pub(crate) fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "billing-service",
        "exp": now() + 300,
        "iat": now(),
        "scope": "invoices:read",
    })
}

/// Makes sure `jsonwebtoken` has its provider before the tests sign
/// anything (with both backends on, making a key selects one).
pub(crate) fn provider_ready() {
    Key::hmac(HMAC_SECRET).unwrap();
}

/// A compact JWS of exactly `header` and `payload` (raw JSON text), signed
/// with `key` under `alg`.
pub(crate) fn sign_raw(alg: J, key: &EncodingKey, header: &str, payload: &str) -> String {
    provider_ready();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

/// A token with header `header` (whose `alg` is set to `alg`'s name) and
/// `claims`.
pub(crate) fn sign(alg: J, key: &EncodingKey, mut header: Value, claims: &Value) -> String {
    header["alg"] = json!(format!("{alg:?}"));
    sign_raw(alg, key, &header.to_string(), &claims.to_string())
}

pub(crate) fn rsa_signer() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIV).unwrap()
}

pub(crate) fn hmac_signer() -> EncodingKey {
    EncodingKey::from_secret(HMAC_SECRET).unwrap()
}

/// The builder every test starts from: `ISS`, `AUD`, `algorithms`, `keys`.
pub(crate) fn builder(keys: Vec<Key>, algorithms: &[Algorithm]) -> JwtAuthenticatorBuilder {
    JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms(algorithms.iter().copied())
        .keys(KeySet::new(keys).unwrap())
}

/// RS256 with the fixture RSA key, kid `rsa-1`.
pub(crate) fn rsa_auth() -> JwtAuthenticator {
    builder(
        vec![Key::from_pem(RSA_PUB).unwrap().with_kid("rsa-1")],
        &[Algorithm::RS256],
    )
    .build()
    .unwrap()
}

/// The reason `token` is refused with.
pub(crate) fn refused(auth: &JwtAuthenticator, token: &str) -> &'static str {
    match auth.verify(token) {
        Ok(id) => panic!("accepted as {id:?}"),
        Err(e) => e.reason(),
    }
}
