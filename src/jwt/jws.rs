//! Compact JWS (RFC 7515 §7.1): splitting, the protected header, the
//! signature check.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::Algorithm;
use super::key::{Key, KeySet};
use crate::error::AuthError;

/// The three segments of a compact JWS, still encoded.
#[derive(Clone, Copy)]
pub(crate) struct Compact<'t> {
    /// `header.payload`: what the signature covers.
    pub(crate) signing_input: &'t str,
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
}

/// Splits `token` into its three segments: two dots, a non-empty header
/// (which, being a JSON object in base64url, starts with `e`) and a
/// non-empty signature. The alphabet is checked when each segment is
/// decoded.
pub(crate) fn split(token: &str) -> Option<Compact<'_>> {
    if !token.starts_with('e') {
        return None;
    }
    let first = token.find('.')?;
    let second = first + 1 + token[first + 1..].find('.')?;
    let signature = &token[second + 1..];
    if signature.is_empty() || signature.contains('.') {
        return None;
    }
    Some(Compact {
        signing_input: &token[..second],
        header: &token[..first],
        payload: &token[first + 1..second],
        signature,
    })
}

impl Compact<'_> {
    /// The token again, owned.
    #[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
    pub(crate) fn to_owned(self) -> String {
        format!("{}.{}", self.signing_input, self.signature)
    }
}

/// Whether `e` says that the key set lacks the token's key, which a fresh
/// copy of a remote set may hold.
#[cfg_attr(not(feature = "remote-jwks"), allow(dead_code))]
pub(crate) fn names_unknown_key(e: &AuthError) -> bool {
    matches!(e.reason(), "unknown_kid" | "no_key_for_alg")
}

/// The `iss` claim of an unverified payload, to decide who may verify it;
/// never to trust.
pub(crate) fn unverified_issuer(payload: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let (mut buf, mut spill) = ([0u8; 2048], Vec::new());
    let json = decode_segment_into(payload, &mut buf, &mut spill)?;
    serde_json::from_slice::<Iss>(json).ok()?.iss
}

/// Decodes one base64url segment (no padding, no stray bits).
pub(crate) fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

/// Decodes one base64url segment into `buf` when it surely fits (no heap
/// allocation), else into `spill`.
pub(crate) fn decode_segment_into<'b>(
    segment: &str,
    buf: &'b mut [u8],
    spill: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    if base64::decoded_len_estimate(segment.len()) <= buf.len() {
        let n = URL_SAFE_NO_PAD.decode_slice(segment, buf).ok()?;
        Some(&buf[..n])
    } else {
        URL_SAFE_NO_PAD.decode_vec(segment, spill).ok()?;
        Some(spill)
    }
}

/// The `typ` header, as far as the policy needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Typ {
    /// No `typ` header.
    Absent,
    /// `at+jwt` or `application/at+jwt` (RFC 9068), any case.
    AccessToken,
    /// `JWT` or `application/jwt`, any case.
    Jwt,
    /// Anything else.
    Other,
}

/// The protected header, checked: the algorithm is supported, no `crit`.
#[derive(Debug)]
pub(crate) struct Header<'h> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Cow<'h, str>>,
    pub(crate) typ: Typ,
}

/// The members we read. Others (`jku`, `x5u`, `jwk`, `x5c`, …) are never
/// used: keys come from configuration only. Serde's derive refuses a
/// member given twice.
#[derive(Deserialize)]
struct RawHeader<'h> {
    #[serde(borrow)]
    alg: Option<Cow<'h, str>>,
    #[serde(borrow)]
    kid: Option<Cow<'h, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'h, str>>,
    crit: Option<serde::de::IgnoredAny>,
}

/// Parses a decoded protected header.
pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, AuthError> {
    let raw: RawHeader<'_> =
        serde_json::from_slice(json).map_err(|_| AuthError::invalid("malformed_header"))?;
    if raw.crit.is_some() {
        // RFC 7515 §4.1.11: extensions we do not understand must not be
        // ignored, and we understand none.
        return Err(AuthError::invalid("crit_header"));
    }
    let alg = raw.alg.ok_or(AuthError::invalid("malformed_header"))?;
    let alg = Algorithm::from_name(&alg).ok_or(AuthError::invalid("unsupported_alg"))?;
    let typ = match raw.typ.as_deref() {
        None => Typ::Absent,
        Some(t)
            if t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt") =>
        {
            Typ::AccessToken
        }
        Some(t) if t.eq_ignore_ascii_case("jwt") || t.eq_ignore_ascii_case("application/jwt") => {
            Typ::Jwt
        }
        Some(_) => Typ::Other,
    };
    Ok(Header {
        alg,
        kid: raw.kid,
        typ,
    })
}

/// Checks the signature of `jws` with the key of `keys` its header selects,
/// if its algorithm is one of `algorithms`. Returns that key.
pub(crate) fn verify<'k>(
    jws: Compact<'_>,
    header: &Header<'_>,
    keys: &'k KeySet,
    algorithms: &[Algorithm],
) -> Result<&'k Key, AuthError> {
    if !algorithms.contains(&header.alg) {
        return Err(AuthError::invalid("alg_not_allowed"));
    }
    let key = keys
        .select(header.alg, header.kid.as_deref())
        .map_err(AuthError::invalid)?;
    // Up to RSA-4096 on the stack.
    let (mut buf, mut spill) = ([0u8; 512], Vec::new());
    let signature = decode_segment_into(jws.signature, &mut buf, &mut spill)
        .ok_or(AuthError::invalid("malformed"))?;
    if !key.verify(header.alg, jws.signing_input.as_bytes(), signature) {
        let e = AuthError::invalid("bad_signature");
        return Err(match key.kid_arc() {
            Some(kid) => e.with_credential_id(kid.clone()),
            None => e,
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_exactly_three_segments() {
        let c = split("ea.bb.cc").unwrap();
        assert_eq!((c.header, c.payload, c.signature), ("ea", "bb", "cc"));
        assert_eq!(c.signing_input, "ea.bb");
        assert!(split("ea..cc").is_some(), "empty payload is allowed here");
        for bad in [
            "",
            "ea",
            "ea.bb",
            "ea.bb.cc.dd",
            ".bb.cc",
            "ea.bb.",
            "aa.bb.cc",
            "acme_live_x",
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn segments_decode_strictly() {
        assert_eq!(decode_segment("YQ").unwrap(), b"a");
        assert!(decode_segment("YQ==").is_none(), "padding");
        assert!(decode_segment("YR").is_none(), "stray bits");
        assert!(decode_segment("Y").is_none(), "impossible length");
        let (mut small, mut spill) = ([0u8; 4], Vec::new());
        assert_eq!(
            decode_segment_into("YWJj", &mut small, &mut spill).unwrap(),
            b"abc"
        );
        assert!(spill.is_empty(), "fits: no allocation");
        let long = "YWJj".repeat(10);
        assert_eq!(
            decode_segment_into(&long, &mut small, &mut spill).unwrap(),
            "abc".repeat(10).as_bytes()
        );
        assert!(decode_segment_into("YQ==", &mut small, &mut spill).is_none());
    }

    #[test]
    fn header_policy() {
        let h = parse_header(br#"{"alg":"RS256","kid":"k1","typ":"AT+JWT"}"#).unwrap();
        assert_eq!(
            (h.alg, h.kid.as_deref(), h.typ),
            (Algorithm::RS256, Some("k1"), Typ::AccessToken)
        );
        assert_eq!(
            parse_header(br#"{"alg":"HS256","typ":"JWT"}"#).unwrap().typ,
            Typ::Jwt
        );
        assert_eq!(
            parse_header(br#"{"alg":"HS256","typ":"JOSE"}"#)
                .unwrap()
                .typ,
            Typ::Other
        );
        let reason = |json: &[u8]| parse_header(json).unwrap_err().reason();
        assert_eq!(reason(br#"{"alg":"none"}"#), "unsupported_alg");
        assert_eq!(reason(br#"{"alg":"HS256","crit":["exp"]}"#), "crit_header");
        assert_eq!(
            reason(br#"{"alg":"HS256","alg":"none"}"#),
            "malformed_header"
        );
        assert_eq!(reason(br#"{"kid":"x"}"#), "malformed_header");
        assert_eq!(reason(br#"["alg"]"#), "malformed_header");
        assert_eq!(reason(b"\xff"), "malformed_header");
    }
}
