//! Public keys parsed once, for the aws-lc-rs backend (feature
//! `aws-lc-rs`).
//!
//! `jsonwebtoken` hands aws-lc-rs the key's bytes for every token, which
//! parses them again each time (for RSA, a sixth of the verification). Here
//! each key is parsed once per algorithm it may verify, when it is made.

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};

use super::{Algorithm, KeyKind, backend};

/// A key's parsed forms, one per algorithm it may verify.
pub(crate) struct Parsed {
    by_alg: Vec<(Algorithm, ParsedPublicKey)>,
}

fn verification(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    use Algorithm as A;
    Some(match alg {
        A::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        A::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        A::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        A::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        A::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        A::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        A::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        A::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        A::EdDSA => &signature::ED25519,
        A::HS256 | A::HS384 | A::HS512 => return None,
    })
}

impl Parsed {
    /// The parsed forms of a key of `kind` given as `bytes` (PKCS#1 DER for
    /// RSA, an uncompressed point for EC, the 32 bytes for Ed25519), for
    /// every algorithm its kind allows; `None` when aws-lc-rs is not the
    /// backend in use (an application installed its own `jsonwebtoken`
    /// provider) or refuses the key, so that `jsonwebtoken` verifies.
    pub(crate) fn new(kind: KeyKind, bytes: &[u8]) -> Option<Self> {
        let provider = backend::provider().ok()?;
        if !std::ptr::eq(
            provider,
            &raw const jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        ) {
            return None;
        }
        let by_alg = Algorithm::ALL
            .into_iter()
            .filter(|&a| kind.fits(a))
            .map(|a| Some((a, ParsedPublicKey::new(verification(a)?, bytes).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Self { by_alg })
    }

    /// Whether `signature` is good for `message` under `alg`; `None` for an
    /// algorithm not prepared.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Option<bool> {
        let (_, key) = self.by_alg.iter().find(|(a, _)| *a == alg)?;
        Some(key.verify_sig(message, signature).is_ok())
    }
}

/// The PKCS#1 `RSAPublicKey` DER of a modulus and an exponent.
pub(crate) fn rsa_der(n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    use simple_asn1::{ASN1Block, BigInt, BigUint};
    let int = |b: &[u8]| ASN1Block::Integer(0, BigInt::from(BigUint::from_bytes_be(b)));
    simple_asn1::to_der(&ASN1Block::Sequence(0, vec![int(n), int(e)])).ok()
}
