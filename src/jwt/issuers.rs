//! [`JwtIssuers`]: one authenticator for tokens of several issuers.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;

use super::JwtAuthenticator;
use super::jws;
use crate::authenticator::{Authentication, Authenticator};
use crate::credentials::bearer_token;
use crate::error::{AuthError, ConfigError};

/// Accepts JWT access tokens from several issuers, each verified by its
/// own [`JwtAuthenticator`] (its audience, algorithms, keys, revocations).
///
/// A token's `iss`, read before anything is verified, only chooses which
/// authenticator looks at it; that one then checks everything, `iss`
/// included. A token naming no configured issuer is refused (`401`).
///
/// ```
/// # fn main() -> Result<(), m2m_auth::ConfigError> {
/// use m2m_auth::jwt::{Algorithm, JwtAuthenticator, JwtIssuers, Key, KeySet};
/// use m2m_auth::AuthLayer;
///
/// let one = |issuer: &str, secret: &[u8]| -> Result<JwtAuthenticator, m2m_auth::ConfigError> {
///     JwtAuthenticator::builder()
///         .issuer(issuer)
///         .audience("https://api.example.com")
///         .algorithms([Algorithm::HS256])
///         .keys(KeySet::new([Key::hmac(secret)?])?)
///         .build()
/// };
/// let issuers = JwtIssuers::new([
///     one("https://idp-a.example/", &[1; 32])?,
///     one("https://idp-b.example/", &[2; 32])?,
/// ])?;
/// let layer = AuthLayer::new(issuers);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwtIssuers {
    authenticators: Arc<[JwtAuthenticator]>,
    max_token_bytes: usize,
}

impl JwtIssuers {
    /// One authenticator per issuer.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] for none; [`ConfigError::InvalidSetting`]
    /// when two have the same issuer.
    pub fn new(
        authenticators: impl IntoIterator<Item = JwtAuthenticator>,
    ) -> Result<Self, ConfigError> {
        let authenticators: Vec<JwtAuthenticator> = authenticators.into_iter().collect();
        if authenticators.is_empty() {
            return Err(ConfigError::Missing("at least one issuer"));
        }
        for (i, a) in authenticators.iter().enumerate() {
            if authenticators[..i].iter().any(|b| b.issuer() == a.issuer()) {
                return Err(ConfigError::InvalidSetting(format!(
                    "issuer {:?} is configured twice",
                    a.issuer()
                )));
            }
        }
        let max_token_bytes = authenticators
            .iter()
            .map(JwtAuthenticator::max_token_bytes)
            .max()
            .unwrap_or(0);
        Ok(Self {
            authenticators: authenticators.into(),
            max_token_bytes,
        })
    }

    /// The authenticator for tokens of `issuer`.
    pub fn get(&self, issuer: &str) -> Option<&JwtAuthenticator> {
        self.authenticators.iter().find(|a| a.issuer() == issuer)
    }
}

impl Authenticator for JwtIssuers {
    fn authenticate(&self, request: &Parts) -> Authentication {
        let token = match bearer_token(&request.headers) {
            Err(e) => return Authentication::reject(e),
            Ok(None) => return Authentication::none(),
            Ok(Some(token)) => token,
        };
        if token.len() > self.max_token_bytes {
            // Too large to look into; every authenticator says the same.
            return self.authenticators[0].authenticate_bearer(token);
        }
        let Some(compact) = jws::split(token) else {
            return Authentication::none();
        };
        let Some(issuer) = jws::unverified_issuer(compact.payload) else {
            return Authentication::reject(AuthError::invalid("missing_iss"));
        };
        match self.get(&issuer) {
            Some(authenticator) => authenticator.authenticate_bearer(token),
            None => Authentication::reject(AuthError::invalid("unknown_issuer")),
        }
    }

    fn method(&self) -> &'static str {
        "jwt"
    }
}

impl fmt::Debug for JwtIssuers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.authenticators.iter()).finish()
    }
}
