//! The peers the comparison benches measure, each configured the way its
//! documentation shows, checking what ours checks (issuer, audience,
//! expiry, the algorithm) where it can.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::routing::get;
use http::Request;
use serde::Deserialize;
use tower_http::validate_request::ValidateRequestHeaderLayer;

use super::jwt::{AUD, Case, ISS, SECRET};

/// What a peer's handler reads from the token, as ours reads the
/// `Identity`.
#[derive(Clone, Debug, Deserialize)]
#[allow(dead_code, reason = "read to measure deserialisation")]
pub struct PeerClaims {
    sub: String,
    scope: Option<String>,
    exp: u64,
}

/// The static token of tower-http's `ValidateRequestHeaderLayer::bearer`.
pub const STATIC_TOKEN: &str = "static-bench-token-0123456789abcdef";

/// tower-http's bearer check, on axum 0.8.
#[allow(
    deprecated,
    reason = "the peer users reach for first, deprecated by tower-http as too basic"
)]
pub fn tower_http_bearer() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(ValidateRequestHeaderLayer::bearer(STATIC_TOKEN))
        .with_state(())
}

/// No auth, on axum 0.7: jwt-authorizer's baseline.
pub fn axum07_plain() -> axum07::Router {
    axum07::Router::new().route("/", axum07::routing::get(|| async { "ok" }))
}

/// jwt-authorizer (on axum 0.7) with the key of `case`.
pub async fn jwt_authorizer(case: &Case) -> axum07::Router {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, JwtClaims, Validation};
    let builder: JwtAuthorizer<PeerClaims> = match case.name {
        "HS256" => JwtAuthorizer::from_secret(std::str::from_utf8(SECRET).unwrap()),
        "RS256" => JwtAuthorizer::from_rsa_pem_text(&case.public_pem),
        "ES256" => JwtAuthorizer::from_ec_pem_text(&case.public_pem),
        _ => JwtAuthorizer::from_ed_pem_text(&case.public_pem),
    };
    let authorizer = builder
        .validation(Validation::new().iss(&[ISS]).aud(&[AUD]))
        .build()
        .await
        .unwrap();
    axum07::Router::new()
        .route(
            "/",
            axum07::routing::get(|JwtClaims(_claims): JwtClaims<PeerClaims>| async { "ok" }),
        )
        .layer(vec![authorizer].into_layer())
}

#[derive(Clone)]
struct DecoderState {
    decoder: axum_jwt_auth::Decoder<PeerClaims>,
}

impl FromRef<DecoderState> for axum_jwt_auth::Decoder<PeerClaims> {
    fn from_ref(state: &DecoderState) -> Self {
        Arc::clone(&state.decoder)
    }
}

/// axum-jwt-auth (an extractor, on axum 0.8) with the key of `case`.
pub fn axum_jwt_auth(case: &Case) -> Router {
    use axum_jwt_auth::{Claims, LocalDecoder};
    use jsonwebtoken10 as jwt10;
    let (key, alg) = match case.name {
        "HS256" => (
            jwt10::DecodingKey::from_secret(SECRET),
            jwt10::Algorithm::HS256,
        ),
        "RS256" => (
            jwt10::DecodingKey::from_rsa_pem(case.public_pem.as_bytes()).unwrap(),
            jwt10::Algorithm::RS256,
        ),
        "ES256" => (
            jwt10::DecodingKey::from_ec_pem(case.public_pem.as_bytes()).unwrap(),
            jwt10::Algorithm::ES256,
        ),
        _ => (
            jwt10::DecodingKey::from_ed_pem(case.public_pem.as_bytes()).unwrap(),
            jwt10::Algorithm::EdDSA,
        ),
    };
    let mut validation = jwt10::Validation::new(alg);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    let decoder = LocalDecoder::builder()
        .keys(vec![key])
        .validation(validation)
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|_: Claims<PeerClaims>| async { "ok" }))
        .with_state(DecoderState {
            decoder: Arc::new(decoder),
        })
}

/// A request with `Authorization: Bearer {token}`, for axum 0.7.
pub fn request07(token: &str) -> axum07::http::Request<axum07::body::Body> {
    axum07::http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(axum07::body::Body::empty())
        .unwrap()
}

/// A request with `Authorization: Bearer {token}`.
pub fn request(token: &str) -> Request<Body> {
    super::jwt::request(token)
}
