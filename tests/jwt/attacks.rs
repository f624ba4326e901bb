//! The attack matrix: each test fails if its rule is broken.

use std::net::TcpListener;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as J, EncodingKey};
use m2m_auth::AuthErrorKind;
use m2m_auth::jwt::{Algorithm, Key, KeySet};
use serde_json::json;

use crate::*;

#[test]
fn a_valid_token_is_accepted() {
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    let id = rsa_auth().verify(&token).unwrap();
    assert_eq!(id.subject(), "billing-service");
    assert_eq!(id.credential().id(), Some("rsa-1"));
}

#[test]
fn alg_none_in_any_case_is_refused() {
    let auth = builder(vec![Key::hmac(HMAC_SECRET).unwrap()], &[Algorithm::HS256])
        .build()
        .unwrap();
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
        // Unsigned, as RFC 7515 §A.5 writes it, and with a signature made
        // up to get past a check for an empty one.
        assert_eq!(refused(&auth, &format!("{header}.{payload}.")), "malformed");
        assert_eq!(
            refused(&auth, &format!("{header}.{payload}.c2ln")),
            "unsupported_alg"
        );
    }
}

#[test]
fn rs256_public_key_as_hs256_secret_is_refused() {
    // The classic confusion: sign HS256 with the RSA public key's PEM bytes
    // as the secret. Even with HS256 allowed, the RSA key cannot be used
    // for HMAC.
    let forger = EncodingKey::from_secret(RSA_PUB).unwrap();
    let auth = builder(
        vec![Key::from_pem(RSA_PUB).unwrap().with_kid("rsa-1")],
        &[Algorithm::RS256, Algorithm::HS256],
    )
    .build()
    .unwrap();
    let with_kid = sign(J::HS256, &forger, json!({"kid": "rsa-1"}), &claims());
    assert_eq!(refused(&auth, &with_kid), "key_alg_mismatch");
    let without_kid = sign(J::HS256, &forger, json!({}), &claims());
    assert_eq!(refused(&auth, &without_kid), "no_key_for_alg");
}

#[test]
fn a_ps_key_does_not_verify_rs_tokens() {
    // The same RSA key, bound by its JWK to PS256: an RS256 token signed by
    // the very same private key is refused.
    let jwk = serde_json::from_str::<serde_json::Value>(include_str!("../fixtures/jwt/jwks.json"))
        .unwrap()["keys"][0]
        .clone();
    let mut jwk = jwk;
    jwk["alg"] = json!("PS256");
    let key = Key::from_jwk(&jwk.to_string()).unwrap();
    assert_eq!(key.algorithm(), Some(Algorithm::PS256));
    let auth = builder(vec![key], &[Algorithm::PS256, Algorithm::RS256])
        .build()
        .unwrap();
    let rs = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    assert_eq!(refused(&auth, &rs), "key_alg_mismatch");
    let ps = sign(J::PS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    assert!(auth.verify(&ps).is_ok());
}

#[test]
fn alg_outside_the_allow_list_is_refused() {
    let token = sign(J::RS512, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    assert_eq!(refused(&rsa_auth(), &token), "alg_not_allowed");
}

#[test]
fn unknown_kid_is_refused() {
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-2"}), &claims());
    assert_eq!(refused(&rsa_auth(), &token), "unknown_kid");
}

#[test]
fn kid_path_traversal_is_just_an_unknown_kid() {
    for kid in [
        "../../../../dev/null",
        "/etc/passwd",
        "rsa-1/../rsa-1",
        "rsa-1\u{0}",
        "' OR 1=1 --",
    ] {
        let token = sign(J::RS256, &rsa_signer(), json!({"kid": kid}), &claims());
        assert_eq!(refused(&rsa_auth(), &token), "unknown_kid", "{kid:?}");
    }
}

#[test]
fn jku_and_x5u_headers_are_never_fetched() {
    // A listener standing in for the attacker's key server: it must see no
    // connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let attacker = EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap();
    for header in [
        json!({"jku": url}),
        json!({"x5u": url}),
        json!({"jku": url, "kid": "rsa-1"}),
    ] {
        let token = sign(J::RS256, &attacker, header.clone(), &claims());
        assert_eq!(refused(&rsa_auth(), &token), "bad_signature", "{header}");
    }
    // The legitimate key's token is accepted, header or not: it is ignored.
    let token = sign(
        J::RS256,
        &rsa_signer(),
        json!({"jku": url, "kid": "rsa-1"}),
        &claims(),
    );
    assert!(rsa_auth().verify(&token).is_ok());
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        listener.accept().is_err(),
        "the verifier connected to jku/x5u"
    );
}

#[test]
fn an_embedded_jwk_is_never_used() {
    let attacker = EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap();
    // A public key in the header, as an attacker would embed their own.
    let jwk = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    let token = sign(
        J::RS256,
        &attacker,
        json!({"jwk": jwk, "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(refused(&rsa_auth(), &token), "bad_signature");
    let token = sign(J::RS256, &attacker, json!({"jwk": jwk}), &claims());
    assert_eq!(refused(&rsa_auth(), &token), "bad_signature");
}

#[test]
fn crit_headers_are_refused() {
    for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
        let token = sign(
            J::RS256,
            &rsa_signer(),
            json!({"kid": "rsa-1", "crit": crit, "exp": 1, "b64": true}),
            &claims(),
        );
        assert_eq!(refused(&rsa_auth(), &token), "crit_header");
    }
}

#[test]
fn bad_base64_padding_and_segments_are_refused() {
    let good = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}.{s}=="),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}..{s}"),
        format!("{h}.{p}.{}", &s[1..]),
        format!("{h}.{p}!.{s}"),
        format!("{h}.{p}.{}+", &s[..s.len() - 1]),
        format!("{}.{p}.{s}", h.replace('e', "\u{e9}")),
        format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode("not json")),
        "e".to_owned(),
        "e..".to_owned(),
        "eyJ.eyJ.eyJ".to_owned(),
    ];
    let auth = rsa_auth();
    for token in &cases {
        let e = auth.verify(token).unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::Invalid, "{token}: {e:?}");
    }
    assert!(auth.verify(&good).is_ok());
}

#[test]
fn a_4_mib_token_is_refused_before_decoding() {
    let auth = rsa_auth();
    let huge = format!("ey{}", "A".repeat(4 << 20));
    assert_eq!(refused(&auth, &huge), "token_too_large");
    // Shaped like a JWS, with a valid start: still refused on size alone.
    let good = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    let padded = format!("{good}{}", "A".repeat(4 << 20));
    assert_eq!(refused(&auth, &padded), "token_too_large");
    // The cap is configurable, and exact.
    let tight = builder(
        vec![Key::from_pem(RSA_PUB).unwrap().with_kid("rsa-1")],
        &[Algorithm::RS256],
    )
    .max_token_size(good.len() - 1)
    .build()
    .unwrap();
    assert_eq!(refused(&tight, &good), "token_too_large");
}

#[test]
fn expiry_beyond_leeway_is_refused_within_it_accepted() {
    let mut c = claims();
    c["exp"] = json!(now() - 61);
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    let e = rsa_auth().verify(&token).unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::Expired);
    c["exp"] = json!(now() - 30);
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert!(rsa_auth().verify(&token).is_ok(), "within the 60 s leeway");
}

#[test]
fn nbf_in_the_future_is_refused() {
    let mut c = claims();
    c["nbf"] = json!(now() + 120);
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "not_yet_valid");
}

#[test]
fn missing_exp_is_refused() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "missing_exp");
}

#[test]
fn missing_or_wrong_audience_is_refused() {
    let mut c = claims();
    c["aud"] = json!("https://other-api.test");
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "wrong_audience");
    c["aud"] = json!(["https://other-api.test", AUD]);
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert!(rsa_auth().verify(&token).is_ok(), "aud as an array");
    c.as_object_mut().unwrap().remove("aud");
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "missing_aud");
}

#[test]
fn missing_or_wrong_issuer_is_refused() {
    let mut c = claims();
    c["iss"] = json!("https://idp.test.evil");
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "wrong_issuer");
    c.as_object_mut().unwrap().remove("iss");
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(refused(&rsa_auth(), &token), "missing_iss");
}

#[test]
fn typ_policy_and_the_require_at_jwt_switch() {
    let strict = builder(
        vec![Key::from_pem(RSA_PUB).unwrap().with_kid("rsa-1")],
        &[Algorithm::RS256],
    )
    .require_at_jwt(true)
    .build()
    .unwrap();
    let token = |typ: Option<&str>| {
        let mut h = json!({"kid": "rsa-1"});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        sign(J::RS256, &rsa_signer(), h, &claims())
    };
    for ok in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        assert!(strict.verify(&token(Some(ok))).is_ok(), "{ok}");
    }
    // An ID token (typ JWT or none) is not an access token.
    for bad in [Some("JWT"), None, Some("id_token+jwt")] {
        assert_eq!(refused(&strict, &token(bad)), "wrong_typ", "{bad:?}");
    }
    // By default JWT and no typ are accepted, anything else never.
    let lax = rsa_auth();
    assert!(lax.verify(&token(Some("JWT"))).is_ok());
    assert!(lax.verify(&token(None)).is_ok());
    assert_eq!(refused(&lax, &token(Some("JOSE"))), "wrong_typ");
}

#[test]
fn keys_marked_for_encryption_are_ignored() {
    let mut jwks: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/jwt/jwks.json")).unwrap();
    jwks["keys"][0]["use"] = json!("enc");
    let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert!(set.keys().iter().all(|k| k.kid() != Some("rsa-1")));
    let auth = crate::builder(set.keys().to_vec(), &[Algorithm::RS256, Algorithm::ES256])
        .build()
        .unwrap();
    let token = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    assert_eq!(refused(&auth, &token), "unknown_kid");

    // key_ops without "verify" likewise.
    let mut jwks: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/jwt/jwks.json")).unwrap();
    jwks["keys"][0]["key_ops"] = json!(["encrypt"]);
    let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert!(set.keys().iter().all(|k| k.kid() != Some("rsa-1")));
    // A set of nothing but such keys is refused.
    let only_enc = json!({"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]});
    assert!(matches!(
        KeySet::from_jwks(&only_enc.to_string()),
        Err(m2m_auth::ConfigError::NoUsableKey)
    ));
}

#[test]
fn weak_keys_are_refused_at_build() {
    use m2m_auth::ConfigError::WeakKey;
    let rsa1024 = include_bytes!("../fixtures/jwt/rsa1024.pub.pem");
    assert!(matches!(Key::from_pem(rsa1024), Err(WeakKey(_))));
    assert!(matches!(Key::hmac(&[7; 31]), Err(WeakKey(_))));
    assert!(Key::hmac(&[7; 32]).is_ok());
    let short_oct = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode([7u8; 16])});
    assert!(matches!(
        Key::from_jwk(&short_oct.to_string()),
        Err(WeakKey(_))
    ));
    let weak_jwks = json!({"keys": [short_oct]});
    assert!(matches!(
        KeySet::from_jwks(&weak_jwks.to_string()),
        Err(WeakKey(_))
    ));
    let small_rsa = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xff; 128]), "e": "AQAB"});
    assert!(matches!(
        Key::from_jwk(&small_rsa.to_string()),
        Err(WeakKey(_))
    ));
}

#[test]
fn duplicate_names_are_refused() {
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let exp = now() + 300;
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"billing-service","sub":"admin","exp":{exp}}}"#
    );
    let token = sign_raw(J::RS256, &rsa_signer(), header, &payload);
    assert_eq!(refused(&rsa_auth(), &token), "duplicate_claim");
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"s","exp":{exp},"role":"user","role":"admin"}}"#
    );
    let token = sign_raw(J::RS256, &rsa_signer(), header, &payload);
    assert_eq!(refused(&rsa_auth(), &token), "duplicate_claim");
    // In the header too: which `alg` would count?
    let header = r#"{"alg":"RS256","alg":"HS256","kid":"rsa-1"}"#;
    let payload = claims().to_string();
    let token = sign_raw(J::RS256, &rsa_signer(), header, &payload);
    assert_eq!(refused(&rsa_auth(), &token), "malformed_header");
}

#[test]
fn a_key_without_kid_is_chosen_only_when_it_is_the_only_fit() {
    let two = builder(
        vec![
            Key::hmac(HMAC_SECRET).unwrap(),
            Key::hmac(&[9; 32]).unwrap(),
        ],
        &[Algorithm::HS256],
    )
    .build()
    .unwrap();
    let token = sign(J::HS256, &hmac_signer(), json!({}), &claims());
    assert_eq!(refused(&two, &token), "ambiguous_key");
    let one = builder(vec![Key::hmac(HMAC_SECRET).unwrap()], &[Algorithm::HS256])
        .build()
        .unwrap();
    assert!(one.verify(&token).is_ok());
    let forged = sign(
        J::HS256,
        &EncodingKey::from_secret(&[9; 32]).unwrap(),
        json!({}),
        &claims(),
    );
    assert_eq!(refused(&one, &forged), "bad_signature");
}
