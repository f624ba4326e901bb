//! The [`Authenticator`] trait.

use std::sync::Arc;

use async_trait::async_trait;
use http::request::Parts;

use crate::error::AuthError;
use crate::identity::Identity;

/// Checks one kind of credential in a request head.
///
/// [`AuthLayer`](crate::AuthLayer) asks its authenticators in order; each
/// answers with one of:
///
/// - `Ok(None)`: no credential of mine in this request; ask the next one.
/// - `Ok(Some(identity))`: authenticated; stop.
/// - `Err(error)`: my credential, but it is not acceptable; reject.
///
/// The trait is object safe: `Arc<dyn Authenticator>` and `Box<dyn
/// Authenticator>` are authenticators too. Implement it with
/// [`async_trait`](https://docs.rs/async-trait):
///
/// ```
/// use m2m_auth::{AuthError, Authenticator, Credential, Identity};
/// use m2m_auth::async_trait;
///
/// /// Trusts a header set by a proxy that has already checked mTLS.
/// struct ProxyVerifiedClient;
///
/// #[async_trait]
/// impl Authenticator for ProxyVerifiedClient {
///     async fn authenticate(
///         &self,
///         request: &http::request::Parts,
///     ) -> Result<Option<Identity>, AuthError> {
///         let Some(value) = request.headers.get("x-client-cert-subject") else {
///             return Ok(None);
///         };
///         let subject = value
///             .to_str()
///             .map_err(|_| AuthError::invalid("malformed_header"))?;
///         let credential = Credential::custom("mtls", None);
///         Ok(Some(Identity::builder(subject, credential).build()))
///     }
/// }
/// ```
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Looks for this authenticator's credential in `request` and checks it.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] when a credential of this authenticator is present
    /// but not acceptable, or cannot be checked right now.
    async fn authenticate(&self, request: &Parts) -> Result<Option<Identity>, AuthError>;
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    async fn authenticate(&self, request: &Parts) -> Result<Option<Identity>, AuthError> {
        (**self).authenticate(request).await
    }
}

#[async_trait]
impl<T: Authenticator + ?Sized> Authenticator for Box<T> {
    async fn authenticate(&self, request: &Parts) -> Result<Option<Identity>, AuthError> {
        (**self).authenticate(request).await
    }
}
