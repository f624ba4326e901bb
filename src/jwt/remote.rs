//! [`RemoteJwks`]: verification keys fetched from an identity provider
//! (feature `remote-jwks`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use serde::Deserialize;

use super::fetch::{DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_DOCUMENT_BYTES, Fetch, HttpFetcher};
use super::key::KeySet;
use crate::error::ConfigError;

/// Default time between scheduled refreshes of the key set.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_mins(10);
/// Default shortest time between two fetches caused by unknown `kid`s.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);

/// The signing keys of an identity provider, fetched from its JWKS URL and
/// kept fresh.
///
/// Made by [`RemoteJwks::builder`], given to
/// [`JwtAuthenticatorBuilder::remote_keys`](super::JwtAuthenticatorBuilder::remote_keys).
///
/// - Every request reads the current key set from a lock-free snapshot; a
///   request whose key is known never waits for a refresh.
/// - The set is fetched again every [`DEFAULT_REFRESH_INTERVAL`] (10 min),
///   and when a token names a `kid` it does not hold — at most once per
///   [`DEFAULT_COOLDOWN`] (30 s), with one fetch in flight however many
///   requests ask (single flight). A token's `iss` is checked before it can
///   cause a fetch.
/// - A fetch that fails, times out ([`DEFAULT_FETCH_TIMEOUT`], 5 s) or
///   yields no usable key leaves the last good set in place; a malformed
///   or weak JWK is skipped, not the set. JWKs without `alg` are used for
///   the algorithms their type allows.
/// - A token with an unknown `kid` is refused with `401` when a fetch just
///   succeeded without that key, and with `503` when the set cannot be
///   fetched: the token may well be good.
///
/// Cheap to clone; clones share the keys.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), m2m_auth::ConfigError> {
/// use m2m_auth::jwt::{Algorithm, JwtAuthenticator, RemoteJwks};
///
/// let issuer = "https://idp.example.com/";
/// let jwt = JwtAuthenticator::builder()
///     .issuer(issuer)
///     .audience("https://api.example.com")
///     .algorithms([Algorithm::RS256, Algorithm::ES256])
///     .remote_keys(RemoteJwks::builder().discover(issuer).build().await?)
///     .build()?;
/// # let _ = jwt;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Remote>,
}

struct Remote {
    jwks_uri: String,
    fetcher: Arc<dyn Fetch>,
    keys: ArcSwap<KeySet>,
    state: Mutex<State>,
    cooldown: Duration,
    timeout: Duration,
    max_bytes: usize,
}

/// What refreshing looks like right now.
#[derive(Default)]
struct State {
    /// The fetch under way, which every caller waits for.
    in_flight: Option<Refresh>,
    /// When the last fetch started, and how it ended.
    last: Option<(Instant, Option<Outcome>)>,
}

/// How a fetch ended: `Err` says why it failed (no secrets in it).
pub(crate) type Outcome = Result<(), Arc<str>>;

/// A fetch under way; clones wait for the same one.
pub(crate) type Refresh = Shared<BoxFuture<'static, Outcome>>;

/// What [`RemoteJwks::refresh_for_unknown_kid`] decided.
pub(crate) enum Refreshing {
    /// Wait for this fetch, then look again.
    Wait(Refresh),
    /// A fetch ended moments ago (within the cooldown): this is how.
    Recent(Outcome),
}

impl RemoteJwks {
    /// Starts configuring a remote key set.
    pub fn builder() -> RemoteJwksBuilder {
        RemoteJwksBuilder::default()
    }

    /// The URL the keys are fetched from.
    pub fn jwks_uri(&self) -> &str {
        &self.inner.jwks_uri
    }

    /// The current key set.
    pub fn current(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// A lock-free read of the current key set, for one request.
    pub(crate) fn snapshot(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.inner.keys.load()
    }

    /// Fetches the key set now (unless a fetch is under way, which is
    /// waited for instead), whatever the cooldown.
    ///
    /// # Errors
    ///
    /// When the fetch fails; the last good set stays in use.
    pub async fn refresh(&self) -> Result<(), ConfigError> {
        Remote::start(&self.inner)
            .await
            .map_err(|why| ConfigError::KeySetUnavailable(why.to_string()))
    }

    /// A token named a `kid` the set does not hold: fetch again unless a
    /// fetch is under way (wait for it) or one started within the
    /// cooldown (its outcome stands).
    pub(crate) fn refresh_for_unknown_kid(&self) -> Refreshing {
        let mut state = self.inner.lock();
        if let Some(refresh) = &state.in_flight {
            return Refreshing::Wait(refresh.clone());
        }
        if let Some((started, outcome)) = &state.last
            && started.elapsed() < self.inner.cooldown
        {
            // Not in flight, so it has ended.
            return Refreshing::Recent(outcome.clone().unwrap_or(Ok(())));
        }
        Refreshing::Wait(Remote::start_locked(&self.inner, &mut state))
    }
}

impl Remote {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is valid whenever the lock is free; a panic elsewhere
        // does not change that.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fetch under way, or a new one.
    fn start(this: &Arc<Self>) -> Refresh {
        let mut state = this.lock();
        if let Some(refresh) = &state.in_flight {
            return refresh.clone();
        }
        Self::start_locked(this, &mut state)
    }

    fn start_locked(this: &Arc<Self>, state: &mut State) -> Refresh {
        let remote = Arc::clone(this);
        let task = tokio::spawn(async move {
            let outcome = remote.fetch_and_swap().await;
            let mut state = remote.lock();
            state.in_flight = None;
            if let Some((_, ended)) = &mut state.last {
                *ended = Some(outcome.clone());
            }
            outcome
        });
        let refresh = async move {
            task.await
                .unwrap_or_else(|_| Err(Arc::from("the key set fetch task failed")))
        }
        .boxed()
        .shared();
        state.in_flight = Some(refresh.clone());
        state.last = Some((Instant::now(), None));
        refresh
    }

    async fn fetch_and_swap(&self) -> Outcome {
        match fetch_set(&*self.fetcher, &self.jwks_uri, self.timeout, self.max_bytes).await {
            Ok(set) => {
                tracing::debug!(
                    target: "m2m_auth",
                    jwks_uri = %self.jwks_uri,
                    keys = set.keys().len(),
                    "key set refreshed"
                );
                self.keys.store(Arc::new(set));
                Ok(())
            }
            Err(why) => {
                tracing::warn!(
                    target: "m2m_auth",
                    jwks_uri = %self.jwks_uri,
                    error = %why,
                    "key set refresh failed; the last good set stays in use"
                );
                Err(why)
            }
        }
    }
}

/// The key set at `url`.
async fn fetch_set(
    fetcher: &dyn Fetch,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<KeySet, Arc<str>> {
    let body = fetch_document(fetcher, url, timeout, max_bytes)
        .await
        .map_err(Arc::from)?;
    let text = std::str::from_utf8(&body).map_err(|_| Arc::from("the JWKS is not UTF-8"))?;
    KeySet::from_remote_jwks(text).map_err(|e| Arc::from(format!("unusable JWKS: {e}")))
}

/// `GET url` through `fetcher`, within `timeout` and `max_bytes`.
async fn fetch_document(
    fetcher: &dyn Fetch,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let body = tokio::time::timeout(timeout, fetcher.fetch(url))
        .await
        .map_err(|_| format!("fetching {url} timed out after {timeout:?}"))?
        .map_err(|e| format!("fetching {url} failed: {e}"))?;
    if body.len() > max_bytes {
        return Err(format!("{url} sent more than {max_bytes} bytes"));
    }
    Ok(body)
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("jwks_uri", &self.inner.jwks_uri)
            .field("keys", &self.inner.keys.load().keys().len())
            .field("cooldown", &self.inner.cooldown)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RemoteJwks`]: where the keys are (a JWKS URL, or an
/// issuer to discover it from), how to fetch them, how often.
#[must_use]
#[derive(Default)]
pub struct RemoteJwksBuilder {
    jwks_uri: Option<String>,
    issuer: Option<String>,
    fetcher: Option<Arc<dyn Fetch>>,
    refresh_interval: Option<Duration>,
    cooldown: Option<Duration>,
    timeout: Option<Duration>,
    max_bytes: Option<usize>,
    allow_http: bool,
}

impl RemoteJwksBuilder {
    /// Fetches the keys from this JWKS URL.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Finds the JWKS URL from the issuer's metadata:
    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect
    /// Discovery), else the RFC 8414 `/.well-known/oauth-authorization-server`.
    /// The metadata's `issuer` must equal `issuer` exactly, or
    /// [`build`](Self::build) fails.
    pub fn discover(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Fetches with `fetcher` instead of the default [`HttpFetcher`].
    pub fn fetcher<F: Fetch>(mut self, fetcher: F) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Time between scheduled refreshes. Defaults to
    /// [`DEFAULT_REFRESH_INTERVAL`] (10 min).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = Some(interval);
        self
    }

    /// Shortest time between fetches caused by unknown `kid`s. Defaults to
    /// [`DEFAULT_COOLDOWN`] (30 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = Some(cooldown);
        self
    }

    /// Longest a fetch may take. Defaults to [`DEFAULT_FETCH_TIMEOUT`]
    /// (5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Largest document accepted. Defaults to
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`] (256 KiB).
    pub fn max_document_size(mut self, bytes: usize) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Allows `http://` URLs for hosts other than loopback. Insecure:
    /// anyone on the path can swap the keys. Defaults to off: `https://`,
    /// or `http://` to `127.0.0.1`, `[::1]` or `localhost` only.
    pub fn insecure_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Discovers the JWKS URL if asked to, fetches the key set once, and
    /// starts the scheduled refresh on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] without a URL or issuer;
    /// [`ConfigError::InvalidSetting`] for an `http://` URL that is not
    /// allowed, a discovered `issuer` that differs from the configured one,
    /// or outside a tokio runtime; [`ConfigError::KeySetUnavailable`] when
    /// the metadata or the first key set cannot be fetched or holds no
    /// usable key.
    pub async fn build(self) -> Result<RemoteJwks, ConfigError> {
        super::backend::provider()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::InvalidSetting(
                "a remote key set needs a tokio runtime".to_owned(),
            ));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_FETCH_TIMEOUT);
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_DOCUMENT_BYTES);
        let fetcher: Arc<dyn Fetch> = match self.fetcher {
            Some(f) => f,
            None => Arc::new(
                HttpFetcher::with_limits(timeout, max_bytes)
                    .map_err(|e| ConfigError::KeySetUnavailable(e.to_string()))?,
            ),
        };
        let jwks_uri = match (self.jwks_uri, self.issuer) {
            (Some(url), _) => url,
            (None, Some(issuer)) => {
                check_url(&issuer, self.allow_http)?;
                discover(&*fetcher, &issuer, timeout, max_bytes).await?
            }
            (None, None) => return Err(ConfigError::Missing("jwks_uri or discover(issuer)")),
        };
        check_url(&jwks_uri, self.allow_http)?;
        let started = Instant::now();
        let set = fetch_set(&*fetcher, &jwks_uri, timeout, max_bytes)
            .await
            .map_err(|why| ConfigError::KeySetUnavailable(why.to_string()))?;
        let inner = Arc::new(Remote {
            jwks_uri,
            fetcher,
            keys: ArcSwap::from_pointee(set),
            state: Mutex::new(State {
                in_flight: None,
                last: Some((started, Some(Ok(())))),
            }),
            cooldown: self.cooldown.unwrap_or(DEFAULT_COOLDOWN),
            timeout,
            max_bytes,
        });
        let interval = self.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL);
        tokio::spawn(scheduled_refresh(Arc::downgrade(&inner), interval));
        Ok(RemoteJwks { inner })
    }
}

impl fmt::Debug for RemoteJwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwksBuilder")
            .field("jwks_uri", &self.jwks_uri)
            .field("issuer", &self.issuer)
            .field("refresh_interval", &self.refresh_interval)
            .field("cooldown", &self.cooldown)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Refreshes every `interval` while anyone holds the key set.
async fn scheduled_refresh(remote: Weak<Remote>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(remote) = remote.upgrade() else {
            return;
        };
        let refresh = Remote::start(&remote);
        drop(remote);
        let _ = refresh.await;
    }
}

/// `https://`, or `http://` to loopback, unless `allow_http`.
fn check_url(url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Err(ConfigError::InvalidSetting(format!("{url:?} is not a URL")));
    };
    let loopback = matches!(
        uri.host(),
        Some("127.0.0.1" | "[::1]" | "::1" | "localhost")
    );
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback || allow_http => Ok(()),
        Some("http") => Err(ConfigError::InvalidSetting(format!(
            "{url:?} is http: keys must come over https (or use insecure_allow_http)"
        ))),
        _ => Err(ConfigError::InvalidSetting(format!(
            "{url:?} is not an http(s) URL"
        ))),
    }
}

/// The metadata URLs to try for `issuer`, in order: OpenID Connect
/// Discovery 1.0 §4, then RFC 8414 §3 (the well-known part goes between
/// host and path).
fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Some(scheme_end) = trimmed.find("://") {
        let after = &trimmed[scheme_end + 3..];
        let (origin_len, path) = match after.find('/') {
            Some(i) => (scheme_end + 3 + i, &after[i..]),
            None => (trimmed.len(), ""),
        };
        urls.push(format!(
            "{}/.well-known/oauth-authorization-server{path}",
            &trimmed[..origin_len]
        ));
    }
    urls
}

async fn discover(
    fetcher: &dyn Fetch,
    issuer: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<String, ConfigError> {
    #[derive(Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: Option<String>,
    }
    let mut failures = Vec::new();
    for url in metadata_urls(issuer) {
        let metadata = match fetch_document(fetcher, &url, timeout, max_bytes).await {
            Ok(body) => serde_json::from_slice::<Metadata>(&body)
                .map_err(|e| format!("{url} is not authorization server metadata: {e}")),
            Err(e) => Err(e),
        };
        match metadata {
            Ok(m) if m.issuer != issuer => {
                return Err(ConfigError::InvalidSetting(format!(
                    "the metadata at {url} names issuer {:?}, not {issuer:?}",
                    m.issuer
                )));
            }
            Ok(m) => {
                return m.jwks_uri.ok_or_else(|| {
                    ConfigError::KeySetUnavailable(format!("the metadata at {url} has no jwks_uri"))
                });
            }
            Err(e) => failures.push(e),
        }
    }
    Err(ConfigError::KeySetUnavailable(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_both_specs() {
        assert_eq!(
            metadata_urls("https://idp.example"),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            metadata_urls("https://idp.example/tenant/1/"),
            [
                "https://idp.example/tenant/1/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server/tenant/1"
            ]
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("https://idp.example/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://[::1]:1/jwks", false).is_ok());
        assert!(check_url("http://idp.example/jwks", false).is_err());
        assert!(check_url("http://idp.example/jwks", true).is_ok());
        assert!(check_url("ftp://idp.example/jwks", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }
}
