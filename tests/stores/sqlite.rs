use m2m_auth::api_key::{KeyFormat, KeyManager, KeyStore, NewKey, SqliteKeyStore, conformance};

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteKeyStore::open(dir.path().join("keys.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    conformance::run(store).await;
}

#[tokio::test]
async fn in_memory_sqlite_conforms() {
    let store = SqliteKeyStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    conformance::run(store).await;
}

#[tokio::test]
async fn keys_survive_reopening_and_no_plaintext_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let format = KeyFormat::new("acme_live").unwrap();
    let created = {
        let store = SqliteKeyStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        let keys = KeyManager::new(format.clone(), store.clone());
        let created = keys.create(NewKey::new("billing")).await.unwrap();
        store.pool().close().await;
        created
    };
    let store = SqliteKeyStore::open(&path).await.unwrap();
    store.migrate().await.unwrap();
    let found = store.lookup(&created.key.digest()).await.unwrap().unwrap();
    assert_eq!(found.key_id(), created.record.key_id());
    store.pool().close().await;

    // Neither the key nor its body appears anywhere in the database files.
    let secret = created.key.expose_secret().as_bytes();
    let body = &secret["acme_live_".len()..];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(body.len()).any(|w| w == body),
            "the key is stored in plain text"
        );
    }
}
