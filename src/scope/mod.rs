//! Scope guards: [`RequireScopesLayer`] and [`RequireScopes`].
//!
//! Put the guard inside an [`AuthLayer`](crate::AuthLayer) (or on a single
//! route): a request whose [`Identity`] lacks one of the
//! required scopes gets `403` with `WWW-Authenticate: Bearer
//! error="insufficient_scope", scope="…"`; a request without an `Identity`
//! gets `401`.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "api-key")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use m2m_auth::{AuthLayer, RequireScopesLayer, Scopes};
//! use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let format = KeyFormat::new("acme_live")?;
//! let key = format.generate()?;
//! let store = MemoryKeyStore::new();
//! let record = KeyRecord::builder("key_1", "reporting-job")
//!     .scopes(Scopes::new(["reports:read"])?)
//!     .build();
//! store.insert(key.digest(), record);
//!
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)))
//!     .layer(RequireScopesLayer::new(["reports:write"])?)
//!     .service_fn(|_: Request<String>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//!     });
//!
//! let req = Request::post("/reports")
//!     .header("authorization", format!("Bearer {}", key.expose_secret()))
//!     .body(String::new())?;
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer error="insufficient_scope", scope="reports:write""#
//! );
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "api-key"))]
//! # fn main() {}
//! ```

mod future;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

pub use self::future::ResponseFuture;
use crate::error::{AuthError, ConfigError};
use crate::identity::{Identity, Scopes};
use crate::reject::{BodyMode, DefaultRejection, Reject, WrapBody};

/// Rejects requests whose [`Identity`] lacks any of a set of scopes; see the
/// [module docs](self).
///
/// `M` is the [`BodyMode`], as for [`AuthLayer`](crate::AuthLayer):
/// axum's own body with [`axum_body`](Self::axum_body).
#[must_use]
pub struct RequireScopesLayer<R = DefaultRejection, M = WrapBody> {
    shared: Arc<Guard<R>>,
    mode: PhantomData<fn() -> M>,
}

impl<R, M> Clone for RequireScopesLayer<R, M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            mode: PhantomData,
        }
    }
}

struct Guard<R> {
    required: Scopes,
    reject: R,
}

impl RequireScopesLayer {
    /// A guard requiring every scope in `scopes`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] when a scope is not a valid RFC 6749
    /// scope token.
    pub fn new<I>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Ok(Self::from_scopes(Scopes::new(scopes)?))
    }

    /// A guard requiring every scope in `required`.
    pub fn from_scopes(required: Scopes) -> Self {
        Self {
            shared: Arc::new(Guard {
                required,
                reject: DefaultRejection::new(),
            }),
            mode: PhantomData,
        }
    }
}

impl<R: Reject, M> RequireScopesLayer<R, M> {
    /// Rejects with `reject` instead of the [`DefaultRejection`].
    pub fn reject_with<R2: Reject>(self, reject: R2) -> RequireScopesLayer<R2, M> {
        RequireScopesLayer {
            shared: Arc::new(Guard {
                required: self.shared.required.clone(),
                reject,
            }),
            mode: PhantomData,
        }
    }

    /// Answers with axum's own response body
    /// ([`AxumBody`](crate::AxumBody)), as
    /// [`AuthLayer::axum_body`](crate::AuthLayer::axum_body) does: one
    /// allocation less per request behind axum's `Router::layer`.
    #[cfg(feature = "axum")]
    pub fn axum_body(self) -> RequireScopesLayer<R, crate::reject::AxumBody> {
        RequireScopesLayer {
            shared: self.shared,
            mode: PhantomData,
        }
    }

    /// The scopes the guard requires.
    pub fn required(&self) -> &Scopes {
        &self.shared.required
    }
}

impl<R, M> fmt::Debug for RequireScopesLayer<R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesLayer")
            .field("required", &self.shared.required)
            .finish_non_exhaustive()
    }
}

impl<S, R, M> Layer<S> for RequireScopesLayer<R, M> {
    type Service = RequireScopes<S, R, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            shared: Arc::clone(&self.shared),
            mode: PhantomData,
        }
    }
}

/// Middleware that checks the [`Identity`]'s scopes; made by
/// [`RequireScopesLayer`]. `M` is the layer's [`BodyMode`].
pub struct RequireScopes<S, R = DefaultRejection, M = WrapBody> {
    inner: S,
    shared: Arc<Guard<R>>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, R, M> Clone for RequireScopes<S, R, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            mode: PhantomData,
        }
    }
}

impl<S> RequireScopes<S> {
    /// The layer for this service; same as [`RequireScopesLayer::new`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidScope`] when a scope is not a valid RFC 6749
    /// scope token.
    pub fn layer<I>(scopes: I) -> Result<RequireScopesLayer, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        RequireScopesLayer::new(scopes)
    }
}

impl<S, R, M> RequireScopes<S, R, M> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, R, M> fmt::Debug for RequireScopes<S, R, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("required", &self.shared.required)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody, R, M> Service<Request<ReqBody>> for RequireScopes<S, R, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Reject,
    M: BodyMode<ResBody>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let identity = req.extensions().get::<Identity>();
        let checked = match identity {
            Some(identity) => identity.require_scopes(&self.shared.required),
            None => Err(AuthError::missing()),
        };
        match checked {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(error) => {
                crate::trace::rejection(&error, identity);
                let (parts, _) = req.into_parts();
                let mut res = self.shared.reject.reject(&error, &parts);
                res.extensions_mut().insert(error);
                ResponseFuture::rejected(res)
            }
        }
    }
}
