//! The `tracing` events of the crate, in one place so their fields stay
//! stable. No event carries a token, key, secret or claim value.

use crate::error::{AuthError, AuthErrorKind, ErrorChain};
use crate::identity::Identity;

const TARGET: &str = "m2m_auth";

/// One event per decision of the layer.
pub(crate) fn outcome(outcome: &Result<Option<Identity>, AuthError>) {
    match outcome {
        Ok(Some(identity)) => tracing::debug!(
            target: TARGET,
            outcome = "accepted",
            method = identity.credential().method(),
            credential_id = identity.credential().id(),
            "request authenticated"
        ),
        Ok(None) => tracing::debug!(
            target: TARGET,
            outcome = "passed",
            "request without credentials passed (optional mode)"
        ),
        Err(e) => rejection(e),
    }
}

/// One event per rejection, from the layer or a scope guard.
pub(crate) fn rejection(e: &AuthError) {
    if e.kind() == AuthErrorKind::Unavailable {
        // Operators must see infrastructure failures without turning on debug.
        tracing::warn!(
            target: TARGET,
            outcome = "rejected",
            kind = e.kind().as_str(),
            reason = e.reason(),
            credential_id = e.credential_id(),
            error = %ErrorChain(e),
            "authentication unavailable"
        );
    } else {
        tracing::debug!(
            target: TARGET,
            outcome = "rejected",
            kind = e.kind().as_str(),
            reason = e.reason(),
            credential_id = e.credential_id(),
            "request rejected"
        );
    }
}
