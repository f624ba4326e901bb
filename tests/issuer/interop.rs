//! Tokens of our endpoint verified by others: npm `jose` (`jwtVerify`
//! with `createRemoteJWKSet` against our JWKS URL) under Node, and our own
//! authenticator configured by nothing but the issuer URL.

use std::path::PathBuf;

use crate::{API, idp, parts};

#[tokio::test]
async fn jose_verifies_our_tokens_from_our_jwks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
    let node = std::process::Command::new("node").arg("--version").output();
    let why = if node.is_err() {
        Some("`node` is not installed")
    } else if !dir.join("node_modules/jose").is_dir() {
        Some("tests/idp has no node_modules")
    } else {
        None
    };
    if let Some(why) = why {
        assert!(
            std::env::var_os("CI").is_none(),
            "the jose interop test is required when CI is set, but {why}"
        );
        eprintln!("skipping the jose interop test: {why} (run `npm ci --prefix tests/idp`)");
        return;
    }
    let idp = idp().await;
    let token = idp.token("&scope=invoices:write").await;
    let verify = |token: String, audience: &'static str| {
        let (dir, base) = (dir.clone(), idp.base.clone());
        async move {
            tokio::process::Command::new("node")
                .arg("verify.mjs")
                .arg(format!("{base}/.well-known/jwks.json"))
                .arg(&base)
                .arg(audience)
                .arg(token)
                .current_dir(dir)
                .output()
                .await
                .unwrap()
        }
    };
    let out = verify(token.clone(), API).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "jose refused our token: {stdout}");
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["payload"]["sub"], "billing");
    assert_eq!(seen["payload"]["scope"], "invoices:write");
    assert_eq!(seen["header"]["typ"], "at+jwt");
    assert_eq!(seen["header"]["kid"], parts(&token).0["kid"]);

    // jose refuses what it should: another audience, a forged signature.
    assert!(
        !verify(token.clone(), "https://elsewhere.test")
            .await
            .status
            .success()
    );
    // (A middle character of the signature: the last one also carries
    // padding bits, which jose's base64 decoder ignores.)
    let at = token.rfind('.').unwrap() + 10;
    let mut forged = token.clone();
    let c = if &token[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, c);
    assert!(!verify(forged, API).await.status.success());
}

#[cfg(feature = "remote-jwks")]
#[tokio::test]
async fn our_authenticator_finds_the_keys_by_discovery() {
    use m2m_auth::Authenticator;
    use m2m_auth::jwt::{Algorithm, JwtAuthenticator, RemoteJwks};

    let idp = idp().await;
    let auth = JwtAuthenticator::builder()
        .issuer(&idp.base)
        .audience(API)
        .algorithms([Algorithm::EdDSA])
        .require_at_jwt(true)
        .remote_keys(
            RemoteJwks::builder()
                .discover(&idp.base)
                .build()
                .await
                .unwrap(),
        )
        .build()
        .unwrap();
    let token = idp.token("").await;
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let identity = auth
        .authenticate(&request.into_parts().0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.subject(), "billing");
    assert!(identity.has_scope("invoices:read"));

    // After a rotation, the new kid is fetched and verifies.
    idp.endpoint
        .signing_keys()
        .rotate(std::time::Duration::from_mins(10))
        .unwrap();
    let token = idp.token("").await;
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    assert!(auth.authenticate(&request.into_parts().0).await.is_ok());
}
