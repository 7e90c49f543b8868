//! Ports of the clickstream: publishing events, reading them back, and remembering how far each
//! consumer got.

use async_trait::async_trait;

use super::errors::StreamError;
use crate::stream::{OutboundRecord, SequenceNumber, ShardId, StreamRecord};

/// The outcome of a publish: which records, by index in the request, could not be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Records stored.
    pub accepted: usize,
    /// Records refused after retries, with the reason: `(index in the request, reason)`.
    pub failed: Vec<(usize, String)>,
}

/// Puts click events on the stream (Kinesis `PutRecords`, the embedded log, memory).
///
/// Records with the same partition key keep their relative order as long as no record is refused
/// and re-sent (a re-sent record lands after those that followed it; consumers order a customer's
/// events by event time, not by arrival). Delivery is at-least-once: a record may be stored twice
/// after a retry, which consumers make harmless with `event_id`.
///
/// # Errors
/// - Implementations MUST retry partial failures themselves, re-sending only the failed records,
///   and report records that still fail in [`PublishReport::failed`] rather than as an error.
/// - [`StreamError::Unavailable`] when nothing could be stored and retrying later may help.
/// - [`StreamError::Rejected`] when the request can never succeed (e.g. a record over the size
///   limit).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait ClickstreamPublisher: Send + Sync {
    /// Publishes a batch of records of any size (the adapter splits it as its service requires).
    async fn publish(&self, records: &[OutboundRecord]) -> Result<PublishReport, StreamError>;
}

/// Reads the stream shard by shard, in sequence order.
///
/// # Errors
/// - [`StreamError::NotFound`] MUST be returned for an unknown shard.
/// - [`StreamError::Unavailable`] when the read can be retried.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait ClickstreamSource: Send + Sync {
    /// The shards to read, in a stable order.
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError>;

    /// Up to `limit` records of `shard` strictly after `after` (from the oldest retained record
    /// when `None`), in sequence order. An empty result means the consumer is caught up.
    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError>;
}

/// Remembers, per consumer and shard, the last sequence number fully processed.
///
/// A consumer commits only after the records up to that number are durable downstream, so a
/// restart resumes without loss; replays after a crash are made harmless by idempotent consumers.
///
/// # Errors
/// - [`StreamError::Unavailable`] when the store cannot be reached; callers retry.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait CheckpointStore: Send + Sync {
    /// The last committed position, `None` if the consumer never committed on this shard.
    async fn load(
        &self,
        consumer: &str,
        shard: &ShardId,
    ) -> Result<Option<SequenceNumber>, StreamError>;

    /// Records `position` as processed. Committing a position at or before the stored one MUST
    /// leave the stored one unchanged (positions never move backwards).
    async fn commit(
        &self,
        consumer: &str,
        shard: &ShardId,
        position: &SequenceNumber,
    ) -> Result<(), StreamError>;
}
