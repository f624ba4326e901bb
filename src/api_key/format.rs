//! The key format: `{prefix}_{body}{checksum}`.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::KeyDigest;
use crate::error::{AuthError, ConfigError};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Largest multiple of 62 that fits a byte: bytes at or above it are
/// redrawn, so every base62 digit is equally likely.
const SAMPLE_LIMIT: u8 = 248;

/// Fewest random base62 characters in a key body (≥ 190 bits of entropy).
pub const MIN_BODY_LEN: usize = 32;
/// Most random base62 characters in a key body.
pub const MAX_BODY_LEN: usize = 64;
/// Length of the checksum that ends every key.
pub const CHECKSUM_LEN: usize = 6;
const MIN_PREFIX_LEN: usize = 2;
const MAX_PREFIX_LEN: usize = 16;

/// The shape of one family of API keys: its prefix and body length.
///
/// A key reads `{prefix}_{body}{checksum}`:
///
/// - `prefix`: 2 to 16 characters of `[a-z0-9_]`, chosen by you (for example
///   `acme_live`), so that people, logs and secret scanners can tell what the
///   key is for;
/// - `body`: [`MIN_BODY_LEN`] (default) to [`MAX_BODY_LEN`] characters of
///   `[0-9A-Za-z]` drawn from the operating system's random number generator
///   by rejection sampling, so each carries log2(62) ≈ 5.95 bits (32
///   characters ≈ 190 bits);
/// - `checksum`: the CRC-32 (IEEE) of everything before it (`{prefix}_{body}`)
///   as 6 base62 digits, most significant first, zero-padded.
///
/// The checksum lets [`check`](Self::check) throw away typos and garbage in
/// microseconds, before any store is asked, and lets scanners recognise real
/// keys with few false positives. A key of prefix `acme_live` matches
///
/// ```text
/// \bacme_live_[0-9A-Za-z]{38}\b
/// ```
///
/// ([`scanner_regex`](Self::scanner_regex) gives it for any format).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyFormat {
    prefix: Box<str>,
    body_len: usize,
}

impl KeyFormat {
    /// The format of keys starting `{prefix}_`, with 32-character bodies.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKeyPrefix`] when `prefix` is not 2 to 16
    /// characters of `[a-z0-9_]` starting with a letter or digit.
    pub fn new(prefix: &str) -> Result<Self, ConfigError> {
        let valid = (MIN_PREFIX_LEN..=MAX_PREFIX_LEN).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !prefix.starts_with('_');
        if !valid {
            return Err(ConfigError::InvalidKeyPrefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.into(),
            body_len: MIN_BODY_LEN,
        })
    }

    /// Uses bodies of `len` random characters. Defaults to `32`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKeyLength`] when `len` is outside
    /// [`MIN_BODY_LEN`]`..=`[`MAX_BODY_LEN`].
    pub fn with_body_len(mut self, len: usize) -> Result<Self, ConfigError> {
        if !(MIN_BODY_LEN..=MAX_BODY_LEN).contains(&len) {
            return Err(ConfigError::InvalidKeyLength(len));
        }
        self.body_len = len;
        Ok(self)
    }

    /// The prefix, without the `_` that follows it in a key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The length of every key of this format.
    pub fn key_len(&self) -> usize {
        self.prefix.len() + 1 + self.body_len + CHECKSUM_LEN
    }

    /// A regular expression that matches keys of this format in text, for
    /// secret scanners.
    pub fn scanner_regex(&self) -> String {
        format!(
            r"\b{}_[0-9A-Za-z]{{{}}}\b",
            self.prefix,
            self.body_len + CHECKSUM_LEN
        )
    }

    /// Whether `candidate` starts with this format's `{prefix}_`: a cheap
    /// test of whose key it is, not of whether it is well formed.
    pub fn matches_prefix(&self, candidate: &str) -> bool {
        candidate
            .as_bytes()
            .strip_prefix(self.prefix.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b'_'))
    }

    /// A new random key.
    ///
    /// # Errors
    ///
    /// When the operating system's random number generator fails.
    pub fn generate(&self) -> std::io::Result<ApiKey> {
        let mut key = Zeroizing::new(String::with_capacity(self.key_len()));
        key.push_str(&self.prefix);
        key.push('_');
        let mut random = Zeroizing::new([0u8; 64]);
        let mut remaining = self.body_len;
        while remaining > 0 {
            getrandom::fill(&mut random[..]).map_err(std::io::Error::from)?;
            for &b in random.iter().filter(|&&b| b < SAMPLE_LIMIT).take(remaining) {
                key.push(char::from(BASE62[usize::from(b % 62)]));
                remaining -= 1;
            }
        }
        let checksum = crc32fast::hash(key.as_bytes());
        key.push_str(&encode_checksum(checksum));
        Ok(ApiKey(key))
    }

    /// Checks that `candidate` is a well-formed key of this format: prefix,
    /// length, alphabet and checksum. Says nothing of whether the key
    /// exists; it does no I/O and takes time proportional to the key length
    /// at most.
    ///
    /// # Errors
    ///
    /// An [`Invalid`](crate::AuthErrorKind::Invalid) error with reason
    /// `wrong_prefix`, `malformed` or `bad_checksum`.
    pub fn check(&self, candidate: &str) -> Result<(), AuthError> {
        if !self.matches_prefix(candidate) {
            return Err(AuthError::invalid("wrong_prefix"));
        }
        if candidate.len() != self.key_len() {
            return Err(AuthError::invalid("malformed"));
        }
        if !is_base62(&candidate.as_bytes()[self.prefix.len() + 1..]) {
            return Err(AuthError::invalid("malformed"));
        }
        let (signed, checksum) = candidate
            .as_bytes()
            .split_at(candidate.len() - CHECKSUM_LEN);
        if decode_checksum(checksum) != Some(crc32fast::hash(signed)) {
            return Err(AuthError::invalid("bad_checksum"));
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFormat")
            .field("prefix", &self.prefix)
            .field("body_len", &self.body_len)
            .finish()
    }
}

/// Whether every byte is `[0-9A-Za-z]`. No early exit, so the loop
/// vectorises: a whole key is classified in a few instructions.
fn is_base62(s: &[u8]) -> bool {
    s.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_digit() | b.is_ascii_uppercase() | b.is_ascii_lowercase())
    })
}

fn encode_checksum(mut value: u32) -> String {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

fn decode_checksum(digits: &[u8]) -> Option<u32> {
    let mut value: u64 = 0;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        value = value * 62 + u64::from(d);
    }
    u32::try_from(value).ok()
}

/// The plaintext of an API key: the secret a client sends.
///
/// It exists only when a key is created and is never stored: the store keeps
/// its [`digest`](Self::digest). The text is wiped from memory when the
/// value is dropped, `Debug` prints no part of it, there is no `Display`, and
/// equality runs in constant time.
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a key's text, for instance one read from a configuration
    /// secret. Its format is not checked.
    pub fn new(key: String) -> Self {
        Self(Zeroizing::new(key))
    }

    /// The key's text, to hand to its owner once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest the store keeps instead of the key.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest::of(&self.0)
    }

    /// A short reminder of the key safe to show in lists: the prefix, then
    /// the first and last four characters after it (`acme_live_AbCd...WxYz`).
    pub fn hint(&self) -> String {
        let (prefix, rest) = self.0.rsplit_once('_').unwrap_or(("", &self.0));
        if rest.len() >= 16 && rest.is_ascii() {
            format!("{prefix}_{}...{}", &rest[..4], &rest[rest.len() - 4..])
        } else {
            format!("{prefix}_...")
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey").finish_non_exhaustive()
    }
}

/// Constant time: the comparison does not reveal how much of two keys match.
impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for ApiKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;

    fn reason(r: Result<(), AuthError>) -> &'static str {
        r.map_or_else(|e| e.reason(), |()| "ok")
    }

    #[test]
    fn prefixes_are_validated() {
        for good in ["ab", "acme_live", "a1", "0123456789abcdef"] {
            assert!(KeyFormat::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "acme-live",
            "_acme",
            "0123456789abcdefg",
            "acmé",
        ] {
            assert!(KeyFormat::new(bad).is_err(), "{bad}");
        }
        let f = KeyFormat::new("ab").unwrap();
        assert!(f.clone().with_body_len(31).is_err());
        assert!(f.clone().with_body_len(65).is_err());
        assert_eq!(f.with_body_len(40).unwrap().key_len(), 2 + 1 + 40 + 6);
    }

    #[test]
    fn generated_keys_check_and_differ() {
        let f = KeyFormat::new("acme_live").unwrap();
        let a = f.generate().unwrap();
        let b = f.generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose_secret().len(), f.key_len());
        assert!(a.expose_secret().starts_with("acme_live_"));
        assert_eq!(reason(f.check(a.expose_secret())), "ok");
        let long = f.clone().with_body_len(64).unwrap();
        assert_eq!(
            reason(long.check(long.generate().unwrap().expose_secret())),
            "ok"
        );
    }

    #[test]
    fn checksum_matches_a_known_value() {
        // The IEEE polynomial's standard check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        let signed = format!("ab_{}", "0".repeat(32));
        let crc = crc32fast::hash(signed.as_bytes());
        let key = format!("{signed}{}", encode_checksum(crc));
        assert_eq!(decode_checksum(encode_checksum(crc).as_bytes()), Some(crc));
        assert_eq!(encode_checksum(0), "000000");
        assert_eq!(encode_checksum(u32::MAX), "4gfFC3");
        assert_eq!(reason(KeyFormat::new("ab").unwrap().check(&key)), "ok");
    }

    #[test]
    fn malformed_keys_are_told_apart() {
        let f = KeyFormat::new("acme_live").unwrap();
        let key = f.generate().unwrap();
        let k = key.expose_secret();
        assert_eq!(reason(f.check("")), "wrong_prefix");
        assert_eq!(reason(f.check("acme_test_abc")), "wrong_prefix");
        assert_eq!(reason(f.check("acme_liveX")), "wrong_prefix");
        assert_eq!(reason(f.check(&k[..k.len() - 1])), "malformed");
        assert_eq!(reason(f.check(&format!("{k}0"))), "malformed");
        let mut bad_char = k.to_owned();
        bad_char.replace_range(12..13, "-");
        assert_eq!(reason(f.check(&bad_char)), "malformed");
        // Any single substitution in the body or checksum breaks the checksum.
        for i in f.prefix().len() + 1..k.len() {
            let mut changed = k.as_bytes().to_vec();
            changed[i] = if changed[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(changed).unwrap();
            assert_eq!(reason(f.check(&changed)), "bad_checksum", "position {i}");
        }
        // A checksum above u32::MAX is refused, not wrapped.
        let over = format!("{}zzzzzz", &k[..k.len() - CHECKSUM_LEN]);
        assert_eq!(reason(f.check(&over)), "bad_checksum");
        assert_eq!(f.check("").unwrap_err().kind(), AuthErrorKind::Invalid);
    }

    #[test]
    fn body_characters_are_roughly_uniform() {
        // 62 symbols over 32 000 draws: each expected ~516 times. Bounds are
        // ~8 standard deviations wide, so a biased sampler (e.g. `b % 62`
        // without rejection, which favours the first 8 symbols by 25 %)
        // fails while a fair one passes.
        let f = KeyFormat::new("ab").unwrap();
        let mut counts = [0u32; 62];
        for _ in 0..1000 {
            let key = f.generate().unwrap();
            for b in key.expose_secret()[3..35].bytes() {
                let i = BASE62.iter().position(|&c| c == b).unwrap();
                counts[i] += 1;
            }
        }
        let first8: u32 = counts[..8].iter().sum::<u32>() / 8;
        let rest: u32 = counts[8..].iter().sum::<u32>() / 54;
        assert!(
            counts.iter().all(|&c| (330..=700).contains(&c)),
            "{counts:?}"
        );
        assert!(
            first8 < rest * 115 / 100,
            "first 8 symbols favoured: {first8} vs {rest}"
        );
    }

    #[test]
    fn scanner_regex_and_hint() {
        let f = KeyFormat::new("acme_live").unwrap();
        assert_eq!(f.scanner_regex(), r"\bacme_live_[0-9A-Za-z]{38}\b");
        let key = f.generate().unwrap();
        let k = key.expose_secret();
        let hint = key.hint();
        assert_eq!(
            hint,
            format!("acme_live_{}...{}", &k[10..14], &k[k.len() - 4..])
        );
        assert_eq!(ApiKey::new("x".into()).hint(), "_...");
        assert_eq!(format!("{key:?}"), "ApiKey { .. }");
    }
}
