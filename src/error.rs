//! Runtime and configuration errors.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::identity::Scopes;

/// Why a request was not authenticated.
///
/// An opaque error: inspect it with [`kind`](Self::kind) (what the client is
/// told) and [`reason`](Self::reason) (the precise cause, for logs and
/// metrics only). It never holds token or key bytes, so its `Display` and
/// `Debug` are safe to log.
///
/// The layer attaches the error to the rejection response's extensions, so
/// middleware outside the layer can read it.
#[derive(Clone)]
pub struct AuthError {
    kind: AuthErrorKind,
    reason: &'static str,
    required_scopes: Option<Scopes>,
    credential_id: Option<Arc<str>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// The class of an [`AuthError`], which decides the response a client sees.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// No credential was presented: `401` with a bare challenge.
    Missing,
    /// A credential was presented but is not acceptable (malformed, unknown,
    /// revoked, disabled, or an expired API key): `401 invalid_token`.
    Invalid,
    /// A token that was valid once has expired: `401 invalid_token`, and the
    /// client is told that it expired.
    Expired,
    /// The caller is authenticated but lacks a required scope:
    /// `403 insufficient_scope`.
    InsufficientScope,
    /// The request carries credentials in a way that cannot be read
    /// unambiguously, such as two `Authorization` headers: `400
    /// invalid_request`.
    InvalidRequest,
    /// The credential could not be checked because a dependency (key store,
    /// key set) failed: `503`. Never reported as a bad credential.
    Unavailable,
}

impl AuthErrorKind {
    /// The HTTP status a rejection of this kind gets.
    pub const fn status(self) -> http::StatusCode {
        match self {
            Self::Missing | Self::Invalid | Self::Expired => http::StatusCode::UNAUTHORIZED,
            Self::InsufficientScope => http::StatusCode::FORBIDDEN,
            Self::InvalidRequest => http::StatusCode::BAD_REQUEST,
            Self::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable lowercase label, suitable for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRequest => "invalid_request",
            Self::Unavailable => "unavailable",
        }
    }
}

impl AuthError {
    const fn new(kind: AuthErrorKind, reason: &'static str) -> Self {
        Self {
            kind,
            reason,
            required_scopes: None,
            credential_id: None,
            source: None,
        }
    }

    /// No credential was found in the request.
    pub const fn missing() -> Self {
        Self::new(AuthErrorKind::Missing, "missing")
    }

    /// The credential is not acceptable.
    ///
    /// `reason` is a short, stable, lowercase label (such as `"revoked"`) for
    /// logs and metrics; it is never shown to the client.
    pub const fn invalid(reason: &'static str) -> Self {
        Self::new(AuthErrorKind::Invalid, reason)
    }

    /// The credential has expired; the client is told so.
    pub const fn expired() -> Self {
        Self::new(AuthErrorKind::Expired, "expired")
    }

    /// The request's credentials cannot be read unambiguously.
    pub const fn invalid_request(reason: &'static str) -> Self {
        Self::new(AuthErrorKind::InvalidRequest, reason)
    }

    /// The caller lacks at least one of `required`.
    pub fn insufficient_scope(required: Scopes) -> Self {
        Self {
            required_scopes: Some(required),
            ..Self::new(AuthErrorKind::InsufficientScope, "insufficient_scope")
        }
    }

    /// A dependency needed to check the credential failed.
    pub fn unavailable<E>(source: E) -> Self
    where
        E: Into<Box<dyn StdError + Send + Sync>>,
    {
        Self {
            source: Some(Arc::from(source.into())),
            ..Self::new(AuthErrorKind::Unavailable, "unavailable")
        }
    }

    /// Attaches the public identifier of the credential (an API key's id, a
    /// JWT's `kid`), for logs. Never pass secret material here.
    #[must_use]
    pub fn with_credential_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    /// What the client is told.
    pub const fn kind(&self) -> AuthErrorKind {
        self.kind
    }

    /// The precise cause (`"revoked"`, `"bad_checksum"`, …): a stable
    /// lowercase label for logs and metrics, never sent to the client.
    pub const fn reason(&self) -> &'static str {
        self.reason
    }

    /// The scopes the request needed, for
    /// [`InsufficientScope`](AuthErrorKind::InsufficientScope).
    pub fn required_scopes(&self) -> Option<&Scopes> {
        self.required_scopes.as_ref()
    }

    /// The public identifier of the rejected credential, when it is known.
    pub fn credential_id(&self) -> Option<&str> {
        self.credential_id.as_deref()
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AuthError");
        d.field("kind", &self.kind).field("reason", &self.reason);
        if let Some(scopes) = &self.required_scopes {
            d.field("required_scopes", scopes);
        }
        if let Some(id) = &self.credential_id {
            d.field("credential_id", id);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            AuthErrorKind::Missing => "missing credential",
            AuthErrorKind::Invalid => "invalid credential",
            AuthErrorKind::Expired => "expired credential",
            AuthErrorKind::InsufficientScope => "insufficient scope",
            AuthErrorKind::InvalidRequest => "invalid authentication request",
            AuthErrorKind::Unavailable => "authentication unavailable",
        };
        f.write_str(what)?;
        if self.reason != self.kind.as_str() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A store (of API keys, revocations, …) could not answer.
///
/// Wrap the backend's error with [`StoreError::new`]; it is reported as the
/// [`source`](StdError::source), so make sure it holds no key material.
pub struct StoreError {
    source: Box<dyn StdError + Send + Sync>,
}

impl StoreError {
    /// A store error caused by `source`.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("key store error")
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// Displays an error with its chain of sources, for logs.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// A configuration value was refused while building an authenticator, layer
/// or key format. Returned by constructors and `build()` methods instead of a
/// panic.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// An API-key prefix is not 2 to 16 characters of `[a-z0-9_]`, or does
    /// not start with a letter or digit.
    InvalidKeyPrefix(String),
    /// An API-key body length is outside the supported range.
    InvalidKeyLength(usize),
    /// A scope is empty or contains characters RFC 6749 §3.3 forbids.
    InvalidScope(String),
    /// A header name is not a valid HTTP header name.
    InvalidHeaderName(String),
    /// A `realm` or other challenge parameter contains characters that cannot
    /// be sent in a quoted string.
    InvalidChallengeParameter(String),
    /// A required setting was not given.
    Missing(&'static str),
    /// A setting has a value that cannot work.
    InvalidSetting(String),
    /// A JWS algorithm name this crate does not verify (such as `none` or
    /// `ES512`).
    UnsupportedAlgorithm(String),
    /// A verification key cannot be read or used.
    InvalidKey(String),
    /// A verification key is too weak: RSA under 2048 bits, an HMAC secret
    /// under 32 bytes.
    WeakKey(String),
    /// No key of a key set can verify any of the configured algorithms.
    NoUsableKey,
    /// JWT verification needs a crypto backend: enable the `aws-lc-rs` or
    /// `rust-crypto` feature.
    NoCryptoBackend,
    /// A remote key set, or the metadata naming it, could not be fetched or
    /// holds no usable key.
    KeySetUnavailable(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKeyPrefix(p) => write!(
                f,
                "invalid api key prefix {p:?}: expected 2 to 16 characters of [a-z0-9_] starting with a letter or digit"
            ),
            Self::InvalidKeyLength(n) => write!(f, "invalid api key body length {n}"),
            Self::InvalidScope(s) => write!(f, "invalid scope {s:?}"),
            Self::InvalidHeaderName(h) => write!(f, "invalid header name {h:?}"),
            Self::InvalidChallengeParameter(p) => {
                write!(f, "invalid challenge parameter {p:?}")
            }
            Self::Missing(what) => write!(f, "missing required setting: {what}"),
            Self::InvalidSetting(why) => write!(f, "invalid setting: {why}"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "unsupported algorithm {alg:?}"),
            Self::InvalidKey(why) => write!(f, "unusable key: {why}"),
            Self::WeakKey(why) => write!(f, "key too weak: {why}"),
            Self::NoUsableKey => f.write_str("no key can verify any of the configured algorithms"),
            Self::NoCryptoBackend => f.write_str(
                "no crypto backend for JWT signatures: enable the `aws-lc-rs` or `rust-crypto` feature of m2m-auth",
            ),
            Self::KeySetUnavailable(why) => write!(f, "key set unavailable: {why}"),
        }
    }
}

impl StdError for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_and_names_reason() {
        assert_eq!(AuthError::missing().to_string(), "missing credential");
        assert_eq!(
            AuthError::invalid("revoked").to_string(),
            "invalid credential (revoked)"
        );
        let e = AuthError::unavailable("db down");
        assert_eq!(e.to_string(), "authentication unavailable");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("db down")
        );
    }

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(AuthError::missing().kind().status(), 401);
        assert_eq!(AuthError::expired().kind().status(), 401);
        assert_eq!(AuthErrorKind::InsufficientScope.status(), 403);
        assert_eq!(AuthErrorKind::InvalidRequest.status(), 400);
        assert_eq!(AuthErrorKind::Unavailable.status(), 503);
    }

    #[test]
    fn errors_are_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<AuthError>();
        check::<ConfigError>();
    }
}
