//! Key documents: JWKS, single JWKs and PEM, as an identity provider (or
//! whoever answers in its place) serves them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use m2m_auth::jwt::{Algorithm, Key, KeySet};

fuzz_target!(|data: &[u8]| {
    let _ = Key::from_pem(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = KeySet::from_jwks(text) {
        for key in set.keys() {
            let _ = key.kid();
            for alg in [
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
                Algorithm::HS256,
            ] {
                let _ = key.fits(alg);
            }
        }
    }
    let _ = Key::from_jwk(text);
});
