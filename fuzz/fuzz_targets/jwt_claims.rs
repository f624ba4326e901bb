//! Claim mapping: arbitrary header and payload JSON, signed here with the
//! authenticator's own HMAC key so that every input gets past the
//! signature to the claim checks and the mapping into an `Identity`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};

const SECRET: [u8; 32] = [7; 32];

fn auth() -> &'static JwtAuthenticator {
    static AUTH: OnceLock<JwtAuthenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        JwtAuthenticator::builder()
            .issuer("https://idp.example")
            .audience("https://api.example")
            .algorithms([Algorithm::HS256])
            .keys(KeySet::new([Key::hmac(&SECRET).unwrap().with_kid("hs")]).unwrap())
            .build()
            .unwrap()
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|input: (&[u8], &[u8])| {
    let (header, payload) = input;
    let auth = auth();
    // Half the runs keep a valid header so the fuzzer spends its time on
    // the claims.
    let header = if header.first().is_some_and(|b| b & 1 == 0) {
        &br#"{"alg":"HS256","typ":"at+jwt","kid":"hs"}"#[..]
    } else {
        header
    };
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let key = jsonwebtoken::EncodingKey::from_secret(&SECRET).unwrap();
    let Ok(signature) = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::HS256,
    ) else {
        return;
    };
    let token = format!("{signing_input}.{signature}");
    if let Ok(identity) = auth.verify(&token) {
        // What was accepted is what the checks promise.
        assert!(!identity.subject().is_empty());
        assert!(identity.expires_at().is_some());
        let _ = identity.attributes();
    }
});
