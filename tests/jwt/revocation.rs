//! Revoking tokens before they expire, and several issuers on one layer,
//! through an axum router on a real socket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm as J, EncodingKey};
use m2m_auth::jwt::{
    Algorithm, JwtAuthenticator, JwtIssuers, Key, KeySet, MemoryRevocations, Revocations,
};
use m2m_auth::{AuthLayer, Identity};
use reqwest::StatusCode;
use serde_json::json;

use crate::{AUD, HMAC_SECRET, ISS, claims, hmac_signer, sign};

async fn serve<A: m2m_auth::Authenticator>(auth: A) -> String {
    let app = Router::new()
        .route(
            "/",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .layer(AuthLayer::new(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn status(url: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

fn token_with(jti: Option<&str>, iat: Option<u64>, sub: &str) -> String {
    let mut c = claims();
    c["sub"] = json!(sub);
    match jti {
        Some(j) => c["jti"] = json!(j),
        None => drop(c.as_object_mut().unwrap().remove("jti")),
    }
    match iat {
        Some(t) => c["iat"] = json!(t),
        None => drop(c.as_object_mut().unwrap().remove("iat")),
    }
    sign(J::HS256, &hmac_signer(), json!({}), &c)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn authenticator(revocations: MemoryRevocations) -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(ISS)
        .audience(AUD)
        .algorithms([Algorithm::HS256])
        .keys(KeySet::new([Key::hmac(HMAC_SECRET).unwrap()]).unwrap())
        .revocations(revocations)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_revoked_jti_is_refused_and_its_twin_is_not() {
    let revocations = MemoryRevocations::new();
    let url = serve(authenticator(revocations.clone())).await;
    let now = secs(SystemTime::now());
    let leaked = token_with(Some("jti-leaked"), Some(now), "billing-service");
    let twin = token_with(Some("jti-fine"), Some(now), "billing-service");
    assert_eq!(status(&url, &leaked).await, StatusCode::OK);

    revocations
        .revoke_token(
            ISS,
            "jti-leaked",
            SystemTime::now() + Duration::from_mins(5),
        )
        .await
        .unwrap();
    assert_eq!(status(&url, &leaked).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(&url, &twin).await,
        StatusCode::OK,
        "same claims, other jti"
    );
    // Another issuer's token with the same jti is another token.
    revocations
        .revoke_token(
            "https://other.test",
            "jti-fine",
            SystemTime::now() + Duration::from_mins(5),
        )
        .await
        .unwrap();
    assert_eq!(status(&url, &twin).await, StatusCode::OK);
}

#[tokio::test]
async fn a_subject_can_be_cut_off_at_an_instant() {
    let revocations = MemoryRevocations::new();
    let auth = authenticator(revocations.clone());
    let url = serve(auth.clone()).await;
    let now = SystemTime::now();
    let before = token_with(Some("a"), Some(secs(now) - 60), "compromised");
    let no_iat = token_with(Some("b"), None, "compromised");
    let other = token_with(Some("c"), Some(secs(now) - 60), "someone-else");
    for t in [&before, &no_iat, &other] {
        assert_eq!(status(&url, t).await, StatusCode::OK);
    }

    revocations
        .revoke_subject(ISS, "compromised", now)
        .await
        .unwrap();
    assert_eq!(
        status(&url, &before).await,
        StatusCode::UNAUTHORIZED,
        "issued before"
    );
    assert_eq!(
        status(&url, &no_iat).await,
        StatusCode::UNAUTHORIZED,
        "no iat"
    );
    assert_eq!(
        status(&url, &other).await,
        StatusCode::OK,
        "another subject"
    );
    let after = token_with(Some("d"), Some(secs(now) + 1), "compromised");
    assert_eq!(
        status(&url, &after).await,
        StatusCode::OK,
        "issued after: a new token works"
    );

    // `verify` honours the lists too.
    assert_eq!(auth.verify(&before).unwrap_err().reason(), "revoked");
    assert!(auth.verify(&after).is_ok());
}

#[tokio::test]
async fn several_issuers_share_one_layer() {
    let make = |iss: &str, secret: &[u8]| {
        JwtAuthenticator::builder()
            .issuer(iss)
            .audience(AUD)
            .algorithms([Algorithm::HS256])
            .keys(KeySet::new([Key::hmac(secret).unwrap()]).unwrap())
            .build()
            .unwrap()
    };
    let (a_secret, b_secret) = ([0xa1u8; 32], [0xb2u8; 32]);
    let issuers = JwtIssuers::new([
        make("https://idp-a.test", &a_secret),
        make("https://idp-b.test", &b_secret),
    ])
    .unwrap();
    assert!(
        JwtIssuers::new([
            make("https://idp-a.test", &a_secret),
            make("https://idp-a.test", &b_secret)
        ])
        .is_err(),
        "one issuer twice"
    );
    let url = serve(issuers).await;
    let token = |iss: &str, secret: &[u8], sub: &str| {
        let mut c = claims();
        c["iss"] = json!(iss);
        c["sub"] = json!(sub);
        sign(
            J::HS256,
            &EncodingKey::from_secret(secret).unwrap(),
            json!({}),
            &c,
        )
    };
    let get = |t: String| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .get(&url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get(token("https://idp-a.test", &a_secret, "from-a")).await,
        (StatusCode::OK, "from-a".to_owned())
    );
    assert_eq!(
        get(token("https://idp-b.test", &b_secret, "from-b")).await,
        (StatusCode::OK, "from-b".to_owned())
    );
    // `iss` only chooses the validator, which checks the signature with its
    // own keys: naming A while signed by B fails.
    assert_eq!(
        get(token("https://idp-a.test", &b_secret, "x")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(token("https://idp-c.test", &a_secret, "x")).await.0,
        StatusCode::UNAUTHORIZED,
        "an issuer nobody configured"
    );
}
