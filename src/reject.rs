//! Rejection responses: the [`Reject`] trait, its default, and the bodies.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::{AuthError, AuthErrorKind, ConfigError};

/// Turns an [`AuthError`] into the response the client gets.
///
/// Implemented by [`DefaultRejection`] and by every
/// `Fn(&AuthError, &Parts) -> Response<RejectionBody>` closure that is
/// `Clone + Send + Sync + 'static`. The layer adds the `AuthError` to the
/// response's extensions after this returns.
///
/// ```
/// use m2m_auth::{AuthError, RejectionBody};
/// use http::{Response, request::Parts};
///
/// let teapot = |_: &AuthError, _: &Parts| {
///     Response::builder()
///         .status(418)
///         .body(RejectionBody::from("no"))
///         .unwrap()
/// };
/// # fn takes<R: m2m_auth::Reject>(_: R) {}
/// # takes(teapot);
/// ```
pub trait Reject: Clone + Send + Sync + 'static {
    /// The response for `error`, raised by the request with head `request`.
    fn reject(&self, error: &AuthError, request: &Parts) -> Response<RejectionBody>;
}

impl<F> Reject for F
where
    F: Fn(&AuthError, &Parts) -> Response<RejectionBody> + Clone + Send + Sync + 'static,
{
    fn reject(&self, error: &AuthError, request: &Parts) -> Response<RejectionBody> {
        self(error, request)
    }
}

/// The standard rejection.
///
/// - HTTP: `401`, `403`, `400` or `503` with an RFC 6750 §3
///   `WWW-Authenticate: Bearer …` challenge (no `error` when the credential
///   is missing; `error="insufficient_scope", scope="…"` for a missing
///   scope) and a short RFC 9457 `application/problem+json` body. Which
///   check failed is not said; that the credential expired is.
/// - gRPC (`content-type: application/grpc*`): a trailers-only response,
///   HTTP `200` with `grpc-status` `16` (`UNAUTHENTICATED`), `7`
///   (`PERMISSION_DENIED`) or `14` (`UNAVAILABLE`) and a `grpc-message`.
#[derive(Clone)]
pub struct DefaultRejection {
    missing: HeaderValue,
    invalid: HeaderValue,
    expired: HeaderValue,
    invalid_request: HeaderValue,
    realm: Option<Box<str>>,
}

impl DefaultRejection {
    /// The standard rejection, with no `realm` in its challenges.
    pub fn new() -> Self {
        Self {
            missing: HeaderValue::from_static("Bearer"),
            invalid: HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            expired: HeaderValue::from_static(
                r#"Bearer error="invalid_token", error_description="the access token expired""#,
            ),
            invalid_request: HeaderValue::from_static(r#"Bearer error="invalid_request""#),
            realm: None,
        }
    }

    /// Adds `realm="…"` to every challenge. Defaults to no realm.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidChallengeParameter`] when `realm` is not
    /// printable ASCII or contains `"` or `\`.
    pub fn with_realm(realm: &str) -> Result<Self, ConfigError> {
        let valid = realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if !valid {
            return Err(ConfigError::InvalidChallengeParameter(realm.to_owned()));
        }
        let with_realm = |rest: &str| {
            let v = if rest.is_empty() {
                format!(r#"Bearer realm="{realm}""#)
            } else {
                format!(r#"Bearer realm="{realm}", {rest}"#)
            };
            HeaderValue::try_from(v)
                .map_err(|_| ConfigError::InvalidChallengeParameter(realm.to_owned()))
        };
        Ok(Self {
            missing: with_realm("")?,
            invalid: with_realm(r#"error="invalid_token""#)?,
            expired: with_realm(
                r#"error="invalid_token", error_description="the access token expired""#,
            )?,
            invalid_request: with_realm(r#"error="invalid_request""#)?,
            realm: Some(realm.into()),
        })
    }

    /// The response for `error`: gRPC-shaped when `grpc` is true, HTTP
    /// otherwise.
    pub fn render(&self, error: &AuthError, grpc: bool) -> Response<RejectionBody> {
        let kind = error.kind();
        if grpc {
            return grpc_response(kind);
        }
        let challenge = match kind {
            AuthErrorKind::Missing => Some(self.missing.clone()),
            AuthErrorKind::Invalid => Some(self.invalid.clone()),
            AuthErrorKind::Expired => Some(self.expired.clone()),
            AuthErrorKind::InvalidRequest => Some(self.invalid_request.clone()),
            AuthErrorKind::InsufficientScope => self.scope_challenge(error),
            AuthErrorKind::Unavailable => None,
        };
        let mut res = Response::new(RejectionBody::from_static(problem_body(kind)));
        *res.status_mut() = kind.status();
        let headers = res.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(challenge) = challenge {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        res
    }

    fn scope_challenge(&self, error: &AuthError) -> Option<HeaderValue> {
        let realm = self
            .realm
            .as_ref()
            .map(|r| format!(r#"realm="{r}", "#))
            .unwrap_or_default();
        // Scope tokens exclude `"` and `\` (RFC 6749 §3.3), so the quoted
        // string needs no escaping.
        let scope = error
            .required_scopes()
            .map(|s| format!(r#", scope="{s}""#))
            .unwrap_or_default();
        HeaderValue::try_from(format!(
            r#"Bearer {realm}error="insufficient_scope"{scope}"#
        ))
        .ok()
    }
}

impl Default for DefaultRejection {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DefaultRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The challenges are derived from the realm.
        f.debug_struct("DefaultRejection")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Reject for DefaultRejection {
    fn reject(&self, error: &AuthError, request: &Parts) -> Response<RejectionBody> {
        self.render(error, is_grpc(&request.headers))
    }
}

/// Whether a request speaks gRPC: `content-type` `application/grpc` or
/// gRPC-Web's `application/grpc-web…`, alone or followed by `+format` or
/// parameters (media types are case-insensitive). `application/grpcfoo`
/// is not gRPC.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    headers.get(CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.get(..GRPC.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(GRPC))
            && grpc_suffix(&v[GRPC.len()..])
    })
}

/// What may follow `application/grpc` in a gRPC content type.
fn grpc_suffix(rest: &[u8]) -> bool {
    let rest = match rest.get(..4) {
        Some(web) if web.eq_ignore_ascii_case(b"-web") => &rest[4..],
        _ => rest,
    };
    let rest = match rest.get(..5) {
        Some(text) if text.eq_ignore_ascii_case(b"-text") => &rest[5..],
        _ => rest,
    };
    matches!(rest.first(), None | Some(b'+' | b';' | b' '))
}

fn problem_body(kind: AuthErrorKind) -> &'static str {
    match kind {
        AuthErrorKind::Missing => {
            r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"credentials are required"}"#
        }
        AuthErrorKind::Invalid => {
            r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the credentials are not valid"}"#
        }
        AuthErrorKind::Expired => {
            r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the credentials have expired"}"#
        }
        AuthErrorKind::InsufficientScope => {
            r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"the credentials lack a required scope"}"#
        }
        AuthErrorKind::InvalidRequest => {
            r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"the credentials could not be read"}"#
        }
        AuthErrorKind::Unavailable => {
            r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"authentication is temporarily unavailable"}"#
        }
    }
}

fn grpc_response(kind: AuthErrorKind) -> Response<RejectionBody> {
    let (code, message) = match kind {
        AuthErrorKind::Missing => ("16", "credentials are required"),
        AuthErrorKind::Invalid | AuthErrorKind::InvalidRequest => {
            ("16", "the credentials are not valid")
        }
        AuthErrorKind::Expired => ("16", "the credentials have expired"),
        AuthErrorKind::InsufficientScope => ("7", "the credentials lack a required scope"),
        AuthErrorKind::Unavailable => ("14", "authentication is temporarily unavailable"),
    };
    // Trailers-only: status and message travel in the headers of an empty,
    // finished response (gRPC over HTTP/2, "Trailers-Only").
    let mut res = Response::new(RejectionBody::empty());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from_static(code));
    headers.insert("grpc-message", HeaderValue::from_static(message));
    res
}

/// The body of a rejection response: a single chunk of bytes, or nothing.
#[derive(Clone, Debug, Default)]
pub struct RejectionBody {
    data: Option<Bytes>,
}

impl RejectionBody {
    /// An empty body.
    pub const fn empty() -> Self {
        Self { data: None }
    }

    const fn from_static(s: &'static str) -> Self {
        Self {
            data: Some(Bytes::from_static(s.as_bytes())),
        }
    }
}

impl From<Bytes> for RejectionBody {
    fn from(data: Bytes) -> Self {
        Self {
            data: (!data.is_empty()).then_some(data),
        }
    }
}

impl From<String> for RejectionBody {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<Vec<u8>> for RejectionBody {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<&'static str> for RejectionBody {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl Body for RejectionBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

pin_project! {
    /// The response body of the services in this crate: the inner service's
    /// body, or a [`RejectionBody`].
    #[project = ResponseBodyProj]
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { body: RejectionBody },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) const fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) const fn rejection(body: RejectionBody) -> Self {
        Self {
            kind: Kind::Rejection { body },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { body } => {
                Poll::Ready(body.data.take().map(|d| Ok(Frame::data(d))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { body } => body.size_hint(),
        }
    }
}

/// How [`AuthService`](crate::AuthService) makes its response body out of
/// the inner service's body `B` and out of a rejection's.
///
/// [`WrapBody`], the default, works for any inner body.
/// [`AxumBody`] (feature `axum`) is for axum routers; choose it with
/// [`AuthLayer::axum_body`](crate::AuthLayer::axum_body).
pub trait BodyMode<B>: 'static {
    /// The response body.
    type Body;

    /// The inner service's body, as the response body.
    fn inner(body: B) -> Self::Body;

    /// A rejection's body, as the response body.
    fn rejection(body: RejectionBody) -> Self::Body;
}

/// The default [`BodyMode`]: a [`ResponseBody`], holding either the inner
/// service's body or a rejection's, for any inner body type.
#[derive(Clone, Copy, Debug, Default)]
pub struct WrapBody;

impl<B> BodyMode<B> for WrapBody {
    type Body = ResponseBody<B>;

    fn inner(body: B) -> Self::Body {
        ResponseBody::inner(body)
    }

    fn rejection(body: RejectionBody) -> Self::Body {
        ResponseBody::rejection(body)
    }
}

/// The [`BodyMode`] for axum: the inner service's `axum::body::Body`
/// passes through untouched, and a rejection's body becomes one.
///
/// axum boxes every layer's response body that is not its own `Body`, so
/// with [`WrapBody`] each response costs one more allocation; with this
/// mode only rejections are boxed. For layers added with `Router::layer`
/// or `route_layer`, or wrapped around a `Router`.
#[cfg(feature = "axum")]
#[derive(Clone, Copy, Debug, Default)]
pub struct AxumBody;

#[cfg(feature = "axum")]
impl BodyMode<axum_core::body::Body> for AxumBody {
    type Body = axum_core::body::Body;

    fn inner(body: axum_core::body::Body) -> Self::Body {
        body
    }

    fn rejection(body: RejectionBody) -> Self::Body {
        axum_core::body::Body::new(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Scopes;

    fn challenge(res: &Response<RejectionBody>) -> Option<&str> {
        res.headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn http_challenges_follow_rfc6750() {
        let r = DefaultRejection::new();
        let res = r.render(&AuthError::missing(), false);
        assert_eq!(res.status(), 401);
        assert_eq!(challenge(&res), Some("Bearer"));
        assert_eq!(res.headers()[CONTENT_TYPE], "application/problem+json");

        let res = r.render(&AuthError::invalid("revoked"), false);
        assert_eq!(challenge(&res), Some(r#"Bearer error="invalid_token""#));

        let res = r.render(
            &AuthError::insufficient_scope(Scopes::new(["b", "a"]).unwrap()),
            false,
        );
        assert_eq!(res.status(), 403);
        assert_eq!(
            challenge(&res),
            Some(r#"Bearer error="insufficient_scope", scope="a b""#)
        );

        let res = r.render(&AuthError::unavailable("down"), false);
        assert_eq!(res.status(), 503);
        assert_eq!(challenge(&res), None);
    }

    #[test]
    fn realm_is_validated_and_rendered() {
        assert!(DefaultRejection::with_realm("a\"b").is_err());
        assert!(DefaultRejection::with_realm("a\nb").is_err());
        let r = DefaultRejection::with_realm("api").unwrap();
        assert_eq!(
            challenge(&r.render(&AuthError::missing(), false)),
            Some(r#"Bearer realm="api""#)
        );
        assert_eq!(
            challenge(&r.render(&AuthError::invalid("x"), false)),
            Some(r#"Bearer realm="api", error="invalid_token""#)
        );
        assert_eq!(
            challenge(&r.render(
                &AuthError::insufficient_scope(Scopes::new(["a"]).unwrap()),
                false
            )),
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="a""#)
        );
    }

    #[test]
    fn problem_bodies_are_json_with_matching_status() {
        for kind in [
            AuthErrorKind::Missing,
            AuthErrorKind::Invalid,
            AuthErrorKind::Expired,
            AuthErrorKind::InsufficientScope,
            AuthErrorKind::InvalidRequest,
            AuthErrorKind::Unavailable,
        ] {
            let v: serde_json::Value = serde_json::from_str(problem_body(kind)).unwrap();
            assert_eq!(v["status"], kind.status().as_u16());
        }
    }

    #[test]
    fn grpc_is_told_by_its_media_type() {
        let grpc = |v: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_bytes(v).unwrap());
            is_grpc(&h)
        };
        for yes in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc+json",
            b"Application/GRPC",
            b"application/grpc; charset=utf-8",
            b"application/grpc;x=1",
            b"application/grpc-web",
            b"application/grpc-web-text",
            b"application/grpc-web+proto",
        ] {
            assert!(grpc(yes), "{yes:?}");
        }
        for no in [
            &b"application/grpcfoo"[..],
            b"application/grpc-webx",
            b"application/grp",
            b"application/grpcKK\xedKK",
            b"text/plain",
            b"",
        ] {
            assert!(!grpc(no), "{no:?}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn grpc_is_trailers_only() {
        let res = DefaultRejection::new().render(&AuthError::invalid("x"), true);
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/grpc");
        assert!(res.body().is_end_stream());
        let res = DefaultRejection::new().render(&AuthError::unavailable("x"), true);
        assert_eq!(res.headers()["grpc-status"], "14");
        let res =
            DefaultRejection::new().render(&AuthError::insufficient_scope(Scopes::default()), true);
        assert_eq!(res.headers()["grpc-status"], "7");
    }
}
