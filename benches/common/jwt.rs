//! The JWT tokens, keys and apps the JWT benches measure.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use http::Request;
use jsonwebtoken::{Algorithm as J, DecodingKey, EncodingKey, Header, Validation};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use m2m_auth::{AuthLayer, AuthService, DefaultRejection, Identity};
use serde::Deserialize;
use serde_json::json;
use tower::Layer;

pub const ISS: &str = "https://idp.example.com/";
pub const AUD: &str = "https://api.example.com";
pub const SECRET: &[u8; 32] = b"bench-secret-bench-secret-bench!";

/// What a hand-written layer over `decode` would read.
#[derive(Deserialize)]
#[allow(dead_code, reason = "read to measure deserialisation")]
pub struct Claims {
    sub: String,
    scope: Option<String>,
    exp: u64,
}

pub struct Case {
    pub name: &'static str,
    pub token: String,
    /// The verification key in PEM (empty for HMAC), for the peers.
    pub public_pem: String,
    pub raw_key: DecodingKey,
    pub raw_validation: Validation,
    pub ours: JwtAuthenticator,
    /// No auth.
    pub plain: Router,
    /// `AuthLayer` added by `Router::layer`.
    pub layered: Router,
    /// `AuthLayer` wrapped around the router.
    pub wrapped: AuthService<Router, DefaultRejection>,
}

impl Case {
    /// The minimal hand-written check: `jsonwebtoken::decode`.
    pub fn raw(&self, token: &str) -> Claims {
        jsonwebtoken::decode::<Claims>(token, &self.raw_key, &self.raw_validation)
            .unwrap()
            .claims
    }
}

fn case(
    name: &'static str,
    alg: J,
    ours_alg: Algorithm,
    sign: &EncodingKey,
    (raw_key, public_pem): (DecodingKey, String),
    key: Key,
) -> Case {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 24 * 3600;
    let mut header = Header::new(alg);
    header.kid = Some("key-1".to_owned());
    header.typ = Some("at+jwt".to_owned());
    let claims = json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "billing-service@clients",
        "azp": "billing-service",
        "exp": exp,
        "iat": exp - 24 * 3600,
        "jti": "b5c6f1d2-8a4e-4d3c-9b1a-2f6e7d8c9a0b",
        "scope": "invoices:read invoices:write",
    });
    let token = jsonwebtoken::encode(&header, &claims, sign).unwrap();
    let mut raw_validation = Validation::new(alg);
    raw_validation.set_issuer(&[ISS]);
    raw_validation.set_audience(&[AUD]);
    let ours = JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([ours_alg])
        .keys(KeySet::new([key.with_kid("key-1")]).unwrap())
        .build()
        .unwrap();
    // Both accept the token.
    jsonwebtoken::decode::<Claims>(&token, &raw_key, &raw_validation).unwrap();
    ours.verify(&token).unwrap();
    let plain = Router::new()
        .route("/", get(|| async { "ok" }))
        .with_state(());
    let layered = Router::new()
        .route("/", get(|_: Extension<Identity>| async { "ok" }))
        .layer(AuthLayer::new(ours.clone()))
        .with_state(());
    let wrapped = AuthLayer::new(ours.clone()).layer(
        Router::new()
            .route("/", get(|_: Extension<Identity>| async { "ok" }))
            .with_state(()),
    );
    Case {
        name,
        token,
        public_pem,
        raw_key,
        raw_validation,
        ours,
        plain,
        layered,
        wrapped,
    }
}

pub fn cases() -> Vec<Case> {
    // Making a key first selects jsonwebtoken's provider (both backends may
    // be compiled in).
    let hmac = Key::hmac(SECRET).unwrap();
    let f = |p: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/jwt/{p}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    vec![
        case(
            "HS256",
            J::HS256,
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET).unwrap(),
            (DecodingKey::from_secret(SECRET).unwrap(), String::new()),
            hmac,
        ),
        case(
            "RS256",
            J::RS256,
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(&f("rsa2048.key.pem")).unwrap(),
            (
                DecodingKey::from_rsa_pem(&f("rsa2048.pub.pem")).unwrap(),
                String::from_utf8(f("rsa2048.pub.pem")).unwrap(),
            ),
            Key::from_pem(&f("rsa2048.pub.pem")).unwrap(),
        ),
        case(
            "ES256",
            J::ES256,
            Algorithm::ES256,
            &EncodingKey::from_ec_pem(&f("ec_p256.key.pem")).unwrap(),
            (
                DecodingKey::from_ec_pem(&f("ec_p256.pub.pem")).unwrap(),
                String::from_utf8(f("ec_p256.pub.pem")).unwrap(),
            ),
            Key::from_pem(&f("ec_p256.pub.pem")).unwrap(),
        ),
        case(
            "EdDSA",
            J::EdDSA,
            Algorithm::EdDSA,
            &EncodingKey::from_ed_pem(&f("ed25519.key.pem")).unwrap(),
            (
                DecodingKey::from_ed_pem(&f("ed25519.pub.pem")).unwrap(),
                String::from_utf8(f("ed25519.pub.pem")).unwrap(),
            ),
            Key::from_pem(&f("ed25519.pub.pem")).unwrap(),
        ),
    ]
}

pub fn request(token: &str) -> Request<Body> {
    Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}
