//! The embedded stack: every port implemented on one machine's disk, with no server and no cloud
//! account. SQLite (WAL mode) holds the stream log, checkpoints and key-value stores; the
//! transactional database is SQLite by default or PostgreSQL when a `postgres://` URL is given;
//! the lake is Parquet files under Hive-style directories, queried with DataFusion.

mod error;
mod models;
mod postgres;
mod purchases;
mod sqlite;
mod state;
mod stream;

pub use models::FileModelStore;
pub use postgres::{CHANNEL_DEPTH, CopyFloor, EXTRACT_CHUNK, PostgresPurchaseStore};
pub use purchases::SqlitePurchaseStore;
pub use sqlite::open_sqlite;
pub use state::{
    SqliteCheckpointStore, SqliteDeadLetterSink, SqliteProductCatalog, SqliteRecommendationStore,
    SqliteUserActivityStore, StateDb,
};
pub use stream::SqliteStreamLog;
