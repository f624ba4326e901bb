//! The token endpoint's signing keys: [`SigningKeys`], with rotation.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm as J, EncodingKey};
use zeroize::Zeroizing;

use arc_swap::ArcSwap;

use crate::error::ConfigError;
use crate::jwt::{Algorithm, Key, KeySet};

/// The algorithms the endpoint signs with.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// Ed25519 (`EdDSA`): the default; keys are made by the endpoint.
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, with an RSA key you provide.
    RS256,
    /// ECDSA on P-256, with a key you provide.
    ES256,
}

impl SigningAlgorithm {
    const fn jose(self) -> J {
        match self {
            Self::EdDSA => J::EdDSA,
            Self::RS256 => J::RS256,
            Self::ES256 => J::ES256,
        }
    }

    /// The verification algorithm of tokens signed this way.
    pub const fn verified_as(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::RS256 => Algorithm::RS256,
            Self::ES256 => Algorithm::ES256,
        }
    }
}

/// One signing key: its private half, its public JWK and its `kid`.
struct SigningKey {
    kid: Arc<str>,
    alg: SigningAlgorithm,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl SigningKey {
    fn new(alg: SigningAlgorithm, encoding: EncodingKey) -> Result<Self, ConfigError> {
        let bad = |e: jsonwebtoken::errors::Error| ConfigError::InvalidKey(e.to_string());
        let mut jwk = Jwk::from_encoding_key(&encoding, alg.jose()).map_err(bad)?;
        // RFC 7638: the key's own thumbprint names it.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(bad)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match alg {
            SigningAlgorithm::EdDSA => KeyAlgorithm::EdDSA,
            SigningAlgorithm::RS256 => KeyAlgorithm::RS256,
            SigningAlgorithm::ES256 => KeyAlgorithm::ES256,
        });
        Ok(Self {
            kid: Arc::from(kid),
            alg,
            encoding,
            jwk,
        })
    }

    /// A fresh Ed25519 key from the operating system's random number
    /// generator.
    fn generate() -> Result<Self, ConfigError> {
        // PKCS#8 v1 of an Ed25519 private key (RFC 8410 §7): a fixed
        // prefix and the 32-byte seed.
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut der = Zeroizing::new([0u8; 48]);
        der[..16].copy_from_slice(&PREFIX);
        getrandom::fill(&mut der[16..])
            .map_err(|e| ConfigError::InvalidKey(format!("no randomness for a new key: {e}")))?;
        Self::new(SigningAlgorithm::EdDSA, EncodingKey::from_ed_der(&der[..]))
    }
}

/// What a key is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Published, not signing yet: verifiers learn it before its first
    /// token.
    Next,
    /// Signing.
    Active,
    /// Published until this instant, when its last token has expired.
    Retired(SystemTime),
}

/// Every key and what it does now.
type Keys = Vec<(Role, Arc<SigningKey>)>;

/// The keys a [`TokenEndpoint`](super::TokenEndpoint) signs with and
/// publishes, and their rotation.
///
/// At any time one key signs; the next one is already published, so that
/// verifiers that fetched the JWKS know it before it signs; and keys
/// rotated out stay published until the last token they signed has
/// expired. [`rotate`](Self::rotate) moves the next key to signing and
/// retires the current one.
///
/// With Ed25519 (the default) the endpoint makes its keys itself; with
/// RS256 or ES256 you give them ([`from_pem`](Self::from_pem), then
/// [`add_next_pem`](Self::add_next_pem) before each rotation). Keys live in
/// memory: instances that issue tokens side by side must be given the same
/// keys.
#[derive(Clone)]
pub struct SigningKeys {
    inner: Arc<Mutex<Keys>>,
    /// The published keys as a verification key set, for authenticators
    /// in the same process.
    published: Arc<ArcSwap<KeySet>>,
    alg: SigningAlgorithm,
}

impl SigningKeys {
    /// Ed25519 keys made here: one signing, one next.
    ///
    /// # Errors
    ///
    /// When the random number generator or the crypto backend fails.
    pub fn generate() -> Result<Self, ConfigError> {
        crate::jwt::backend_provider()?;
        let keys = vec![
            (Role::Active, Arc::new(SigningKey::generate()?)),
            (Role::Next, Arc::new(SigningKey::generate()?)),
        ];
        Self::with(keys, SigningAlgorithm::EdDSA)
    }

    /// A private key in PEM (PKCS#8, or PKCS#1 for RSA) signing with
    /// `alg`. Add the next key with [`add_next_pem`](Self::add_next_pem)
    /// well before you [`rotate`](Self::rotate).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] for a key that cannot be read or does
    /// not fit `alg`; [`ConfigError::WeakKey`] for RSA under 2048 bits.
    pub fn from_pem(alg: SigningAlgorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        crate::jwt::backend_provider()?;
        let key = pem_key(alg, pem)?;
        Self::with(vec![(Role::Active, Arc::new(key))], alg)
    }

    fn with(
        keys: Vec<(Role, Arc<SigningKey>)>,
        alg: SigningAlgorithm,
    ) -> Result<Self, ConfigError> {
        let published = Arc::new(ArcSwap::from_pointee(verification_set(&keys)?));
        Ok(Self {
            inner: Arc::new(Mutex::new(keys)),
            published,
            alg,
        })
    }

    /// Publishes another key of the same algorithm, to sign after the next
    /// [`rotate`](Self::rotate). Replaces a next key not yet used.
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem).
    pub fn add_next_pem(&self, pem: &[u8]) -> Result<(), ConfigError> {
        let key = Arc::new(pem_key(self.alg, pem)?);
        let mut keys = self.lock();
        keys.retain(|(role, _)| *role != Role::Next);
        keys.push((Role::Next, key));
        self.publish(&keys)
    }

    /// The next key signs from now on; the key that signed until now stays
    /// published for `token_lifetime` (its last token's life, at most
    /// [`MAX_TOKEN_LIFETIME`](super::MAX_TOKEN_LIFETIME)), then goes. With
    /// generated keys, a new next key is made.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] when there is no next key (add one with
    /// [`add_next_pem`](Self::add_next_pem)).
    pub fn rotate(&self, token_lifetime: Duration) -> Result<(), ConfigError> {
        let fresh = match self.alg {
            SigningAlgorithm::EdDSA => Some(Arc::new(SigningKey::generate()?)),
            _ => None,
        };
        let mut keys = self.lock();
        if !keys.iter().any(|(role, _)| *role == Role::Next) {
            return Err(ConfigError::Missing(
                "a next signing key (add_next_pem) to rotate to",
            ));
        }
        // No token lives longer than MAX_TOKEN_LIFETIME, whatever was asked.
        let until = SystemTime::now() + token_lifetime.min(super::MAX_TOKEN_LIFETIME);
        for (role, _) in keys.iter_mut() {
            *role = match *role {
                Role::Active => Role::Retired(until),
                Role::Next => Role::Active,
                retired @ Role::Retired(_) => retired,
            };
        }
        if let Some(fresh) = fresh {
            keys.push((Role::Next, fresh));
        }
        self.publish(&keys)
    }

    /// The `kid` of the key that signs now.
    pub fn active_kid(&self) -> Arc<str> {
        Arc::clone(&self.active().kid)
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public keys to publish: the next, the active and the retired
    /// ones whose tokens may still be alive.
    pub fn jwks(&self) -> JwkSet {
        let now = SystemTime::now();
        let mut keys = self.lock();
        let before = keys.len();
        keys.retain(|(role, _)| !matches!(role, Role::Retired(until) if *until <= now));
        if keys.len() != before {
            // Still publishable: what is left was published before.
            let _ = self.publish(&keys);
        }
        JwkSet {
            keys: keys.iter().map(|(_, k)| k.jwk.clone()).collect(),
        }
    }

    /// The published keys as a verification key set that follows
    /// rotations.
    pub(crate) fn verification_keys(&self) -> Arc<ArcSwap<KeySet>> {
        Arc::clone(&self.published)
    }

    fn publish(&self, keys: &[(Role, Arc<SigningKey>)]) -> Result<(), ConfigError> {
        self.published.store(Arc::new(verification_set(keys)?));
        Ok(())
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`, `kid`).
    pub(crate) fn sign(
        &self,
        claims: &serde_json::Value,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let key = self.active();
        let mut header = jsonwebtoken::Header::new(key.alg.jose());
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(key.kid.to_string());
        jsonwebtoken::encode(&header, claims, &key.encoding)
    }

    fn active(&self) -> Arc<SigningKey> {
        let keys = self.lock();
        let active = keys
            .iter()
            .find(|(role, _)| *role == Role::Active)
            .map(|(_, k)| Arc::clone(k));
        // There is always exactly one active key: made with one, and
        // `rotate` promotes a next key only when there is one.
        active.unwrap_or_else(|| unreachable!("a signing key set has an active key"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The public half of `key`, as a key that verifies (and passes our key
/// policy: RSA of 2048 bits or more, …).
fn verifying_key(key: &SigningKey) -> Result<Key, ConfigError> {
    let jwk =
        serde_json::to_string(&key.jwk).map_err(|e| ConfigError::InvalidKey(e.to_string()))?;
    Key::from_jwk(&jwk)
}

/// The public halves of `keys`.
fn verification_set(keys: &[(Role, Arc<SigningKey>)]) -> Result<KeySet, ConfigError> {
    let verifying = keys
        .iter()
        .map(|(_, k)| verifying_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    KeySet::new(verifying)
}

fn pem_key(alg: SigningAlgorithm, pem: &[u8]) -> Result<SigningKey, ConfigError> {
    let bad = |e: jsonwebtoken::errors::Error| ConfigError::InvalidKey(e.to_string());
    let encoding = match alg {
        SigningAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem).map_err(bad)?,
        SigningAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem).map_err(bad)?,
        SigningAlgorithm::ES256 => EncodingKey::from_ec_pem(pem).map_err(bad)?,
    };
    let key = SigningKey::new(alg, encoding)?;
    verifying_key(&key)?;
    Ok(key)
}

#[expect(
    clippy::missing_fields_in_debug,
    reason = "the published set is derived from the keys shown"
)]
impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.lock();
        f.debug_struct("SigningKeys")
            .field("algorithm", &self.alg)
            .field(
                "keys",
                &keys
                    .iter()
                    .map(|(role, k)| (role, &*k.kid))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    /// Any lifetime may be asked for: the retired key is published for at
    /// most a day, and nothing overflows.
    #[test]
    fn rotating_with_an_endless_lifetime() {
        let keys = SigningKeys::generate().unwrap();
        let first = keys.active_kid();
        keys.rotate(Duration::MAX).unwrap();
        assert_ne!(keys.active_kid(), first);
        let published: Vec<_> = keys
            .jwks()
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert!(
            published.contains(&first.to_string()),
            "retired, still published"
        );
        let lock = keys.lock();
        let retired_until = lock.iter().find_map(|(role, _)| match role {
            Role::Retired(until) => Some(*until),
            _ => None,
        });
        assert!(
            retired_until.unwrap() <= SystemTime::now() + crate::issuer::MAX_TOKEN_LIFETIME,
            "published no longer than a token can live"
        );
    }
}
