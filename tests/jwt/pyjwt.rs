//! Tokens signed by an independent implementation (`PyJWT` on
//! `pyca/cryptography`; see `tests/fixtures/jwt/make.py`) verify, with keys
//! read from the JWKS it wrote and from PEM.

use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use serde::Deserialize;

use crate::{AUD, ISS};

#[derive(Deserialize)]
struct Fixture {
    tokens: Vec<Signed>,
}

#[derive(Deserialize)]
struct Signed {
    alg: String,
    kid: Option<String>,
    token: String,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../fixtures/jwt/pyjwt_tokens.json")).unwrap()
}

fn hmac_key() -> Key {
    let hex = include_str!("../fixtures/jwt/hmac.secret").trim();
    let secret: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Key::hmac(&secret).unwrap()
}

fn authenticator(keys: Vec<Key>) -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms(Algorithm::ALL)
        .require_at_jwt(false)
        .keys(KeySet::new(keys).unwrap())
        .build()
        .unwrap()
}

#[test]
fn pyjwt_tokens_verify_with_the_jwks() {
    let mut keys = KeySet::from_jwks(include_str!("../fixtures/jwt/jwks.json"))
        .unwrap()
        .keys()
        .to_vec();
    keys.push(hmac_key());
    let auth = authenticator(keys);
    let fixture = fixture();
    assert_eq!(fixture.tokens.len(), 8);
    for t in fixture.tokens {
        let id = auth
            .verify(&t.token)
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.alg));
        assert_eq!(id.subject(), "billing-service", "{}", t.alg);
        assert_eq!(
            id.scopes().iter().collect::<Vec<_>>(),
            ["invoices:read", "invoices:write"]
        );
        assert_eq!(id.attributes()["tenant"], "acme");
        assert!(
            !id.attributes().contains_key("iat"),
            "registered claims are not attributes"
        );
        assert_eq!(id.credential().id(), t.kid.as_deref());
        match id.credential() {
            m2m_auth::Credential::Jwt { issuer, jti, .. } => {
                assert_eq!(&**issuer, ISS);
                assert_eq!(jti.as_deref(), Some("pyjwt-1"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pyjwt_tokens_verify_with_pem_keys() {
    let pem = |bytes: &[u8], kid: &str| Key::from_pem(bytes).unwrap().with_kid(kid);
    let auth = authenticator(vec![
        pem(crate::RSA_PUB, "rsa-1"),
        pem(crate::EC_PUB, "ec-1"),
        pem(include_bytes!("../fixtures/jwt/ec_p384.pub.pem"), "ec-384"),
        pem(crate::ED_PUB, "ed-1"),
        hmac_key(),
    ]);
    for t in fixture().tokens {
        assert!(auth.verify(&t.token).is_ok(), "{}", t.alg);
    }
}

#[test]
fn pyjwt_tokens_fail_with_the_wrong_keys() {
    // The RSA key in its PKCS#1 form (the same key: RSA tokens verify), a
    // different HMAC secret (HS tokens fail), and no EC or Ed key (those
    // fail).
    let auth = authenticator(vec![
        Key::from_pem(include_bytes!("../fixtures/jwt/rsa2048.pub.pkcs1.pem"))
            .unwrap()
            .with_kid("rsa-1"),
        Key::hmac(&[3; 32]).unwrap(),
    ]);
    for t in fixture().tokens {
        let r = auth.verify(&t.token);
        if t.alg.starts_with('R') || t.alg.starts_with('P') {
            assert!(r.is_ok(), "{}", t.alg);
        } else {
            assert!(r.is_err(), "{}", t.alg);
        }
    }
}
