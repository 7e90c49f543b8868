//! The store's resources as both providers and the apps name them: logical names (the last part
//! of a logical id), key prefixes of the lake bucket, and file names in the local data
//! directory.

/// Logical names (the last part of a logical id), used instead of string literals.
pub mod names {
    /// The lake bucket.
    pub const LAKE: &str = "lake";
    /// Where failures are set aside: the bucket receiving descriptions of discarded stream
    /// batches, and the DynamoDB table of records the stream processor refused.
    pub const DEAD_LETTERS: &str = "dead-letters";
    /// The clickstream.
    pub const CLICKSTREAM: &str = "clickstream";
    /// Latest recommendations per customer.
    pub const RECOMMENDATIONS: &str = "recommendations";
    /// Recent activity per customer (expires).
    pub const USER_ACTIVITY: &str = "user-activity";
    /// Stream consumer checkpoints.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// The product catalog the stream processor enriches with.
    pub const PRODUCTS: &str = "products";
    /// The Firehose delivery stream.
    pub const CLICKSTREAM_TO_LAKE: &str = "clickstream-to-lake";
    /// The stream processor (function, role, mapping).
    pub const STREAM_PROCESSOR: &str = "stream-processor";
    /// Firehose's data-transformation function (the lake's rules; function, role).
    pub const FIREHOSE_TRANSFORM: &str = "firehose-transform";
    /// The daily job (function, role, schedule).
    pub const DAILY_JOB: &str = "daily-job";
    /// The trainer (function, role, schedule).
    pub const TRAINER: &str = "trainer";
    /// The HTTP API (function, role, function URL).
    pub const API: &str = "api";
    /// Firehose's role.
    pub const FIREHOSE: &str = "firehose";
    /// The scheduler's role.
    pub const SCHEDULER: &str = "scheduler";
    /// The schedule group.
    pub const SCHEDULES: &str = "schedules";
    /// The Athena workgroup.
    pub const ANALYTICS: &str = "analytics";
    /// The RDS instance.
    pub const ORDERS_DB: &str = "orders";
    /// The local data directory.
    pub const DATA: &str = "data";
    /// Local model artifacts.
    pub const MODELS: &str = "models";
    /// Local generator output.
    pub const GENERATED: &str = "generated";
    /// Local key-value stores.
    pub const STATE_DB: &str = "state";
    /// The local embedded stream.
    pub const STREAM_DB: &str = "stream";
    /// The local transactional database.
    pub const STORE_DB: &str = "store";
}

/// Key prefixes of the lake bucket outside the tables.
pub mod prefixes {
    /// Model artifacts written by the trainer.
    pub const MODELS: &str = "models/";
    /// Athena query results.
    pub const ATHENA_RESULTS: &str = "athena-results/";
}

/// File names inside the local data directory (the CLI uses the same).
pub mod files {
    /// Key-value stores.
    pub const STATE_DB: &str = "state.db";
    /// The embedded stream.
    pub const STREAM_DB: &str = "stream.db";
    /// The transactional database.
    pub const STORE_DB: &str = "store.db";
}
