//! Interop with a real OpenID provider: `oidc-provider` (npm, v9) started
//! from `tests/idp/` on 127.0.0.1, tokens obtained with the
//! client-credentials grant, keys found by discovery.
//!
//! Needs Node.js and `npm ci --prefix tests/idp`; without them the tests
//! print a notice and skip, unless `CI` is set.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use m2m_auth::jwt::{Algorithm, Fetch, FetchError, HttpFetcher, JwtAuthenticator, RemoteJwks};
use m2m_auth::{AuthErrorKind, Authenticator, Credential, async_trait};

pub(crate) const CLIENT: &str = "billing-service";
const SECRET: &str = "billing-secret";
pub(crate) const RS256_API: &str = "https://api.test/rs256";
pub(crate) const ES256_API: &str = "https://api.test/es256";
const SHORT_API: &str = "https://api.test/short";
pub(crate) const OTHER_API: &str = "https://other.test";

/// A running provider.
pub(crate) struct Provider {
    child: Child,
    port: u16,
}

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

fn unavailable<T>(test: &str, why: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: the OpenID provider is required when CI is set, but {why}"
    );
    eprintln!("skipping {test}: {why} (install Node.js and run `npm ci --prefix tests/idp`)");
    None
}

impl Provider {
    /// Starts the provider on a free port, or says why it cannot.
    pub(crate) async fn start(test: &str) -> Option<Self> {
        if Command::new("node").arg("--version").output().is_err() {
            return unavailable(test, "`node` is not installed");
        }
        if !idp_dir().join("node_modules/oidc-provider").is_dir() {
            return unavailable(test, "tests/idp has no node_modules");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut provider = Self {
            child: spawn(port),
            port,
        };
        provider.wait_ready().await;
        Some(provider)
    }

    /// The issuer, `http://127.0.0.1:<port>`.
    pub(crate) fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the provider and starts it again on the same port: its keys
    /// are new.
    pub(crate) async fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(self.port);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        let start = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the provider exited: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the provider never came up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An access token for `resource` with `scope`, by the client-credentials
    /// grant (HTTP Basic client authentication).
    pub(crate) async fn token(&self, resource: &str, scope: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer()))
            .basic_auth(CLIENT, Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&scope={}&resource={}",
                scope.replace(' ', "%20"),
                resource.replace(':', "%3A").replace('/', "%2F")
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let response: serde_json::Value = serde_json::from_slice(&response).unwrap();
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {response}"))
            .to_owned()
    }
}

fn spawn(port: u16) -> Child {
    Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .current_dir(idp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The default fetcher, counting its fetches.
#[derive(Clone)]
struct Counting {
    inner: HttpFetcher,
    fetches: Arc<AtomicUsize>,
}

#[async_trait]
impl Fetch for Counting {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if url.ends_with("/jwks") {
            self.fetches.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.fetch(url).await
    }
}

async fn authenticator(
    provider: &Provider,
    audience: &str,
    fetcher: Option<Counting>,
) -> JwtAuthenticator {
    let keys = RemoteJwks::builder()
        .discover(provider.issuer())
        .cooldown(Duration::from_millis(500));
    let keys = match fetcher {
        Some(f) => keys.fetcher(f),
        None => keys,
    };
    JwtAuthenticator::builder()
        .issuer(provider.issuer())
        .audience(audience)
        .algorithms([Algorithm::RS256, Algorithm::ES256])
        .require_at_jwt(true)
        .leeway(Duration::ZERO)
        .remote_keys(keys.build().await.unwrap())
        .build()
        .unwrap()
}

async fn decide(
    auth: &JwtAuthenticator,
    token: &str,
) -> Result<m2m_auth::Identity, (AuthErrorKind, &'static str)> {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    match auth.authenticate(&request.into_parts().0).await {
        Ok(Some(identity)) => Ok(identity),
        Ok(None) => panic!("not recognised as a JWT"),
        Err(e) => Err((e.kind(), e.reason())),
    }
}

/// An axum API behind `AuthLayer::new(auth)` on 127.0.0.1, answering with
/// what the handler sees of the caller.
async fn serve(auth: JwtAuthenticator) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/",
            get(|id: m2m_auth::Identity| async move {
                format!(
                    "{} client_id={} scopes={}",
                    id.subject(),
                    id.attributes()["client_id"].as_str().unwrap_or("-"),
                    id.scopes()
                )
            }),
        )
        .layer(m2m_auth::AuthLayer::new(auth));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn get(url: &str, token: &str) -> (reqwest::StatusCode, String) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn client_credentials_tokens_of_a_real_provider_are_accepted() {
    let Some(provider) = Provider::start("idp_interop").await else {
        return;
    };
    for (api, alg) in [(RS256_API, "RS256"), (ES256_API, "ES256")] {
        let auth = authenticator(&provider, api, None).await;
        let token = provider.token(api, "invoices:read").await;
        let header = token.split('.').next().unwrap();
        assert!(
            String::from_utf8(
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                    .unwrap()
            )
            .unwrap()
            .contains(alg),
            "the provider signed with {alg}"
        );
        let identity = decide(&auth, &token).await.unwrap();
        assert_eq!(identity.subject(), CLIENT, "{alg}: sub is the client");
        assert!(identity.has_scope("invoices:read"), "{alg}");
        assert!(!identity.has_scope("invoices:write"), "{alg}");
        assert_eq!(identity.attributes()["client_id"], CLIENT, "{alg}");
        match identity.credential() {
            Credential::Jwt {
                issuer, kid, jti, ..
            } => {
                assert_eq!(&**issuer, provider.issuer());
                assert!(kid.is_some() && jti.is_some());
            }
            other => panic!("{other:?}"),
        }

        let other = provider.token(OTHER_API, "invoices:read").await;
        assert_eq!(
            decide(&auth, &other).await.unwrap_err(),
            (AuthErrorKind::Invalid, "wrong_audience"),
            "{alg}: a token for another API"
        );

        // The same through the layer, over a socket.
        let url = serve(auth).await;
        let (status, body) = get(&url, &token).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{alg}: {body}");
        assert_eq!(
            body,
            format!("{CLIENT} client_id={CLIENT} scopes=invoices:read")
        );
        let (status, _) = get(&url, &other).await;
        assert_eq!(
            status,
            reqwest::StatusCode::UNAUTHORIZED,
            "{alg}: another API's token"
        );
    }

    let auth = authenticator(&provider, SHORT_API, None).await;
    let short = provider.token(SHORT_API, "invoices:read").await;
    assert!(decide(&auth, &short).await.is_ok());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        decide(&auth, &short).await.unwrap_err().0,
        AuthErrorKind::Expired,
        "an expired token"
    );
}

#[tokio::test]
async fn a_key_rotation_costs_exactly_one_fetch() {
    let Some(mut provider) = Provider::start("idp_rotation").await else {
        return;
    };
    let fetches = Arc::new(AtomicUsize::new(0));
    let counting = Counting {
        inner: HttpFetcher::new().unwrap(),
        fetches: Arc::clone(&fetches),
    };
    let auth = authenticator(&provider, RS256_API, Some(counting)).await;
    let before = provider.token(RS256_API, "invoices:read").await;
    assert!(decide(&auth, &before).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the fetch at start");

    provider.restart().await;
    tokio::time::sleep(Duration::from_millis(600)).await; // past the cooldown
    let after = provider.token(RS256_API, "invoices:read").await;
    assert_eq!(decide(&auth, &after).await.unwrap().subject(), CLIENT);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "the new kid: one fetch");
    assert!(decide(&auth, &after).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "then none");
    assert_eq!(
        decide(&auth, &before).await.unwrap_err(),
        (AuthErrorKind::Invalid, "unknown_kid"),
        "the old key is gone from the provider"
    );
}

#[cfg(all(feature = "sqlite", feature = "portal", feature = "issuer"))]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; only part of it is used here"
)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

#[cfg(all(feature = "sqlite", feature = "portal", feature = "issuer"))]
#[tokio::test]
async fn the_quick_start_accepts_tokens_of_the_configured_issuer() {
    let Some(provider) = Provider::start("quickstart_with_idp").await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = quickstart::Config {
        port: 0,
        keys_db: ":memory:".to_owned(),
        jwt: Some((provider.issuer(), RS256_API.to_owned())),
    };
    let (app, banner) = quickstart::app(&config, &base).await.unwrap();
    assert!(
        banner.contains(&format!("JWT access tokens from {}", provider.issuer())),
        "the quick start says it accepts JWTs:\n{banner}"
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let whoami = |token: String| {
        let base = base.clone();
        async move {
            let r = reqwest::Client::new()
                .get(format!("{base}/whoami"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, body) = whoami(provider.token(RS256_API, "invoices:read").await).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert!(body.contains(CLIENT), "{body}");
    let (status, _) = whoami(provider.token(OTHER_API, "invoices:read").await).await;
    assert_eq!(
        status,
        reqwest::StatusCode::UNAUTHORIZED,
        "a token for another API"
    );
}
