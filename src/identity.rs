//! Who called: [`Identity`] and its parts.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{AuthError, ConfigError};

/// The authenticated caller, inserted into the request extensions by
/// [`AuthLayer`](crate::AuthLayer).
///
/// The same type describes a caller whichever way it proved who it is; look
/// at [`credential`](Self::credential) for the details of the proof. Cloning
/// is cheap: the data lives behind an `Arc`.
///
/// Handlers read it from the extensions (`request.extensions().get::<Identity>()`),
/// with axum's `Extension<Identity>`, or, with the `axum` feature, as an
/// extractor.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

#[derive(Debug, PartialEq)]
struct Inner {
    subject: Arc<str>,
    scopes: Scopes,
    credential: Credential,
    expires_at: Option<SystemTime>,
    attributes: Attributes,
}

impl Identity {
    /// Starts an identity for `subject`, proven by `credential`. Used by
    /// custom [`Authenticator`](crate::Authenticator)s.
    pub fn builder(subject: impl Into<Arc<str>>, credential: Credential) -> IdentityBuilder {
        IdentityBuilder {
            inner: Inner {
                subject: subject.into(),
                scopes: Scopes::default(),
                credential,
                expires_at: None,
                attributes: Attributes::default(),
            },
        }
    }

    /// Who the caller is: the API key's owner, or the token's `sub` (the
    /// OAuth client).
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// What the caller may do.
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.contains(scope)
    }

    /// Checks that the caller holds every scope in `required`.
    ///
    /// # Errors
    ///
    /// An [`InsufficientScope`](crate::AuthErrorKind::InsufficientScope)
    /// error naming `required` when one is missing.
    pub fn require_scopes(&self, required: &Scopes) -> Result<(), AuthError> {
        if self.inner.scopes.is_superset(required) {
            Ok(())
        } else {
            Err(AuthError::insufficient_scope(required.clone()))
        }
    }

    /// How the caller proved who it is.
    pub fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// When the credential stops being valid, if it expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at
    }

    /// Extra data about the caller: an API key's metadata, or a token's
    /// other claims.
    pub fn attributes(&self) -> &Attributes {
        &self.inner.attributes
    }

    /// The [`attributes`](Self::attributes) as a typed value.
    ///
    /// # Errors
    ///
    /// When the attributes do not deserialize into `T`.
    pub fn attributes_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&*self.inner.attributes.0)
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner == other.inner
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Attribute values may be personal data; show their names only.
        f.debug_struct("Identity")
            .field("subject", &self.inner.subject)
            .field("scopes", &self.inner.scopes)
            .field("credential", &self.inner.credential)
            .field("expires_at", &self.inner.expires_at)
            .field(
                "attributes",
                &self.inner.attributes.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Builds an [`Identity`]; see [`Identity::builder`].
#[must_use]
#[derive(Debug)]
pub struct IdentityBuilder {
    inner: Inner,
}

impl IdentityBuilder {
    /// What the caller may do. Defaults to no scopes.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.inner.scopes = scopes;
        self
    }

    /// When the credential expires. Defaults to never.
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.inner.expires_at = at;
        self
    }

    /// Extra data about the caller. Defaults to none.
    pub fn attributes(mut self, attributes: Attributes) -> Self {
        self.inner.attributes = attributes;
        self
    }

    /// Finishes the identity.
    pub fn build(self) -> Identity {
        Identity {
            inner: Arc::new(self.inner),
        }
    }
}

/// How a caller proved who it is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An opaque API key.
    #[non_exhaustive]
    ApiKey {
        /// The key's public identifier (safe to log).
        key_id: Arc<str>,
        /// Who owns the key; also the identity's subject.
        owner: Arc<str>,
    },
    /// A JWT access token.
    #[non_exhaustive]
    Jwt {
        /// The token's issuer (`iss`).
        issuer: Arc<str>,
        /// The id of the key that verified it (`kid`), if the key has one.
        kid: Option<Arc<str>>,
        /// The token's id (`jti`), if it has one.
        jti: Option<Arc<str>>,
        /// When the token was issued (`iat`), if it says.
        issued_at: Option<SystemTime>,
    },
    /// A credential checked by an authenticator outside this crate.
    #[non_exhaustive]
    Custom {
        /// A short label for the method, such as `"mtls"`.
        method: Cow<'static, str>,
        /// A public identifier of the credential, if it has one.
        id: Option<Arc<str>>,
    },
}

impl Credential {
    /// An API key credential.
    pub fn api_key(key_id: impl Into<Arc<str>>, owner: impl Into<Arc<str>>) -> Self {
        Self::ApiKey {
            key_id: key_id.into(),
            owner: owner.into(),
        }
    }

    /// A JWT credential.
    pub fn jwt(
        issuer: Arc<str>,
        kid: Option<Arc<str>>,
        jti: Option<Arc<str>>,
        issued_at: Option<SystemTime>,
    ) -> Self {
        Self::Jwt {
            issuer,
            kid,
            jti,
            issued_at,
        }
    }

    /// A credential of a custom authenticator.
    pub fn custom(method: impl Into<Cow<'static, str>>, id: Option<Arc<str>>) -> Self {
        Self::Custom {
            method: method.into(),
            id,
        }
    }

    /// A short stable label for the method: `"api_key"`, `"jwt"`, or a
    /// custom authenticator's label.
    pub fn method(&self) -> &str {
        match self {
            Self::ApiKey { .. } => "api_key",
            Self::Jwt { .. } => "jwt",
            Self::Custom { method, .. } => method,
        }
    }

    /// The credential's public identifier (key id, `kid`), safe to log.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::ApiKey { key_id, .. } => Some(key_id),
            Self::Jwt { kid, .. } => kid.as_deref(),
            Self::Custom { id, .. } => id.as_deref(),
        }
    }
}

/// A set of OAuth scopes.
///
/// Each scope is a non-empty RFC 6749 §3.3 `scope-token`: printable ASCII
/// without space, `"` or `\`. Order and duplicates are ignored. Cloning is
/// cheap.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<[Box<str>]>);

impl Scopes {
    /// A set of the given scopes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] when one is not a valid scope token.
    pub fn new<I>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut v = Vec::new();
        for s in scopes {
            let s = s.as_ref();
            if !is_scope_token(s) {
                return Err(ConfigError::InvalidScope(s.to_owned()));
            }
            v.push(Box::from(s));
        }
        v.sort_unstable();
        v.dedup();
        Ok(Self(v.into()))
    }

    /// Parses a space-separated list, as in an OAuth `scope` parameter or
    /// claim. Runs of spaces are allowed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] when one is not a valid scope token.
    pub fn from_space_separated(s: &str) -> Result<Self, ConfigError> {
        Self::new(s.split(' ').filter(|t| !t.is_empty()))
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// Whether every scope of `other` is in this set.
    pub fn is_superset(&self, other: &Scopes) -> bool {
        other.iter().all(|s| self.contains(s))
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(|s| &**s)
    }

    /// How many scopes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Space-separated, as in an OAuth `scope` parameter.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Extra data about a caller, as a JSON object; cheap to clone.
#[derive(Clone, Default, PartialEq)]
pub struct Attributes(Arc<Map<String, Value>>);

impl Attributes {
    /// Attributes holding `map`.
    pub fn new(map: Map<String, Value>) -> Self {
        Self(Arc::new(map))
    }
}

impl Deref for Attributes {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        Self::new(map)
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be personal data; keys are configuration.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_sets() {
        let a = Scopes::new(["b", "a", "b"]).unwrap();
        let b = Scopes::from_space_separated("a  b").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.to_string(), "a b");
        assert!(a.contains("a") && !a.contains("c"));
        assert!(a.is_superset(&Scopes::new(["a"]).unwrap()));
        assert!(!a.is_superset(&Scopes::new(["a", "c"]).unwrap()));
        assert!(a.is_superset(&Scopes::default()));
    }

    #[test]
    fn scope_tokens_are_validated() {
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\n"] {
            assert!(Scopes::new([bad]).is_err(), "{bad:?} accepted");
        }
        assert!(Scopes::new(["read:orders", "a/b!#~"]).is_ok());
    }

    #[test]
    fn identity_accessors_and_typed_attributes() {
        #[derive(serde::Deserialize)]
        struct Meta {
            tier: String,
        }
        let mut map = Map::new();
        map.insert("tier".into(), Value::from("gold"));
        let id = Identity::builder("client-1", Credential::api_key("key_1", "client-1"))
            .scopes(Scopes::new(["read"]).unwrap())
            .attributes(map.into())
            .build();
        assert_eq!(id.subject(), "client-1");
        assert_eq!(id.credential().method(), "api_key");
        assert_eq!(id.credential().id(), Some("key_1"));
        assert!(id.has_scope("read"));
        assert_eq!(id.attributes_as::<Meta>().unwrap().tier, "gold");
        let err = id
            .require_scopes(&Scopes::new(["write"]).unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), crate::AuthErrorKind::InsufficientScope);
        assert!(!format!("{id:?}").contains("gold"));
    }
}
