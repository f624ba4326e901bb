//! The claims of an access token: read once, checked, turned into an
//! [`Identity`].

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::identity::{Attributes, Credential, Identity, Scopes};

/// What the claims must say, and where scopes are found.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) issuer: Arc<str>,
    /// Empty when the audience check is switched off.
    pub(crate) audiences: Box<[Box<str>]>,
    pub(crate) leeway: Duration,
    pub(crate) scope_claims: Box<[Box<str>]>,
}

/// Registered claims, borrowed from the payload where JSON allows.
#[derive(Default)]
struct Claims<'de> {
    iss: Option<Cow<'de, str>>,
    sub: Option<Cow<'de, str>>,
    aud: Option<Vec<Cow<'de, str>>>,
    jti: Option<Cow<'de, str>>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    scopes: Vec<Cow<'de, str>>,
    attributes: Map<String, Value>,
}

impl Policy {
    /// Reads `payload` (JSON) and checks it at time `now`; `kid` is the
    /// verifying key's id.
    pub(crate) fn identity(
        &self,
        payload: &[u8],
        now: SystemTime,
        kid: Option<&Arc<str>>,
    ) -> Result<Identity, AuthError> {
        let duplicate = Cell::new(false);
        let mut de = serde_json::Deserializer::from_slice(payload);
        let claims = ClaimsSeed {
            scope_claims: &self.scope_claims,
            duplicate: &duplicate,
        }
        .deserialize(&mut de)
        .and_then(|c| de.end().map(|()| c))
        .map_err(|_| {
            AuthError::invalid(if duplicate.get() {
                "duplicate_claim"
            } else {
                "malformed_claims"
            })
        })?;
        self.check(claims, now, kid)
    }

    fn check(
        &self,
        c: Claims<'_>,
        now: SystemTime,
        kid: Option<&Arc<str>>,
    ) -> Result<Identity, AuthError> {
        let with_kid = |e: AuthError| match kid {
            Some(kid) => e.with_credential_id(kid.clone()),
            None => e,
        };
        match c.iss.as_deref() {
            None => return Err(with_kid(AuthError::invalid("missing_iss"))),
            Some(iss) if iss != &*self.issuer => {
                return Err(with_kid(AuthError::invalid("wrong_issuer")));
            }
            Some(_) => {}
        }
        if !self.audiences.is_empty() {
            let aud = c
                .aud
                .as_deref()
                .ok_or_else(|| with_kid(AuthError::invalid("missing_aud")))?;
            if !aud
                .iter()
                .any(|a| self.audiences.iter().any(|b| **b == **a))
            {
                return Err(with_kid(AuthError::invalid("wrong_audience")));
            }
        }
        let exp = c
            .exp
            .ok_or_else(|| with_kid(AuthError::invalid("missing_exp")))?;
        let now_s = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let leeway = self.leeway.as_secs_f64();
        if now_s > exp + leeway {
            return Err(with_kid(AuthError::expired()));
        }
        if c.nbf.is_some_and(|nbf| nbf > now_s + leeway) {
            return Err(with_kid(AuthError::invalid("not_yet_valid")));
        }
        if c.iat.is_some_and(|iat| iat > now_s + leeway) {
            return Err(with_kid(AuthError::invalid("issued_in_future")));
        }
        let expires_at = Duration::try_from_secs_f64(exp)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(|| with_kid(AuthError::invalid("bad_exp")))?;
        let sub = match c.sub {
            Some(sub) if !sub.is_empty() => sub,
            _ => return Err(with_kid(AuthError::invalid("missing_sub"))),
        };
        let scopes =
            Scopes::new(&c.scopes).map_err(|_| with_kid(AuthError::invalid("bad_scope")))?;
        let issued_at = c
            .iat
            .and_then(|iat| Duration::try_from_secs_f64(iat).ok())
            .and_then(|d| UNIX_EPOCH.checked_add(d));
        let credential = Credential::jwt(
            Arc::clone(&self.issuer),
            kid.cloned(),
            c.jti.map(|j| Arc::from(&*j)),
            issued_at,
        );
        let mut identity = Identity::builder(&*sub, credential)
            .scopes(scopes)
            .expires_at(Some(expires_at));
        if !c.attributes.is_empty() {
            identity = identity.attributes(Attributes::new(c.attributes));
        }
        Ok(identity.build())
    }
}

struct ClaimsSeed<'p> {
    scope_claims: &'p [Box<str>],
    duplicate: &'p Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut c = Claims::default();
        // Which scope claims were seen, to refuse one given twice.
        let mut scope_seen = 0u64;
        let dup = || {
            self.duplicate.set(true);
            de::Error::custom("duplicate claim")
        };
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            macro_rules! once {
                ($field:expr, $ty:ty, $map:expr) => {{
                    if $field.is_some() {
                        return Err(dup());
                    }
                    $field = Some(map.next_value::<$ty>()?).map($map);
                }};
            }
            match &*name {
                "iss" => once!(c.iss, Text<'de>, |t| t.0),
                "sub" => once!(c.sub, Text<'de>, |t| t.0),
                "jti" => once!(c.jti, Text<'de>, |t| t.0),
                "aud" => once!(c.aud, Texts<'de>, |t| t.0),
                "exp" => once!(c.exp, NumericDate, |t| t.0),
                "nbf" => once!(c.nbf, NumericDate, |t| t.0),
                "iat" => once!(c.iat, NumericDate, |t| t.0),
                n => {
                    if let Some(i) = self.scope_claims.iter().position(|s| **s == *n) {
                        let bit = 1u64 << (i % 64);
                        if scope_seen & bit != 0 {
                            return Err(dup());
                        }
                        scope_seen |= bit;
                        for t in map.next_value::<Texts<'de>>()?.0 {
                            match t {
                                Cow::Borrowed(s) => c.scopes.extend(
                                    s.split(' ').filter(|s| !s.is_empty()).map(Cow::Borrowed),
                                ),
                                Cow::Owned(s) => c.scopes.extend(
                                    s.split(' ')
                                        .filter(|s| !s.is_empty())
                                        .map(|s| Cow::Owned(s.to_owned())),
                                ),
                            }
                        }
                    } else {
                        let value: Value = map.next_value()?;
                        if c.attributes.insert(name.into_owned(), value).is_some() {
                            return Err(dup());
                        }
                    }
                }
            }
        }
        Ok(c)
    }
}

/// A JSON string, borrowed when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// A string or an array of strings (`aud`, `scp`, …).
struct Texts<'de>(Vec<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for Texts<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Texts(vec![Cow::Borrowed(v)]))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Texts(vec![Cow::Owned(v.to_owned())]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(Text(t)) = seq.next_element()? {
                    v.push(t);
                }
                Ok(Texts(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// RFC 7519 §2 `NumericDate`: seconds since the epoch, possibly fractional;
/// must be finite and not negative.
struct NumericDate(f64);

impl<'de> de::Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(Self(v))
        } else {
            Err(de::Error::custom("NumericDate out of range"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            issuer: Arc::from("https://idp.example"),
            audiences: vec![Box::from("api")].into(),
            leeway: Duration::from_mins(1),
            scope_claims: vec![
                Box::from("scope"),
                Box::from("scp"),
                Box::from("permissions"),
            ]
            .into(),
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn check(json: &str) -> Result<Identity, &'static str> {
        policy()
            .identity(json.as_bytes(), UNIX_EPOCH + Duration::from_secs(NOW), None)
            .map_err(|e| e.reason())
    }

    fn claims(extra: &str) -> String {
        format!(
            r#"{{"iss":"https://idp.example","aud":"api","sub":"svc","exp":{}{extra}}}"#,
            NOW + 300
        )
    }

    #[test]
    fn reads_identity() {
        let id = check(&claims(
            r#","scope":"a b","scp":["c"],"permissions":["d:e"],"jti":"j1","tenant":"t","n":1"#,
        ))
        .unwrap();
        assert_eq!(id.subject(), "svc");
        assert_eq!(
            id.scopes().iter().collect::<Vec<_>>(),
            ["a", "b", "c", "d:e"]
        );
        assert_eq!(id.attributes().len(), 2);
        assert_eq!(id.attributes()["tenant"], "t");
        assert_eq!(
            id.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(NOW + 300))
        );
        assert_eq!(id.credential().method(), "jwt");
    }

    #[test]
    fn escaped_strings_are_read() {
        let id = check(&format!(
            r#"{{"iss":"https:\/\/idp.example","aud":["x","\u0061pi"],"sub":"s\u0076c","exp":{}}}"#,
            NOW + 1
        ))
        .unwrap();
        assert_eq!(id.subject(), "svc");
    }

    #[test]
    fn refusals() {
        assert_eq!(
            check(&claims(r#","sub":"other""#)).unwrap_err(),
            "duplicate_claim"
        );
        assert_eq!(
            check(&claims(r#","x":1,"x":2"#)).unwrap_err(),
            "duplicate_claim"
        );
        assert_eq!(
            check(&claims(r#","scp":"a","scp":"b""#)).unwrap_err(),
            "duplicate_claim"
        );
        assert_eq!(
            check(&claims(r#","scope":"a\\\"b""#)).unwrap_err(),
            "bad_scope"
        );
        assert_eq!(
            check(&claims(r#","nbf":1900000000"#)).unwrap_err(),
            "not_yet_valid"
        );
        assert_eq!(
            check(&claims(r#","iat":1900000000"#)).unwrap_err(),
            "issued_in_future"
        );
        let base = |iss: &str, aud: &str, sub: &str, exp: &str| {
            check(&format!("{{{iss}{aud}{sub}{exp}\"z\":0}}"))
        };
        let (iss, aud, sub) = (
            r#""iss":"https://idp.example","#,
            r#""aud":"api","#,
            r#""sub":"s","#,
        );
        let exp = format!(r#""exp":{},"#, NOW + 10);
        assert!(base(iss, aud, sub, &exp).is_ok());
        assert_eq!(base("", aud, sub, &exp).unwrap_err(), "missing_iss");
        assert_eq!(
            base(r#""iss":"https://evil","#, aud, sub, &exp).unwrap_err(),
            "wrong_issuer"
        );
        assert_eq!(base(iss, "", sub, &exp).unwrap_err(), "missing_aud");
        assert_eq!(
            base(iss, r#""aud":["a","b"],"#, sub, &exp).unwrap_err(),
            "wrong_audience"
        );
        assert_eq!(
            base(iss, r#""aud":[],"#, sub, &exp).unwrap_err(),
            "wrong_audience"
        );
        assert_eq!(base(iss, aud, "", &exp).unwrap_err(), "missing_sub");
        assert_eq!(
            base(iss, aud, r#""sub":"","#, &exp).unwrap_err(),
            "missing_sub"
        );
        assert_eq!(base(iss, aud, sub, "").unwrap_err(), "missing_exp");
        assert_eq!(
            base(iss, aud, sub, r#""exp":"soon","#).unwrap_err(),
            "malformed_claims"
        );
        assert_eq!(
            base(iss, aud, sub, r#""exp":-1,"#).unwrap_err(),
            "malformed_claims"
        );
        assert_eq!(
            base(iss, aud, sub, r#""exp":1e300,"#).unwrap_err(),
            "bad_exp"
        );
        for bad in [
            "",
            "[]",
            "null",
            "{",
            r#"{"sub":1}"#,
            r#"{"aud":[1]}"#,
            "{} x",
        ] {
            assert_eq!(check(bad).unwrap_err(), "malformed_claims", "{bad}");
        }
    }

    #[test]
    fn expiry_honours_leeway() {
        let at = |exp: u64| {
            check(&format!(
                r#"{{"iss":"https://idp.example","aud":"api","sub":"s","exp":{exp}}}"#
            ))
        };
        assert!(at(NOW - 59).is_ok(), "inside leeway");
        assert_eq!(at(NOW - 61).unwrap_err(), "expired");
    }
}
