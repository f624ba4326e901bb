//! What the SQL stores share: the columns, and turning rows into records.

use std::error::Error as StdError;
use std::fmt;

use serde_json::{Map, Value};

use super::repository::{from_micros, to_micros};
use super::{ExpiryChange, KeyChange, KeyDigest, KeyRecord, StoreError, StoredKey};
use crate::identity::{Attributes, Scopes};

/// The columns every query reads, in [`Fields`] order.
macro_rules! columns {
    () => {
        "key_id, digest, owner, name, hint, scopes, metadata, created_at, updated_at, \
         expires_at, revoked_at, enabled, rolled_from"
    };
}
pub(crate) use columns;

/// One row, as read from either database.
pub(crate) struct Fields {
    pub(crate) key_id: String,
    pub(crate) digest: Vec<u8>,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) hint: String,
    pub(crate) scopes: String,
    pub(crate) metadata: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) enabled: bool,
    pub(crate) rolled_from: Option<String>,
}

/// A row that does not make a record: the table was written by something
/// other than this crate, or damaged.
#[derive(Debug)]
struct Corrupt(&'static str);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stored key record is corrupt: {}", self.0)
    }
}

impl StdError for Corrupt {}

impl Fields {
    pub(crate) fn into_stored(self) -> Result<StoredKey, StoreError> {
        let digest: [u8; 32] = self
            .digest
            .try_into()
            .map_err(|_| StoreError::new(Corrupt("digest is not 32 bytes")))?;
        let scopes = Scopes::from_space_separated(&self.scopes)
            .map_err(|_| StoreError::new(Corrupt("invalid scope")))?;
        let metadata: Map<String, Value> = serde_json::from_str(&self.metadata)
            .map_err(|_| StoreError::new(Corrupt("metadata is not a JSON object")))?;
        let record = KeyRecord::builder(self.key_id, self.owner)
            .name(self.name)
            .hint(self.hint)
            .scopes(scopes)
            .metadata(Attributes::new(metadata))
            .created_at(from_micros(self.created_at))
            .updated_at(from_micros(self.updated_at))
            .expires_at(self.expires_at.map(from_micros))
            .revoked_at(self.revoked_at.map(from_micros))
            .enabled(self.enabled)
            .rolled_from(self.rolled_from.map(Into::into))
            .build();
        Ok(StoredKey::new(KeyDigest::from_bytes(digest), record))
    }
}

/// A record's values as bound into an `INSERT`.
pub(crate) struct Insert {
    pub(crate) key_id: String,
    pub(crate) digest: Vec<u8>,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) hint: String,
    pub(crate) scopes: String,
    pub(crate) metadata: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) enabled: bool,
    pub(crate) rolled_from: Option<String>,
}

impl Insert {
    pub(crate) fn new(key: &StoredKey) -> Result<Self, StoreError> {
        let r = &key.record;
        Ok(Self {
            key_id: r.key_id().to_owned(),
            digest: key.digest.as_bytes().to_vec(),
            owner: r.owner().to_owned(),
            name: r.name().to_owned(),
            hint: r.hint().to_owned(),
            scopes: r.scopes().to_string(),
            metadata: json(r.metadata())?,
            created_at: to_micros(r.created_at()),
            updated_at: to_micros(r.updated_at()),
            expires_at: r.expires_at().map(to_micros),
            revoked_at: r.revoked_at().map(to_micros),
            enabled: r.is_enabled(),
            rolled_from: r.rolled_from().map(ToOwned::to_owned),
        })
    }
}

/// A [`KeyChange`] as bound into the `UPDATE` of either store: `None`
/// keeps a column, and the expiry is a mode (0 keep, 1 never, 2 set, 3 not
/// after) with an instant.
pub(crate) struct Update {
    pub(crate) name: Option<String>,
    pub(crate) scopes: Option<String>,
    pub(crate) metadata: Option<String>,
    pub(crate) expiry_mode: i32,
    pub(crate) expiry: Option<i64>,
    pub(crate) enabled: Option<bool>,
    pub(crate) revoked_at: Option<i64>,
}

impl Update {
    pub(crate) fn new(change: &KeyChange) -> Result<Self, StoreError> {
        let (expiry_mode, expiry) = match change.expires_at {
            None => (0, None),
            Some(ExpiryChange::Never) => (1, None),
            Some(ExpiryChange::At(at)) => (2, Some(to_micros(at))),
            Some(ExpiryChange::NotAfter(at)) => (3, Some(to_micros(at))),
        };
        Ok(Self {
            name: change.name.clone(),
            scopes: change.scopes.as_ref().map(ToString::to_string),
            metadata: change.metadata.as_ref().map(json).transpose()?,
            expiry_mode,
            expiry,
            enabled: change.enabled,
            revoked_at: change.revoked_at.map(to_micros),
        })
    }
}

fn json(metadata: &Attributes) -> Result<String, StoreError> {
    serde_json::to_string(&**metadata).map_err(StoreError::new)
}

/// A database error as a [`StoreError`]. Query errors hold no bound
/// values, so no digest or key text reaches the message.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::new(e)
}
