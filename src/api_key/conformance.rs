//! A behavioural test suite for [`KeyRepository`] implementations (feature
//! `conformance`).
//!
//! Our memory, `SQLite` and `PostgreSQL` stores pass it in our tests; call it
//! from yours when you write a store of your own. Each check makes its own
//! owner with a random name, so it runs against a store that holds other
//! data (a shared test database), and panics with a message naming the
//! broken rule, as a test assertion does. The expiry checks sleep about
//! two seconds in all.
//!
//! ```no_run
//! # use m2m_auth::api_key::MemoryKeyStore as MyStore;
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     let store = MyStore::new(/* a test database */);
//!     m2m_auth::api_key::conformance::run(store).await;
//! }
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use serde_json::{Map, Value};

use super::{
    ApiKeyAuthenticator, KeyChange, KeyDigest, KeyErrorKind, KeyFormat, KeyManager, KeyRecord,
    KeyRepository, KeyStatus, NewKey, StoredKey,
};
use crate::identity::{Attributes, Scopes};
use crate::{AuthErrorKind, Authenticator};

const PREFIX: &str = "conformance";

/// Runs every check of the suite against `repo`.
///
/// # Panics
///
/// When `repo` breaks a rule; the message says which.
pub async fn run<R: KeyRepository>(repo: R) {
    let repo = Arc::new(repo);
    lookup(Arc::clone(&repo)).await;
    lifecycle(Arc::clone(&repo)).await;
    duplicates(Arc::clone(&repo)).await;
    paging(Arc::clone(&repo)).await;
    concurrent_updates(Arc::clone(&repo)).await;
    roll(Arc::clone(&repo)).await;
    roll_endless(Arc::clone(&repo)).await;
    expiry(repo).await;
}

fn manager<R: KeyRepository>(repo: Arc<R>) -> KeyManager<Arc<R>> {
    #[expect(clippy::unwrap_used, reason = "a valid constant prefix")]
    let format = KeyFormat::new(PREFIX).unwrap();
    KeyManager::new(format, repo)
}

fn owner(check: &str) -> String {
    #[expect(clippy::unwrap_used, reason = "a valid constant prefix")]
    let nonce = KeyFormat::new("ow").unwrap().generate();
    let nonce = nonce.expect("the OS random number generator works");
    format!("{check}-{}", &nonce.expose_secret()[3..15])
}

fn scopes(s: &[&str]) -> Scopes {
    Scopes::new(s).expect("valid scopes")
}

fn metadata(pairs: &[(&str, Value)]) -> Attributes {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    map.into()
}

/// Asserts that `record` carries what `expected` does, field by field.
fn assert_same(found: &KeyRecord, expected: &KeyRecord, what: &str) {
    assert_eq!(found.key_id(), expected.key_id(), "{what}: key_id");
    assert_eq!(found.owner(), expected.owner(), "{what}: owner");
    assert_eq!(found.name(), expected.name(), "{what}: name");
    assert_eq!(found.hint(), expected.hint(), "{what}: hint");
    assert_eq!(found.scopes(), expected.scopes(), "{what}: scopes");
    assert_eq!(found.metadata(), expected.metadata(), "{what}: metadata");
    assert_eq!(
        found.created_at(),
        expected.created_at(),
        "{what}: created_at"
    );
    assert_eq!(
        found.updated_at(),
        expected.updated_at(),
        "{what}: updated_at"
    );
    assert_eq!(
        found.expires_at(),
        expected.expires_at(),
        "{what}: expires_at"
    );
    assert_eq!(
        found.revoked_at(),
        expected.revoked_at(),
        "{what}: revoked_at"
    );
    assert_eq!(found.is_enabled(), expected.is_enabled(), "{what}: enabled");
    assert_eq!(
        found.rolled_from(),
        expected.rolled_from(),
        "{what}: rolled_from"
    );
}

async fn looked_up<R: KeyRepository>(repo: &R, digest: &KeyDigest) -> Option<Arc<KeyRecord>> {
    repo.lookup(digest)
        .await
        .expect("lookup of a digest does not fail")
}

/// A key is found by its digest with every field as stored; an unknown
/// digest is `None`; the authenticator accepts the key.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn lookup<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let created = keys
        .create(
            NewKey::new(owner("lookup"))
                .name("lookup key")
                .scopes(scopes(&["a:read", "b:write"]))
                .metadata(metadata(&[
                    ("tier", Value::from("gold")),
                    ("limits", serde_json::json!({"rps": 10, "burst": [1, 2]})),
                ]))
                .expires_at(Some(SystemTime::now() + Duration::from_hours(1))),
        )
        .await
        .expect("create");
    let digest = created.key.digest();
    let found = looked_up(&*repo, &digest)
        .await
        .expect("a created key is found by its digest");
    assert_same(&found, &created.record, "lookup");
    assert!(
        !found.hint().is_empty() && !created.key.expose_secret().contains(found.hint()),
        "the hint is stored, and is not the key"
    );
    let by_id = repo
        .get(created.record.key_id())
        .await
        .expect("get")
        .expect("a created key is found by its id");
    assert!(
        by_id.digest == digest,
        "get returns the digest it was stored under"
    );
    assert_same(&by_id.record, &created.record, "get");
    assert!(
        looked_up(&*repo, &KeyDigest::of("conformance_unknown"))
            .await
            .is_none(),
        "an unknown digest is None"
    );
    assert!(
        repo.get("key_unknown").await.expect("get").is_none(),
        "an unknown id is None"
    );

    let auth = ApiKeyAuthenticator::new(keys.format().clone(), Arc::clone(&repo));
    let request = http::Request::get("/")
        .header("api-key", created.key.expose_secret())
        .body(())
        .expect("a valid request");
    let identity = auth
        .authenticate(&request.into_parts().0)
        .await
        .expect("the key is accepted")
        .expect("the key is the authenticator's");
    assert_eq!(identity.subject(), created.record.owner());
    assert!(identity.has_scope("b:write"));
    assert_eq!(identity.attributes()["tier"], "gold");
}

/// Changes keep what they do not touch; disable and enable; revoke is
/// permanent and keeps a tombstone that lookups still return.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn lifecycle<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let created = keys
        .create(NewKey::new(owner("lifecycle")).name("before"))
        .await
        .expect("create");
    let id = created.record.key_id();
    let digest = created.key.digest();

    let renamed = keys
        .update(id, KeyChange::new().name("after"))
        .await
        .expect("rename");
    assert_eq!(renamed.name(), "after");
    let rescoped = keys
        .update(
            id,
            KeyChange::new()
                .scopes(scopes(&["x"]))
                .metadata(metadata(&[("n", Value::from(1))])),
        )
        .await
        .expect("rescope");
    assert_eq!(
        rescoped.name(),
        "after",
        "a change keeps the name it does not touch"
    );
    assert!(rescoped.scopes().contains("x"));
    assert!(rescoped.updated_at() >= rescoped.created_at());
    let expiring = SystemTime::now() + Duration::from_mins(10);
    let with_expiry = keys
        .update(id, KeyChange::new().expires_at(Some(expiring)))
        .await
        .expect("set expiry");
    assert!(with_expiry.expires_at().is_some());
    assert!(
        keys.update(id, KeyChange::new().expires_at(None))
            .await
            .expect("clear expiry")
            .expires_at()
            .is_none()
    );
    let stored = looked_up(&*repo, &digest).await.expect("stored");
    assert_eq!(stored.scopes(), &scopes(&["x"]), "lookup sees the change");
    assert_eq!(stored.metadata()["n"], 1);

    let disabled = keys.disable(id).await.expect("disable");
    assert_eq!(disabled.status(), KeyStatus::Disabled);
    let stored = looked_up(&*repo, &digest).await.expect("stored");
    assert_eq!(
        stored.status(),
        KeyStatus::Disabled,
        "lookup returns disabled keys"
    );
    assert_eq!(
        keys.enable(id).await.expect("enable").status(),
        KeyStatus::Active
    );

    let revoked = keys.revoke(id).await.expect("revoke");
    assert_eq!(revoked.status(), KeyStatus::Revoked);
    let tombstone = looked_up(&*repo, &digest)
        .await
        .expect("lookup returns revoked keys as tombstones");
    assert_eq!(tombstone.status(), KeyStatus::Revoked);
    let e = keys
        .update(id, KeyChange::new().name("again"))
        .await
        .expect_err("a revoked key cannot change");
    assert_eq!(e.kind(), KeyErrorKind::Revoked);
    let e = keys.enable(id).await.expect_err("a revoked key stays off");
    assert_eq!(e.kind(), KeyErrorKind::Revoked);
    let again = keys.revoke(id).await.expect("revoking twice is fine");
    assert_eq!(
        again.revoked_at(),
        revoked.revoked_at(),
        "the first revocation stands"
    );
    let after = repo.get(id).await.expect("get").expect("tombstone kept");
    assert_same(&after.record, &revoked, "tombstone");
    assert_eq!(
        keys.update("key_unknown", KeyChange::new().name("x"))
            .await
            .expect_err("no such key")
            .kind(),
        KeyErrorKind::NotFound
    );

    let e = keys
        .update(
            created.record.key_id(),
            KeyChange::new().metadata(metadata(&[("big", Value::from("x".repeat(5000)))])),
        )
        .await
        .expect_err("oversized metadata");
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
}

/// An insert whose key id or digest is taken fails and changes nothing.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn duplicates<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let created = keys
        .create(NewKey::new(owner("duplicates")).name("first"))
        .await
        .expect("create");
    let digest = created.key.digest();
    let other = KeyRecord::builder("key_conformance_dup", "someone-else")
        .name("second")
        .build();
    assert!(
        repo.insert(StoredKey::new(digest, other)).await.is_err(),
        "an insert with a taken digest fails"
    );
    let same_id = KeyRecord::builder(created.record.key_id(), "someone-else").build();
    assert!(
        repo.insert(StoredKey::new(KeyDigest::of("conformance_other"), same_id))
            .await
            .is_err(),
        "an insert with a taken key id fails"
    );
    let stored = looked_up(&*repo, &digest).await.expect("still stored");
    assert_same(&stored, &created.record, "after refused inserts");
    assert!(
        looked_up(&*repo, &KeyDigest::of("conformance_other"))
            .await
            .is_none(),
        "a refused insert stores nothing"
    );
}

/// Listing pages through an owner's keys in key-id order, revoked ones
/// included, without gaps, repeats or other owners' keys.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn paging<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let (mine, theirs) = (owner("paging"), owner("paging-other"));
    let mut ids = Vec::new();
    for i in 0..23 {
        let created = keys
            .create(NewKey::new(&mine).name(format!("key {i}")))
            .await
            .expect("create");
        ids.push(created.record.key_id().to_owned());
    }
    keys.create(NewKey::new(&theirs)).await.expect("create");
    keys.revoke(&ids[3]).await.expect("revoke");
    ids.sort();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = keys.list(&mine, after.as_deref(), 10).await.expect("list");
        pages += 1;
        assert!(page.keys.len() <= 10, "a page holds at most its limit");
        assert!(
            page.keys.iter().all(|k| k.owner() == mine),
            "a list holds only the owner's keys"
        );
        seen.extend(page.keys.iter().map(|k| k.key_id().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 3, "23 keys in pages of 10");
    assert_eq!(
        seen, ids,
        "every key once, in key-id order, revoked ones too"
    );
    assert!(
        keys.list(&owner("paging-nobody"), None, 10)
            .await
            .expect("list")
            .keys
            .is_empty(),
        "an owner without keys has an empty list"
    );
}

/// Concurrent changes to different fields of one key are all kept; a
/// revocation racing with changes wins.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn concurrent_updates<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let created = keys
        .create(NewKey::new(owner("concurrent")))
        .await
        .expect("create");
    let id = created.record.key_id();
    let results = join_all((0..16).map(|i| {
        let change = match i % 4 {
            0 => KeyChange::new().name(format!("name {i}")),
            1 => KeyChange::new().scopes(scopes(&["s"])),
            2 => KeyChange::new().metadata(metadata(&[("m", Value::from(i))])),
            _ => KeyChange::new().enabled(false),
        };
        keys.update(id, change)
    }))
    .await;
    for r in results {
        r.expect("concurrent updates succeed");
    }
    let after = keys.get(id).await.expect("get").expect("stored");
    assert!(
        after.name().starts_with("name "),
        "the name change was kept"
    );
    assert!(after.scopes().contains("s"), "the scope change was kept");
    assert!(
        after.metadata().contains_key("m"),
        "the metadata change was kept"
    );
    assert!(!after.is_enabled(), "the disable was kept");

    let racing = join_all((0..8).map(|i| {
        let keys = &keys;
        async move {
            if i == 4 {
                keys.revoke(id).await.map(|_| ())
            } else {
                keys.update(id, KeyChange::new().name(format!("race {i}")))
                    .await
                    .map(|_| ())
            }
        }
    }))
    .await;
    for r in racing {
        if let Err(e) = r {
            assert_eq!(
                e.kind(),
                KeyErrorKind::Revoked,
                "only a revoked key refuses"
            );
        }
    }
    let last = keys.get(id).await.expect("get").expect("stored");
    assert_eq!(last.status(), KeyStatus::Revoked, "the revocation won");
    let name = last.name().to_owned();
    assert!(
        keys.update(id, KeyChange::new().name("later"))
            .await
            .is_err()
            && keys.get(id).await.expect("get").expect("stored").name() == name,
        "nothing changes a revoked key"
    );
}

/// Rolling makes a key with the same settings; the old one works for the
/// grace period (not past its own expiry), or is revoked at once with a
/// zero grace; revoked and expired keys cannot be rolled; `roll_all`.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn roll<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let who = owner("roll");
    let expiry = SystemTime::now() + Duration::from_hours(2);
    let old = keys
        .create(
            NewKey::new(&who)
                .name("rolled")
                .scopes(scopes(&["r"]))
                .metadata(metadata(&[("k", Value::from("v"))]))
                .expires_at(Some(expiry)),
        )
        .await
        .expect("create");
    let new = keys
        .roll(old.record.key_id(), Duration::from_mins(1))
        .await
        .expect("roll");
    assert_ne!(new.key, old.key);
    assert_ne!(new.record.key_id(), old.record.key_id());
    assert_eq!(new.record.rolled_from(), Some(old.record.key_id()));
    assert_eq!(new.record.owner(), old.record.owner());
    assert_eq!(new.record.name(), old.record.name());
    assert_eq!(new.record.scopes(), old.record.scopes());
    assert_eq!(new.record.metadata(), old.record.metadata());
    assert_eq!(new.record.expires_at(), old.record.expires_at());
    let old_now = looked_up(&*repo, &old.key.digest())
        .await
        .expect("old kept");
    assert_eq!(
        old_now.status(),
        KeyStatus::Active,
        "the old key works during the grace"
    );
    let grace_end = old_now.expires_at().expect("the old key now expires");
    assert!(
        grace_end <= SystemTime::now() + Duration::from_secs(61) && grace_end < expiry,
        "the old key expires at the end of the grace"
    );
    assert_eq!(
        looked_up(&*repo, &new.key.digest())
            .await
            .expect("new stored")
            .status(),
        KeyStatus::Active
    );

    // A grace longer than the key's life does not lengthen it.
    let short = keys
        .create(NewKey::new(&who).expires_at(Some(SystemTime::now() + Duration::from_secs(30))))
        .await
        .expect("create");
    keys.roll(short.record.key_id(), Duration::from_hours(1))
        .await
        .expect("roll");
    let short_now = keys
        .get(short.record.key_id())
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        short_now.expires_at(),
        short.record.expires_at(),
        "min(expiry, now + grace)"
    );

    let now_gone = keys
        .roll(new.record.key_id(), Duration::ZERO)
        .await
        .expect("roll with no grace");
    assert_eq!(
        looked_up(&*repo, &new.key.digest())
            .await
            .expect("kept")
            .status(),
        KeyStatus::Revoked,
        "a zero grace revokes at once"
    );
    let e = keys
        .roll(new.record.key_id(), Duration::from_secs(1))
        .await
        .expect_err("a revoked key cannot be rolled");
    assert_eq!(e.kind(), KeyErrorKind::Revoked);

    let before = keys.list(&who, None, 100).await.expect("list").keys.len();
    let rolled = keys.roll_all(&who, Duration::ZERO).await.expect("roll_all");
    // Active then: `old` (in its grace), `short`'s successor, `short` (in its
    // grace), `now_gone`.
    assert_eq!(rolled.len(), 4, "roll_all rolls every usable key");
    let after = keys.list(&who, None, 100).await.expect("list").keys;
    assert_eq!(after.len(), before + 4);
    let active: Vec<_> = after
        .iter()
        .filter(|k| k.status() == KeyStatus::Active)
        .collect();
    assert_eq!(active.len(), 4, "only the new keys are active");
    assert!(active.iter().all(|k| k.rolled_from().is_some()));
    drop(now_gone);
}

/// A grace past the end of time (`Duration::MAX`): the old key keeps
/// working, until its own expiry if it has one, and nothing overflows.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn roll_endless<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let expiry = SystemTime::now() + Duration::from_hours(2);
    let who = owner("roll-endless");
    let dated = keys
        .create(NewKey::new(&who).expires_at(Some(expiry)))
        .await
        .expect("create");
    let undated = keys.create(NewKey::new(&who)).await.expect("create");
    for old in [&dated, &undated] {
        keys.roll(old.record.key_id(), Duration::MAX)
            .await
            .expect("roll with an endless grace");
        let old_now = looked_up(&*repo, &old.key.digest())
            .await
            .expect("old kept");
        assert_eq!(old_now.status(), KeyStatus::Active);
        assert_eq!(old_now.expires_at(), old.record.expires_at());
    }
}

/// Expiry and grace deadlines hold on every lookup, without any call to the
/// manager: a key past its expiry reads as expired, and a rolled key stops
/// working when its grace ends.
///
/// # Panics
///
/// When `repo` breaks a rule.
pub async fn expiry<R: KeyRepository>(repo: Arc<R>) {
    let keys = manager(Arc::clone(&repo));
    let who = owner("expiry");
    let soon = keys
        .create(NewKey::new(&who).expires_at(Some(SystemTime::now() + Duration::from_secs(1))))
        .await
        .expect("create");
    let rolled_away = keys.create(NewKey::new(&who)).await.expect("create");
    let successor = keys
        .roll(rolled_away.record.key_id(), Duration::from_secs(1))
        .await
        .expect("roll");
    let auth = ApiKeyAuthenticator::new(keys.format().clone(), Arc::clone(&repo));
    let check = |key: &super::ApiKey| {
        let request = http::Request::get("/")
            .header("api-key", key.expose_secret())
            .body(())
            .expect("a valid request");
        let parts = request.into_parts().0;
        let auth = &auth;
        async move { auth.authenticate(&parts).await }
    };
    assert!(check(&soon.key).await.is_ok(), "not yet expired");
    assert!(check(&rolled_away.key).await.is_ok(), "in its grace");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for (key, what) in [
        (&soon.key, "expired key"),
        (&rolled_away.key, "grace ended"),
    ] {
        let e = check(key).await.expect_err(what);
        assert_eq!(e.kind(), AuthErrorKind::Invalid, "{what}");
        assert_eq!(e.reason(), "expired", "{what}");
    }
    assert!(check(&successor.key).await.is_ok(), "the successor works");
    let e = keys
        .roll(soon.record.key_id(), Duration::from_secs(1))
        .await
        .expect_err("an expired key cannot be rolled");
    assert_eq!(e.kind(), KeyErrorKind::Expired);
    let e = keys
        .create(NewKey::new(&who).expires_at(Some(SystemTime::now() - Duration::from_secs(1))))
        .await
        .expect_err("an expiry in the past");
    assert_eq!(e.kind(), KeyErrorKind::InvalidInput);
}
