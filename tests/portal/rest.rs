//! Every endpoint of the portal's REST API and its error cases, over a
//! real socket.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Api, api};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(api: &Api) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", api.base),
        }
    }

    /// `method path` as the holder of `key`, with a JSON `body`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, value)
    }

    async fn ok(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let (status, _, value) = self.call(method, path, Some(key), body.as_deref()).await;
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// The status and the problem's detail of a failing call.
    async fn fails(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, String) {
        let (status, headers, value) = self.call(method, path, key, body).await;
        assert!(!status.is_success(), "{path} succeeded: {value}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}: {value}"
        );
        assert_eq!(value["status"], status.as_u16());
        (
            status,
            value["detail"].as_str().unwrap_or_default().to_owned(),
        )
    }

    async fn whoami(&self, key: &str) -> StatusCode {
        self.http
            .get(format!("{}/whoami", self.base))
            .header("api-key", key)
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let api = api().await;
    let c = Client::new(&api);
    let html = c
        .http
        .get(format!("{}/portal", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<base href="/portal/">"#),
        "assets resolve under the mount point"
    );
    for (path, kind) in [
        ("/portal", "text/html"),
        ("/portal/portal.js", "text/javascript"),
        ("/portal/portal.css", "text/css"),
    ] {
        let res = c
            .http
            .get(format!("{}{path}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
    }
    let html = c
        .http
        .get(format!("{}/portal", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
}

#[tokio::test]
async fn the_api_needs_a_caller() {
    let api = api().await;
    let c = Client::new(&api);
    for (method, path) in [
        (Method::GET, "/portal/api/me"),
        (Method::GET, "/portal/api/scopes"),
        (Method::GET, "/portal/api/keys"),
        (Method::POST, "/portal/api/keys"),
        (Method::GET, "/portal/api/keys/key_x"),
        (Method::PATCH, "/portal/api/keys/key_x"),
        (Method::POST, "/portal/api/keys/key_x/roll"),
        (Method::POST, "/portal/api/keys/key_x/revoke"),
    ] {
        let (status, headers, _) = c.call(method, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers["www-authenticate"], "Bearer", "{path}");
    }
    // A bad key is refused by the layer, before the portal.
    let (status, _, _) = c
        .call(
            Method::GET,
            "/portal/api/keys",
            Some("acme_test_garbage"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn create_list_get_update_roll_revoke() {
    let api = api().await;
    let c = Client::new(&api);
    let me = c.ok(Method::GET, "/portal/api/me", &api.alice, None).await;
    assert_eq!(me, json!({"owner": "alice"}));
    let scopes = c
        .ok(Method::GET, "/portal/api/scopes", &api.alice, None)
        .await;
    assert_eq!(scopes, json!(["invoices:read", "invoices:write"]));

    // Create: the plaintext once, the record with a hint.
    let (status, headers, created) = c
        .call(
            Method::POST,
            "/portal/api/keys",
            Some(&api.alice),
            Some(
                &json!({"name": "nightly job", "scopes": ["invoices:write"], "metadata": {"team": "billing"}})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let key = created["key"].as_str().unwrap().to_owned();
    let record = &created["record"];
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(record["name"], "nightly job");
    assert_eq!(record["scopes"], json!(["invoices:write"]));
    assert_eq!(record["metadata"], json!({"team": "billing"}));
    assert_eq!(record["status"], "active");
    assert!(record["expires_at"].is_null());
    let hint = record["hint"].as_str().unwrap();
    assert!(hint.starts_with("acme_test_") && hint.contains("...") && !key.contains(hint));
    assert!(
        !record.to_string().contains(&key),
        "the record never holds the key"
    );
    assert_eq!(c.whoami(&key).await, StatusCode::OK, "the new key works");

    // List and get: the key, but never the key itself.
    let list = c
        .ok(Method::GET, "/portal/api/keys", &api.alice, None)
        .await;
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "alice's seed key and the new one: {list}");
    assert!(!list.to_string().contains(&key));
    let got = c
        .ok(
            Method::GET,
            &format!("/portal/api/keys/{id}"),
            &api.alice,
            None,
        )
        .await;
    assert_eq!(got["id"], id.as_str());

    // Update name, scopes, expiry; `null` clears the expiry.
    let later = now() + 3600;
    let updated = c
        .ok(
            Method::PATCH,
            &format!("/portal/api/keys/{id}"),
            &api.alice,
            Some(json!({"name": "renamed", "scopes": ["invoices:read", "invoices:write"], "expires_at": later})),
        )
        .await;
    assert_eq!(updated["name"], "renamed");
    assert_eq!(
        updated["scopes"],
        json!(["invoices:read", "invoices:write"])
    );
    assert_eq!(updated["expires_at"], later);
    assert_eq!(updated["metadata"], json!({"team": "billing"}), "kept");
    let cleared = c
        .ok(
            Method::PATCH,
            &format!("/portal/api/keys/{id}"),
            &api.alice,
            Some(json!({"expires_at": null})),
        )
        .await;
    assert!(cleared["expires_at"].is_null());
    assert_eq!(cleared["name"], "renamed", "kept");

    // Roll with no grace: the old key stops, the new one works.
    let (status, _, rolled) = c
        .call(
            Method::POST,
            &format!("/portal/api/keys/{id}/roll"),
            Some(&api.alice),
            Some(r#"{"grace_seconds": 0}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rolled}");
    let new_key = rolled["key"].as_str().unwrap().to_owned();
    let new_id = rolled["record"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rolled["record"]["rolled_from"], id.as_str());
    assert_eq!(rolled["record"]["name"], "renamed");
    assert_eq!(c.whoami(&key).await, StatusCode::UNAUTHORIZED, "old key");
    assert_eq!(c.whoami(&new_key).await, StatusCode::OK, "new key");

    // Roll with a grace period: both work.
    let graceful = c
        .ok(
            Method::POST,
            &format!("/portal/api/keys/{new_id}/roll"),
            &api.alice,
            Some(json!({"grace_seconds": 600})),
        )
        .await;
    let newest = graceful["key"].as_str().unwrap().to_owned();
    assert_eq!(c.whoami(&new_key).await, StatusCode::OK, "in its grace");
    assert_eq!(c.whoami(&newest).await, StatusCode::OK);

    // Revoke: at once, for good; again is no error.
    let newest_id = graceful["record"]["id"].as_str().unwrap().to_owned();
    let revoked = c
        .ok(
            Method::POST,
            &format!("/portal/api/keys/{newest_id}/revoke"),
            &api.alice,
            None,
        )
        .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(c.whoami(&newest).await, StatusCode::UNAUTHORIZED);
    c.ok(
        Method::POST,
        &format!("/portal/api/keys/{newest_id}/revoke"),
        &api.alice,
        None,
    )
    .await;

    // A revoked key cannot change or roll.
    let (status, _) = c
        .fails(
            Method::PATCH,
            &format!("/portal/api/keys/{newest_id}"),
            Some(&api.alice),
            Some(r#"{"name": "again"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = c
        .fails(
            Method::POST,
            &format!("/portal/api/keys/{newest_id}/roll"),
            Some(&api.alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn bad_input_gets_a_clear_400() {
    let api = api().await;
    let c = Client::new(&api);
    let create = |body: String| {
        let c = &c;
        let key = api.alice.clone();
        async move {
            c.fails(Method::POST, "/portal/api/keys", Some(&key), Some(&body))
                .await
        }
    };
    let cases = [
        (json!({"scopes": ["admin"]}).to_string(), "scope \"admin\""),
        (
            json!({"scopes": ["bad scope"]}).to_string(),
            "scope \"bad scope\"",
        ),
        (json!({"expires_at": now() - 10}).to_string(), "expiry"),
        (json!({"name": "n".repeat(201)}).to_string(), "name"),
        (
            json!({"metadata": {"x": "y".repeat(5000)}}).to_string(),
            "metadata",
        ),
        (json!({"owner": "bob"}).to_string(), "unknown field"),
        ("{not json".to_owned(), "not what this endpoint takes"),
        (
            json!({"scopes": "invoices:read"}).to_string(),
            "invalid type",
        ),
    ];
    for (body, says) in cases {
        let (status, detail) = create(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            detail.contains(says),
            "{body}: {detail:?} does not say {says:?}"
        );
    }
    let (status, _) = create(format!(r#"{{"name": "{}"}}"#, "x".repeat(20_000))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _) = c
        .fails(
            Method::GET,
            "/portal/api/keys?limit=lots",
            Some(&api.alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Scope escalation through an update, and a grace too long.
    let list = c
        .ok(Method::GET, "/portal/api/keys", &api.alice, None)
        .await;
    let id = list["keys"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = c
        .fails(
            Method::PATCH,
            &format!("/portal/api/keys/{id}"),
            Some(&api.alice),
            Some(r#"{"scopes": ["invoices:read", "admin"]}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail.contains("admin"), "{detail}");
    let (status, _) = c
        .fails(
            Method::PATCH,
            &format!("/portal/api/keys/{id}"),
            Some(&api.alice),
            Some(&json!({"expires_at": 5}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an expiry in the past");
    let (status, _) = c
        .fails(
            Method::POST,
            &format!("/portal/api/keys/{id}/roll"),
            Some(&api.alice),
            Some(r#"{"grace_seconds": 99999999}"#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing changed.
    let after = c
        .ok(
            Method::GET,
            &format!("/portal/api/keys/{id}"),
            &api.alice,
            None,
        )
        .await;
    assert_eq!(after["scopes"], json!(["invoices:read"]));
}

#[tokio::test]
async fn another_owners_keys_are_not_found() {
    let api = api().await;
    let c = Client::new(&api);
    let bobs = c.ok(Method::GET, "/portal/api/keys", &api.bob, None).await;
    let bob_id = bobs["keys"][0]["id"].as_str().unwrap().to_owned();
    let alices = c
        .ok(Method::GET, "/portal/api/keys", &api.alice, None)
        .await;
    assert!(
        !alices.to_string().contains(&bob_id),
        "alice does not see bob's key"
    );
    for (method, path, body) in [
        (Method::GET, format!("/portal/api/keys/{bob_id}"), None),
        (
            Method::PATCH,
            format!("/portal/api/keys/{bob_id}"),
            Some(r#"{"name": "mine now"}"#),
        ),
        (
            Method::POST,
            format!("/portal/api/keys/{bob_id}/roll"),
            None,
        ),
        (
            Method::POST,
            format!("/portal/api/keys/{bob_id}/revoke"),
            None,
        ),
        (
            Method::GET,
            "/portal/api/keys/key_does_not_exist".to_owned(),
            None,
        ),
    ] {
        let (status, detail) = c.fails(method, &path, Some(&api.alice), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: 404, not 403");
        assert_eq!(detail, "no such key");
    }
    assert_eq!(
        c.whoami(&api.bob).await,
        StatusCode::OK,
        "bob's key untouched"
    );
    let after = c.ok(Method::GET, "/portal/api/keys", &api.bob, None).await;
    assert_eq!(after, bobs, "nothing of bob's changed");
}

#[tokio::test]
async fn lists_page() {
    let api = api().await;
    let c = Client::new(&api);
    for i in 0..4 {
        c.ok(
            Method::POST,
            "/portal/api/keys",
            &api.alice,
            Some(json!({"name": format!("k{i}")})),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = "/portal/api/keys?limit=2".to_owned();
    loop {
        let page = c.ok(Method::GET, &path, &api.alice, None).await;
        let keys = page["keys"].as_array().unwrap();
        assert!(keys.len() <= 2);
        seen.extend(keys.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/portal/api/keys?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "the seed key and four more");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, each once");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
