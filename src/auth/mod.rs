//! The authentication middleware: [`AuthLayer`] and [`AuthService`].
//!
//! For each request, the configured [`Authenticator`](crate::Authenticator)s
//! look at the request head in order. The first that recognises its
//! credential decides: an [`Identity`](crate::Identity) is inserted into the
//! request extensions and the inner service is called, or the request is
//! rejected through the layer's [`Reject`](crate::Reject). When no
//! authenticator finds a credential, the request is rejected as missing its
//! credential, or, in [optional](AuthLayer::optional) mode, passed on without
//! an `Identity`. A `Bearer` token that no authenticator claims is rejected
//! as invalid in both modes.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "api-key")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use http::{Request, Response, StatusCode};
//! use m2m_auth::{AuthLayer, Identity};
//! use m2m_auth::api_key::{ApiKeyAuthenticator, KeyFormat, KeyRecord, MemoryKeyStore};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let format = KeyFormat::new("acme_live")?;
//! let key = format.generate()?;
//! let store = MemoryKeyStore::new();
//! store.insert(key.digest(), KeyRecord::new("key_1", "billing-service"));
//!
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(ApiKeyAuthenticator::new(format, store)))
//!     .service_fn(|req: Request<String>| async move {
//!         let caller = req.extensions().get::<Identity>().unwrap().subject().to_owned();
//!         Ok::<_, std::convert::Infallible>(Response::new(caller))
//!     });
//!
//! let req = Request::get("/").header("api-key", key.expose_secret()).body(String::new())?;
//! let res = service.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! let res = service.oneshot(Request::get("/").body(String::new())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()["www-authenticate"], "Bearer");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "api-key"))]
//! # fn main() {}
//! ```

mod future;
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::AuthLayer;
pub use self::service::AuthService;

/// Marks a request that passed an optional-mode layer without credentials,
/// so extractors can tell "unauthenticated" from "no layer at all".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unauthenticated;
