//! The embedded stack: every port implemented on one machine's disk, with no server and no cloud
//! account. SQLite (WAL mode) holds the stream log, checkpoints and key-value stores; the
//! transactional database is SQLite (PostgreSQL, for a `postgres://` URL, is the
//! `fashion-postgres` crate); the lake is Parquet files under Hive-style directories (feature
//! `lake`), its history read back through the lake's row codec, and queried with DataFusion
//! (feature `sql`). Both are on by default.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod error;
#[cfg(feature = "lake")]
mod history;
#[cfg(feature = "lake")]
mod lake;
mod models;
mod purchases;
#[cfg(feature = "sql")]
mod query;
mod sqlite;
mod state;
mod stream;

#[cfg(feature = "lake")]
pub use history::LocalHistory;
#[cfg(feature = "lake")]
pub use lake::LocalLake;
pub use models::FileModelStore;
pub use purchases::SqlitePurchaseStore;
#[cfg(feature = "sql")]
pub use query::{DataFusionEngine, LakeRoot, to_result};
pub use sqlite::open_sqlite;
pub use state::{
    SqliteCheckpointStore, SqliteDeadLetterSink, SqliteProductCatalog, SqliteRecommendationStore,
    SqliteTableCatalog, SqliteUserActivityStore, StateDb,
};
pub use stream::SqliteStreamLog;
