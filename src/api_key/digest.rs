use std::fmt;
use std::hash::{Hash, Hasher};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The SHA-256 digest of an API key: what a [`KeyStore`](super::KeyStore)
/// keeps and looks keys up by, instead of the key itself.
///
/// A fast hash is the right tool here: keys carry ≥ 190 random bits, so
/// there is nothing for a slow password hash to protect against, and every
/// request pays for the hash. Equality runs in constant time; `Debug`
/// prints no bytes.
#[derive(Clone, Copy, Eq)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    /// The digest of `key`'s text.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// A digest read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes, for storage.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Constant time, so a lookup does not reveal how close a guess came.
impl PartialEq for KeyDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Hash for KeyDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDigest").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_the_key_text() {
        // FIPS 180-2 test vector: SHA-256("abc").
        let d = KeyDigest::of("abc");
        assert_eq!(
            d.as_bytes()[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "not SHA-256"
        );
        assert_eq!(d, KeyDigest::from_bytes(*d.as_bytes()));
        assert_ne!(d, KeyDigest::of("abd"));
        assert_eq!(format!("{d:?}"), "KeyDigest { .. }");
    }
}
