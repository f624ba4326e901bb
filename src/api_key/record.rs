use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::identity::{Attributes, Credential, Identity, Scopes};

/// What a store knows about one API key. The key itself is not part of it.
///
/// Build one with [`KeyRecord::builder`]; change one with
/// [`to_builder`](Self::to_builder). The [`Identity`] of a caller holding
/// the key is built with the record, so a request authenticated from a
/// record held in memory costs no allocation for it.
#[derive(Clone, PartialEq)]
pub struct KeyRecord {
    identity: Identity,
    key_id: Arc<str>,
    name: String,
    hint: String,
    created_at: SystemTime,
    updated_at: SystemTime,
    revoked_at: Option<SystemTime>,
    enabled: bool,
    rolled_from: Option<Arc<str>>,
}

/// Whether a key may be used, at a given instant.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// The key works.
    Active,
    /// The key was revoked.
    Revoked,
    /// The key is disabled.
    Disabled,
    /// The key's expiry has passed.
    Expired,
}

impl KeyStatus {
    /// A stable lowercase label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }
}

impl KeyRecord {
    /// Starts the record of key `key_id` owned by `owner`: enabled, without
    /// expiry, scopes or metadata, created now.
    pub fn builder(key_id: impl Into<Arc<str>>, owner: impl Into<Arc<str>>) -> KeyRecordBuilder {
        let now = SystemTime::now();
        KeyRecordBuilder {
            key_id: key_id.into(),
            owner: owner.into(),
            name: String::new(),
            hint: String::new(),
            scopes: Scopes::default(),
            metadata: Attributes::default(),
            created_at: now,
            updated_at: now,
            expires_at: None,
            revoked_at: None,
            enabled: true,
            rolled_from: None,
        }
    }

    /// A builder holding this record's values, to make a changed copy.
    pub fn to_builder(&self) -> KeyRecordBuilder {
        KeyRecordBuilder {
            key_id: Arc::clone(&self.key_id),
            owner: Arc::from(self.identity.subject()),
            name: self.name.clone(),
            hint: self.hint.clone(),
            scopes: self.identity.scopes().clone(),
            metadata: self.identity.attributes().clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.identity.expires_at(),
            revoked_at: self.revoked_at,
            enabled: self.enabled,
            rolled_from: self.rolled_from.clone(),
        }
    }

    /// Public identifier of the key, safe to log and to show.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Who the key belongs to; the [`Identity`] subject.
    pub fn owner(&self) -> &str {
        self.identity.subject()
    }

    /// A human label chosen by the owner.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A reminder of the key, such as `acme_live_AbCd...WxYz`
    /// ([`ApiKey::hint`](super::ApiKey::hint)).
    pub fn hint(&self) -> &str {
        &self.hint
    }

    /// What the key may do.
    pub fn scopes(&self) -> &Scopes {
        self.identity.scopes()
    }

    /// Extra data, handed to handlers as the identity's attributes.
    pub fn metadata(&self) -> &Attributes {
        self.identity.attributes()
    }

    /// When the key was created.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When the record last changed.
    pub fn updated_at(&self) -> SystemTime {
        self.updated_at
    }

    /// When the key stops working, if ever. Checked on every request.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.identity.expires_at()
    }

    /// When the key was revoked, if it was. Revocation is permanent.
    pub fn revoked_at(&self) -> Option<SystemTime> {
        self.revoked_at
    }

    /// Whether the key is enabled; a disabled key is refused until it is
    /// enabled again.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The id of the key this one replaced, when it was made by rolling
    /// another.
    pub fn rolled_from(&self) -> Option<&str> {
        self.rolled_from.as_deref()
    }

    /// Whether the key may be used now. Reads the clock only when the key
    /// has an expiry.
    pub fn status(&self) -> KeyStatus {
        let now = if self.expires_at().is_some() {
            SystemTime::now()
        } else {
            SystemTime::UNIX_EPOCH
        };
        self.status_at(now)
    }

    /// Whether the key may be used at `now`. Revoked wins over disabled,
    /// which wins over expired.
    pub fn status_at(&self, now: SystemTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if !self.enabled {
            KeyStatus::Disabled
        } else if self.expires_at().is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The identity of a caller holding this key (whatever its status).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

#[expect(
    clippy::missing_fields_in_debug,
    reason = "the identity's fields are printed one by one"
)]
impl fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("owner", &self.owner())
            .field("name", &self.name)
            .field("hint", &self.hint)
            .field("scopes", self.scopes())
            .field("metadata", self.metadata())
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("expires_at", &self.expires_at())
            .field("revoked_at", &self.revoked_at)
            .field("enabled", &self.enabled)
            .field("rolled_from", &self.rolled_from)
            .finish()
    }
}

/// Builds a [`KeyRecord`]; see [`KeyRecord::builder`].
#[must_use]
#[derive(Clone, Debug)]
pub struct KeyRecordBuilder {
    key_id: Arc<str>,
    owner: Arc<str>,
    name: String,
    hint: String,
    scopes: Scopes,
    metadata: Attributes,
    created_at: SystemTime,
    updated_at: SystemTime,
    expires_at: Option<SystemTime>,
    revoked_at: Option<SystemTime>,
    enabled: bool,
    rolled_from: Option<Arc<str>>,
}

impl KeyRecordBuilder {
    /// A human label. Defaults to empty.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A reminder of the key. Defaults to empty.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// What the key may do. Defaults to nothing.
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Extra data for handlers. Defaults to none.
    pub fn metadata(mut self, metadata: Attributes) -> Self {
        self.metadata = metadata;
        self
    }

    /// Creation time. Defaults to when the builder was made.
    pub fn created_at(mut self, at: SystemTime) -> Self {
        self.created_at = at;
        self
    }

    /// Time of the last change. Defaults to when the builder was made.
    pub fn updated_at(mut self, at: SystemTime) -> Self {
        self.updated_at = at;
        self
    }

    /// Expiry. Defaults to never.
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }

    /// Revocation time. Defaults to not revoked.
    pub fn revoked_at(mut self, at: Option<SystemTime>) -> Self {
        self.revoked_at = at;
        self
    }

    /// Whether the key is enabled. Defaults to `true`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The id of the key this one replaced. Defaults to none.
    pub fn rolled_from(mut self, key_id: Option<Arc<str>>) -> Self {
        self.rolled_from = key_id;
        self
    }

    /// Finishes the record.
    pub fn build(self) -> KeyRecord {
        let credential = Credential::api_key(Arc::clone(&self.key_id), Arc::clone(&self.owner));
        let identity = Identity::builder(self.owner, credential)
            .scopes(self.scopes)
            .expires_at(self.expires_at)
            .attributes(self.metadata)
            .build();
        KeyRecord {
            identity,
            key_id: self.key_id,
            name: self.name,
            hint: self.hint,
            created_at: self.created_at,
            updated_at: self.updated_at,
            revoked_at: self.revoked_at,
            enabled: self.enabled,
            rolled_from: self.rolled_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn status_precedence() {
        let now = SystemTime::now();
        let b = KeyRecord::builder("k", "o");
        assert_eq!(b.clone().build().status_at(now), KeyStatus::Active);
        let b = b.expires_at(Some(now + Duration::from_secs(1)));
        assert_eq!(b.clone().build().status_at(now), KeyStatus::Active);
        let b = b.expires_at(Some(now));
        assert_eq!(b.clone().build().status_at(now), KeyStatus::Expired);
        let b = b.enabled(false);
        assert_eq!(b.clone().build().status_at(now), KeyStatus::Disabled);
        let b = b.revoked_at(Some(now));
        assert_eq!(b.build().status_at(now), KeyStatus::Revoked);
    }

    #[test]
    fn status_reads_the_clock_for_expiring_keys() {
        let past = SystemTime::now() - Duration::from_secs(1);
        let r = KeyRecord::builder("k", "o").expires_at(Some(past)).build();
        assert_eq!(r.status(), KeyStatus::Expired);
        assert_eq!(
            KeyRecord::builder("k", "o").build().status(),
            KeyStatus::Active
        );
    }

    #[test]
    fn identity_carries_the_record() {
        let r = KeyRecord::builder("key_1", "billing")
            .scopes(Scopes::new(["a"]).unwrap())
            .build();
        let id = r.identity();
        assert_eq!(id.subject(), "billing");
        assert_eq!(id.credential(), &Credential::api_key("key_1", "billing"));
        assert!(id.has_scope("a"));
    }

    #[test]
    fn to_builder_round_trips() {
        let now = SystemTime::now();
        let r = KeyRecord::builder("key_1", "billing")
            .name("ci")
            .hint("acme_live_abcd...wxyz")
            .scopes(Scopes::new(["a", "b"]).unwrap())
            .expires_at(Some(now))
            .revoked_at(Some(now))
            .enabled(false)
            .rolled_from(Some("key_0".into()))
            .build();
        assert_eq!(r.to_builder().build(), r);
        let changed = r.to_builder().scopes(Scopes::default()).build();
        assert!(changed.scopes().is_empty());
        assert!(changed.identity().scopes().is_empty());
        assert_eq!(changed.rolled_from(), Some("key_0"));
    }
}
