//! Which crypto library verifies signatures.
//!
//! `jsonwebtoken` 12 takes its backend from its own features and panics on
//! first use when both or neither are on and no provider was installed.
//! Our features `aws-lc-rs` and `rust-crypto` switch its features on; this
//! module makes the combination safe: with both, aws-lc-rs is installed as
//! the process default (unless the application installed a provider
//! first); with neither, [`provider`] is a [`ConfigError`], never a panic.

use jsonwebtoken::crypto::CryptoProvider;

use crate::error::ConfigError;

/// The crypto provider signatures are verified with.
pub(crate) fn provider() -> Result<&'static CryptoProvider, ConfigError> {
    #[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
    {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            // Err means a provider is installed already: the application's
            // choice stands.
            let _ =
                CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
        });
    }
    CryptoProvider::try_get_default().ok_or(ConfigError::NoCryptoBackend)
}

/// The name of the backend compiled in and selected: `"aws-lc-rs"`,
/// `"rust-crypto"`, or `None` when the crate was built without one. It
/// verifies public-key signatures; HMAC tags are checked by the `RustCrypto`
/// `hmac` crate with either backend.
///
/// An application that installed its own `jsonwebtoken` provider before
/// the first key was made gets that provider; this reports what the crate's
/// features would select.
pub fn backend() -> Option<&'static str> {
    if cfg!(feature = "aws-lc-rs") {
        Some("aws-lc-rs")
    } else if cfg!(feature = "rust-crypto") {
        Some("rust-crypto")
    } else {
        None
    }
}
