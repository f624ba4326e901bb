//! JWT and API keys on one layer: bearer tokens are routed by shape.

use std::convert::Infallible;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{Algorithm as J, EncodingKey};
use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
use m2m_auth::{AuthError, AuthLayer, Identity};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

use crate::*;

struct App {
    key: String,
    layer: AuthLayer,
}

fn app() -> App {
    let format = KeyFormat::new("acme_live").unwrap();
    let store = MemoryKeyStore::new();
    let key = format.generate().unwrap();
    store.insert(
        key.digest(),
        KeyRecord::builder("key_1", "key-owner").build(),
    );
    let layer = AuthLayer::new(ApiKeyAuthenticator::new(format, store)).or(rsa_auth());
    App {
        key: key.expose_secret().to_owned(),
        layer,
    }
}

/// Status, subject seen by the handler (or the rejection's reason).
async fn call(app: &App, header: (&str, &str)) -> (StatusCode, String) {
    let svc = app.layer.layer(service_fn(|req: Request<()>| async move {
        let id = req.extensions().get::<Identity>().unwrap();
        Ok::<_, Infallible>(Response::new(id.subject().to_owned()))
    }));
    let req = Request::get("/")
        .header(header.0, header.1)
        .body(())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    if let Some(e) = res.extensions().get::<AuthError>() {
        return (status, e.reason().to_owned());
    }
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let what = String::from_utf8(body.to_vec()).unwrap();
    (status, what)
}

#[tokio::test]
async fn jwt_and_api_key_share_the_bearer_header() {
    let app = app();
    let jwt = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &claims());
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        call(&app, ("authorization", &bearer(&jwt))).await,
        (StatusCode::OK, "billing-service".to_owned())
    );
    assert_eq!(
        call(&app, ("authorization", &bearer(&app.key))).await,
        (StatusCode::OK, "key-owner".to_owned())
    );
    assert_eq!(
        call(&app, ("api-key", &app.key)).await,
        (StatusCode::OK, "key-owner".to_owned())
    );
}

#[tokio::test]
async fn bad_bearer_tokens_are_refused_by_their_owner() {
    let app = app();
    let bearer = |t: &str| format!("Bearer {t}");
    let forged = sign(
        J::RS256,
        &EncodingKey::from_rsa_pem(OTHER_RSA_PRIV).unwrap(),
        json!({"kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(
        call(&app, ("authorization", &bearer(&forged))).await,
        (StatusCode::UNAUTHORIZED, "bad_signature".to_owned())
    );
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    let expired = sign(J::RS256, &rsa_signer(), json!({"kid": "rsa-1"}), &c);
    assert_eq!(
        call(&app, ("authorization", &bearer(&expired))).await,
        (StatusCode::UNAUTHORIZED, "expired".to_owned())
    );
    let huge = format!("ey{}", "A".repeat(1 << 20));
    assert_eq!(
        call(&app, ("authorization", &bearer(&huge))).await,
        (StatusCode::UNAUTHORIZED, "token_too_large".to_owned())
    );
    // Neither a JWS nor a key of ours: nobody's, still a bad credential.
    assert_eq!(
        call(&app, ("authorization", "Bearer opaque-token")).await,
        (
            StatusCode::UNAUTHORIZED,
            "unrecognized_bearer_token".to_owned()
        )
    );
    // A key of our prefix that fails its checksum is the API-key
    // authenticator's to refuse.
    let mut typo = app.key.clone();
    typo.pop();
    typo.push(if app.key.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        call(&app, ("authorization", &bearer(&typo))).await,
        (StatusCode::UNAUTHORIZED, "bad_checksum".to_owned())
    );
}
