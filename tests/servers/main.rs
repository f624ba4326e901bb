//! The layer in front of a tonic server and a plain hyper server, each
//! over a real socket on 127.0.0.1 with a real client.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod grpc;
mod hyper;

use std::time::{SystemTime, UNIX_EPOCH};

use m2m_auth::AuthLayer;
use m2m_auth::Scopes;
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use serde_json::json;

const SECRET: &[u8; 32] = b"servers-test-secret-of-32-bytes!";
const ISS: &str = "https://idp.test";
const AUD: &str = "demo-grpc";

/// The credentials a test server accepts, and the layer checking them.
struct Credentials {
    /// A JWT with scope `whoami`, subject `jwt-client`.
    jwt: String,
    /// A JWT without scope `whoami`.
    jwt_unscoped: String,
    /// An API key with scope `whoami`, owner `key-client`.
    api_key: String,
    layer: AuthLayer,
}

fn jwt(sub: &str, scope: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": ISS, "aud": AUD, "sub": sub, "scope": scope, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn credentials() -> Credentials {
    // Making the key first selects jsonwebtoken's provider for `encode`.
    let key = Key::hmac(SECRET).unwrap();
    let authenticator = JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([key]).unwrap())
        .build()
        .unwrap();
    let format = KeyFormat::new("test").unwrap();
    let store = MemoryKeyStore::new();
    let api_key = format.generate().unwrap();
    store.insert(
        api_key.digest(),
        KeyRecord::builder("key_1", "key-client")
            .scopes(Scopes::new(["whoami"]).unwrap())
            .build(),
    );
    Credentials {
        jwt: jwt("jwt-client", "whoami other"),
        jwt_unscoped: jwt("jwt-client", "other"),
        api_key: api_key.expose_secret().to_owned(),
        layer: AuthLayer::new(authenticator).or(ApiKeyAuthenticator::new(format, store)),
    }
}
