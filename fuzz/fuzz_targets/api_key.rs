//! API-key parsing: the format and checksum checks, the digest and the
//! hint of any string, and the headers the authenticator reads it from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use m2m_auth::Authenticator;
use m2m_auth::api_key::{ApiKey, ApiKeyAuthenticator, KeyFormat, MemoryKeyStore};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let format = KeyFormat::new("acme_live").unwrap();
    // A string that passes the checks must have the key's shape.
    if format.check(text).is_ok() {
        assert_eq!(text.len(), format.key_len());
        assert!(text.starts_with("acme_live_"));
    }
    let key = ApiKey::new(text.to_owned());
    let _ = key.digest();
    let hint = key.hint();
    assert!(hint.len() <= text.len().max(32) + 16);
    // The same bytes in each header the authenticator reads.
    let auth = ApiKeyAuthenticator::new(format, MemoryKeyStore::new());
    for name in ["api-key", "x-api-key", "authorization"] {
        let Ok(value) = http::HeaderValue::from_bytes(data) else {
            return;
        };
        let (parts, ()) = http::Request::get("/")
            .header(name, value)
            .body(())
            .unwrap()
            .into_parts();
        let _ = auth.authenticate(&parts);
    }
});
