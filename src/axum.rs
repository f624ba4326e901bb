//! axum glue: [`Identity`] as an extractor, [`AuthError`] as a response.

use std::fmt;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::auth::Unauthenticated;
use crate::error::AuthError;
use crate::identity::Identity;
use crate::reject::DefaultRejection;

/// Extracts the caller's [`Identity`] set by [`AuthLayer`](crate::AuthLayer).
///
/// Behind an optional-mode layer, a request without credentials is rejected
/// here with the layer's `401`; use `Option<Identity>` to accept it.
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(identity) => Ok(identity.clone()),
            None if parts.extensions.get::<Unauthenticated>().is_some() => {
                Err(IdentityRejection::Unauthenticated)
            }
            None => Err(IdentityRejection::MissingAuthLayer),
        }
    }
}

/// `None` for a request that an optional-mode layer passed without
/// credentials.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(identity) => Ok(Some(identity.clone())),
            None if parts.extensions.get::<Unauthenticated>().is_some() => Ok(None),
            None => Err(IdentityRejection::MissingAuthLayer),
        }
    }
}

/// Why the [`Identity`] extractor failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityRejection {
    /// The request did not pass through an `AuthLayer`: a bug in the
    /// router, answered with `500`.
    MissingAuthLayer,
    /// An optional-mode `AuthLayer` let the request through without
    /// credentials: `401`, as the layer would have answered.
    Unauthenticated,
}

impl IdentityRejection {
    /// The status of the rejection response.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::MissingAuthLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
        }
    }

    /// The text of the rejection.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IdentityRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingAuthLayer => {
                "no authenticated identity on this request: is `m2m_auth::AuthLayer` missing from this route?"
            }
            Self::Unauthenticated => "credentials are required",
        })
    }
}

impl std::error::Error for IdentityRejection {}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        match self {
            Self::MissingAuthLayer => {
                tracing::error!(target: "m2m_auth", "{self}");
                (self.status(), self.body_text()).into_response()
            }
            Self::Unauthenticated => AuthError::missing().into_response(),
        }
    }
}

/// The [`DefaultRejection`] HTTP response for the error, so handlers can
/// return `Result<_, AuthError>` (for instance after
/// [`Identity::require_scopes`]).
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        crate::trace::rejection(&self, None);
        let mut res = DefaultRejection::new().render(&self, false).map(Body::new);
        res.extensions_mut().insert(self);
        res
    }
}
