//! What the SQL stores share: the columns, and turning rows into records.

use std::error::Error as StdError;
use std::fmt;

use serde_json::{Map, Value};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

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

/// One row of `m2m_auth_api_keys`, as either database reads and writes it.
pub(crate) struct Fields {
    key_id: String,
    digest: Vec<u8>,
    owner: String,
    name: String,
    hint: String,
    scopes: String,
    metadata: String,
    created_at: i64,
    updated_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    enabled: bool,
    rolled_from: Option<String>,
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
    /// The row read by a query of [`columns!`] (or its `PostgreSQL`
    /// twin), in that order.
    pub(crate) fn from_row<R>(row: &R) -> Result<Self, StoreError>
    where
        R: Row,
        usize: ColumnIndex<R>,
        for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    {
        let read = || -> Result<Self, sqlx::Error> {
            Ok(Self {
                key_id: row.try_get(0)?,
                digest: row.try_get(1)?,
                owner: row.try_get(2)?,
                name: row.try_get(3)?,
                hint: row.try_get(4)?,
                scopes: row.try_get(5)?,
                metadata: row.try_get(6)?,
                created_at: row.try_get(7)?,
                updated_at: row.try_get(8)?,
                expires_at: row.try_get(9)?,
                revoked_at: row.try_get(10)?,
                enabled: row.try_get(11)?,
                rolled_from: row.try_get(12)?,
            })
        };
        read().map_err(db)
    }

    /// The row of `key`.
    pub(crate) fn of(key: &StoredKey) -> Result<Self, StoreError> {
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

    /// Binds the row's values to an `INSERT` of [`columns!`], in order.
    pub(crate) fn bind<DB>(
        self,
        query: Query<'_, DB, <DB as Database>::Arguments>,
    ) -> Query<'_, DB, <DB as Database>::Arguments>
    where
        DB: Database,
        for<'e> String: Encode<'e, DB> + Type<DB>,
        for<'e> Option<String>: Encode<'e, DB> + Type<DB>,
        for<'e> Vec<u8>: Encode<'e, DB> + Type<DB>,
        for<'e> i64: Encode<'e, DB> + Type<DB>,
        for<'e> Option<i64>: Encode<'e, DB> + Type<DB>,
        for<'e> bool: Encode<'e, DB> + Type<DB>,
    {
        query
            .bind(self.key_id)
            .bind(self.digest)
            .bind(self.owner)
            .bind(self.name)
            .bind(self.hint)
            .bind(self.scopes)
            .bind(self.metadata)
            .bind(self.created_at)
            .bind(self.updated_at)
            .bind(self.expires_at)
            .bind(self.revoked_at)
            .bind(self.enabled)
            .bind(self.rolled_from)
    }

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

/// The stored key in `row`, if there is a row.
pub(crate) fn stored<R>(row: Option<R>) -> Result<Option<StoredKey>, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    row.map(|r| Fields::from_row(&r)?.into_stored()).transpose()
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
