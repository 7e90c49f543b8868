//! Helpers shared by the PostgreSQL test binaries: a fresh schema of the throwaway cluster per test.

use fashion_postgres::PostgresPurchaseStore;

/// The variable `scripts/test` and `scripts/services` export.
pub const DATABASE_URL_VAR: &str = "FASHION_TEST_DATABASE_URL";

/// The test cluster's URL; panics with instructions when the variable is missing, so a test that
/// needs PostgreSQL fails instead of passing without it.
#[must_use]
pub fn database_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{DATABASE_URL_VAR} is not set: this test needs PostgreSQL. Run it through \
             `scripts/services cargo nextest run -p fashion-postgres` (or `scripts/test`), which starts \
             a throwaway cluster on loopback and exports the variable."
        )
    })
}

/// A store migrated into a new schema of its own, so tests never see each other's rows.
pub async fn fresh_store() -> PostgresPurchaseStore {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    PostgresPurchaseStore::connect_in_schema(&database_url(), &schema)
        .await
        .unwrap_or_else(|e| panic!("cannot open a store in {DATABASE_URL_VAR}: {e:#}"))
}
