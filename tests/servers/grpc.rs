//! `examples/grpc.rs` served on 127.0.0.1 and called with a tonic client.

use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../../examples/grpc.rs"]
mod example;

use example::whoami;

/// Starts the example server; returns a connected channel and the
/// server's shutdown trigger.
async fn start(creds: &crate::Credentials) -> (Channel, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(example::serve(listener, creds.layer.clone(), async {
        let _ = stopped.await;
    }));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (channel, stop)
}

#[tokio::test]
async fn tonic_client_through_the_layer() {
    let creds = crate::credentials();
    let (channel, _stop) = start(&creds).await;
    let call = |auth: Option<String>| {
        let channel = channel.clone();
        async move { whoami::call(channel, auth.as_deref()).await }
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));

    let reply = call(bearer(&creds.jwt)).await.unwrap();
    assert_eq!(
        (reply.subject.as_str(), reply.method.as_str()),
        ("jwt-client", "jwt")
    );
    let reply = call(bearer(&creds.api_key)).await.unwrap();
    assert_eq!(
        (reply.subject.as_str(), reply.method.as_str()),
        ("key-client", "api_key")
    );

    let status = call(None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Bad JWTs, a bad key, and a scheme that is not ours (no credential).
    for bad in [
        bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
        bearer(&format!("{}x", creds.jwt)),
        bearer("test_0000000000000000000000000000000000000"),
        Some("Basic dXNlcjpwYXNz".to_owned()),
    ] {
        let status = call(bad.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{bad:?}: {status:?}");
    }
    let status = call(bearer(&creds.jwt_unscoped)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}
