//! The built-in token endpoint over a real socket: the client-credentials
//! grant and every error of RFC 6749 §5.2, scopes and audiences, disabled
//! clients, rolled secrets, key rotation, revocation, and interop with an
//! independent validator and with our own authenticator by discovery.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(clippy::too_many_lines, reason = "a scenario reads best in one piece")]

mod interop;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use m2m_auth::api_key::MemoryKeyStore;
use m2m_auth::issuer::{ClientSettings, Clients, SigningKeys, TokenEndpoint};
use m2m_auth::jwt::MemoryRevocations;
use m2m_auth::{AuthLayer, Identity, Scopes};
use reqwest::StatusCode;
use serde_json::Value;

pub(crate) const API: &str = "https://api.test";
const OTHER: &str = "https://other.test";

/// A running endpoint: its URL, and a client's id and secret.
pub(crate) struct Idp {
    pub(crate) base: String,
    pub(crate) endpoint: TokenEndpoint<MemoryKeyStore>,
    pub(crate) secret: String,
    http: reqwest::Client,
}

pub(crate) async fn idp() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let clients = Clients::new(MemoryKeyStore::new());
    let secret = clients
        .register(
            "billing",
            &ClientSettings::new([API, OTHER])
                .scopes(Scopes::new(["invoices:read", "invoices:write"]).unwrap())
                .default_scopes(Scopes::new(["invoices:read"]).unwrap())
                .token_lifetime(Duration::from_mins(10)),
        )
        .await
        .unwrap()
        .key
        .expose_secret()
        .to_owned();
    let endpoint = TokenEndpoint::builder(&base, clients)
        .signing_keys(SigningKeys::generate().unwrap())
        .revocations(MemoryRevocations::new())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/whoami",
            get(|id: Identity| async move { format!("{} {}", id.subject(), id.scopes()) }),
        )
        .layer(AuthLayer::new(endpoint.authenticator(API).unwrap()))
        .merge(endpoint.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Idp {
        base,
        endpoint,
        secret,
        http: reqwest::Client::new(),
    }
}

impl Idp {
    /// `POST /oauth/token` with `form` (already encoded), authenticating by
    /// `basic` if given.
    pub(crate) async fn post(
        &self,
        basic: Option<(&str, &str)>,
        form: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some((id, secret)) = basic {
            req = req.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
            );
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let body = res.bytes().await.unwrap();
        (
            status,
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    /// A token for `billing` with extra form parameters.
    pub(crate) async fn token(&self, extra: &str) -> String {
        let (status, _, body) = self
            .post(
                Some(("billing", &self.secret)),
                &format!("grant_type=client_credentials{extra}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn whoami(&self, token: &str) -> (StatusCode, String) {
        let res = self
            .http
            .get(format!("{}/whoami", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    async fn error(&self, basic: Option<(&str, &str)>, form: &str) -> (StatusCode, String) {
        let (status, headers, body) = self.post(basic, form).await;
        assert_eq!(headers["cache-control"], "no-store", "{form}");
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(headers["www-authenticate"], r#"Basic realm="token""#);
        }
        assert!(body["error_description"].is_string(), "{body}");
        (status, body["error"].as_str().unwrap().to_owned())
    }
}

/// The header and claims of a compact JWS, unverified.
pub(crate) fn parts(token: &str) -> (Value, Value) {
    let mut segments = token.split('.');
    let mut decode = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments.next().unwrap()).unwrap()).unwrap()
    };
    (decode(), decode())
}

#[tokio::test]
async fn a_client_gets_an_rfc9068_token() {
    let idp = idp().await;
    for basic in [true, false] {
        let (status, headers, body) = if basic {
            idp.post(
                Some(("billing", &idp.secret)),
                "grant_type=client_credentials",
            )
            .await
        } else {
            idp.post(
                None,
                &format!(
                    "grant_type=client_credentials&client_id=billing&client_secret={}",
                    idp.secret
                ),
            )
            .await
        };
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["scope"], "invoices:read", "the default scopes");
        let token = body["access_token"].as_str().unwrap();
        let (header, claims) = parts(token);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(
            header["kid"].as_str(),
            Some(&*idp.endpoint.signing_keys().active_kid())
        );
        assert_eq!(claims["iss"], idp.base.as_str());
        assert_eq!(claims["sub"], "billing");
        assert_eq!(claims["client_id"], "billing");
        assert_eq!(claims["aud"], API, "the first audience by default");
        assert_eq!(claims["scope"], "invoices:read");
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 600);
        assert!(claims["jti"].as_str().unwrap().len() >= 16);
        assert_eq!(
            idp.whoami(token).await,
            (StatusCode::OK, "billing invoices:read".to_owned())
        );
    }
}

#[tokio::test]
async fn scopes_and_audiences_are_chosen_within_the_client_s_rights() {
    let idp = idp().await;
    let token = idp.token("&scope=invoices:write").await;
    assert_eq!(parts(&token).1["scope"], "invoices:write", "down-selected");
    let token = idp.token("&scope=invoices:read%20invoices:write").await;
    assert_eq!(parts(&token).1["scope"], "invoices:read invoices:write");
    let token = idp.token(&format!("&audience={OTHER}")).await;
    assert_eq!(parts(&token).1["aud"], OTHER);
    assert_eq!(
        idp.whoami(&token).await.0,
        StatusCode::UNAUTHORIZED,
        "not for this API"
    );
    let token = idp.token(&format!("&resource={API}")).await;
    assert_eq!(parts(&token).1["aud"], API, "RFC 8707 resource");

    let basic = Some(("billing", idp.secret.as_str()));
    for (form, error) in [
        ("&scope=admin", "invalid_scope"),
        ("&scope=invoices:read%20admin", "invalid_scope"),
        ("&scope=%22bad%22", "invalid_scope"),
        ("&audience=https://evil.test", "invalid_target"),
        ("&resource=https://evil.test", "invalid_target"),
        (
            "&audience=https://api.test&resource=https://api.test",
            "invalid_request",
        ),
    ] {
        let (status, e) = idp
            .error(basic, &format!("grant_type=client_credentials{form}"))
            .await;
        assert_eq!(
            (status, e.as_str()),
            (StatusCode::BAD_REQUEST, error),
            "{form}"
        );
    }
}

/// Client credentials by HTTP Basic, the form, and the answer expected.
type Case<'a> = (Option<(&'a str, &'a str)>, String, StatusCode, &'a str);

#[tokio::test]
async fn every_error_of_rfc6749() {
    let idp = idp().await;
    let good = Some(("billing", idp.secret.as_str()));
    let cases: Vec<Case<'_>> = vec![
        (
            None,
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(("billing", "m2m_cs_wrong")),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some(("nobody", idp.secret.as_str())),
            "grant_type=client_credentials".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            "grant_type=client_credentials&client_id=billing&client_secret=nope".into(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            good,
            format!("grant_type=client_credentials&client_secret={}", idp.secret),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            format!("grant_type=client_credentials&client_secret={}", idp.secret),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            good,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            good,
            "grant_type=password".into(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            good,
            "grant_type=authorization_code".into(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            good,
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            None,
            format!(
                "grant_type=client_credentials&client_id=billing&client_secret={0}&client_secret={0}",
                idp.secret
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (basic, form, status, error) in cases {
        assert_eq!(
            idp.error(basic, &form).await,
            (status, error.to_owned()),
            "{form}"
        );
    }

    // Malformed Basic credentials, and a body that is not a form.
    let res = idp
        .http
        .post(format!("{}/oauth/token", idp.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic !!!not-base64")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = idp
        .http
        .post(format!("{}/oauth/token", idp.base))
        .header("content-type", "application/json")
        .basic_auth("billing", Some(&idp.secret))
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_disabled_client_and_a_rolled_secret() {
    let idp = idp().await;
    let clients = idp.endpoint.clients();
    clients.set_enabled("billing", false).await.unwrap();
    let basic = Some(("billing", idp.secret.as_str()));
    assert_eq!(
        idp.error(basic, "grant_type=client_credentials").await,
        (StatusCode::UNAUTHORIZED, "invalid_client".to_owned()),
        "disabled"
    );
    clients.set_enabled("billing", true).await.unwrap();
    idp.token("").await;

    let new = clients
        .roll_secret("billing", Duration::from_secs(1))
        .await
        .unwrap();
    let new = new.key.expose_secret().to_owned();
    let (status, _, _) = idp
        .post(
            Some(("billing", &idp.secret)),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the old secret in its grace");
    let (status, _, _) = idp
        .post(Some(("billing", &new)), "grant_type=client_credentials")
        .await;
    assert_eq!(status, StatusCode::OK, "the new secret");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        idp.error(basic, "grant_type=client_credentials").await.1,
        "invalid_client",
        "the old secret after its grace"
    );
    let (status, _, _) = idp
        .post(Some(("billing", &new)), "grant_type=client_credentials")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn keys_rotate_without_breaking_tokens() {
    let idp = idp().await;
    let jwks = |idp: &Idp| {
        let url = format!("{}/.well-known/jwks.json", idp.base);
        let http = idp.http.clone();
        async move {
            let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap();
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = idp.token("").await;
    let old_kid = parts(&before).0["kid"].as_str().unwrap().to_owned();
    let published = jwks(&idp).await;
    assert_eq!(published.len(), 2, "the signing key and the next one");

    idp.endpoint
        .signing_keys()
        .rotate(Duration::from_mins(10))
        .unwrap();
    let after = idp.token("").await;
    let new_kid = parts(&after).0["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "a token signed after names the new kid");
    assert!(
        published.contains(&new_kid),
        "the new key was published before it signed"
    );
    let now = jwks(&idp).await;
    assert!(
        now.contains(&old_kid),
        "the old key stays until its tokens expire"
    );
    assert!(now.contains(&new_kid));
    assert_eq!(idp.whoami(&before).await.0, StatusCode::OK, "signed before");
    assert_eq!(idp.whoami(&after).await.0, StatusCode::OK, "signed after");
}

#[tokio::test]
async fn tokens_are_revoked_without_touching_the_secret() {
    let idp = idp().await;
    let one = idp.token("").await;
    let two = idp.token("").await;
    let (jti, exp) = {
        let c = parts(&one).1;
        (
            c["jti"].as_str().unwrap().to_owned(),
            c["exp"].as_u64().unwrap(),
        )
    };
    idp.endpoint
        .revoke_token(&jti, std::time::UNIX_EPOCH + Duration::from_secs(exp))
        .await
        .unwrap();
    assert_eq!(
        idp.whoami(&one).await.0,
        StatusCode::UNAUTHORIZED,
        "the revoked jti"
    );
    assert_eq!(idp.whoami(&two).await.0, StatusCode::OK, "its twin");

    idp.endpoint.revoke_client_tokens("billing").await.unwrap();
    assert_eq!(
        idp.whoami(&two).await.0,
        StatusCode::UNAUTHORIZED,
        "every earlier token"
    );
    let fresh = idp.token("").await;
    assert_eq!(
        idp.whoami(&fresh).await.0,
        StatusCode::OK,
        "the same secret gets tokens that work"
    );
}

#[tokio::test]
async fn metadata_names_the_keys_and_the_endpoint() {
    let idp = idp().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let body = idp
            .http
            .get(format!("{}{path}", idp.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let m: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(m["issuer"], idp.base.as_str(), "{path}");
        assert_eq!(m["token_endpoint"], format!("{}/oauth/token", idp.base));
        assert_eq!(m["jwks_uri"], format!("{}/.well-known/jwks.json", idp.base));
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
    }
}

#[tokio::test]
async fn rs256_and_es256_with_keys_given() {
    use m2m_auth::ConfigError;
    use m2m_auth::issuer::SigningAlgorithm;

    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/jwt/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    for (alg, pem, next) in [
        (
            SigningAlgorithm::RS256,
            "rsa2048.key.pem",
            Some("rsa2048_other.key.pem"),
        ),
        (SigningAlgorithm::ES256, "ec_p256.key.pem", None),
    ] {
        let keys = SigningKeys::from_pem(alg, &fixture(pem)).unwrap();
        assert!(
            matches!(
                keys.rotate(Duration::from_mins(1)),
                Err(ConfigError::Missing(_))
            ),
            "no next key to rotate to"
        );
        let clients = Clients::new(MemoryKeyStore::new());
        let secret = clients
            .register("svc", &ClientSettings::new([API]))
            .await
            .unwrap();
        let endpoint = TokenEndpoint::builder("https://idp.test", clients)
            .signing_keys(keys)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let auth = endpoint.authenticator(API).unwrap();
        let app = endpoint.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let token = |secret: String| {
            let base = base.clone();
            async move {
                let body = reqwest::Client::new()
                    .post(format!("{base}/oauth/token"))
                    .basic_auth("svc", Some(secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let v: Value = serde_json::from_slice(&body).unwrap();
                v["access_token"].as_str().unwrap().to_owned()
            }
        };
        let secret = secret.key.expose_secret().to_owned();
        let first = token(secret.clone()).await;
        assert_eq!(parts(&first).0["alg"], format!("{alg:?}"));
        assert_eq!(auth.verify(&first).unwrap().subject(), "svc");
        if let Some(next) = next {
            endpoint
                .signing_keys()
                .add_next_pem(&fixture(next))
                .unwrap();
            endpoint
                .signing_keys()
                .rotate(Duration::from_mins(1))
                .unwrap();
            let second = token(secret.clone()).await;
            assert_ne!(parts(&second).0["kid"], parts(&first).0["kid"]);
            assert!(auth.verify(&second).is_ok(), "signed by the next key");
            assert!(auth.verify(&first).is_ok(), "signed before the rotation");
        }
    }
    let weak = SigningKeys::from_pem(SigningAlgorithm::RS256, &fixture("rsa1024.key.pem"));
    assert!(
        matches!(
            weak,
            Err(ConfigError::WeakKey(_) | ConfigError::InvalidKey(_))
        ),
        "RSA-1024 is refused: {weak:?}"
    );
    assert!(
        SigningKeys::from_pem(SigningAlgorithm::ES256, &fixture("rsa2048.key.pem")).is_err(),
        "a key of another kind"
    );
}
