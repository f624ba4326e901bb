//! `examples/hyper.rs` served on 127.0.0.1 and called with reqwest.

use http::StatusCode;
use tokio::sync::oneshot;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../../examples/hyper.rs"]
mod example;

#[tokio::test]
async fn hyper_server_through_the_layer() {
    let creds = crate::credentials();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/whoami", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(example::serve(listener, creds.layer.clone(), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |auth: Option<String>| {
        let mut req = client.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let challenge = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, challenge, res.text().await.unwrap())
        }
    };

    let (status, _, body) = get(Some(format!("Bearer {}", creds.jwt))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello, jwt-client\n")
    );
    let (status, _, body) = get(Some(format!("Bearer {}", creds.api_key))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello, key-client\n")
    );

    let (status, challenge, _) = get(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let (status, challenge, body) = get(Some(format!("Bearer {}x", creds.jwt))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    assert!(!body.contains(&creds.jwt[..20]), "the token is not echoed");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
