//! Reading credentials out of request headers, shared by every authenticator.

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::error::AuthError;

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).
///
/// `Ok(None)` when there is no `Authorization` header or it uses another
/// scheme; an error when it is a `Bearer` header whose token is empty or
/// not a `b64token` (letters, digits, `-._~+/`, then `=` padding), or when
/// the header is repeated.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(duplicate_authorization());
    }
    bearer_of(value)
}

/// The error for a repeated `Authorization` header.
pub(crate) fn duplicate_authorization() -> AuthError {
    AuthError::invalid_request("duplicate_authorization_header")
}

/// The bearer token of one `Authorization` header value, as
/// [`bearer_token`] reads it, for callers that found the header
/// themselves (and checked it is not repeated).
pub(crate) fn bearer_of(value: &HeaderValue) -> Result<Option<&str>, AuthError> {
    const SCHEME: &[u8] = b"bearer";
    let bytes = value.as_bytes();
    let is_bearer = bytes.len() >= SCHEME.len()
        && bytes[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
        && bytes.get(SCHEME.len()).is_none_or(|&b| b == b' ');
    if !is_bearer {
        return Ok(None);
    }
    let token = &bytes[SCHEME.len()..];
    let token = &token[token.iter().take_while(|&&b| b == b' ').count()..];
    if !is_b64token(token) {
        return Err(AuthError::invalid("malformed_header"));
    }
    // ASCII by now, so this cannot fail; it is cheap on ASCII.
    std::str::from_utf8(token)
        .map(Some)
        .map_err(|_| AuthError::invalid("malformed_header"))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    // `&` rather than `&&` and no early exit, so that the loop vectorises:
    // tokens (JWTs) can be kilobytes long.
    !body.is_empty()
        && body.iter().fold(true, |ok, &b| {
            ok & (b.is_ascii_alphanumeric() | matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;
    use http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_parsing() {
        let ok = |v: &[u8]| {
            bearer_token(&headers(&[("authorization", v)])).map(|t| t.map(str::to_owned))
        };
        assert_eq!(ok(b"Bearer abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(
            ok(b"Bearer a-._~+/9==").unwrap().as_deref(),
            Some("a-._~+/9==")
        );
        assert_eq!(ok(b"bearer   abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(ok(b"BEARER abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(ok(b"Basic abc").unwrap(), None);
        assert_eq!(ok(b"Bearerabc").unwrap(), None);
        assert_eq!(ok(b"Bear").unwrap(), None);
        assert_eq!(ok(b"").unwrap(), None);
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer \xff\xfe",
            b"Bearer ==",
            b"Bearer a=b",
            b"Bearer a\tb",
            b"Bearer a,b",
            b"Bearer a ",
            b"Bearer \"a\"",
        ] {
            assert_eq!(
                ok(bad).unwrap_err().kind(),
                AuthErrorKind::Invalid,
                "{bad:?}"
            );
        }
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn repeated_headers_are_ambiguous() {
        let h = headers(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
        ]);
        assert_eq!(
            bearer_token(&h).unwrap_err().kind(),
            AuthErrorKind::InvalidRequest
        );
    }
}
