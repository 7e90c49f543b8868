//! Dead letters: records that could not be used, kept with the reason so nothing is lost silently.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A record set aside, with why and where from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The component that refused it (`stream-processor`, `lake-sink`, ...).
    pub source: String,
    /// The rule it broke (a stable, low-cardinality code).
    pub code: String,
    /// Detail for a human.
    pub reason: String,
    /// Where it came from (shard and sequence number, file and line, ...).
    pub origin: String,
    /// The record's bytes, as received (lossy UTF-8 where the bytes were not text).
    pub payload: String,
    /// When it was set aside.
    pub at: DateTime<Utc>,
}

impl DeadLetter {
    /// A stable identity for idempotent storage: the same record refused twice for the same
    /// reason is one dead letter.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.source, self.origin, self.code)
    }
}
