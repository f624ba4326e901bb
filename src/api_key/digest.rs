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
        // Fold the difference of every word without branching, then compare
        // the fold once, in constant time.
        let (a, _) = self.0.as_chunks::<8>();
        let (b, _) = other.0.as_chunks::<8>();
        let diff = a.iter().zip(b).fold(0u64, |d, (a, b)| {
            d | (u64::from_ne_bytes(*a) ^ u64::from_ne_bytes(*b))
        });
        diff.ct_eq(&0).into()
    }
}

/// Feeds the digest's first eight bytes as one word: a SHA-256 output is
/// already uniformly distributed.
impl Hash for KeyDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (words, _) = self.0.as_chunks::<8>();
        state.write_u64(u64::from_ne_bytes(words[0]));
    }
}

/// A [`BuildHasher`](std::hash::BuildHasher) for maps keyed by
/// [`KeyDigest`] that uses the digest's own bits as the hash, skipping
/// `SipHash`.
///
/// This is safe against hash flooding because the keys *in* a map are
/// digests of keys we generated at random: a caller can make lookups for
/// any digest it likes, but cannot add entries, so it cannot lengthen a
/// probe sequence.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached by types other than `KeyDigest`; mix them in simply.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 ^= word;
    }
}

impl std::hash::BuildHasher for DigestHasher {
    type Hasher = Self;

    fn build_hasher(&self) -> Self {
        Self(0)
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
        assert_eq!(d.as_bytes()[..4], [0xba, 0x78, 0x16, 0xbf], "not SHA-256");
        assert_eq!(d, KeyDigest::from_bytes(*d.as_bytes()));
        assert_ne!(d, KeyDigest::of("abd"));
        assert_eq!(format!("{d:?}"), "KeyDigest { .. }");
        // Every byte takes part in equality, not only the hashed ones.
        for i in 0..32 {
            let mut bytes = *d.as_bytes();
            bytes[i] ^= 1;
            assert_ne!(d, KeyDigest::from_bytes(bytes), "byte {i}");
        }
    }
}
