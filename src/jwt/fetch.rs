//! Getting documents from an identity provider: the [`Fetch`] trait and
//! its default, [`HttpFetcher`].

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// Default cap on a fetched document (a JWKS or a discovery document).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Default time a fetch may take, connection included.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Gets the body of a URL: how [`RemoteJwks`](super::RemoteJwks) reaches
/// the identity provider.
///
/// Implement it to bring your own HTTP client, CA roots, proxy or test
/// double; [`HttpFetcher`] is the default. A fetch that takes longer than
/// the key set's timeout is abandoned whatever the implementation.
///
/// ```
/// use m2m_auth::async_trait;
/// use m2m_auth::jwt::{Fetch, FetchError};
///
/// /// Serves a fixed document, for tests.
/// struct Fixed(&'static str);
///
/// #[async_trait]
/// impl Fetch for Fixed {
///     async fn fetch(&self, _url: &str) -> Result<Vec<u8>, FetchError> {
///         Ok(self.0.as_bytes().to_vec())
///     }
/// }
/// ```
#[async_trait]
pub trait Fetch: Send + Sync + 'static {
    /// The body of a successful (2xx) `GET` of `url`.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached, answers with another status, or
    /// sends more than the implementation accepts.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

/// A fetch failed.
pub struct FetchError {
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl FetchError {
    /// A failure described by `message` (lowercase, no secrets).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A failure caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchError")
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for FetchError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The default [`Fetch`]: `reqwest` over rustls (no OpenSSL), with the
/// platform's CA roots, a timeout, a size cap, no redirects and no
/// cookies. Its TLS uses rustls' default provider, aws-lc-rs, which the
/// `remote-jwks` feature compiles even where `rust-crypto` verifies the
/// JWTs.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
    max_bytes: usize,
}

impl HttpFetcher {
    /// A fetcher with [`DEFAULT_FETCH_TIMEOUT`] (5 s) and
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`] (256 KiB).
    ///
    /// # Errors
    ///
    /// When the TLS stack cannot be set up.
    pub fn new() -> Result<Self, FetchError> {
        Self::with_limits(DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_DOCUMENT_BYTES)
    }

    /// A fetcher giving up after `timeout` and refusing bodies over
    /// `max_bytes`.
    ///
    /// # Errors
    ///
    /// When the TLS stack cannot be set up.
    pub fn with_limits(timeout: Duration, max_bytes: usize) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("m2m-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::with_source("cannot build the http client", e))?;
        Ok(Self { client, max_bytes })
    }

    /// A fetcher over a client you configured (proxy, CA roots, …), with
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`].
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

#[async_trait]
impl Fetch for HttpFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::with_source("request failed", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::new(format!("http status {}", status.as_u16())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(FetchError::new("document too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::with_source("reading the body failed", e.without_url()))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::new("document too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
