//! Helpers shared by the PostgreSQL test binaries: a fresh schema of the throwaway cluster per test.

use std::str::FromStr;

use fashion_local::PostgresPurchaseStore;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The variable `scripts/test` and `scripts/services` export.
pub const DATABASE_URL_VAR: &str = "FASHION_TEST_DATABASE_URL";

/// The test cluster's URL; panics with instructions when the variable is missing, so a test that
/// needs PostgreSQL fails instead of passing without it.
#[must_use]
pub fn database_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{DATABASE_URL_VAR} is not set: this test needs PostgreSQL. Run it through \
             `scripts/services cargo nextest run -p fashion-local` (or `scripts/test`), which starts \
             a throwaway cluster on loopback and exports the variable."
        )
    })
}

/// A store migrated into a new schema of its own, so tests never see each other's rows.
pub async fn fresh_store() -> PostgresPurchaseStore {
    let url = database_url();
    // Identifiers cannot be bound; this one is built from a UUID's hex digits only.
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}={url}: {e}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create the test schema");
    admin.close().await.expect("close the admin connection");
    let options = PgConnectOptions::from_str(&url)
        .expect("valid URL")
        .options([("search_path", schema.as_str())]);
    PostgresPurchaseStore::connect_with(options)
        .await
        .expect("connect and migrate the store")
}
