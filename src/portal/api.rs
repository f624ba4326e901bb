//! The portal's handlers: the page and its assets, and the REST API.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::axum::body::{Body, Bytes};
use ::axum::extract::rejection::QueryRejection;
use ::axum::extract::{OriginalUri, Path, Query, State};
use ::axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, WWW_AUTHENTICATE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{MAX_GRACE, Shared};
use crate::api_key::{
    CreatedKey, KeyChange, KeyError, KeyErrorKind, KeyRecord, KeyRepository, NewKey,
};
use crate::identity::{Attributes, Scopes};

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/portal.js");
const STYLE: &str = include_str!("assets/portal.css");
const ICON: &str = include_str!("assets/favicon.svg");

/// Nothing but the page's own script and style, and calls to its own API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'self'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Largest request body of the API.
const MAX_BODY: usize = 16 * 1024;

fn asset(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut res = Response::new(body.into());
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// The page. Its assets and API are addressed relative to where the portal
/// is mounted, which the page learns from its `<base>`: the path it was
/// asked for, with a `/` at the end.
pub(super) async fn page(OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    let mut base = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        match c {
            '&' => base.push_str("&amp;"),
            '"' => base.push_str("&quot;"),
            '<' => base.push_str("&lt;"),
            '>' => base.push_str("&gt;"),
            '\'' => base.push_str("&#39;"),
            c => base.push(c),
        }
    }
    if !base.ends_with('/') {
        base.push('/');
    }
    let html = PAGE.replacen("<base href=\"./\">", &format!("<base href=\"{base}\">"), 1);
    asset("text/html; charset=utf-8", html)
}

pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

pub(super) async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// An RFC 9457 problem.
pub(super) struct Problem {
    status: StatusCode,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "no such key")
    }
}

impl From<KeyError> for Problem {
    fn from(e: KeyError) -> Self {
        match e.kind() {
            KeyErrorKind::NotFound => Self::not_found(),
            KeyErrorKind::InvalidInput => Self::bad_request(e.to_string()),
            KeyErrorKind::Revoked | KeyErrorKind::Expired => {
                Self::new(StatusCode::CONFLICT, e.to_string())
            }
            _ => {
                tracing::warn!(target: "m2m_auth", error = %crate::error::ErrorChain(&e), "portal: key store failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the key store is temporarily unavailable",
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut res = Response::new(Body::from(body.to_string()));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// A JSON answer that must not be stored anywhere (it may hold a key).
fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A key as the API shows it: never the key itself.
#[derive(Serialize)]
struct KeyView {
    id: String,
    name: String,
    hint: String,
    scopes: Vec<String>,
    metadata: Value,
    status: &'static str,
    enabled: bool,
    created_at: u64,
    updated_at: u64,
    expires_at: Option<u64>,
    revoked_at: Option<u64>,
    rolled_from: Option<String>,
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl From<&KeyRecord> for KeyView {
    fn from(r: &KeyRecord) -> Self {
        Self {
            id: r.key_id().to_owned(),
            name: r.name().to_owned(),
            hint: r.hint().to_owned(),
            scopes: r.scopes().iter().map(ToOwned::to_owned).collect(),
            metadata: Value::Object((**r.metadata()).clone()),
            status: r.status().as_str(),
            enabled: r.is_enabled(),
            created_at: seconds(r.created_at()),
            updated_at: seconds(r.updated_at()),
            expires_at: r.expires_at().map(seconds),
            revoked_at: r.revoked_at().map(seconds),
            rolled_from: r.rolled_from().map(ToOwned::to_owned),
        }
    }
}

#[derive(Serialize)]
struct Created {
    /// The plaintext: shown once.
    key: String,
    record: KeyView,
}

impl From<&CreatedKey> for Created {
    fn from(c: &CreatedKey) -> Self {
        Self {
            key: c.key.expose_secret().to_owned(),
            record: KeyView::from(&*c.record),
        }
    }
}

impl<R: KeyRepository> Shared<R> {
    fn caller(&self, parts: &Parts) -> Result<String, Problem> {
        self.owner
            .owner(parts)
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "credentials are required"))
    }

    /// The caller's key `id`; someone else's is as good as none.
    async fn own(&self, owner: &str, id: &str) -> Result<Arc<KeyRecord>, Problem> {
        match self.keys.get(id).await? {
            Some(r) if r.owner() == owner => Ok(r),
            _ => Err(Problem::not_found()),
        }
    }

    fn scopes(&self, asked: &[String]) -> Result<Scopes, Problem> {
        for s in asked {
            if !self.allowed.contains(s) {
                return Err(Problem::bad_request(format!(
                    "scope {s:?} is not one this API lets you grant"
                )));
            }
        }
        Scopes::new(asked).map_err(|e| Problem::bad_request(e.to_string()))
    }
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, Problem> {
    if bytes.len() > MAX_BODY {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        ));
    }
    let bytes = if bytes.is_empty() { &b"{}"[..] } else { bytes };
    serde_json::from_slice(bytes)
        .map_err(|e| Problem::bad_request(format!("the body is not what this endpoint takes: {e}")))
}

fn instant(seconds: u64) -> Result<SystemTime, Problem> {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| Problem::bad_request("expires_at is out of range"))
}

fn metadata(map: Map<String, Value>) -> Attributes {
    Attributes::new(map)
}

pub(super) async fn me<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "owner": owner })))
}

pub(super) async fn scopes<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
) -> Result<Response, Problem> {
    p.caller(&parts)?;
    let scopes: Vec<&str> = p.allowed.iter().collect();
    Ok(json(StatusCode::OK, &scopes))
}

/// One page of keys.
#[derive(Serialize)]
struct Page {
    keys: Vec<KeyView>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn list<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    let Ok(Query(q)) = query else {
        return Err(Problem::bad_request(
            "after must be a key id, limit a number",
        ));
    };
    let page = p
        .keys
        .list(&owner, q.after.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(json(
        StatusCode::OK,
        &Page {
            keys: page.keys.iter().map(|k| KeyView::from(&**k)).collect(),
            next: page.next,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    expires_at: Option<u64>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

pub(super) async fn create<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    bytes: Bytes,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    let b: CreateBody = body(&bytes)?;
    let new = NewKey::new(owner)
        .name(b.name)
        .scopes(p.scopes(&b.scopes)?)
        .metadata(metadata(b.metadata))
        .expires_at(b.expires_at.map(instant).transpose()?);
    let created = p.keys.create(new).await?;
    Ok(json(StatusCode::CREATED, &Created::from(&created)))
}

pub(super) async fn get<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    let record = p.own(&owner, &id).await?;
    Ok(json(StatusCode::OK, &KeyView::from(&*record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_at: Expiry,
    metadata: Option<Map<String, Value>>,
}

/// An expiry in an update: absent keeps it, `null` clears it, a number
/// sets it.
#[derive(Default)]
enum Expiry {
    #[default]
    Keep,
    Never,
    At(u64),
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map_or(Self::Never, Self::At))
    }
}

pub(super) async fn update<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    let b: UpdateBody = body(&bytes)?;
    p.own(&owner, &id).await?;
    let mut change = KeyChange::new();
    if let Some(name) = b.name {
        change = change.name(name);
    }
    if let Some(scopes) = b.scopes {
        change = change.scopes(p.scopes(&scopes)?);
    }
    match b.expires_at {
        Expiry::Keep => {}
        Expiry::Never => change = change.expires_at(None),
        Expiry::At(at) => change = change.expires_at(Some(instant(at)?)),
    }
    if let Some(m) = b.metadata {
        change = change.metadata(metadata(m));
    }
    let record = p.keys.update(&id, change).await?;
    Ok(json(StatusCode::OK, &KeyView::from(&*record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollBody {
    #[serde(default)]
    grace_seconds: u64,
}

pub(super) async fn roll<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    let b: RollBody = body(&bytes)?;
    let grace = Duration::from_secs(b.grace_seconds);
    if grace > MAX_GRACE {
        return Err(Problem::bad_request(format!(
            "grace_seconds is at most {}",
            MAX_GRACE.as_secs()
        )));
    }
    p.own(&owner, &id).await?;
    let created = p.keys.roll(&id, grace).await?;
    Ok(json(StatusCode::CREATED, &Created::from(&created)))
}

pub(super) async fn revoke<R: KeyRepository>(
    State(p): State<Arc<Shared<R>>>,
    parts: Parts,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let owner = p.caller(&parts)?;
    p.own(&owner, &id).await?;
    let record = p.keys.revoke(&id).await?;
    Ok(json(StatusCode::OK, &KeyView::from(&*record)))
}
