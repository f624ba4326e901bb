//! Revoking JWTs before they expire: the [`Revocations`] trait and
//! [`MemoryRevocations`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use async_trait::async_trait;

use crate::error::StoreError;
use crate::identity::{Credential, Identity};

/// A verified token, as revocation sees it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug)]
pub struct TokenRef<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// `jti`, if the token has one.
    pub jti: Option<&'a str>,
    /// `iat`, if the token has one.
    pub issued_at: Option<SystemTime>,
}

impl<'a> TokenRef<'a> {
    /// A token of `issuer` for `subject`, with its `jti` and `iat` if it
    /// has them.
    pub fn of_parts(
        issuer: &'a str,
        subject: &'a str,
        jti: Option<&'a str>,
        issued_at: Option<SystemTime>,
    ) -> Self {
        Self {
            issuer,
            subject,
            jti,
            issued_at,
        }
    }

    /// The token behind `identity`, if it is a JWT's.
    pub fn of(identity: &'a Identity) -> Option<Self> {
        match identity.credential() {
            Credential::Jwt {
                issuer,
                jti,
                issued_at,
                ..
            } => Some(Self {
                issuer,
                subject: identity.subject(),
                jti: jti.as_deref(),
                issued_at: *issued_at,
            }),
            _ => None,
        }
    }
}

/// Tokens refused although their signature and claims are good.
///
/// Two kinds of entry, each per issuer:
///
/// - a **token** (`jti`), denied until it expires — one leaked token;
/// - a **subject** (`sub`, the OAuth client), whose tokens issued before an
///   instant are denied — every token a compromised client holds, without
///   waiting for them to expire or rolling the client's secret. A token
///   without `iat` counts as issued before any such instant.
///
/// [`JwtAuthenticatorBuilder::revocations`](super::JwtAuthenticatorBuilder::revocations)
/// checks every token that passed the other checks.
/// [`MemoryRevocations`] keeps the lists in memory; with the `postgres`
/// feature, `PostgresRevocations` shares them between instances.
#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Whether `token` is revoked.
    ///
    /// # Errors
    ///
    /// When the lists cannot be read; the request then gets `503`.
    async fn is_revoked(&self, token: &TokenRef<'_>) -> Result<bool, StoreError>;

    /// The answer to [`is_revoked`](Self::is_revoked) without waiting, if
    /// the lists are at hand; `None` to fall back to it. Defaults to
    /// `None`.
    fn is_revoked_ready(&self, token: &TokenRef<'_>) -> Option<Result<bool, StoreError>> {
        let _ = token;
        None
    }

    /// Denies the token `jti` of `issuer` until `expires_at` (its `exp`,
    /// after which it is refused anyway).
    ///
    /// # Errors
    ///
    /// When the lists cannot be written.
    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: SystemTime,
    ) -> Result<(), StoreError>;

    /// Denies every token of `subject` from `issuer` issued before
    /// `issued_before`. A later call with an earlier instant does not move
    /// it back.
    ///
    /// # Errors
    ///
    /// When the lists cannot be written.
    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: SystemTime,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl<R: Revocations + ?Sized> Revocations for Arc<R> {
    async fn is_revoked(&self, token: &TokenRef<'_>) -> Result<bool, StoreError> {
        (**self).is_revoked(token).await
    }

    fn is_revoked_ready(&self, token: &TokenRef<'_>) -> Option<Result<bool, StoreError>> {
        (**self).is_revoked_ready(token)
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: SystemTime,
    ) -> Result<(), StoreError> {
        (**self).revoke_token(issuer, jti, expires_at).await
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: SystemTime,
    ) -> Result<(), StoreError> {
        (**self)
            .revoke_subject(issuer, subject, issued_before)
            .await
    }
}

/// Revocation lists in memory: checks read a lock-free snapshot and never
/// wait; a change copies the lists (revocations are few). Denied tokens
/// drop out once they have expired. Clones share the lists.
#[derive(Clone, Default)]
pub struct MemoryRevocations {
    lists: Arc<ArcSwap<Lists>>,
}

/// Revoked tokens and subjects, per issuer.
#[derive(Clone, Default)]
pub(crate) struct Lists {
    /// `jti` → until when.
    tokens: HashMap<Arc<str>, HashMap<Box<str>, SystemTime>>,
    /// `sub` → tokens issued before this are revoked.
    subjects: HashMap<Arc<str>, HashMap<Box<str>, SystemTime>>,
}

/// One entry, as a change feed carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Token {
        issuer: String,
        jti: String,
        until: SystemTime,
    },
    Subject {
        issuer: String,
        subject: String,
        before: SystemTime,
    },
}

impl Lists {
    fn check(&self, token: &TokenRef<'_>, now: SystemTime) -> bool {
        let denied_jti = token.jti.is_some_and(|jti| {
            self.tokens
                .get(token.issuer)
                .and_then(|t| t.get(jti))
                .is_some_and(|&until| until > now)
        });
        denied_jti
            || self
                .subjects
                .get(token.issuer)
                .and_then(|s| s.get(token.subject))
                .is_some_and(|&before| token.issued_at.is_none_or(|iat| iat < before))
    }

    fn add(&mut self, entry: &Entry, now: SystemTime) {
        match entry {
            Entry::Token { issuer, jti, until } => {
                let tokens = self.tokens.entry(Arc::from(issuer.as_str())).or_default();
                tokens.retain(|_, until| *until > now);
                let slot = tokens.entry(Box::from(jti.as_str())).or_insert(*until);
                *slot = (*slot).max(*until);
            }
            Entry::Subject {
                issuer,
                subject,
                before,
            } => {
                let slot = self
                    .subjects
                    .entry(Arc::from(issuer.as_str()))
                    .or_default()
                    .entry(Box::from(subject.as_str()))
                    .or_insert(*before);
                *slot = (*slot).max(*before);
            }
        }
    }
}

impl MemoryRevocations {
    /// Empty lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `token` is revoked at `now`.
    pub fn check(&self, token: &TokenRef<'_>, now: SystemTime) -> bool {
        self.lists.load().check(token, now)
    }

    /// How many tokens and subjects are denied.
    pub fn len(&self) -> (usize, usize) {
        let lists = self.lists.load();
        (
            lists.tokens.values().map(HashMap::len).sum(),
            lists.subjects.values().map(HashMap::len).sum(),
        )
    }

    /// Adds entries (from a change feed or a reload).
    pub(crate) fn apply(&self, entries: &[Entry]) {
        let now = SystemTime::now();
        self.lists.rcu(|lists| {
            let mut lists = Lists::clone(lists);
            for e in entries {
                lists.add(e, now);
            }
            lists
        });
    }

    /// Replaces everything with `entries` (a full reload).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn replace(&self, entries: &[Entry]) {
        let now = SystemTime::now();
        let mut lists = Lists::default();
        for e in entries {
            lists.add(e, now);
        }
        self.lists.store(Arc::new(lists));
    }
}

impl fmt::Debug for MemoryRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (tokens, subjects) = self.len();
        f.debug_struct("MemoryRevocations")
            .field("tokens", &tokens)
            .field("subjects", &subjects)
            .finish()
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn is_revoked(&self, token: &TokenRef<'_>) -> Result<bool, StoreError> {
        Ok(self.check(token, SystemTime::now()))
    }

    fn is_revoked_ready(&self, token: &TokenRef<'_>) -> Option<Result<bool, StoreError>> {
        Some(Ok(self.check(token, SystemTime::now())))
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: SystemTime,
    ) -> Result<(), StoreError> {
        self.apply(&[Entry::Token {
            issuer: issuer.to_owned(),
            jti: jti.to_owned(),
            until: expires_at,
        }]);
        Ok(())
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: SystemTime,
    ) -> Result<(), StoreError> {
        self.apply(&[Entry::Subject {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            before: issued_before,
        }]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn token(jti: Option<&str>, iat: Option<SystemTime>) -> TokenRef<'_> {
        TokenRef {
            issuer: "https://idp",
            subject: "client",
            jti,
            issued_at: iat,
        }
    }

    #[tokio::test]
    async fn tokens_and_subjects() {
        let r = MemoryRevocations::new();
        let now = SystemTime::now();
        let hour = Duration::from_hours(1);
        assert!(!r.check(&token(Some("a"), Some(now)), now));
        r.revoke_token("https://idp", "a", now + hour)
            .await
            .unwrap();
        assert!(r.check(&token(Some("a"), Some(now)), now));
        assert!(!r.check(&token(Some("b"), Some(now)), now), "another jti");
        assert!(
            !r.check(&token(Some("a"), Some(now)), now + hour + hour),
            "past its expiry the entry no longer matters"
        );
        let other_issuer = TokenRef {
            issuer: "https://other",
            ..token(Some("a"), Some(now))
        };
        assert!(!r.check(&other_issuer, now), "per issuer");

        r.revoke_subject("https://idp", "client", now)
            .await
            .unwrap();
        assert!(
            r.check(&token(None, Some(now - hour)), now),
            "issued before"
        );
        assert!(
            !r.check(&token(None, Some(now + hour)), now),
            "issued after"
        );
        assert!(r.check(&token(None, None), now), "no iat: revoked");
        r.revoke_subject("https://idp", "client", now - hour)
            .await
            .unwrap();
        assert!(
            r.check(&token(None, Some(now - Duration::from_secs(1))), now),
            "an earlier instant does not move it back"
        );
        assert_eq!(r.len(), (1, 1));
    }

    #[tokio::test]
    async fn expired_tokens_are_pruned() {
        let r = MemoryRevocations::new();
        let now = SystemTime::now();
        r.revoke_token("i", "old", now - Duration::from_secs(1))
            .await
            .unwrap();
        r.revoke_token("i", "new", now + Duration::from_mins(1))
            .await
            .unwrap();
        assert_eq!(r.len(), (1, 0));
    }
}
