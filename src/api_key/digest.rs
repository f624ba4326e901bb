use std::fmt;
use std::hash::{Hash, Hasher};

use sha2::block_api::compress256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

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
        Self(sha256(key.as_bytes()))
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

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 of `message` in one call: the `sha2` crate's compression
/// function over the message's whole blocks, then over the padded tail
/// (FIPS 180-4 §5.1.1), one block or two. Unlike `Sha256::digest` nothing
/// is buffered, which matters for a message as short as a key (one block):
/// about 60 ns rather than 74 ns on SHA-NI hardware. The copy of the tail,
/// part of the key, is wiped.
fn sha256(message: &[u8]) -> [u8; 32] {
    let mut state = H0;
    let (blocks, rest) = message.as_chunks::<64>();
    compress256(&mut state, blocks);
    let mut tail = [[0u8; 64]; 2];
    let flat = tail.as_flattened_mut();
    flat[..rest.len()].copy_from_slice(rest);
    flat[rest.len()] = 0x80;
    // The length in bits goes in the last 8 bytes, after at least the 0x80.
    let used = if rest.len() < 56 { 1 } else { 2 };
    let bits = (message.len() as u64).wrapping_mul(8);
    flat[used * 64 - 8..used * 64].copy_from_slice(&bits.to_be_bytes());
    compress256(&mut state, &tail[..used]);
    tail.as_flattened_mut().zeroize();
    let mut out = [0u8; 32];
    for (bytes, word) in out.as_chunks_mut::<4>().0.iter_mut().zip(state) {
        *bytes = word.to_be_bytes();
    }
    out
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
    fn sha256_matches_the_sha2_crate_at_every_padding_boundary() {
        use sha2::{Digest as _, Sha256};
        // Lengths around one, two and three blocks, where the padding
        // spills into a second tail block (56..64) and where it does not.
        let message: Vec<u8> = (0..=200u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..=message.len() {
            let m = &message[..len];
            let expected: [u8; 32] = Sha256::digest(m).into();
            assert_eq!(sha256(m), expected, "length {len}");
        }
        // FIPS 180-2 two-block vector (56 bytes: the padding needs a second block).
        let d = sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
        assert_eq!(d[..4], [0x24, 0x8d, 0x6a, 0x61]);
    }

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
