use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::KeyInit as _;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use sha2::{Sha256, Sha384, Sha512};

use super::{Algorithm, backend, jws};
use crate::error::{AuthError, ConfigError};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Smallest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the
/// hash size, 256 bits for HS256).
pub const MIN_HMAC_BYTES: usize = 32;

/// What a key is, which fixes the algorithms it may verify.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An HMAC secret: `HS256`, `HS384`, `HS512`.
    Hmac,
    /// An RSA public key: `RS*` and `PS*`.
    Rsa,
    /// An EC public key on P-256: `ES256`.
    EcP256,
    /// An EC public key on P-384: `ES384`.
    EcP384,
    /// An Ed25519 public key: `EdDSA`.
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this kind may verify a signature made with `alg`.
    pub const fn fits(self, alg: Algorithm) -> bool {
        use Algorithm as A;
        match self {
            Self::Hmac => matches!(alg, A::HS256 | A::HS384 | A::HS512),
            Self::Rsa => matches!(
                alg,
                A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
            ),
            Self::EcP256 => matches!(alg, A::ES256),
            Self::EcP384 => matches!(alg, A::ES384),
            Self::Ed25519 => matches!(alg, A::EdDSA),
        }
    }
}

/// One signature verification key: an HMAC secret or a public key, bound to
/// the algorithms its kind allows (and to one algorithm, if its JWK names
/// one).
///
/// Key policy is checked when the key is made: RSA keys under
/// [`MIN_RSA_BITS`] and HMAC secrets under [`MIN_HMAC_BYTES`] are refused.
/// Making a key also checks that a crypto backend is compiled in (feature
/// `aws-lc-rs` or `rust-crypto`).
///
/// `Debug` shows the kind, `kid` and algorithm, never key material.
#[derive(Clone)]
pub struct Key {
    kid: Option<Arc<str>>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    material: Material,
}

/// What verifies the signatures.
#[derive(Clone)]
enum Material {
    /// HMAC states keyed once, cloned for each token: `jsonwebtoken` would
    /// hash the secret into its pads again for every token, which costs a
    /// tenth of an HS256 verification.
    Hmac(Arc<HmacKeys>),
    /// A public key, verified by `jsonwebtoken`'s crypto backend, or by
    /// aws-lc-rs directly from its parsed form when that is the backend.
    Public(Public),
}

#[derive(Clone)]
struct Public {
    decoding: DecodingKey,
    #[cfg(feature = "aws-lc-rs")]
    parsed: Option<Arc<super::parsed::Parsed>>,
}

impl Public {
    /// `decoding`, of `kind`, whose raw key is `bytes` (PKCS#1 DER for RSA,
    /// an uncompressed point for EC, 32 bytes for Ed25519).
    #[cfg_attr(not(feature = "aws-lc-rs"), allow(unused_variables))]
    fn material(kind: KeyKind, decoding: DecodingKey, bytes: &[u8]) -> Material {
        Material::Public(Self {
            #[cfg(feature = "aws-lc-rs")]
            parsed: super::parsed::Parsed::new(kind, bytes).map(Arc::new),
            decoding,
        })
    }
}

struct HmacKeys {
    hs256: hmac::Hmac<Sha256>,
    hs384: hmac::Hmac<Sha384>,
    hs512: hmac::Hmac<Sha512>,
}

impl HmacKeys {
    fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        // HMAC takes keys of any length; this cannot fail.
        let err = |_| invalid("HMAC secret refused");
        Ok(Self {
            hs256: hmac::Hmac::new_from_slice(secret).map_err(err)?,
            hs384: hmac::Hmac::new_from_slice(secret).map_err(err)?,
            hs512: hmac::Hmac::new_from_slice(secret).map_err(err)?,
        })
    }

    /// Whether `tag` is the HMAC of `message` under `alg`, compared in
    /// constant time.
    fn verify(&self, alg: Algorithm, message: &[u8], tag: &[u8]) -> bool {
        fn check<M: hmac::Mac + Clone>(keyed: &M, message: &[u8], tag: &[u8]) -> bool {
            let mut mac = keyed.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        match alg {
            Algorithm::HS256 => check(&self.hs256, message, tag),
            Algorithm::HS384 => check(&self.hs384, message, tag),
            Algorithm::HS512 => check(&self.hs512, message, tag),
            _ => false,
        }
    }
}

impl Key {
    /// An HMAC secret of at least [`MIN_HMAC_BYTES`] bytes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::WeakKey`] for a shorter secret,
    /// [`ConfigError::NoCryptoBackend`] without a crypto backend.
    pub fn hmac(secret: &[u8]) -> Result<Self, ConfigError> {
        backend::provider()?;
        if secret.len() < MIN_HMAC_BYTES {
            return Err(ConfigError::WeakKey(format!(
                "HMAC secret of {} bytes; at least {MIN_HMAC_BYTES} are needed",
                secret.len()
            )));
        }
        let keys = HmacKeys::new(secret)?;
        Ok(Self::new(KeyKind::Hmac, Material::Hmac(Arc::new(keys))))
    }

    /// A public key in PEM: `PUBLIC KEY` (SPKI: RSA, EC P-256/P-384 or
    /// Ed25519) or `RSA PUBLIC KEY` (PKCS#1). Its kind comes from the key.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] for a private key, a key that cannot be
    /// read or an unsupported curve; [`ConfigError::WeakKey`] for RSA under
    /// [`MIN_RSA_BITS`]; [`ConfigError::NoCryptoBackend`] without a crypto
    /// backend.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        backend::provider()?;
        let text = std::str::from_utf8(pem).map_err(|_| invalid("PEM is not text"))?;
        let label = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
            .ok_or_else(|| invalid("no PEM block found"))?;
        match label {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
            l if l.contains("PRIVATE") => {
                return Err(invalid(
                    "a private key was given; give the public key to verify with",
                ));
            }
            other => return Err(invalid(&format!("unsupported PEM block {other:?}"))),
        }
        if let Ok(decoding) = DecodingKey::from_rsa_pem(pem) {
            let der = decoding
                .try_get_as_bytes()
                .map_err(|e| invalid_key(&e))?
                .to_vec();
            check_rsa_bits(rsa_der_modulus_bits(&der)?)?;
            return Ok(Self::new(
                KeyKind::Rsa,
                Public::material(KeyKind::Rsa, decoding, &der),
            ));
        }
        if let Ok(decoding) = DecodingKey::from_ec_pem(pem) {
            let point = decoding
                .try_get_as_bytes()
                .map_err(|e| invalid_key(&e))?
                .to_vec();
            let kind = ec_kind(point.len())?;
            return Ok(Self::new(kind, Public::material(kind, decoding, &point)));
        }
        if let Ok(decoding) = DecodingKey::from_ed_pem(pem) {
            let x = decoding
                .try_get_as_bytes()
                .map_err(|e| invalid_key(&e))?
                .to_vec();
            if x.len() != 32 {
                return Err(invalid("Ed25519 public key must be 32 bytes"));
            }
            let material = Public::material(KeyKind::Ed25519, decoding, &x);
            return Ok(Self::new(KeyKind::Ed25519, material));
        }
        Err(invalid(
            "PEM holds no supported public key (RSA, EC P-256/P-384, Ed25519)",
        ))
    }

    /// A key from one JWK (RFC 7517) in JSON.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] for a JWK that cannot be used to verify
    /// signatures: malformed, unsupported `kty`/`crv`/`alg`, `use` other
    /// than `sig`, `key_ops` without `verify`, an `alg` that does not fit
    /// the key. [`ConfigError::WeakKey`] and
    /// [`ConfigError::NoCryptoBackend`] as for the other constructors.
    pub fn from_jwk(json: &str) -> Result<Self, ConfigError> {
        let jwk: Jwk = serde_json::from_str(json).map_err(|e| invalid(&format!("bad JWK: {e}")))?;
        match jwk.into_key()? {
            Usable::Key(key) => Ok(key),
            Usable::Ignored(why) => Err(invalid(&why)),
        }
    }

    fn new(kind: KeyKind, material: Material) -> Self {
        Self {
            kid: None,
            kind,
            alg: None,
            material,
        }
    }

    /// This key with key id `kid`: tokens whose header carries a `kid` are
    /// verified only by the key with exactly that id.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// This key restricted to one algorithm.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when `alg` does not fit the key's kind.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, ConfigError> {
        if !self.kind.fits(alg) {
            return Err(invalid(&format!(
                "algorithm {alg} does not fit a {:?} key",
                self.kind
            )));
        }
        self.alg = Some(alg);
        Ok(self)
    }

    /// The key id, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn kid_arc(&self) -> Option<&Arc<str>> {
        self.kid.as_ref()
    }

    /// The key's kind.
    pub const fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The one algorithm this key is restricted to, if any.
    pub const fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key may verify a signature made with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// Whether `signature` (raw bytes) is a valid signature of `message` by
    /// this key under `alg`. `false` when `alg` does not fit the key.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        let public = match &self.material {
            Material::Hmac(keys) => return keys.verify(alg, message, signature),
            Material::Public(public) => public,
        };
        #[cfg(feature = "aws-lc-rs")]
        if let Some(ok) = public
            .parsed
            .as_ref()
            .and_then(|p| p.verify(alg, message, signature))
        {
            return ok;
        }
        let decoding = &public.decoding;
        // A key exists only once a provider was found (see the
        // constructors), so this does not fail in practice; if it did, the
        // signature is not accepted.
        let Ok(provider) = backend::provider() else {
            return false;
        };
        match (provider.verifier_factory)(&alg.to_jsonwebtoken(), decoding) {
            Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The static keys a [`JwtAuthenticator`](super::JwtAuthenticator) verifies
/// with. Cheap to clone.
///
/// A token's key is chosen by its header: with a `kid`, the key with
/// exactly that `kid` (which must fit the token's `alg`); without one, the
/// only key that fits the `alg` — if two keys fit, the token is refused
/// rather than tried against each.
#[derive(Clone)]
pub struct KeySet {
    keys: Arc<[Key]>,
}

impl KeySet {
    /// A set of `keys`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] for no keys;
    /// [`ConfigError::InvalidKey`] when two keys of one kind share a `kid`.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Result<Self, ConfigError> {
        let keys: Vec<Key> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(ConfigError::Missing("at least one verification key"));
        }
        for (i, a) in keys.iter().enumerate() {
            if let Some(kid) = &a.kid
                && keys[..i]
                    .iter()
                    .any(|b| b.kid.as_ref() == Some(kid) && b.kind == a.kind)
            {
                return Err(invalid(&format!("two keys share kid {kid:?}")));
            }
        }
        Ok(Self { keys: keys.into() })
    }

    /// The keys of a JWKS document (RFC 7517 §5).
    ///
    /// Keys that are not for verifying signatures are skipped: `use` other
    /// than `sig`, `key_ops` without `verify`, and keys of a type, curve or
    /// algorithm this crate does not verify (such as P-521 / `ES512`). Weak
    /// keys are not skipped but refused, so a misconfigured set is noticed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] for a document that is not a JWKS or a
    /// malformed key; [`ConfigError::WeakKey`] for a weak key;
    /// [`ConfigError::NoUsableKey`] when no key is left.
    pub fn from_jwks(json: &str) -> Result<Self, ConfigError> {
        Self::parse_jwks(json, false)
    }

    /// The keys of a JWKS document fetched from an identity provider: as
    /// [`from_jwks`](Self::from_jwks), but a malformed or weak key is
    /// skipped (and logged) instead of failing the whole set, and of two
    /// keys sharing a `kid` the first is kept.
    #[cfg(feature = "remote-jwks")]
    pub(crate) fn from_remote_jwks(json: &str) -> Result<Self, ConfigError> {
        Self::parse_jwks(json, true)
    }

    fn parse_jwks(json: &str, lenient: bool) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        let jwks: Jwks =
            serde_json::from_str(json).map_err(|e| invalid(&format!("bad JWKS: {e}")))?;
        let mut keys: Vec<Key> = Vec::with_capacity(jwks.keys.len());
        for value in jwks.keys {
            let usable = serde_json::from_value::<Jwk>(value)
                .map_err(|e| invalid(&format!("bad JWK: {e}")))
                .and_then(Jwk::into_key);
            let why = match usable {
                Ok(Usable::Key(key)) => {
                    let taken = key.kid.is_some()
                        && keys.iter().any(|k| k.kid == key.kid && k.kind == key.kind);
                    if !(lenient && taken) {
                        keys.push(key);
                        continue;
                    }
                    "a key of this kind with this kid came before".to_owned()
                }
                Ok(Usable::Ignored(why)) => why,
                Err(e) if lenient && !matches!(e, ConfigError::NoCryptoBackend) => e.to_string(),
                Err(e) => return Err(e),
            };
            tracing::debug!(target: "m2m_auth", why, "jwk skipped");
        }
        if keys.is_empty() {
            return Err(ConfigError::NoUsableKey);
        }
        Self::new(keys)
    }

    /// The keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Checks the signature of the compact JWS `token` with the key its
    /// header selects, provided its `alg` is one of `algorithms`, and
    /// returns the decoded payload. The payload is not looked at: this is
    /// the signature layer alone, for tokens that are not access tokens.
    /// There is no size cap here; [`JwtAuthenticator`](super::JwtAuthenticator)
    /// has one.
    ///
    /// # Errors
    ///
    /// [`AuthErrorKind::Invalid`](crate::AuthErrorKind::Invalid), with the
    /// cause in [`AuthError::reason`].
    pub fn verify_signature(
        &self,
        token: &str,
        algorithms: &[Algorithm],
    ) -> Result<Vec<u8>, AuthError> {
        let compact = jws::split(token).ok_or(AuthError::invalid("malformed"))?;
        let header_json =
            jws::decode_segment(compact.header).ok_or(AuthError::invalid("malformed"))?;
        let header = jws::parse_header(&header_json)?;
        jws::verify(compact, &header, self, algorithms)?;
        jws::decode_segment(compact.payload).ok_or(AuthError::invalid("malformed"))
    }

    /// The key for a token signed with `alg` whose header names `kid`.
    pub(crate) fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<&Key, &'static str> {
        if let Some(kid) = kid {
            let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
            let first = named.next().ok_or("unknown_kid")?;
            return std::iter::once(first)
                .chain(named)
                .find(|k| k.fits(alg))
                .ok_or("key_alg_mismatch");
        }
        let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
        let key = fitting.next().ok_or("no_key_for_alg")?;
        match fitting.next() {
            None => Ok(key),
            Some(_) => Err("ambiguous_key"),
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
    }
}

/// A JWK as far as verification needs it.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
    // Private parts: their presence means the wrong document was given.
    d: Option<serde::de::IgnoredAny>,
}

enum Usable {
    Key(Key),
    Ignored(String),
}

impl Jwk {
    fn into_key(self) -> Result<Usable, ConfigError> {
        backend::provider()?;
        if let Some(u) = &self.use_
            && u != "sig"
        {
            return Ok(Usable::Ignored(format!("use {u:?} is not \"sig\"")));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == "verify")
        {
            return Ok(Usable::Ignored("key_ops lacks \"verify\"".to_owned()));
        }
        let alg = match self.alg.as_deref() {
            None => None,
            Some(name) => match Algorithm::from_name(name) {
                Some(a) => Some(a),
                None => return Ok(Usable::Ignored(format!("unsupported alg {name:?}"))),
            },
        };
        let field = |v: &Option<String>, name: &str| -> Result<Vec<u8>, ConfigError> {
            let v = v
                .as_deref()
                .ok_or_else(|| invalid(&format!("{} JWK lacks {name:?}", self.kty)))?;
            URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| invalid(&format!("JWK member {name:?} is not base64url")))
        };
        let (kind, material) = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                if self.d.is_some() {
                    return Err(invalid("JWK holds a private key; give the public key"));
                }
                let n = field(&self.n, "n")?;
                let e = field(&self.e, "e")?;
                check_rsa_bits(bit_len(&n))?;
                let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
                let der = super::parsed_rsa_der(&n, &e);
                (KeyKind::Rsa, Public::material(KeyKind::Rsa, decoding, &der))
            }
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (kind, len) = if crv == "P-256" {
                    (KeyKind::EcP256, 32)
                } else {
                    (KeyKind::EcP384, 48)
                };
                let (x, y) = (field(&self.x, "x")?, field(&self.y, "y")?);
                if x.len() != len || y.len() != len {
                    return Err(invalid(&format!("{crv} coordinates must be {len} bytes")));
                }
                let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
                (
                    kind,
                    Public::material(kind, DecodingKey::from_ec_der(&point), &point),
                )
            }
            ("OKP", Some("Ed25519")) => {
                let x = field(&self.x, "x")?;
                if x.len() != 32 {
                    return Err(invalid("Ed25519 x must be 32 bytes"));
                }
                (
                    KeyKind::Ed25519,
                    Public::material(KeyKind::Ed25519, DecodingKey::from_ed_der(&x), &x),
                )
            }
            ("oct", _) => {
                let k = zeroize::Zeroizing::new(field(&self.k, "k")?);
                let key = Key::hmac(&k)?;
                (key.kind, key.material)
            }
            (kty, crv) => {
                return Ok(Usable::Ignored(match crv {
                    Some(crv) => format!("unsupported key type {kty:?} with curve {crv:?}"),
                    None => format!("unsupported key type {kty:?}"),
                }));
            }
        };
        let mut key = Key::new(kind, material);
        key.kid = self.kid.map(Arc::from);
        match alg {
            Some(alg) if !kind.fits(alg) => Err(invalid(&format!(
                "JWK alg {alg} does not fit its key type {:?}",
                self.kty
            ))),
            _ => {
                key.alg = alg;
                Ok(Usable::Key(key))
            }
        }
    }
}

fn invalid(why: &str) -> ConfigError {
    ConfigError::InvalidKey(why.to_owned())
}

fn invalid_key(e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey(e.to_string())
}

fn ec_kind(point_len: usize) -> Result<KeyKind, ConfigError> {
    match point_len {
        65 => Ok(KeyKind::EcP256),
        97 => Ok(KeyKind::EcP384),
        _ => Err(invalid(
            "unsupported EC key: only uncompressed P-256 and P-384 points",
        )),
    }
}

fn check_rsa_bits(bits: usize) -> Result<(), ConfigError> {
    if bits < MIN_RSA_BITS {
        return Err(ConfigError::WeakKey(format!(
            "RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed"
        )));
    }
    Ok(())
}

/// Bits of a big-endian unsigned integer, leading zeros not counted.
fn bit_len(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
    n.first()
        .map_or(0, |&b| n.len() * 8 - b.leading_zeros() as usize)
}

/// The modulus size of a PKCS#1 `RSAPublicKey` (`SEQUENCE { n, e }`).
fn rsa_der_modulus_bits(der: &[u8]) -> Result<usize, ConfigError> {
    let blocks = simple_asn1::from_der(der).map_err(|_| invalid("RSA key is not valid DER"))?;
    match blocks.as_slice() {
        [simple_asn1::ASN1Block::Sequence(_, items)] => match items.as_slice() {
            [
                simple_asn1::ASN1Block::Integer(_, n),
                simple_asn1::ASN1Block::Integer(_, _),
            ] => Ok(bit_len(&n.to_bytes_be().1)),
            _ => Err(invalid("RSA key is not an RSAPublicKey")),
        },
        _ => Err(invalid("RSA key is not an RSAPublicKey")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_len(&[]), 0);
        assert_eq!(bit_len(&[0, 0]), 0);
        assert_eq!(bit_len(&[0, 1]), 1);
        assert_eq!(bit_len(&[0x80, 0]), 16);
        assert_eq!(bit_len(&[0, 0x7f, 0xff]), 15);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hmac_matches_rfc4231_and_refuses_near_misses() {
        // RFC 4231 §4.3, test case 2.
        let keys = HmacKeys::new(b"Jefe").unwrap();
        let data = b"what do ya want for nothing?";
        let cases = [
            (
                Algorithm::HS256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                Algorithm::HS384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                Algorithm::HS512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (alg, tag) in cases {
            let tag = hex(tag);
            assert!(keys.verify(alg, data, &tag), "{alg}");
            // The keyed state is cloned, not used up: a second check agrees.
            assert!(keys.verify(alg, data, &tag), "{alg} again");
            assert!(!keys.verify(alg, b"what do ya want for nothing!", &tag));
            assert!(!keys.verify(alg, data, &tag[..tag.len() - 1]), "truncated");
            assert!(!keys.verify(alg, data, &[]), "empty");
            let mut flipped = tag.clone();
            flipped[0] ^= 1;
            assert!(!keys.verify(alg, data, &flipped));
        }
        let hs256 = hex(cases[0].1);
        assert!(!keys.verify(Algorithm::HS384, data, &hs256));
        assert!(!keys.verify(Algorithm::RS256, data, &hs256));
    }

    /// Keys of every public kind are parsed once (aws-lc-rs) and verify
    /// from that form what `jsonwebtoken` signs, and nothing else.
    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn public_keys_are_parsed_once_and_verify() {
        let fixture = |name: &str| {
            std::fs::read(format!(
                "{}/tests/fixtures/jwt/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let message = b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0";
        for (public, private, algs) in [
            (
                "rsa2048.pub.pem",
                "rsa2048.key.pem",
                &[
                    Algorithm::RS256,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                ][..],
            ),
            (
                "ec_p256.pub.pem",
                "ec_p256.key.pem",
                &[Algorithm::ES256][..],
            ),
            (
                "ec_p384.pub.pem",
                "ec_p384.key.pem",
                &[Algorithm::ES384][..],
            ),
            (
                "ed25519.pub.pem",
                "ed25519.key.pem",
                &[Algorithm::EdDSA][..],
            ),
        ] {
            let key = Key::from_pem(&fixture(public)).unwrap();
            // The same key from its JWK (RSA: from n and e).
            let encoding = match key.kind {
                KeyKind::Rsa => jsonwebtoken::EncodingKey::from_rsa_pem(&fixture(private)),
                KeyKind::Ed25519 => jsonwebtoken::EncodingKey::from_ed_pem(&fixture(private)),
                _ => jsonwebtoken::EncodingKey::from_ec_pem(&fixture(private)),
            }
            .unwrap();
            let jwk =
                jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, algs[0].to_jsonwebtoken())
                    .unwrap();
            let from_jwk = Key::from_jwk(&serde_json::to_string(&jwk).unwrap()).unwrap();
            // The JWK names one algorithm, and is bound to it.
            for (k, algs) in [(&key, algs), (&from_jwk, &algs[..1])] {
                let Material::Public(p) = &k.material else {
                    panic!("{public}: not a public key");
                };
                assert!(p.parsed.is_some(), "{public}: parsed once");
                for &alg in algs {
                    let sig = jsonwebtoken::crypto::sign(message, &encoding, alg.to_jsonwebtoken())
                        .unwrap();
                    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
                    assert!(k.verify(alg, message, &sig), "{public} {alg}");
                    assert_eq!(
                        p.parsed.as_ref().unwrap().verify(alg, message, &sig),
                        Some(true),
                        "{public} {alg}: from the parsed form"
                    );
                    let mut bad = sig.clone();
                    bad[sig.len() / 2] ^= 1;
                    assert!(!k.verify(alg, message, &bad), "{public} {alg}: tampered");
                    assert!(
                        !k.verify(alg, b"other", &sig),
                        "{public} {alg}: other message"
                    );
                }
            }
        }
    }

    #[test]
    fn kinds_bind_algorithms() {
        use Algorithm as A;
        assert!(KeyKind::Rsa.fits(A::PS256) && KeyKind::Rsa.fits(A::RS512));
        assert!(!KeyKind::Rsa.fits(A::HS256) && !KeyKind::Hmac.fits(A::RS256));
        assert!(KeyKind::EcP256.fits(A::ES256) && !KeyKind::EcP256.fits(A::ES384));
        assert!(KeyKind::Ed25519.fits(A::EdDSA) && !KeyKind::Ed25519.fits(A::ES256));
    }
}
