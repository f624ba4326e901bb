use m2m_auth::api_key::{MemoryKeyStore, conformance};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run(MemoryKeyStore::new()).await;
}
