//! Builds the configured stack's adapters. Today: the local stack, on disk under the data
//! directory (SQLite stores, the embedded stream, PostgreSQL when `database_url` is set).

use std::sync::Arc;

use anyhow::Context;
use fashion_domain::ports::{Clock, PurchaseSource, PurchaseStore};
use fashion_local::{SqlitePurchaseStore, SqliteStreamLog, StateDb};

use crate::settings::Settings;

/// A transactional database: written by the generator, read by the daily job.
pub trait PurchaseDb: PurchaseStore + PurchaseSource {}
impl<T: PurchaseStore + PurchaseSource> PurchaseDb for T {}

/// File names inside the data directory.
pub mod files {
    /// Key-value stores.
    pub const STATE_DB: &str = "state.db";
    /// The embedded stream.
    pub const STREAM_DB: &str = "stream.db";
    /// The transactional database (when not PostgreSQL).
    pub const STORE_DB: &str = "store.db";
    /// Generator output (styles.csv, ground truth).
    pub const GENERATED: &str = "generated";
    /// The generator's ground truth.
    pub const GROUND_TRUTH: &str = "generated/ground_truth.json";
}

/// Opens `state.db`.
pub async fn state(s: &Settings) -> anyhow::Result<StateDb> {
    StateDb::open(&s.path(files::STATE_DB))
        .await
        .context("failed to open the local state database")
}

/// Opens the embedded stream.
pub async fn stream(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<SqliteStreamLog> {
    SqliteStreamLog::open(&s.path(files::STREAM_DB), s.stream.shards, clock)
        .await
        .context("failed to open the embedded stream")
}

/// Opens the transactional database.
pub async fn purchases(s: &Settings) -> anyhow::Result<Arc<dyn PurchaseDb>> {
    if s.database_url.is_some() {
        anyhow::bail!(
            "PostgreSQL is not wired into this build yet: unset DATABASE_URL to use SQLite"
        );
    }
    let db = SqlitePurchaseStore::open(&s.path(files::STORE_DB))
        .await
        .context("failed to open the transactional database")?;
    Ok(Arc::new(db))
}
