//! The endpoint's handlers: the token request (RFC 6749 §4.4), the JWKS
//! and the metadata (RFC 8414).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ::axum::body::{Body, Bytes};
use ::axum::extract::State;
use ::axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde_json::json;
use zeroize::Zeroizing;

use super::{MAX_TOKEN_LIFETIME, Shared, issuer_path};
use crate::api_key::KeyRepository;
use crate::identity::Scopes;

/// Largest token request.
const MAX_BODY: usize = 8 * 1024;

fn answer(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut res = Response::new(Body::from(body.to_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    code: &'static str,
    description: String,
}

fn err(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        code,
        description: description.into(),
    }
}

impl OAuthError {
    fn into_response(self) -> Response {
        let status = if self.code == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else if self.code == "server_error" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut res = answer(
            status,
            &json!({"error": self.code, "error_description": self.description}),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="token""#),
            );
        }
        res
    }
}

/// The form's parameters; each may appear once.
#[derive(Default)]
struct Form {
    grant_type: Option<String>,
    client_id: Option<String>,
    /// Wiped when dropped, as every copy of the secret here is.
    client_secret: Option<Zeroizing<String>>,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
}

fn parse_form(parts: &Parts, body: &[u8]) -> Result<Form, OAuthError> {
    let form_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(err(
            "invalid_request",
            "the request must be application/x-www-form-urlencoded",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(err("invalid_request", "the request is too large"));
    }
    let mut form = Form::default();
    for (name, value) in form_urlencoded::parse(body) {
        if name == "client_secret" {
            if form
                .client_secret
                .replace(Zeroizing::new(value.into_owned()))
                .is_some()
            {
                return Err(err(
                    "invalid_request",
                    "the parameter client_secret is given more than once",
                ));
            }
            continue;
        }
        let slot = match &*name {
            "grant_type" => &mut form.grant_type,
            "client_id" => &mut form.client_id,
            "scope" => &mut form.scope,
            "audience" => &mut form.audience,
            "resource" => &mut form.resource,
            _ => continue, // RFC 6749 §3.2: unknown parameters are ignored.
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(err(
                "invalid_request",
                format!("the parameter {name} is given more than once"),
            ));
        }
    }
    Ok(form)
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1: both parts
/// form-encoded) or in the body, not both.
fn credentials(parts: &Parts, form: &mut Form) -> Result<(String, Zeroizing<String>), OAuthError> {
    let basic = match parts.headers.get(AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.as_bytes();
            let Some(encoded) = v
                .get(..6)
                .filter(|s| s.eq_ignore_ascii_case(b"basic "))
                .map(|_| &v[6..])
            else {
                return Err(err(
                    "invalid_client",
                    "use HTTP Basic client authentication",
                ));
            };
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim_ascii())
                    .map_err(|_| err("invalid_client", "malformed Basic credentials"))?,
            );
            let decoded = std::str::from_utf8(&decoded)
                .map_err(|_| err("invalid_client", "malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| err("invalid_client", "malformed Basic credentials"))?;
            let unescape = |s: &str| -> Zeroizing<String> {
                let pair = Zeroizing::new(format!("x={s}"));
                Zeroizing::new(
                    form_urlencoded::parse(pair.as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default(),
                )
            };
            Some((unescape(id).to_string(), unescape(secret)))
        }
    };
    let posted = form.client_secret.take();
    match (basic, posted) {
        (Some(_), Some(_)) => Err(err(
            "invalid_request",
            "the client authenticated twice (Basic and client_secret)",
        )),
        (Some((id, secret)), None) => {
            if form.client_id.as_deref().is_some_and(|posted| posted != id) {
                return Err(err(
                    "invalid_request",
                    "client_id does not match the Basic credentials",
                ));
            }
            Ok((id, secret))
        }
        (None, Some(secret)) => match form.client_id.take() {
            Some(id) => Ok((id, secret)),
            None => Err(err("invalid_request", "client_secret without client_id")),
        },
        (None, None) => Err(err("invalid_client", "client authentication is required")),
    }
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(super) async fn token<R: KeyRepository>(
    State(e): State<Arc<Shared<R>>>,
    parts: Parts,
    body: Bytes,
) -> Response {
    match issue(&e, &parts, &body).await {
        Ok(res) => res,
        Err(error) => {
            tracing::debug!(target: "m2m_auth", error = error.code, "token request refused");
            error.into_response()
        }
    }
}

async fn issue<R: KeyRepository>(
    e: &Shared<R>,
    parts: &Parts,
    body: &[u8],
) -> Result<Response, OAuthError> {
    if parts.method != http::Method::POST {
        return Err(err("invalid_request", "use POST"));
    }
    let mut form = parse_form(parts, body)?;
    let (id, secret) = credentials(parts, &mut form)?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(err(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => return Err(err("invalid_request", "grant_type is required")),
    }
    let client = e
        .clients
        .authenticate(&id, &secret)
        .await
        .map_err(|error| {
            tracing::warn!(target: "m2m_auth", error = %crate::error::ErrorChain(&error), "token endpoint: client store failed");
            err("server_error", "the client store is temporarily unavailable")
        })?
        .ok_or_else(|| err("invalid_client", "unknown client, bad secret, or disabled client"))?;

    let scopes = match form.scope.as_deref() {
        None => client.default_scopes.clone(),
        Some(asked) => {
            let asked = Scopes::from_space_separated(asked).map_err(|_| {
                err(
                    "invalid_scope",
                    "scope is not a space-separated list of scopes",
                )
            })?;
            if !client.scopes.is_superset(&asked) {
                return Err(err(
                    "invalid_scope",
                    "a requested scope is not allowed for this client",
                ));
            }
            asked
        }
    };
    let audience = match (form.audience, form.resource) {
        (Some(_), Some(_)) => {
            return Err(err(
                "invalid_request",
                "give audience or resource, not both",
            ));
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => client
            .audiences
            .first()
            .cloned()
            .ok_or_else(|| err("invalid_target", "this client has no audience"))?,
    };
    if !client.audiences.contains(&audience) {
        return Err(err(
            "invalid_target",
            "the requested audience is not one this client may use",
        ));
    }

    let now = SystemTime::now();
    let lifetime = client.token_lifetime.min(MAX_TOKEN_LIFETIME);
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| err("server_error", "no randomness"))?;
    let jti = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(jti);
    let claims = json!({
        "iss": &*e.issuer,
        "sub": &*client.id,
        "client_id": &*client.id,
        "aud": audience,
        "iat": seconds(now),
        "exp": seconds(now + lifetime),
        "jti": jti,
        "scope": scopes.to_string(),
    });
    let token = e.keys.sign(&claims).map_err(|error| {
        tracing::warn!(target: "m2m_auth", error = %error, "token endpoint: signing failed");
        err("server_error", "signing failed")
    })?;
    tracing::debug!(
        target: "m2m_auth",
        client_id = &*client.id,
        kid = &*e.keys.active_kid(),
        "token issued"
    );
    Ok(answer(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": scopes.to_string(),
        }),
    ))
}

pub(super) async fn jwks<R: KeyRepository>(State(e): State<Arc<Shared<R>>>) -> Response {
    let jwks = serde_json::to_value(e.keys.jwks()).unwrap_or_else(|_| json!({"keys": []}));
    let mut res = answer(StatusCode::OK, &jwks);
    // Verifiers may cache briefly; a new key is published before it signs.
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub(super) async fn metadata<R: KeyRepository>(State(e): State<Arc<Shared<R>>>) -> Response {
    let origin = {
        let path = issuer_path(&e.issuer);
        let base = e.issuer.trim_end_matches('/');
        base[..base.len() - path.len()].to_owned()
    };
    let base = e.issuer.trim_end_matches('/');
    let alg = format!("{:?}", e.keys.algorithm().verified_as());
    let body = json!({
        "issuer": &*e.issuer,
        "token_endpoint": format!("{origin}{}", e.token_path),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
    });
    let mut res = answer(StatusCode::OK, &body);
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
