//! OIDC / RFC 8414 discovery and the JWKS it points to, through the real
//! `RemoteJwks` path with a fetcher that answers with the fuzzer's bytes:
//! the first part is the metadata document, the second the key set.
#![no_main]

use std::sync::OnceLock;

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use m2m_auth::jwt::{Fetch, FetchError, RemoteJwks};

struct Answers {
    metadata: Vec<u8>,
    jwks: Vec<u8>,
}

#[async_trait]
impl Fetch for Answers {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if url.contains("/.well-known/") {
            Ok(self.metadata.clone())
        } else {
            Ok(self.jwks.clone())
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

fuzz_target!(|input: (&[u8], &[u8])| {
    let (metadata, jwks) = input;
    // Half the runs name a fixed JWKS URL so the key set gets its share.
    let metadata = if metadata.first().is_some_and(|b| b & 1 == 0) {
        br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"}"#.to_vec()
    } else {
        metadata.to_vec()
    };
    let fetcher = Answers {
        metadata,
        jwks: jwks.to_vec(),
    };
    let _ = runtime().block_on(
        RemoteJwks::builder()
            .discover("https://idp.example")
            .fetcher(fetcher)
            .build(),
    );
});
