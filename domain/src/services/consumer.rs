//! Reading the stream shard by shard from a consumer's checkpoint, handing batches to a handler,
//! and committing only what the handler finished: the local equivalent of a Kinesis event-source
//! mapping (at-least-once; a failed record and everything after it are read again next time).

use std::future::Future;

use serde::Serialize;

use crate::ports::{CheckpointStore, ClickstreamSource, StreamError};
use crate::stream::StreamRecord;

/// What a handler did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    /// Leading records of the batch that are done (durable downstream); the checkpoint moves to
    /// the last of them. Fewer than the batch means the rest is retried later.
    pub done: usize,
}

/// Totals of one pass over the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Batches handed to the handler.
    pub batches: u64,
    /// Records read.
    pub records_read: u64,
    /// Records committed.
    pub records_committed: u64,
    /// Shards left with records to retry.
    pub shards_retrying: u64,
}

/// A named consumer of a stream.
pub struct StreamConsumer<S, K> {
    source: S,
    checkpoints: K,
    name: String,
    batch_size: usize,
}

impl<S: ClickstreamSource, K: CheckpointStore> StreamConsumer<S, K> {
    /// A consumer called `name` reading up to `batch_size` records at a time.
    pub fn new(source: S, checkpoints: K, name: impl Into<String>, batch_size: usize) -> Self {
        Self {
            source,
            checkpoints,
            name: name.into(),
            batch_size: batch_size.max(1),
        }
    }

    /// Reads every shard from its checkpoint until caught up (or until a batch is not fully
    /// done), calling `handle` per batch and committing what it finished.
    ///
    /// # Errors
    /// The stream's or checkpoint store's error; what was committed stays committed.
    pub async fn pass<F, Fut>(&self, mut handle: F) -> Result<PassReport, StreamError>
    where
        F: FnMut(Vec<StreamRecord>) -> Fut,
        Fut: Future<Output = Handled>,
    {
        let mut report = PassReport::default();
        for shard in self.source.shards().await? {
            let mut position = self.checkpoints.load(&self.name, &shard).await?;
            loop {
                let batch = self
                    .source
                    .read(&shard, position.clone(), self.batch_size)
                    .await?;
                if batch.is_empty() {
                    break;
                }
                let n = batch.len();
                report.batches = report.batches.saturating_add(1);
                report.records_read = report.records_read.saturating_add(n as u64);
                let last_seq: Vec<_> = batch.iter().map(|r| r.sequence_number.clone()).collect();
                let handled = handle(batch).await;
                let done = handled.done.min(n);
                if let Some(seq) = done.checked_sub(1).and_then(|last| last_seq.get(last)) {
                    self.checkpoints.commit(&self.name, &shard, seq).await?;
                    position = Some(seq.clone());
                    report.records_committed = report.records_committed.saturating_add(done as u64);
                }
                if done < n {
                    report.shards_retrying = report.shards_retrying.saturating_add(1);
                    break;
                }
            }
        }
        Ok(report)
    }
}
