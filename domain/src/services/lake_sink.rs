//! The micro-batch lake sink (what Firehose does on AWS): consumes the stream with its own
//! checkpoint, buffers records by time and size, and writes the valid events as Parquet
//! partitioned by **event** date and hour. Invalid records go to the dead-letter store, never to
//! the lake.
//!
//! Exactly-once into the lake across crashes: the buffer of a shard always spans
//! `(checkpoint, last]`. A flush first records its intent (`last`, under the consumer name
//! [`INTENT`]), then writes one file per shard range and partition with the write id
//! `<shard>-<first>-<last>`, then commits the checkpoint. A sink that restarts finds shards whose
//! intent is ahead of their checkpoint, re-reads exactly those ranges and rewrites the same files
//! under the same ids, which replaces rather than adds.
//!
//! Duplicates (the same `event_id` sent twice) are dropped within a range and, while the sink
//! runs, across ranges. A duplicate pair split across two ranges by a flush boundary, whose second
//! range is then interrupted by a crash and rewritten after a restart, is the one case that can
//! reach the lake twice; readers that need certainty group by `event_id`.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::dead_letter::DeadLetter;
use crate::event::ClickEvent;
use crate::ids::EventId;
use crate::lake::{PartitionKey, TableDef, TableRows, tables};
use crate::ports::{
    CheckpointStore, ClickstreamSource, DeadLetterSink, LakeError, LakeWriter, StoreError,
    StreamError, TableCatalog, WriteMode,
};
use crate::stream::{SequenceNumber, ShardId, StreamRecord};

/// The sink's consumer name (its checkpoints).
pub const CONSUMER: &str = "lake-sink";
/// Where the sink records the end of a flush before writing it.
pub const INTENT: &str = "lake-sink.intent";
/// The name dead letters of the sink carry.
pub const SOURCE: &str = "lake-sink";

/// Event ids remembered across flushes to drop duplicates that straddle a flush.
const RECENT_IDS: usize = 200_000;

/// Buffering settings (Firehose's buffering hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkConfig {
    /// Flush when the oldest buffered record is this old.
    pub max_age: Duration,
    /// Flush when the buffer holds this many bytes.
    pub max_bytes: usize,
    /// Records per read.
    pub read_batch: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::seconds(300),
            max_bytes: 64 * 1024 * 1024,
            read_batch: 1_000,
        }
    }
}

/// Why the sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Reading the stream or checkpoints failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// Writing the lake or catalog failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Storing dead letters failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SinkError {
    /// True when trying again later may succeed.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::Stream(e) => e.is_retryable(),
            Self::Lake(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
        }
    }
}

/// Totals since the sink started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SinkReport {
    /// Records read from the stream.
    pub records_read: u64,
    /// Flushes written.
    pub flushes: u64,
    /// Events written to the lake.
    pub events_written: u64,
    /// Duplicate events dropped.
    pub duplicates: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Parquet files committed.
    pub files: u64,
    /// Shard ranges rewritten after a restart.
    pub recovered_ranges: u64,
}

#[derive(Default)]
struct ShardBuffer {
    records: Vec<StreamRecord>,
}

/// The sink over its ports.
pub struct LakeSink<S, K, W, T, D> {
    source: S,
    checkpoints: K,
    lake: W,
    catalog: T,
    dead_letters: D,
    config: SinkConfig,
    table: TableDef,
    buffers: BTreeMap<ShardId, ShardBuffer>,
    positions: BTreeMap<ShardId, Option<SequenceNumber>>,
    bytes: usize,
    oldest: Option<DateTime<Utc>>,
    recent: (HashSet<EventId>, VecDeque<EventId>),
    report: SinkReport,
    started: bool,
}

impl<S, K, W, T, D> LakeSink<S, K, W, T, D>
where
    S: ClickstreamSource,
    K: CheckpointStore,
    W: LakeWriter,
    T: TableCatalog,
    D: DeadLetterSink,
{
    /// A sink over the given ports.
    ///
    /// # Panics
    /// Never: the clickstream table is always defined.
    pub fn new(
        source: S,
        checkpoints: K,
        lake: W,
        catalog: T,
        dead_letters: D,
        config: SinkConfig,
    ) -> Self {
        #[allow(clippy::expect_used)] // a static table definition
        let table = TableDef::named(tables::CLICKSTREAM).expect("the clickstream table is defined");
        Self {
            source,
            checkpoints,
            lake,
            catalog,
            dead_letters,
            config,
            table,
            buffers: BTreeMap::new(),
            positions: BTreeMap::new(),
            bytes: 0,
            oldest: None,
            recent: (HashSet::new(), VecDeque::new()),
            report: SinkReport::default(),
            started: false,
        }
    }

    /// Totals so far.
    #[must_use]
    pub const fn report(&self) -> SinkReport {
        self.report
    }

    /// Ensures the table exists and rewrites ranges a crash left between intent and checkpoint.
    async fn start(&mut self, now: DateTime<Utc>) -> Result<(), SinkError> {
        if self.started {
            return Ok(());
        }
        self.catalog.ensure_table(&self.table).await?;
        for shard in self.source.shards().await? {
            let done = self.checkpoints.load(CONSUMER, &shard).await?;
            let intent = self.checkpoints.load(INTENT, &shard).await?;
            if let Some(end) = intent.filter(|i| done.as_ref().is_none_or(|d| i > d)) {
                let records = self.read_range(&shard, done.clone(), &end).await?;
                tracing::info!(shard = %shard, records = records.len(), "Rewriting a flush interrupted by a restart.");
                self.write_range(&shard, &records, now).await?;
                self.checkpoints.commit(CONSUMER, &shard, &end).await?;
                self.report.recovered_ranges += 1;
                self.positions.insert(shard, Some(end));
            } else {
                self.positions.insert(shard, done);
            }
        }
        self.started = true;
        Ok(())
    }

    async fn read_range(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        end: &SequenceNumber,
    ) -> Result<Vec<StreamRecord>, SinkError> {
        let mut out = Vec::new();
        let mut pos = after;
        loop {
            let batch = self
                .source
                .read(shard, pos.clone(), self.config.read_batch)
                .await?;
            if batch.is_empty() {
                return Ok(out);
            }
            for r in batch {
                if r.sequence_number > *end {
                    return Ok(out);
                }
                pos = Some(r.sequence_number.clone());
                let last = r.sequence_number == *end;
                out.push(r);
                if last {
                    return Ok(out);
                }
            }
        }
    }

    /// Reads everything available, buffering it, and flushes when the buffer is full or old.
    ///
    /// # Errors
    /// [`SinkError`]; buffered records are kept and committed records stay committed.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<SinkReport, SinkError> {
        self.start(now).await?;
        let shards: Vec<ShardId> = self.positions.keys().cloned().collect();
        for shard in shards {
            loop {
                let pos = self.positions.get(&shard).cloned().flatten();
                let batch = self
                    .source
                    .read(&shard, pos, self.config.read_batch)
                    .await?;
                let Some(last) = batch.last() else { break };
                self.positions
                    .insert(shard.clone(), Some(last.sequence_number.clone()));
                self.report.records_read += batch.len() as u64;
                for r in batch {
                    self.bytes += r.data.len();
                    self.oldest = Some(self.oldest.map_or(r.arrived_at, |o| o.min(r.arrived_at)));
                    self.buffers
                        .entry(shard.clone())
                        .or_default()
                        .records
                        .push(r);
                }
                if self.bytes >= self.config.max_bytes {
                    self.flush(now).await?;
                }
            }
        }
        if self.oldest.is_some_and(|o| now - o >= self.config.max_age) {
            self.flush(now).await?;
        }
        Ok(self.report)
    }

    /// Writes everything buffered now.
    ///
    /// # Errors
    /// [`SinkError`]; on error the buffer is kept, and a restart rewrites what was half done.
    pub async fn flush(&mut self, now: DateTime<Utc>) -> Result<SinkReport, SinkError> {
        self.start(now).await?;
        let ranges: Vec<(ShardId, SequenceNumber)> = self
            .buffers
            .iter()
            .filter_map(|(s, b)| {
                b.records
                    .last()
                    .map(|r| (s.clone(), r.sequence_number.clone()))
            })
            .collect();
        if ranges.is_empty() {
            return Ok(self.report);
        }
        for (shard, end) in &ranges {
            self.checkpoints.commit(INTENT, shard, end).await?;
        }
        for (shard, end) in &ranges {
            let records = self
                .buffers
                .get(shard)
                .map(|b| b.records.clone())
                .unwrap_or_default();
            self.write_range(shard, &records, now).await?;
            self.checkpoints.commit(CONSUMER, shard, end).await?;
            self.buffers.remove(shard);
        }
        self.report.flushes += 1;
        self.bytes = 0;
        self.oldest = None;
        Ok(self.report)
    }

    /// Writes one shard range: valid events to their hourly partitions, the rest to dead letters.
    async fn write_range(
        &mut self,
        shard: &ShardId,
        records: &[StreamRecord],
        now: DateTime<Utc>,
    ) -> Result<(), SinkError> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let write_id = format!(
            "{}-{}-{}",
            shard.0, first.sequence_number, last.sequence_number
        );
        let mut partitions: BTreeMap<PartitionKey, Vec<ClickEvent>> = BTreeMap::new();
        let mut letters = Vec::new();
        let mut in_range: HashSet<EventId> = HashSet::new();
        for r in records {
            match ClickEvent::parse(&r.data, r.arrived_at) {
                Ok(ev) => {
                    if !in_range.insert(ev.event_id) || self.recent.0.contains(&ev.event_id) {
                        self.report.duplicates += 1;
                        continue;
                    }
                    partitions
                        .entry(PartitionKey::hour_of(ev.occurred_utc()))
                        .or_default()
                        .push(ev);
                }
                Err(e) => letters.push(DeadLetter {
                    source: SOURCE.to_owned(),
                    code: e.code.as_str().to_owned(),
                    reason: e.message,
                    origin: format!("{}/{}", r.shard_id, r.sequence_number),
                    payload: String::from_utf8_lossy(&r.data).into_owned(),
                    at: now,
                }),
            }
        }
        if !letters.is_empty() {
            self.dead_letters.put_many(&letters).await?;
            self.report.dead_lettered += letters.len() as u64;
        }
        for (key, events) in partitions {
            let n = events.len() as u64;
            let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
            let mut w = self
                .lake
                .open(&self.table, &key, WriteMode::Append, &write_id)
                .await?;
            w.write(TableRows::Clickstream(events)).await?;
            let info = w.commit().await?;
            self.catalog.put_partition(&info).await?;
            // Only what is durable counts as seen: a retried flush must write the rest again.
            for id in ids {
                self.remember(id);
            }
            self.report.events_written += n;
            self.report.files += 1;
        }
        Ok(())
    }

    fn remember(&mut self, id: EventId) {
        let (set, order) = &mut self.recent;
        if set.insert(id) {
            order.push_back(id);
            while order.len() > RECENT_IDS {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }
}
