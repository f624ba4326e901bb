//! Reading keys: PEM, JWK, JWKS; their kinds and refusals.

use m2m_auth::ConfigError;
use m2m_auth::jwt::{Algorithm, Key, KeyKind, KeySet};
use serde_json::json;

use crate::*;

#[test]
fn pem_keys_get_their_kind() {
    let kind = |pem: &[u8]| Key::from_pem(pem).unwrap().kind();
    assert_eq!(kind(RSA_PUB), KeyKind::Rsa);
    assert_eq!(
        kind(include_bytes!("../fixtures/jwt/rsa2048.pub.pkcs1.pem")),
        KeyKind::Rsa
    );
    assert_eq!(kind(EC_PUB), KeyKind::EcP256);
    assert_eq!(
        kind(include_bytes!("../fixtures/jwt/ec_p384.pub.pem")),
        KeyKind::EcP384
    );
    assert_eq!(kind(ED_PUB), KeyKind::Ed25519);
}

#[test]
fn unusable_pem_is_refused_clearly() {
    let invalid = |pem: &[u8]| match Key::from_pem(pem) {
        Err(ConfigError::InvalidKey(why)) => why,
        other => panic!("{other:?}"),
    };
    assert!(invalid(RSA_PRIV).contains("private key"));
    assert!(invalid(EC_PRIV).contains("private key"));
    assert!(invalid(include_bytes!("../fixtures/jwt/ec_p521.pub.pem")).contains("P-256"));
    invalid(b"");
    invalid(b"\xff\xfe");
    invalid(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    invalid(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
}

#[test]
fn the_error_text_holds_no_key_material() {
    let secret_hex = "deadbeefdeadbeefdeadbeef";
    let jwk = json!({"kty": "oct", "k": secret_hex});
    let e = Key::from_jwk(&jwk.to_string()).unwrap_err().to_string();
    assert!(!e.contains(secret_hex), "{e}");
    let key = Key::hmac(HMAC_SECRET).unwrap().with_kid("k1");
    let debug = format!("{key:?} {:?}", KeySet::new([key.clone()]).unwrap());
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(!debug.contains("48, 49, 50"), "{debug}");
    let auth = builder(vec![key], &[Algorithm::HS256]).build().unwrap();
    let debug = format!("{auth:?}");
    assert!(
        !debug.contains("0123456789abcdef") && !debug.contains("48, 49, 50"),
        "{debug}"
    );
}

#[test]
fn jwks_reads_usable_keys_and_skips_the_rest() {
    let set = KeySet::from_jwks(include_str!("../fixtures/jwt/jwks.json")).unwrap();
    let kinds: Vec<_> = set
        .keys()
        .iter()
        .map(|k| (k.kid().unwrap(), k.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("rsa-1", KeyKind::Rsa),
            ("ec-1", KeyKind::EcP256),
            ("ec-384", KeyKind::EcP384),
            ("ed-1", KeyKind::Ed25519)
        ]
    );
    let mixed = json!({"keys": [
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
        {"kty": "RSA", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "x": "AA"},
        {"kty": "oct", "k": URL_SAFE_NO_PAD_32, "kid": "h", "alg": "HS256"},
    ]});
    let set = KeySet::from_jwks(&mixed.to_string()).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert_eq!(set.keys()[0].algorithm(), Some(Algorithm::HS256));
}

const URL_SAFE_NO_PAD_32: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";

#[test]
fn malformed_jwks_and_jwks_are_config_errors() {
    for bad in [
        "",
        "[]",
        r#"{"keys": {}}"#,
        r#"{"keys": [1]}"#,
        r#"{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}"#,
        r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}"#,
        r#"{"keys": [{"kty": "RSA", "e": "AQAB"}]}"#,
        r#"{"keys": [{"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "alg": "RS256"}]}"#,
        r#"{"keys": []}"#,
    ] {
        assert!(KeySet::from_jwks(bad).is_err(), "{bad}");
    }
    assert!(Key::from_jwk(r#"{"kty":"RSA","d":"AA","n":"AQAB","e":"AQAB"}"#).is_err());
    assert!(KeySet::new([]).is_err());
    let twice = [
        Key::hmac(HMAC_SECRET).unwrap().with_kid("a"),
        Key::hmac(&[1; 32]).unwrap().with_kid("a"),
    ];
    assert!(KeySet::new(twice).is_err());
}

#[test]
fn a_key_restricted_to_an_algorithm_must_fit_it() {
    let key = Key::from_pem(EC_PUB).unwrap();
    assert!(key.clone().with_algorithm(Algorithm::RS256).is_err());
    let key = key.with_algorithm(Algorithm::ES256).unwrap();
    assert!(key.fits(Algorithm::ES256) && !key.fits(Algorithm::ES384));
}

#[test]
fn the_builder_refuses_incomplete_configurations() {
    use m2m_auth::jwt::JwtAuthenticator;
    let keys = || KeySet::new([Key::hmac(HMAC_SECRET).unwrap()]).unwrap();
    let full = || {
        JwtAuthenticator::builder()
            .issuer(ISS)
            .audience(AUD)
            .algorithms([Algorithm::HS256])
            .keys(keys())
    };
    assert!(full().build().is_ok());
    let missing = |b: m2m_auth::jwt::JwtAuthenticatorBuilder| match b.build() {
        Err(ConfigError::Missing(what)) => what,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        missing(
            JwtAuthenticator::builder()
                .audience(AUD)
                .algorithms([Algorithm::HS256])
                .keys(keys())
        ),
        "issuer"
    );
    assert!(
        missing(
            JwtAuthenticator::builder()
                .issuer(ISS)
                .algorithms([Algorithm::HS256])
                .keys(keys())
        )
        .starts_with("audience")
    );
    assert_eq!(
        missing(
            JwtAuthenticator::builder()
                .issuer(ISS)
                .audience(AUD)
                .keys(keys())
        ),
        "algorithms"
    );
    assert_eq!(
        missing(
            JwtAuthenticator::builder()
                .issuer(ISS)
                .audience(AUD)
                .algorithms([Algorithm::HS256])
        ),
        "keys"
    );
    // Skipping the audience check is possible, but only by saying so.
    let skip = JwtAuthenticator::builder()
        .issuer(ISS)
        .insecure_skip_audience()
        .algorithms([Algorithm::HS256])
        .keys(keys())
        .build()
        .unwrap();
    let mut c = claims();
    c["aud"] = json!("https://anyone.test");
    let token = sign(
        jsonwebtoken::Algorithm::HS256,
        &hmac_signer(),
        json!({}),
        &c,
    );
    assert!(skip.verify(&token).is_ok());
    // No key that fits an allowed algorithm.
    assert!(matches!(
        full().algorithms([Algorithm::RS256]).build(),
        Err(ConfigError::NoUsableKey)
    ));
    assert!(full().max_token_size(0).build().is_err());
    assert!(full().issuer("").build().is_err());
    // A leeway that would keep expired tokens working is refused.
    assert!(full().leeway(m2m_auth::jwt::MAX_LEEWAY).build().is_ok());
    for leeway in [
        m2m_auth::jwt::MAX_LEEWAY + std::time::Duration::from_secs(1),
        std::time::Duration::MAX,
    ] {
        let e = full().leeway(leeway).build().unwrap_err();
        assert!(matches!(e, ConfigError::InvalidSetting(_)), "{e:?}");
        assert!(e.to_string().contains("leeway"), "{e}");
    }
}

#[test]
fn the_backend_is_reported() {
    let backend = m2m_auth::jwt::backend().unwrap();
    if cfg!(feature = "aws-lc-rs") {
        assert_eq!(backend, "aws-lc-rs");
    } else {
        assert_eq!(backend, "rust-crypto");
    }
}

#[test]
fn every_key_family_verifies_its_algorithms() {
    use jsonwebtoken::{Algorithm as J, EncodingKey};
    let cases: [(J, EncodingKey, &[u8], Algorithm); 4] = [
        (
            J::PS512,
            EncodingKey::from_rsa_pem(RSA_PRIV).unwrap(),
            RSA_PUB,
            Algorithm::PS512,
        ),
        (
            J::ES256,
            EncodingKey::from_ec_pem(EC_PRIV).unwrap(),
            EC_PUB,
            Algorithm::ES256,
        ),
        (
            J::EdDSA,
            EncodingKey::from_ed_pem(ED_PRIV).unwrap(),
            ED_PUB,
            Algorithm::EdDSA,
        ),
        (
            J::ES384,
            EncodingKey::from_ec_pem(include_bytes!("../fixtures/jwt/ec_p384.key.pem")).unwrap(),
            include_bytes!("../fixtures/jwt/ec_p384.pub.pem"),
            Algorithm::ES384,
        ),
    ];
    for (alg, signer, public, ours) in cases {
        let auth = builder(vec![Key::from_pem(public).unwrap()], &[ours])
            .build()
            .unwrap();
        let token = sign(alg, &signer, json!({"typ": "at+jwt"}), &claims());
        assert_eq!(
            auth.verify(&token).unwrap().subject(),
            "billing-service",
            "{alg:?}"
        );
        // The other families' keys do not verify it.
        let rsa = builder(vec![Key::from_pem(RSA_PUB).unwrap()], &[Algorithm::RS256])
            .build()
            .unwrap();
        if ours != Algorithm::PS512 {
            assert!(rsa.verify(&token).is_err());
        }
    }
}
