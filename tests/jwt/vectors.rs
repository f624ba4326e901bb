//! Public JWS vectors (RFC 7515 A, RFC 7520 §4, RFC 8037 A.4) at the
//! signature level: every valid vector of a supported algorithm verifies,
//! every invalid one and every unsupported algorithm is refused, none
//! panics.

use m2m_auth::jwt::{Algorithm, KeySet};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    token: String,
    jwks: serde_json::Value,
    expected: String,
    alg: String,
}

fn run(json: &str) -> (usize, usize) {
    let file: File = serde_json::from_str(json).unwrap();
    let (mut accepted, mut refused) = (0, 0);
    for v in file.vectors {
        let supported = v.alg.parse::<Algorithm>().is_ok();
        let should_verify = v.expected == "valid" && supported;
        let verified = match KeySet::from_jwks(&v.jwks.to_string()) {
            Ok(keys) => keys.verify_signature(&v.token, &Algorithm::ALL).is_ok(),
            Err(e) => {
                assert!(!should_verify, "{}: key set refused: {e}", v.id);
                false
            }
        };
        assert_eq!(
            verified, should_verify,
            "{} ({}, {})",
            v.id, v.alg, v.expected
        );
        if verified {
            // One changed payload character breaks the signature.
            let keys = KeySet::from_jwks(&v.jwks.to_string()).unwrap();
            let dot = v.token.find('.').unwrap() + 2;
            let mut tampered = v.token.clone();
            let c = if &v.token[dot..=dot] == "A" { "B" } else { "A" };
            tampered.replace_range(dot..=dot, c);
            assert!(
                keys.verify_signature(&tampered, &Algorithm::ALL).is_err(),
                "{}: tampered token verified",
                v.id
            );
        }
        if verified {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    (accepted, refused)
}

#[test]
fn rfc7515_appendix_a() {
    let (accepted, refused) = run(include_str!("../fixtures/vectors/rfc7515_appendix_a.json"));
    // HS256, RS256, ES256 verify; ES512 (unsupported) and none do not.
    assert_eq!((accepted, refused), (3, 2));
}

#[test]
fn rfc7520_jws() {
    let (accepted, refused) = run(include_str!("../fixtures/vectors/rfc7520_jws.json"));
    // RS256, PS384, HS256 verify; ES512 (unsupported) does not.
    assert_eq!((accepted, refused), (3, 1));
}

#[test]
fn rfc8037_ed25519() {
    let counts = run(include_str!("../fixtures/vectors/rfc8037_ed25519.json"));
    assert_eq!(counts, (1, 0));
}

#[test]
fn the_rfc7515_tokens_are_expired_through_the_authenticator() {
    // A.1 carries exp = 1300819380 (2011): signature fine, token expired.
    let file: File =
        serde_json::from_str(include_str!("../fixtures/vectors/rfc7515_appendix_a.json")).unwrap();
    let v = file.vectors.iter().find(|v| v.alg == "HS256").unwrap();
    let auth = m2m_auth::jwt::JwtAuthenticator::builder()
        .issuer("joe")
        .insecure_skip_audience()
        .algorithms([Algorithm::HS256])
        .keys(KeySet::from_jwks(&v.jwks.to_string()).unwrap())
        .build()
        .unwrap();
    let e = auth.verify(&v.token).unwrap_err();
    assert_eq!(e.kind(), m2m_auth::AuthErrorKind::Expired, "{e:?}");
}
