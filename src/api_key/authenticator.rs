use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use http::header::AUTHORIZATION;
use http::request::Parts;

use super::{KeyDigest, KeyFormat, KeyRecord, KeyStatus, KeyStore, StoreError};
use crate::authenticator::{Authentication, Authenticator};
use crate::credentials::{bearer_of, bearer_token, duplicate_authorization};
use crate::error::{AuthError, ConfigError};
use crate::identity::Identity;

const DEFAULT_HEADERS: [&str; 2] = ["api-key", "x-api-key"];

/// Authenticates requests carrying an API key of one [`KeyFormat`], looked
/// up in a [`KeyStore`].
///
/// The key is read from `Authorization: Bearer <key>` when it starts with
/// the format's prefix (other bearer tokens are left to other
/// authenticators), and from the `API-Key` and `X-API-Key` headers. Before
/// the store is asked, the key's prefix, length, alphabet and checksum are
/// checked, so garbage never reaches it. Unknown, revoked, disabled and
/// expired keys are all rejected as
/// [`Invalid`](crate::AuthErrorKind::Invalid), so clients see the same `401`;
/// the [`reason`](AuthError::reason) tells them apart in logs. A store error
/// is [`Unavailable`](crate::AuthErrorKind::Unavailable) (`503`).
///
/// A key sent in two places at once, or a key header sent twice, is refused
/// as ambiguous (`400`).
pub struct ApiKeyAuthenticator<S> {
    format: KeyFormat,
    store: Arc<S>,
    headers: Box<[HeaderName]>,
    bearer: bool,
}

impl<S: KeyStore> ApiKeyAuthenticator<S> {
    /// Reads keys of `format` from the default places and looks them up in
    /// `store`.
    pub fn new(format: KeyFormat, store: S) -> Self {
        Self {
            format,
            store: Arc::new(store),
            headers: DEFAULT_HEADERS.map(HeaderName::from_static).into(),
            bearer: true,
        }
    }

    /// Starts an authenticator with non-default settings.
    pub fn builder(format: KeyFormat, store: S) -> ApiKeyAuthenticatorBuilder<S> {
        ApiKeyAuthenticatorBuilder {
            format,
            store,
            headers: DEFAULT_HEADERS.iter().map(|&h| h.to_owned()).collect(),
            bearer: true,
        }
    }

    /// The key format.
    pub fn format(&self) -> &KeyFormat {
        &self.format
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The key in `request`, if there is one of this authenticator's.
    fn find<'r>(&self, request: &'r Parts) -> Result<Option<&'r str>, AuthError> {
        // The builder refuses a configuration with neither source, so
        // without headers, bearer keys are read.
        if self.headers.is_empty() {
            return Ok(self.bearer_key(bearer_token(&request.headers)?));
        }
        // One pass over the headers (a handful), rather than a hash lookup
        // per configured name and another for `Authorization`.
        let mut found: Option<(&HeaderName, &'r str)> = None;
        let (mut authorization, mut repeated) = (None, false);
        for (name, value) in &request.headers {
            if name == AUTHORIZATION {
                repeated |= authorization.replace(value).is_some();
                continue;
            }
            if !self.headers.iter().any(|h| h == name) {
                continue;
            }
            // Text is all this needs: the format check that follows takes
            // only an ASCII prefix and base62. `from_utf8` checks ASCII a
            // word at a time, `HeaderValue::to_str` a byte at a time.
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| AuthError::invalid("malformed_header"))?;
            if let Some((first, _)) = found {
                return Err(AuthError::invalid_request(if first == name {
                    "duplicate_credential_header"
                } else {
                    "multiple_credentials"
                }));
            }
            found = Some((name, value));
        }
        let bearer = match authorization {
            Some(_) if repeated && self.bearer => return Err(duplicate_authorization()),
            Some(value) if self.bearer => self.bearer_key(bearer_of(value)?),
            _ => None,
        };
        match (found, bearer) {
            (Some(_), Some(_)) => Err(AuthError::invalid_request("multiple_credentials")),
            (Some((_, key)), None) => Ok(Some(key)),
            (None, bearer) => Ok(bearer),
        }
    }

    /// `token` if it is one of this format's keys.
    fn bearer_key<'r>(&self, token: Option<&'r str>) -> Option<&'r str> {
        token.filter(|t| self.format.matches_prefix(t))
    }
}

impl<S: KeyStore> Authenticator for ApiKeyAuthenticator<S> {
    fn authenticate(&self, request: &Parts) -> Authentication {
        let key = match self.find(request) {
            Ok(Some(key)) => key,
            Ok(None) => return Authentication::none(),
            Err(e) => return Authentication::reject(e),
        };
        // Format and checksum first: garbage never costs a store call.
        if let Err(e) = self.format.check(key) {
            return Authentication::reject(e);
        }
        let digest = KeyDigest::of(key);
        if let Some(found) = self.store.lookup_ready(&digest) {
            return verdict(Ok(found)).into();
        }
        let store = Arc::clone(&self.store);
        Authentication::pending(async move { verdict(store.lookup(&digest).await) })
    }

    fn method(&self) -> &'static str {
        "api_key"
    }
}

/// Turns a store's answer into the authenticator's. Unknown, revoked,
/// disabled and expired keys share one client-facing kind.
fn verdict(
    found: Result<Option<Arc<KeyRecord>>, StoreError>,
) -> Result<Option<Identity>, AuthError> {
    let record = found
        .map_err(AuthError::unavailable)?
        .ok_or(AuthError::invalid("unknown_key"))?;
    match record.status() {
        KeyStatus::Active => Ok(Some(record.identity().clone())),
        status => Err(AuthError::invalid(status.as_str()).with_credential_id(record.key_id())),
    }
}

/// Cheap: the store is shared.
impl<S> Clone for ApiKeyAuthenticator<S> {
    fn clone(&self) -> Self {
        Self {
            format: self.format.clone(),
            store: Arc::clone(&self.store),
            headers: self.headers.clone(),
            bearer: self.bearer,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ApiKeyAuthenticator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthenticator")
            .field("format", &self.format)
            .field("store", &self.store)
            .field("headers", &self.headers)
            .field("bearer", &self.bearer)
            .finish()
    }
}

/// Builds an [`ApiKeyAuthenticator`] with non-default settings.
#[must_use]
pub struct ApiKeyAuthenticatorBuilder<S> {
    format: KeyFormat,
    store: S,
    headers: Vec<String>,
    bearer: bool,
}

impl<S: KeyStore> ApiKeyAuthenticatorBuilder<S> {
    /// The headers a key may be sent in, besides `Authorization: Bearer`.
    /// Defaults to `API-Key` and `X-API-Key`; an empty list turns them off.
    pub fn headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.headers = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether keys are read from `Authorization: Bearer`. Defaults to
    /// `true`.
    pub fn bearer(mut self, enabled: bool) -> Self {
        self.bearer = enabled;
        self
    }

    /// Finishes the authenticator.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`] for a header name that is not
    /// valid, or is `Authorization`; [`ConfigError::Missing`] when no place
    /// to read a key from is left.
    pub fn build(self) -> Result<ApiKeyAuthenticator<S>, ConfigError> {
        let headers = self
            .headers
            .iter()
            .map(|h| match HeaderName::try_from(h.as_str()) {
                Ok(name) if name != http::header::AUTHORIZATION => Ok(name),
                _ => Err(ConfigError::InvalidHeaderName(h.clone())),
            })
            .collect::<Result<Box<[_]>, _>>()?;
        if headers.is_empty() && !self.bearer {
            return Err(ConfigError::Missing(
                "a header or bearer source for api keys",
            ));
        }
        Ok(ApiKeyAuthenticator {
            format: self.format,
            store: Arc::new(self.store),
            headers,
            bearer: self.bearer,
        })
    }
}

impl<S: fmt::Debug> fmt::Debug for ApiKeyAuthenticatorBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthenticatorBuilder")
            .field("format", &self.format)
            .field("store", &self.store)
            .field("headers", &self.headers)
            .field("bearer", &self.bearer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, Request};

    use super::*;
    use crate::AuthErrorKind;
    use crate::api_key::MemoryKeyStore;

    fn parts(headers: &[(&str, &[u8])]) -> Parts {
        let mut req = Request::get("/");
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_bytes(v).unwrap());
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn keys_are_found_in_one_place_only() {
        let auth = ApiKeyAuthenticator::new(KeyFormat::new("ab").unwrap(), MemoryKeyStore::new());
        let find = |h: &[(&str, &[u8])]| auth.find(&parts(h)).map(|k| k.map(str::to_owned));
        assert_eq!(find(&[]).unwrap(), None);
        assert_eq!(
            find(&[("api-key", b"ab_x")]).unwrap().as_deref(),
            Some("ab_x")
        );
        assert_eq!(
            find(&[("X-API-Key", b"ab_y")]).unwrap().as_deref(),
            Some("ab_y")
        );
        assert_eq!(
            find(&[("authorization", b"Bearer ab_z")])
                .unwrap()
                .as_deref(),
            Some("ab_z")
        );
        assert_eq!(
            find(&[("authorization", b"Bearer cd_z")]).unwrap(),
            None,
            "another prefix: not ours"
        );
        assert_eq!(find(&[("other", b"ab_x")]).unwrap(), None);
        for (h, reason) in [
            (
                &[("api-key", &b"ab_x"[..]), ("api-key", b"ab_x")][..],
                "duplicate_credential_header",
            ),
            (
                &[("api-key", b"ab_x"), ("x-api-key", b"ab_x")],
                "multiple_credentials",
            ),
            (
                &[("api-key", b"ab_x"), ("authorization", b"Bearer ab_x")],
                "multiple_credentials",
            ),
            (
                &[("authorization", b"Bearer ab_x"), ("api-key", b"ab_x")],
                "multiple_credentials",
            ),
            (
                &[
                    ("authorization", b"Bearer cd_x"),
                    ("api-key", b"ab_x"),
                    ("authorization", b"Basic eA=="),
                ],
                "duplicate_authorization_header",
            ),
        ] {
            let e = find(h).unwrap_err();
            assert_eq!(
                (e.kind(), e.reason()),
                (AuthErrorKind::InvalidRequest, reason)
            );
        }
        assert_eq!(
            find(&[("authorization", b"Bearer cd_z"), ("api-key", b"ab_x")])
                .unwrap()
                .as_deref(),
            Some("ab_x"),
            "another format's bearer token beside our key is not ours"
        );
        assert_eq!(
            find(&[("api-key", b"ab_x"), ("authorization", b"Basic eA==")])
                .unwrap()
                .as_deref(),
            Some("ab_x")
        );
        let e = find(&[("api-key", b"ab_x"), ("authorization", b"Bearer a b")]).unwrap_err();
        assert_eq!(
            (e.kind(), e.reason()),
            (AuthErrorKind::Invalid, "malformed_header")
        );
        let e = find(&[("api-key", b"ab_\x80")]).unwrap_err();
        assert_eq!(
            (e.kind(), e.reason()),
            (AuthErrorKind::Invalid, "malformed_header")
        );
    }

    #[test]
    fn authorization_is_read_only_when_bearer_keys_are() {
        let only_bearer =
            ApiKeyAuthenticator::builder(KeyFormat::new("ab").unwrap(), MemoryKeyStore::new())
                .headers(Vec::<String>::new())
                .build()
                .unwrap();
        assert_eq!(
            only_bearer.find(&parts(&[("api-key", b"ab_x")])).unwrap(),
            None
        );
        assert_eq!(
            only_bearer
                .find(&parts(&[("authorization", b"Bearer ab_z")]))
                .unwrap(),
            Some("ab_z")
        );
        let twice = parts(&[
            ("authorization", b"Bearer ab_z"),
            ("authorization", b"Bearer ab_z"),
        ]);
        let e = only_bearer.find(&twice).unwrap_err();
        assert_eq!(e.reason(), "duplicate_authorization_header");

        // Without bearer keys, `Authorization` is somebody else's business,
        // even repeated or malformed.
        let no_bearer =
            ApiKeyAuthenticator::builder(KeyFormat::new("ab").unwrap(), MemoryKeyStore::new())
                .bearer(false)
                .build()
                .unwrap();
        assert_eq!(no_bearer.find(&twice).unwrap(), None);
        let mixed = parts(&[
            ("authorization", b"Bearer a b"),
            ("api-key", b"ab_x"),
            ("authorization", b"Bearer ab_y"),
        ]);
        assert_eq!(no_bearer.find(&mixed).unwrap(), Some("ab_x"));
    }
}
