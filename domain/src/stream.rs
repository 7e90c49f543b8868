//! Records as a stream (Kinesis or the embedded log) carries them.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A shard (partition) of the clickstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub String);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record's position in its shard: a decimal number of any length (Kinesis uses up to 128 bits),
/// compared numerically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SequenceNumber(pub String);

impl SequenceNumber {
    /// Builds a sequence number from an integer position.
    #[must_use]
    pub fn from_u64(n: u64) -> Self {
        Self(n.to_string())
    }

    /// The position as an integer, when it fits.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.trim_start_matches('0');
        let b = other.0.trim_start_matches('0');
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shard of `shards` a partition key belongs to: a stable FNV-1a hash, so one customer's
/// events always land on the same shard and keep their order (the embedded stream's rule; Kinesis
/// hashes with MD5 on its side).
#[must_use]
pub fn shard_for_key(key: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h.checked_rem(shards as u64).unwrap_or(0)).unwrap_or(0)
}

/// A record to put on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecord {
    /// Decides the shard; the customer id, so one customer's events stay in order.
    pub partition_key: String,
    /// The payload (a JSON click event).
    pub data: Vec<u8>,
}

/// A record read from the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// The shard it was read from.
    pub shard_id: ShardId,
    /// Its position in the shard.
    pub sequence_number: SequenceNumber,
    /// The partition key it was put with.
    pub partition_key: String,
    /// The payload.
    pub data: Vec<u8>,
    /// When the stream accepted it.
    pub arrived_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_always_lands_on_the_same_shard_and_keys_spread() {
        assert_eq!(
            shard_for_key("customer-42", 4),
            shard_for_key("customer-42", 4)
        );
        let spread: std::collections::HashSet<_> =
            (0..100).map(|i| shard_for_key(&i.to_string(), 4)).collect();
        assert_eq!(spread.len(), 4);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_not_text() {
        let s = |v: &str| SequenceNumber(v.to_owned());
        assert!(s("9") < s("10"));
        assert!(s("49590338271490256608559692538361571095921575989136588898") > s("9"));
        assert_eq!(s("007").cmp(&s("7")), Ordering::Equal);
    }
}
