//! The `tracing` events and `metrics` of the crate, in one place so their
//! names and fields stay stable. No event or label carries a token, key,
//! secret or claim value: only the public identifiers of a credential
//! (an API key's id, a JWT's `kid`, a verified `iss`).
//!
//! Events (target `m2m_auth`), one per decision of the layer or a scope
//! guard:
//!
//! | field | value |
//! |---|---|
//! | `outcome` | `accepted`, `passed` (optional mode, no credential), `rejected` |
//! | `method` | `api_key`, `jwt`, a custom authenticator's label, `none` |
//! | `kind` | rejections: [`AuthErrorKind::as_str`] |
//! | `reason` | rejections: [`AuthError::reason`] |
//! | `key_id` | API keys: the key's public id |
//! | `kid` | JWTs: the key id of the token header |
//! | `iss` | accepted JWTs: the verified issuer |
//! | `credential_id` | custom credentials: their public id |
//! | `latency_us` | time spent deciding, in µs (when the event is enabled) |
//!
//! Accepted and passed requests are `DEBUG`, rejections `DEBUG` but for
//! `unavailable` (a store or key set down), which is `WARN` with the error
//! chain.

use std::time::{Duration, Instant};

use crate::error::{AuthError, AuthErrorKind, ErrorChain};
use crate::identity::{Credential, Identity};

const TARGET: &str = "m2m_auth";

/// The method label of a decision nobody's authenticator made (no
/// credential at all, or a bearer token nobody recognised).
const NO_METHOD: &str = "none";

/// When the layer started deciding about a request; only read when an
/// event or the metrics will use it.
#[derive(Clone, Copy)]
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    /// Starts the clock if anything will read it.
    pub(crate) fn start() -> Self {
        let wanted =
            cfg!(feature = "metrics") || tracing::enabled!(target: TARGET, tracing::Level::DEBUG);
        Self(wanted.then(Instant::now))
    }

    fn elapsed(self) -> Option<Duration> {
        self.0.map(|start| start.elapsed())
    }
}

fn micros(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e6)
}

/// One event per decision of the layer; `method` is the label of the
/// authenticator that decided, `None` when the layer itself did.
pub(crate) fn outcome(
    outcome: &Result<Option<Identity>, AuthError>,
    method: Option<&'static str>,
    clock: Clock,
) {
    let latency = clock.elapsed();
    match outcome {
        Ok(Some(identity)) => accepted(identity, latency),
        Ok(None) => {
            tracing::debug!(
                target: TARGET,
                outcome = "passed",
                method = NO_METHOD,
                latency_us = micros(latency),
                "request without credentials passed (optional mode)"
            );
            record("passed", NO_METHOD, "no_credential", latency);
        }
        Err(e) => rejected(e, method.unwrap_or(NO_METHOD), latency),
    }
}

fn accepted(identity: &Identity, latency: Option<Duration>) {
    let credential = identity.credential();
    let (mut key_id, mut kid, mut iss, mut credential_id) = (None, None, None, None);
    match credential {
        Credential::ApiKey { key_id: id, .. } => key_id = Some(&**id),
        Credential::Jwt { issuer, kid: k, .. } => {
            kid = k.as_deref();
            iss = Some(&**issuer);
        }
        Credential::Custom { id, .. } => credential_id = id.as_deref(),
    }
    tracing::debug!(
        target: TARGET,
        outcome = "accepted",
        method = credential.method(),
        key_id,
        kid,
        iss,
        credential_id,
        latency_us = micros(latency),
        "request authenticated"
    );
    record("accepted", credential.method(), "ok", latency);
}

/// A rejection after the layer (a scope guard, a handler returning an
/// `AuthError`): `identity` is the caller's, if known.
pub(crate) fn rejection(e: &AuthError, identity: Option<&Identity>) {
    let method = identity.map_or(NO_METHOD, |i| i.credential().method());
    rejected(e, method, None);
}

fn rejected(e: &AuthError, method: &str, latency: Option<Duration>) {
    // The error's public id is the key id of an API key and the `kid` of a
    // JWT; which one it is follows from the method.
    let id = e.credential_id();
    let (key_id, kid, credential_id) = match method {
        "api_key" => (id, None, None),
        "jwt" => (None, id, None),
        _ => (None, None, id),
    };
    if e.kind() == AuthErrorKind::Unavailable {
        // Operators must see infrastructure failures without turning on debug.
        tracing::warn!(
            target: TARGET,
            outcome = "rejected",
            method,
            kind = e.kind().as_str(),
            reason = e.reason(),
            key_id,
            kid,
            credential_id,
            latency_us = micros(latency),
            error = %ErrorChain(e),
            "authentication unavailable"
        );
    } else {
        tracing::debug!(
            target: TARGET,
            outcome = "rejected",
            method,
            kind = e.kind().as_str(),
            reason = e.reason(),
            key_id,
            kid,
            credential_id,
            latency_us = micros(latency),
            "request rejected"
        );
    }
    record("rejected", method, e.reason(), latency);
}

/// Names of the metrics, for the docs and the tests.
#[cfg(feature = "metrics")]
pub(crate) mod names {
    pub(crate) const REQUESTS: &str = "m2m_auth_requests_total";
    pub(crate) const DURATION: &str = "m2m_auth_request_duration_seconds";
}

#[cfg(feature = "metrics")]
use metric::record;

/// The metrics of a decision, through the `metrics` facade.
///
/// The facade's macros build a [`metrics::Key`] per call: the labels
/// collected into a new `Vec` and hashed, for the counter and again for
/// the histogram. Here each thread builds the keys of a label set once and
/// hands the same ones to the recorder afterwards, which then has only its
/// own lookup to do. The recorder is asked for its handles every time, so
/// a recorder installed or replaced later (or a local one in a test) sees
/// every decision.
#[cfg(feature = "metrics")]
mod metric {
    use std::cell::RefCell;
    use std::time::Duration;

    use metrics::{Key, Label, Level, Metadata};

    use super::names;

    static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    /// Label sets a thread keeps the keys of; a service that makes more
    /// (a custom authenticator with many method labels) builds the others
    /// per decision, as the macros would.
    const KEPT: usize = 64;

    /// The keys of one label set.
    struct Keys {
        outcome: &'static str,
        method: Box<str>,
        reason: &'static str,
        requests: Key,
        duration: Key,
    }

    impl Keys {
        fn new(outcome: &'static str, method: &str, reason: &'static str) -> Self {
            let method_label = || Label::new("method", method.to_owned());
            Self {
                outcome,
                method: method.into(),
                reason,
                requests: Key::from_parts(
                    names::REQUESTS,
                    vec![
                        Label::from_static_parts("outcome", outcome),
                        method_label(),
                        Label::from_static_parts("reason", reason),
                    ],
                ),
                duration: Key::from_parts(
                    names::DURATION,
                    vec![Label::from_static_parts("outcome", outcome), method_label()],
                ),
            }
        }

        fn is(&self, outcome: &str, method: &str, reason: &str) -> bool {
            self.outcome == outcome && self.reason == reason && *self.method == *method
        }

        fn record(&self, latency: Option<Duration>) {
            metrics::with_recorder(|recorder| {
                recorder
                    .register_counter(&self.requests, &METADATA)
                    .increment(1);
                if let Some(latency) = latency {
                    recorder
                        .register_histogram(&self.duration, &METADATA)
                        .record(latency.as_secs_f64());
                }
            });
        }
    }

    thread_local! {
        static KEYS: RefCell<Vec<Keys>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(
        outcome: &'static str,
        method: &str,
        reason: &'static str,
        latency: Option<Duration>,
    ) {
        let kept = KEYS.try_with(|keys| {
            // Busy only if a recorder decided a request itself.
            let Ok(mut keys) = keys.try_borrow_mut() else {
                return false;
            };
            let i = match keys.iter().position(|k| k.is(outcome, method, reason)) {
                Some(i) => i,
                None if keys.len() < KEPT => {
                    keys.push(Keys::new(outcome, method, reason));
                    keys.len() - 1
                }
                None => return false,
            };
            keys[i].record(latency);
            true
        });
        // Not kept: too many label sets, or the thread is exiting.
        if kept != Ok(true) {
            Keys::new(outcome, method, reason).record(latency);
        }
    }

    #[cfg(test)]
    mod tests {
        use std::time::Duration;

        use metrics_util::debugging::{DebugValue, DebuggingRecorder};

        use super::{KEPT, record};

        /// More label sets than a thread keeps keys for: every decision is
        /// still counted under its own labels, kept or not.
        #[test]
        fn label_sets_beyond_the_kept_ones_are_counted() {
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            let methods: Vec<String> = (0..KEPT * 2).map(|i| format!("custom_{i}")).collect();
            metrics::with_local_recorder(&recorder, || {
                for round in 0..2 {
                    for method in &methods {
                        let latency = (round == 0).then(|| Duration::from_micros(3));
                        record("accepted", method, "ok", latency);
                    }
                }
            });
            let mut counted = Vec::new();
            let mut observations = 0;
            for (key, _, _, value) in snapshotter.snapshot().into_vec() {
                let key = key.key();
                let method = key
                    .labels()
                    .find(|l| l.key() == "method")
                    .map(|l| l.value().to_owned());
                match value {
                    DebugValue::Counter(n) => counted.push((method.unwrap(), n)),
                    DebugValue::Histogram(v) => observations += v.len(),
                    DebugValue::Gauge(_) => panic!("no gauges"),
                }
            }
            counted.sort();
            let mut expected: Vec<(String, u64)> = methods.iter().map(|m| (m.clone(), 2)).collect();
            expected.sort();
            assert_eq!(counted, expected);
            assert_eq!(observations, methods.len());
        }
    }
}

#[cfg(not(feature = "metrics"))]
#[inline]
fn record(_: &'static str, _: &str, _: &'static str, _: Option<Duration>) {}
