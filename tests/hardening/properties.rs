//! Properties over generated input (proptest): keys, headers, scope sets.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::body::Body;
use http::{HeaderName, HeaderValue, Request};
use m2m_auth::api_key::{
    ApiKey, ApiKeyAuthenticator, KeyDigest, KeyFormat, KeyRecord, KeyStore, MAX_BODY_LEN,
    MIN_BODY_LEN, MemoryKeyStore,
};
use m2m_auth::jwt::{Algorithm, JwtAuthenticator, Key, KeySet};
use m2m_auth::{AuthLayer, Scopes};
use proptest::prelude::*;
use tower::{Layer, ServiceExt, service_fn};

/// Valid key prefixes: `[a-z0-9_]{2,16}` as `KeyFormat::new` takes them.
fn prefix() -> impl Strategy<Value = KeyFormat> {
    "[a-z0-9_]{2,16}".prop_filter_map("not a valid prefix", |p| KeyFormat::new(&p).ok())
}

fn format_and_len() -> impl Strategy<Value = KeyFormat> {
    (prefix(), MIN_BODY_LEN..=MAX_BODY_LEN)
        .prop_map(|(format, len)| format.with_body_len(len).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A generated key passes its format's checks, has the announced
    /// length, and its text alone gives back the same digest and hint.
    #[test]
    fn generated_keys_parse_and_round_trip(format in format_and_len()) {
        let key = format.generate().unwrap();
        let text = key.expose_secret().to_owned();
        prop_assert!(format.check(&text).is_ok());
        prop_assert_eq!(text.len(), format.key_len());
        let prefix = format!("{}_", format.prefix());
        prop_assert!(text.starts_with(&prefix));
        prop_assert!(text[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let again = ApiKey::new(text.clone());
        prop_assert_eq!(again.digest(), key.digest());
        prop_assert_eq!(again.digest(), KeyDigest::of(&text));
        prop_assert_eq!(again.hint(), key.hint());
        // The hint shows the prefix and 4 + 4 characters, never more.
        prop_assert!(key.hint().len() <= prefix.len() + 4 + 3 + 4 + 2);
    }

    /// Any one character changed, to any other character, fails the
    /// checksum (CRC-32 catches every single-character change) or, failing
    /// that, the lookup.
    #[test]
    fn any_single_character_change_is_refused(
        format in prefix(),
        at in any::<prop::sample::Index>(),
        to in any::<char>(),
    ) {
        let key = format.generate().unwrap();
        let text = key.expose_secret();
        let i = at.index(text.len());
        let from = text.as_bytes()[i] as char;
        prop_assume!(to != from);
        let mut changed = String::with_capacity(text.len() + 4);
        changed.push_str(&text[..i]);
        changed.push(to);
        changed.push_str(&text[i + 1..]);
        let store = MemoryKeyStore::new();
        store.insert(key.digest(), KeyRecord::builder("key_1", "owner").build());
        let refused = format.check(&changed).is_err()
            || store.lookup_ready(&KeyDigest::of(&changed)).unwrap().is_none();
        prop_assert!(refused, "{changed:?} passed for {text:?}");
        // And the checksum alone already refuses it.
        prop_assert!(format.check(&changed).is_err());
    }

    /// Arbitrary header bytes, in the headers the layer reads and in
    /// others, never panic and always get 401 or 400.
    #[test]
    fn arbitrary_headers_get_401_or_400(
        headers in prop::collection::vec(
            (
                prop_oneof![
                    Just("authorization".to_owned()),
                    Just("api-key".to_owned()),
                    Just("x-api-key".to_owned()),
                    "[a-z][a-z0-9-]{0,12}",
                ],
                prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..300),
                    // Schemes and shapes that reach deeper checks.
                    ("(Bearer|bearer|Basic|BEARER) ?", "[A-Za-z0-9._~+/=-]{0,200}")
                        .prop_map(|(s, t)| format!("{s}{t}").into_bytes()),
                    "[a-z]{2,6}_[A-Za-z0-9]{30,50}".prop_map(String::into_bytes),
                    ("eyJ[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,80}")
                        .prop_map(|(a, b, c)| format!("Bearer {a}.{b}.{c}").into_bytes()),
                ],
            ),
            0..4,
        ),
    ) {
        let mut req = Request::get("/");
        for (name, value) in &headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) else {
                continue; // not a header http can carry at all
            };
            req = req.header(name, value);
        }
        let req = req.body(Body::empty()).unwrap();
        let _serial = crate::SERIAL.blocking_lock();
        let status = runtime().block_on(async {
            let svc = layer().layer(service_fn(|_req: Request<Body>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
            }));
            svc.oneshot(req).await.unwrap().status()
        });
        prop_assert!(status == 401 || status == 400, "{status} for {headers:?}");
    }

    /// Scopes are a set: order and duplicates do not matter, membership and
    /// inclusion are those of the set of their items.
    #[test]
    fn scope_sets_behave_as_sets(
        a in prop::collection::vec("[a-z:._-]{1,8}", 0..8),
        b in prop::collection::vec("[a-z:._-]{1,8}", 0..8),
        probe in "[a-z:._-]{1,8}",
    ) {
        let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
        let (sa, sb) = (Scopes::new(a.clone()).unwrap(), Scopes::new(b.clone()).unwrap());
        let mut shuffled = a.clone();
        shuffled.reverse();
        shuffled.extend(a.iter().cloned()); // duplicates
        prop_assert_eq!(&Scopes::new(shuffled).unwrap(), &sa);
        prop_assert_eq!(&Scopes::from_space_separated(&a.join(" ")).unwrap(), &sa);
        prop_assert_eq!(sa.len(), set(&a).len());
        prop_assert_eq!(sa.is_empty(), a.is_empty());
        prop_assert_eq!(sa.iter().map(str::to_owned).collect::<BTreeSet<_>>(), set(&a));
        prop_assert_eq!(sa.contains(&probe), set(&a).contains(&probe));
        prop_assert_eq!(sa.is_superset(&sb), set(&a).is_superset(&set(&b)));
        prop_assert_eq!(sa == sb, set(&a) == set(&b));
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

/// API keys (one stored) and JWTs (HS256) on one layer.
fn layer() -> &'static AuthLayer {
    static LAYER: OnceLock<AuthLayer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let format = KeyFormat::new("acme_live").unwrap();
        let store = MemoryKeyStore::new();
        let key = format.generate().unwrap();
        store.insert(key.digest(), KeyRecord::builder("key_1", "owner").build());
        let jwt = JwtAuthenticator::builder()
            .issuer("https://idp.example")
            .audience("https://api.example")
            .algorithms([Algorithm::HS256])
            .keys(KeySet::new([Key::hmac(&[7; 32]).unwrap()]).unwrap())
            .build()
            .unwrap();
        AuthLayer::new(ApiKeyAuthenticator::new(format, store)).or(jwt)
    })
}
