use std::sync::Arc;
use std::time::SystemTime;

use crate::identity::{Attributes, Credential, Identity, Scopes};

/// What a store knows about one API key. The key itself is not part of it.
///
/// Build one with [`KeyRecord::new`], then set the public fields.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    /// Public identifier of the key, safe to log and to show.
    pub key_id: Arc<str>,
    /// Who the key belongs to; the [`Identity`] subject.
    pub owner: Arc<str>,
    /// A human label chosen by the owner.
    pub name: String,
    /// A reminder of the key, such as `acme_live_AbCd...WxYz`
    /// ([`ApiKey::hint`](super::ApiKey::hint)).
    pub hint: String,
    /// What the key may do.
    pub scopes: Scopes,
    /// Extra data, handed to handlers as the identity's attributes.
    pub metadata: Attributes,
    /// When the key was created.
    pub created_at: SystemTime,
    /// When the record last changed.
    pub updated_at: SystemTime,
    /// When the key stops working, if ever. Checked on every request.
    pub expires_at: Option<SystemTime>,
    /// When the key was revoked, if it was. Revocation is permanent.
    pub revoked_at: Option<SystemTime>,
    /// A disabled key is refused until it is enabled again.
    pub enabled: bool,
    /// The key this one replaced, when it was made by rolling another.
    pub rolled_from: Option<Arc<str>>,
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
    /// A record for an enabled key without expiry, scopes or metadata,
    /// created now.
    pub fn new(key_id: impl Into<Arc<str>>, owner: impl Into<Arc<str>>) -> Self {
        let now = SystemTime::now();
        Self {
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

    /// Whether the key may be used at `now`. Revoked wins over disabled,
    /// which wins over expired.
    pub fn status_at(&self, now: SystemTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if !self.enabled {
            KeyStatus::Disabled
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The identity of a caller holding this key.
    pub fn identity(&self) -> Identity {
        Identity::builder(
            Arc::clone(&self.owner),
            Credential::api_key(Arc::clone(&self.key_id), Arc::clone(&self.owner)),
        )
        .scopes(self.scopes.clone())
        .expires_at(self.expires_at)
        .attributes(self.metadata.clone())
        .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn status_precedence() {
        let now = SystemTime::now();
        let mut r = KeyRecord::new("k", "o");
        assert_eq!(r.status_at(now), KeyStatus::Active);
        r.expires_at = Some(now + Duration::from_secs(1));
        assert_eq!(r.status_at(now), KeyStatus::Active);
        r.expires_at = Some(now);
        assert_eq!(r.status_at(now), KeyStatus::Expired);
        r.enabled = false;
        assert_eq!(r.status_at(now), KeyStatus::Disabled);
        r.revoked_at = Some(now);
        assert_eq!(r.status_at(now), KeyStatus::Revoked);
    }

    #[test]
    fn identity_carries_the_record() {
        let mut r = KeyRecord::new("key_1", "billing");
        r.scopes = Scopes::new(["a"]).unwrap();
        let id = r.identity();
        assert_eq!(id.subject(), "billing");
        assert_eq!(id.credential(), &Credential::api_key("key_1", "billing"));
        assert!(id.has_scope("a"));
    }
}
