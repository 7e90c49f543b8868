//! An in-memory sharded stream with sequence numbers, and checkpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fashion_domain::ports::{
    CheckpointStore, ClickstreamPublisher, ClickstreamSource, Clock, PublishReport, StreamError,
    SystemClock,
};
use fashion_domain::stream::{
    OutboundRecord, SequenceNumber, ShardId, StreamRecord, shard_for_key,
};

use crate::lock;

/// A stream of `n` shards held in memory; records get sequence numbers 1, 2, ... per shard.
pub struct InMemoryStream {
    shards: Vec<Mutex<Vec<StreamRecord>>>,
    clock: Arc<dyn Clock>,
}

impl InMemoryStream {
    /// A stream with `shards` shards (at least one) stamped by the system clock.
    #[must_use]
    pub fn new(shards: usize) -> Self {
        Self::with_clock(shards, Arc::new(SystemClock))
    }

    /// A stream whose arrival times come from `clock`.
    #[must_use]
    pub fn with_clock(shards: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            clock,
        }
    }

    /// Records held, over all shards.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// True when nothing was published.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_id(i: usize) -> ShardId {
        ShardId(format!("shardId-{i:012}"))
    }

    fn index_of(shard: &ShardId) -> Option<usize> {
        shard.0.strip_prefix("shardId-")?.parse().ok()
    }
}

#[async_trait]
impl ClickstreamPublisher for InMemoryStream {
    async fn publish(&self, records: &[OutboundRecord]) -> Result<PublishReport, StreamError> {
        let now = self.clock.now();
        for r in records {
            let i = shard_for_key(&r.partition_key, self.shards.len());
            let mut shard = lock(&self.shards[i]);
            let seq = (shard.len() as u64).saturating_add(1);
            shard.push(StreamRecord {
                shard_id: Self::shard_id(i),
                sequence_number: SequenceNumber::from_u64(seq),
                partition_key: r.partition_key.clone(),
                data: r.data.clone(),
                arrived_at: now,
            });
        }
        Ok(PublishReport {
            accepted: records.len(),
            failed: Vec::new(),
        })
    }
}

#[async_trait]
impl ClickstreamSource for InMemoryStream {
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError> {
        Ok((0..self.shards.len()).map(Self::shard_id).collect())
    }

    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError> {
        let i = Self::index_of(shard)
            .filter(|i| *i < self.shards.len())
            .ok_or_else(|| StreamError::NotFound {
                what: format!("shard {shard}"),
            })?;
        let records = lock(&self.shards[i]);
        // Sequence n sits at index n - 1.
        let start = after
            .and_then(|s| s.as_u64())
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(records.iter().skip(start).take(limit).cloned().collect())
    }
}

/// Checkpoints in a map.
#[derive(Default)]
pub struct InMemoryCheckpointStore {
    positions: Mutex<HashMap<(String, ShardId), SequenceNumber>>,
}

impl InMemoryCheckpointStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CheckpointStore for InMemoryCheckpointStore {
    async fn load(
        &self,
        consumer: &str,
        shard: &ShardId,
    ) -> Result<Option<SequenceNumber>, StreamError> {
        Ok(lock(&self.positions)
            .get(&(consumer.to_owned(), shard.clone()))
            .cloned())
    }

    async fn commit(
        &self,
        consumer: &str,
        shard: &ShardId,
        position: &SequenceNumber,
    ) -> Result<(), StreamError> {
        let mut map = lock(&self.positions);
        let slot = map
            .entry((consumer.to_owned(), shard.clone()))
            .or_insert_with(|| position.clone());
        if *slot < *position {
            *slot = position.clone();
        }
        Ok(())
    }
}
