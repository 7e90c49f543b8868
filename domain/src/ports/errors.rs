//! The errors ports return. Adapters translate their driver's errors into these at the boundary,
//! and every error says whether retrying can help.

/// Errors of the stream ports (publisher, source, checkpoints).
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Throttled, timed out or temporarily unavailable; retrying later can succeed.
    #[error("stream unavailable: {message}")]
    Unavailable {
        /// What the service said.
        message: String,
    },
    /// The stream or shard does not exist.
    #[error("stream resource not found: {what}")]
    NotFound {
        /// Which resource.
        what: String,
    },
    /// The request itself is wrong (too large, bad key); retrying the same request cannot succeed.
    #[error("request rejected: {message}")]
    Rejected {
        /// What was wrong.
        message: String,
    },
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl StreamError {
    /// True when the same call may succeed later.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Errors of the key-value style stores (recommendations, activity, catalog, models, dead letters,
/// checkpoints).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or temporarily unavailable; retrying later can succeed.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What the service said.
        message: String,
    },
    /// A conditional write lost a race: the stored version is not the one the caller read.
    #[error("version conflict on {key}: expected {expected}")]
    Conflict {
        /// The item.
        key: String,
        /// The version the caller expected.
        expected: u64,
    },
    /// The item, table or bucket does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was missing.
        what: String,
    },
    /// The stored data could not be decoded.
    #[error("corrupt data in {what}: {message}")]
    Corrupt {
        /// Where.
        what: String,
        /// Decoder message.
        message: String,
    },
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl StoreError {
    /// True when the same call may succeed later (a conflict succeeds after re-reading).
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Conflict { .. })
    }
}

/// Errors of the lake ports (writer, table catalog, query engine).
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// Throttled, timed out or temporarily unavailable; retrying later can succeed.
    #[error("lake unavailable: {message}")]
    Unavailable {
        /// What the service said.
        message: String,
    },
    /// The table, partition or object does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was missing.
        what: String,
    },
    /// Rows do not fit the table (wrong table, schema mismatch).
    #[error("schema mismatch: {message}")]
    Schema {
        /// What did not fit.
        message: String,
    },
    /// A query the engine refused (syntax, unknown column) or that failed.
    #[error("query failed: {message}")]
    Query {
        /// The engine's message.
        message: String,
    },
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl LakeError {
    /// True when the same call may succeed later.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Errors of the transactional (purchases) database ports.
#[derive(Debug, thiserror::Error)]
pub enum PurchaseStoreError {
    /// The database cannot be reached or timed out; retrying later can succeed.
    #[error("database unavailable: {message}")]
    Unavailable {
        /// The driver's message.
        message: String,
    },
    /// A row broke a constraint of the schema (duplicate key, bad reference).
    #[error("constraint violated: {message}")]
    Constraint {
        /// The driver's message.
        message: String,
    },
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl PurchaseStoreError {
    /// True when the same call may succeed later.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
