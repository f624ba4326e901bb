use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;

use super::claims::Policy;
use super::jws::{self, Compact, Typ};
use super::key::KeySet;
use super::revocation::{Revocations, TokenRef};
use super::{Algorithm, backend};
use crate::authenticator::{Authentication, Authenticator};
use crate::credentials::bearer_token;
use crate::error::{AuthError, ConfigError};
use crate::identity::Identity;

/// Default cap on a token's size, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_mins(1);
/// Most clock skew [`JwtAuthenticatorBuilder::leeway`] accepts: more would
/// keep expired access tokens working for longer than many of them live.
pub const MAX_LEEWAY: Duration = Duration::from_mins(5);
/// The claims scopes are read from by default, in this order; their scopes
/// are combined.
pub const DEFAULT_SCOPE_CLAIMS: [&str; 3] = ["scope", "scp", "permissions"];

/// Authenticates requests carrying a JWT access token in
/// `Authorization: Bearer`.
///
/// A bearer token belongs to this authenticator when it has the shape of a
/// compact JWS (three dot-separated segments, the first starting with
/// `e`, as every base64url JSON object does); other bearer tokens, such as
/// API keys, are left to other authenticators.
///
/// Every check a careful validator makes is on, and the dangerous ones
/// cannot be switched off: the size cap comes before any decoding; the
/// algorithm must be in the configured list (never taken from the token
/// alone, `none` impossible) and fit the key's type, so an RSA public key
/// can never serve as an HMAC secret; `crit` headers are refused; `jku`,
/// `x5u`, `jwk` and `x5c` headers are never used; `iss`, `aud` and `exp`
/// are required, `nbf` and `iat` honoured; a claim given twice is refused.
///
/// Built by [`JwtAuthenticator::builder`]. Cheap to clone.
///
/// # Example
///
/// ```
/// use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
/// use m2m_auth::AuthLayer;
///
/// # fn main() -> Result<(), m2m_auth::ConfigError> {
/// # let secret = [7u8; 32];
/// let jwt = JwtAuthenticator::builder()
///     .issuer("https://idp.example.com/")
///     .audience("https://api.example.com")
///     .algorithms([Algorithm::HS256])
///     .keys(KeySet::new([Key::hmac(&secret)?])?)
///     .build()?;
/// let layer = AuthLayer::new(jwt);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwtAuthenticator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    revocations: Option<Arc<dyn Revocations>>,
    algorithms: Box<[Algorithm]>,
    policy: Policy,
    require_at_jwt: bool,
    max_token_bytes: usize,
}

impl JwtAuthenticator {
    /// Starts a configuration. `issuer`, `audience` (or
    /// [`insecure_skip_audience`](JwtAuthenticatorBuilder::insecure_skip_audience)),
    /// `algorithms` and `keys` are required.
    pub fn builder() -> JwtAuthenticatorBuilder {
        JwtAuthenticatorBuilder::default()
    }

    /// Verifies `token` now and returns the caller's identity.
    ///
    /// # Errors
    ///
    /// [`AuthErrorKind::Expired`](crate::AuthErrorKind::Expired) for a token
    /// past its `exp` (and leeway), [`AuthErrorKind::Invalid`](crate::AuthErrorKind::Invalid)
    /// for every other failure, with the precise cause in
    /// [`AuthError::reason`].
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_at(token, SystemTime::now())
    }

    /// Verifies `token` as at time `now`.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify).
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Identity, AuthError> {
        if token.len() > self.inner.max_token_bytes {
            return Err(AuthError::invalid("token_too_large"));
        }
        let identity = match self.route(token) {
            Route::TooLarge => return Err(AuthError::invalid("token_too_large")),
            Route::NotJws => return Err(AuthError::invalid("malformed")),
            Route::Jws(compact) => self.verify_compact(compact, now)?,
        };
        match self.check_revoked(identity).into_ready() {
            Ok(outcome) => outcome.map(|id| id.unwrap_or_else(|| unreachable!("a JWT identity"))),
            Err(_) => Err(AuthError::unavailable(
                "the revocation store cannot answer without waiting; authenticate through the layer",
            )),
        }
    }

    /// Whether `token` is this authenticator's: a compact JWS, or too large
    /// to look at and starting as one would.
    fn route<'t>(&self, token: &'t str) -> Route<'t> {
        if token.len() > self.inner.max_token_bytes {
            // Too large to scan. A JWS starts with `e` (a base64url JSON
            // object); API keys start with their lowercase prefix.
            return if token.starts_with("ey") || token.starts_with("ew") {
                Route::TooLarge
            } else {
                Route::NotJws
            };
        }
        jws::split(token).map_or(Route::NotJws, Route::Jws)
    }

    fn verify_compact(&self, compact: Compact<'_>, now: SystemTime) -> Result<Identity, AuthError> {
        let inner = &*self.inner;
        // Decoded on the stack when small, as they nearly always are.
        let (mut buf, mut spill) = ([0u8; 512], Vec::new());
        let header_json = jws::decode_segment_into(compact.header, &mut buf, &mut spill)
            .ok_or(AuthError::invalid("malformed"))?;
        let header = jws::parse_header(header_json)?;
        let typ_ok = match header.typ {
            Typ::AccessToken => true,
            Typ::Absent | Typ::Jwt => !inner.require_at_jwt,
            Typ::Other => false,
        };
        if !typ_ok {
            return Err(AuthError::invalid("wrong_typ"));
        }
        match &inner.keys {
            Keys::Static(set) => self.verify_with(compact, &header, set, now),
            #[cfg(feature = "issuer")]
            Keys::Live(set) => self.verify_with(compact, &header, &set.load(), now),
            #[cfg(feature = "remote-jwks")]
            Keys::Remote(remote) => self.verify_with(compact, &header, &remote.snapshot(), now),
        }
    }

    fn verify_with(
        &self,
        compact: Compact<'_>,
        header: &jws::Header<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<Identity, AuthError> {
        let inner = &*self.inner;
        let key = jws::verify(compact, header, keys, &inner.algorithms)?;
        let (mut buf, mut spill) = ([0u8; 2048], Vec::new());
        let payload = jws::decode_segment_into(compact.payload, &mut buf, &mut spill)
            .ok_or(AuthError::invalid("malformed"))?;
        inner.policy.identity(payload, now, key.kid_arc())
    }

    /// Accepts `identity` unless the revocation lists deny its token.
    fn check_revoked(&self, identity: Identity) -> Authentication {
        let Some(revocations) = &self.inner.revocations else {
            return Authentication::accept(identity);
        };
        let Some(token) = TokenRef::of(&identity) else {
            return Authentication::accept(identity);
        };
        let verdict =
            |revoked: Result<bool, crate::error::StoreError>, identity: Identity| match revoked {
                Ok(false) => Ok(Some(identity)),
                Ok(true) => {
                    let e = AuthError::invalid("revoked");
                    Err(match identity.credential().id() {
                        Some(kid) => e.with_credential_id(kid),
                        None => e,
                    })
                }
                Err(e) => Err(AuthError::unavailable(e)),
            };
        if let Some(revoked) = revocations.is_revoked_ready(&token) {
            return verdict(revoked, identity).into();
        }
        let revocations = Arc::clone(revocations);
        Authentication::pending(async move {
            let revoked = match TokenRef::of(&identity) {
                Some(token) => revocations.is_revoked(&token).await,
                None => Ok(false),
            };
            verdict(revoked, identity)
        })
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.inner.policy.issuer
    }

    /// A token of a remote key set named a key the set does not hold: if
    /// the token's (unverified) issuer is ours, fetch the set again (or
    /// wait for the fetch under way) and verify once more.
    #[cfg(feature = "remote-jwks")]
    fn refresh_and_verify(
        &self,
        remote: &super::RemoteJwks,
        compact: Compact<'_>,
        unknown: AuthError,
    ) -> Authentication {
        use super::remote::Refreshing;
        // Nobody may make us fetch with a token that is not for us.
        if jws::unverified_issuer(compact.payload).as_deref() != Some(self.issuer()) {
            return Authentication::reject(AuthError::invalid("wrong_issuer"));
        }
        let refresh = match remote.refresh_for_unknown_kid() {
            Refreshing::Recent(Ok(())) => return Authentication::reject(unknown),
            Refreshing::Recent(Err(_)) => {
                return Authentication::reject(key_set_unavailable(&unknown));
            }
            Refreshing::Wait(refresh) => refresh,
        };
        let (this, token) = (self.clone(), compact.to_owned());
        Authentication::pending(async move {
            match refresh.await {
                Ok(()) => {
                    let compact = jws::split(&token).ok_or(AuthError::invalid("malformed"))?;
                    let identity = this.verify_compact(compact, SystemTime::now())?;
                    this.check_revoked(identity).await
                }
                Err(_) => Err(key_set_unavailable(&unknown)),
            }
        })
    }
}

/// A token's key may exist, but the key set cannot be fetched to know.
#[cfg(feature = "remote-jwks")]
fn key_set_unavailable(unknown: &AuthError) -> AuthError {
    let e = AuthError::unavailable("the remote key set cannot be fetched");
    match unknown.credential_id() {
        Some(kid) => e.with_credential_id(kid),
        None => e,
    }
}

/// Where the verification keys come from.
#[derive(Clone, Debug)]
enum Keys {
    Static(KeySet),
    /// Keys that change in this process (a token endpoint's, as it rotates).
    #[cfg(feature = "issuer")]
    Live(Arc<arc_swap::ArcSwap<KeySet>>),
    #[cfg(feature = "remote-jwks")]
    Remote(super::RemoteJwks),
}

/// What [`JwtAuthenticator::route`] made of a bearer token.
enum Route<'t> {
    Jws(Compact<'t>),
    TooLarge,
    NotJws,
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, request: &Parts) -> Authentication {
        match bearer_token(&request.headers) {
            Err(e) => Authentication::reject(e),
            Ok(None) => Authentication::none(),
            Ok(Some(token)) => self.authenticate_bearer(token),
        }
    }

    fn method(&self) -> &'static str {
        "jwt"
    }
}

impl JwtAuthenticator {
    /// Decides about a bearer token: none of ours, or verified (and, for a
    /// remote key set, a refresh waited for if the key is unknown).
    pub(crate) fn authenticate_bearer(&self, token: &str) -> Authentication {
        match self.route(token) {
            Route::NotJws => Authentication::none(),
            Route::TooLarge => Authentication::reject(AuthError::invalid("token_too_large")),
            Route::Jws(compact) => match self.verify_compact(compact, SystemTime::now()) {
                Ok(identity) => self.check_revoked(identity),
                #[cfg(feature = "remote-jwks")]
                Err(e) if jws::names_unknown_key(&e) => match &self.inner.keys {
                    Keys::Remote(remote) => self.refresh_and_verify(remote, compact, e),
                    Keys::Static(_) => Authentication::reject(e),
                    #[cfg(feature = "issuer")]
                    Keys::Live(_) => Authentication::reject(e),
                },
                Err(e) => Authentication::reject(e),
            },
        }
    }

    /// The largest token accepted.
    pub(crate) fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("JwtAuthenticator")
            .field("issuer", &inner.policy.issuer)
            .field("audiences", &inner.policy.audiences)
            .field("algorithms", &inner.algorithms)
            .field("keys", &inner.keys)
            .field("leeway", &inner.policy.leeway)
            .field("require_at_jwt", &inner.require_at_jwt)
            .field("max_token_bytes", &inner.max_token_bytes)
            .field("scope_claims", &inner.policy.scope_claims)
            .field("revocations", &inner.revocations.is_some())
            .finish()
    }
}

/// Configures a [`JwtAuthenticator`].
#[must_use]
#[derive(Default)]
pub struct JwtAuthenticatorBuilder {
    issuer: Option<String>,
    audiences: Vec<String>,
    skip_audience: bool,
    algorithms: Vec<Algorithm>,
    keys: Option<Keys>,
    revocations: Option<Arc<dyn Revocations>>,
    leeway: Option<Duration>,
    require_at_jwt: bool,
    max_token_bytes: Option<usize>,
    scope_claims: Option<Vec<String>>,
}

impl fmt::Debug for JwtAuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuthenticatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("skip_audience", &self.skip_audience)
            .field("algorithms", &self.algorithms)
            .field("keys", &self.keys)
            .field("revocations", &self.revocations.is_some())
            .field("leeway", &self.leeway)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("scope_claims", &self.scope_claims)
            .finish()
    }
}

impl JwtAuthenticatorBuilder {
    /// The issuer tokens must name in `iss`, compared exactly. Required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An audience this API answers to: a token's `aud` (a string or an
    /// array) must contain one of them. Call again to add more. Required,
    /// unless [`insecure_skip_audience`](Self::insecure_skip_audience).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens whatever their `aud`. Insecure: a token the issuer
    /// minted for another API would be accepted here. Defaults to off.
    pub fn insecure_skip_audience(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// The algorithms tokens may be signed with. Required; a token's `alg`
    /// outside this list is refused, and within it must fit the key's type.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The keys signatures are verified with. Required, unless
    /// [`remote_keys`](Self::remote_keys).
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(Keys::Static(keys));
        self
    }

    /// Refuses tokens that `revocations` denies (a `jti`, or a subject's
    /// tokens issued before an instant), after every other check passed.
    /// Defaults to none.
    pub fn revocations<R: Revocations>(mut self, revocations: R) -> Self {
        self.revocations = Some(Arc::new(revocations));
        self
    }

    /// Verifies with keys that change in this process.
    #[cfg(feature = "issuer")]
    pub(crate) fn live_keys(mut self, keys: Arc<arc_swap::ArcSwap<KeySet>>) -> Self {
        self.keys = Some(Keys::Live(keys));
        self
    }

    /// Verifies with the keys of an identity provider, fetched and kept
    /// fresh; instead of [`keys`](Self::keys).
    #[cfg(feature = "remote-jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote-jwks")))]
    pub fn remote_keys(mut self, keys: super::RemoteJwks) -> Self {
        self.keys = Some(Keys::Remote(keys));
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat`. Defaults to
    /// [`DEFAULT_LEEWAY`] (60 s); [`build`](Self::build) refuses more than
    /// [`MAX_LEEWAY`] (5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// Requires the RFC 9068 `typ` header `at+jwt` (or
    /// `application/at+jwt`), so that ID tokens and other JWTs of the same
    /// issuer are refused. Defaults to off: `at+jwt`, `JWT` and no `typ` are
    /// accepted; any other `typ` is always refused.
    pub fn require_at_jwt(mut self, require: bool) -> Self {
        self.require_at_jwt = require;
        self
    }

    /// The largest token accepted, in bytes, checked before any decoding.
    /// Defaults to [`DEFAULT_MAX_TOKEN_BYTES`] (8 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_bytes = Some(bytes);
        self
    }

    /// The claims scopes are read from; each may be a space-separated
    /// string or an array of strings, and their scopes are combined.
    /// Defaults to [`DEFAULT_SCOPE_CLAIMS`]: `scope`, `scp`,
    /// `permissions`. These claims are not copied into the attributes.
    pub fn scope_claims<I>(mut self, claims: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scope_claims = Some(claims.into_iter().map(Into::into).collect());
        self
    }

    /// The authenticator.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] for a required setting not given;
    /// [`ConfigError::NoUsableKey`] when no key fits any of the algorithms;
    /// [`ConfigError::NoCryptoBackend`] when the crate was built without a
    /// crypto backend; [`ConfigError::InvalidSetting`] for an empty issuer
    /// or audience, a zero size cap, more than 64 scope claims, or a leeway
    /// over [`MAX_LEEWAY`].
    pub fn build(self) -> Result<JwtAuthenticator, ConfigError> {
        backend::provider()?;
        let issuer = self.issuer.ok_or(ConfigError::Missing("issuer"))?;
        if issuer.is_empty() {
            return Err(ConfigError::InvalidSetting("issuer is empty".to_owned()));
        }
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(ConfigError::Missing("audience (or insecure_skip_audience)"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::InvalidSetting("audience is empty".to_owned()));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::Missing("algorithms"));
        }
        let keys = self.keys.ok_or(ConfigError::Missing("keys"))?;
        let usable = |set: &KeySet| {
            set.keys()
                .iter()
                .any(|k| self.algorithms.iter().any(|&a| k.fits(a)))
        };
        match &keys {
            Keys::Static(set) if !usable(set) => return Err(ConfigError::NoUsableKey),
            #[cfg(feature = "issuer")]
            Keys::Live(set) if !usable(&set.load()) => return Err(ConfigError::NoUsableKey),
            // A provider may add fitting keys later; none now is a mistake.
            #[cfg(feature = "remote-jwks")]
            Keys::Remote(remote) if !usable(&remote.current()) => {
                return Err(ConfigError::NoUsableKey);
            }
            _ => {}
        }
        let leeway = self.leeway.unwrap_or(DEFAULT_LEEWAY);
        if leeway > MAX_LEEWAY {
            return Err(ConfigError::InvalidSetting(format!(
                "leeway {leeway:?} is over {MAX_LEEWAY:?}: expired tokens would keep working"
            )));
        }
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes == 0 {
            return Err(ConfigError::InvalidSetting(
                "max_token_size is 0".to_owned(),
            ));
        }
        let scope_claims: Box<[Box<str>]> = match self.scope_claims {
            Some(c) => c.into_iter().map(Box::from).collect(),
            None => DEFAULT_SCOPE_CLAIMS.into_iter().map(Box::from).collect(),
        };
        if scope_claims.len() > 64 {
            return Err(ConfigError::InvalidSetting(
                "more than 64 scope claims".to_owned(),
            ));
        }
        let audiences = if self.skip_audience {
            Box::default()
        } else {
            self.audiences.into_iter().map(Box::from).collect()
        };
        let mut algorithms = self.algorithms;
        algorithms.dedup();
        Ok(JwtAuthenticator {
            inner: Arc::new(Inner {
                keys,
                revocations: self.revocations,
                algorithms: algorithms.into(),
                policy: Policy {
                    issuer: Arc::from(issuer),
                    audiences,
                    leeway,
                    scope_claims,
                },
                require_at_jwt: self.require_at_jwt,
                max_token_bytes,
            }),
        })
    }
}
