//! The micro-batch lake sink (what Firehose does on AWS): consumes the stream with its own
//! checkpoint, buffers records by time and size, and writes the valid events as Parquet
//! partitioned by **event** date and hour. Invalid records go to the dead-letter store, never to
//! the lake.
//!
//! Exactly-once into the lake across crashes and retries: the buffer of a shard always spans
//! `(checkpoint, last]`. A flush first freezes each shard's buffer into a planned range: the
//! events of each hourly partition after dropping duplicates (within the range and against the
//! ids of earlier ranges), and the dead letters. It records its intent (`last`, under the consumer
//! name [`INTENT`]), writes one file per range and partition with the write id
//! `<shard>-<first>-<last>`, then commits the checkpoint. A flush that fails part-way keeps its
//! frozen plan: the next attempt writes the partitions not yet committed, with the same ids and
//! the same rows, and the sink reads nothing more until it has (so its memory stays bounded by
//! one flush). A sink that restarts finds shards whose intent is ahead of their checkpoint,
//! re-reads exactly those ranges and rewrites the same files under the same ids, which replaces
//! rather than adds.
//!
//! Duplicates (the same `event_id` sent twice, which lands on the same shard since the partition
//! key is the customer) are dropped within a range and against the ids of the shard's earlier
//! ranges, the newest [`RECENT_IDS`] of them over all shards, kept whole ranges at a time. The
//! window survives restarts: each flush records, under [`WINDOW`], where the oldest remembered
//! range of each shard starts, and a starting sink re-reads the stream from there to its
//! checkpoint to remember those ids again before it plans anything (including the rewrite of an
//! interrupted range). A duplicate can reach the lake twice only when its first copy is older
//! than the window or than the stream's retention; readers that need certainty group by
//! `event_id`.
//!
//! The sink re-reads the stream's shard list every [`SHARD_REFRESH_SECS`] seconds, so the
//! shards a resharding creates are read without a restart.

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
/// Where the sink records, per shard, the position after which its dedupe window starts.
pub const WINDOW: &str = "lake-sink.window";

/// Event ids remembered across ranges to drop duplicates that straddle a flush.
pub const RECENT_IDS: usize = 200_000;

/// How often the sink re-reads the stream's shard list, in seconds.
pub const SHARD_REFRESH_SECS: i64 = 60;

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
    /// The position the buffer's first record was read after.
    after: Option<SequenceNumber>,
    records: Vec<StreamRecord>,
}

/// The event ids of one range, remembered for deduplication.
struct RangeIds {
    shard: ShardId,
    after: Option<SequenceNumber>,
    ids: Vec<EventId>,
}

/// The dedupe window: the ids of the newest ranges, at most [`RECENT_IDS`] ids in all (the
/// newest range is kept whole however large).
#[derive(Default)]
struct Remembered {
    ids: HashSet<EventId>,
    ranges: VecDeque<RangeIds>,
}

impl Remembered {
    fn contains(&self, id: &EventId) -> bool {
        self.ids.contains(id)
    }

    fn add(&mut self, shard: &ShardId, after: Option<SequenceNumber>, ids: Vec<EventId>) {
        let ids: Vec<EventId> = ids.into_iter().filter(|id| self.ids.insert(*id)).collect();
        self.ranges.push_back(RangeIds {
            shard: shard.clone(),
            after,
            ids,
        });
        while self.ids.len() > RECENT_IDS && self.ranges.len() > 1 {
            if let Some(old) = self.ranges.pop_front() {
                for id in &old.ids {
                    self.ids.remove(id);
                }
            }
        }
    }

    /// Where the shard's oldest remembered range starts (`None`: the stream's start, or nothing
    /// remembered for the shard).
    fn window_of(&self, shard: &ShardId) -> Option<Option<SequenceNumber>> {
        self.ranges
            .iter()
            .find(|r| &r.shard == shard)
            .map(|r| r.after.clone())
    }
}

/// One shard's range frozen by a flush: what it writes, decided once, so that every retry writes
/// the same rows under the same ids.
struct PlannedRange {
    end: SequenceNumber,
    write_id: String,
    intent_recorded: bool,
    letters: Vec<DeadLetter>,
    /// The partitions not yet committed.
    partitions: BTreeMap<PartitionKey, Vec<ClickEvent>>,
    /// Counted once, when the range is committed.
    duplicates: u64,
    recovered: bool,
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
    recent: Remembered,
    /// Ranges frozen by a flush and not yet committed.
    pending: BTreeMap<ShardId, PlannedRange>,
    shards_listed_at: Option<DateTime<Utc>>,
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
            recent: Remembered::default(),
            pending: BTreeMap::new(),
            shards_listed_at: None,
            report: SinkReport::default(),
            started: false,
        }
    }

    /// Totals so far.
    #[must_use]
    pub const fn report(&self) -> SinkReport {
        self.report
    }

    /// Ensures the table exists, adopts the stream's shards (new ones too, every
    /// [`SHARD_REFRESH_SECS`]) and rewrites ranges a crash left between intent and checkpoint.
    async fn start(&mut self, now: DateTime<Utc>) -> Result<(), SinkError> {
        if !self.started {
            self.catalog.ensure_table(&self.table).await?;
            self.started = true;
        }
        let due = self.shards_listed_at.is_none_or(|at| {
            now.signed_duration_since(at) >= Duration::seconds(SHARD_REFRESH_SECS) || now < at
        });
        if due {
            for shard in self.source.shards().await? {
                if !self.positions.contains_key(&shard) {
                    self.adopt(shard, now).await?;
                }
            }
            self.shards_listed_at = Some(now);
        }
        self.finish_pending().await
    }

    /// Starts reading a shard after its checkpoint, first planning the rewrite of a range that a
    /// crash left between intent and checkpoint.
    async fn adopt(&mut self, shard: ShardId, now: DateTime<Utc>) -> Result<(), SinkError> {
        let done = self.checkpoints.load(CONSUMER, &shard).await?;
        let intent = self.checkpoints.load(INTENT, &shard).await?;
        if let Some(last) = &done {
            // Remember the ids the shard's recent ranges wrote, as before the restart.
            let window = self.checkpoints.load(WINDOW, &shard).await?;
            let written = self.read_range(&shard, window.clone(), last).await?;
            let ids = written
                .iter()
                .filter_map(|r| ClickEvent::parse(&r.data, r.arrived_at).ok())
                .map(|e| e.event_id)
                .collect();
            self.recent.add(&shard, window, ids);
        }
        if let Some(end) = intent.filter(|i| done.as_ref().is_none_or(|d| i > d)) {
            let records = self.read_range(&shard, done.clone(), &end).await?;
            tracing::info!(shard = %shard, records = records.len(), "Rewriting a flush interrupted by a restart.");
            if let Some(mut plan) = self.plan_range(&shard, done, &records, now) {
                plan.intent_recorded = true;
                plan.recovered = true;
                self.pending.insert(shard.clone(), plan);
            }
            self.positions.insert(shard, Some(end));
        } else {
            self.positions.insert(shard, done);
        }
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
        let mut stale_reads = 0_u32;
        loop {
            let batch = self
                .source
                .read(shard, pos.clone(), self.config.read_batch)
                .await?;
            if batch.is_empty() {
                return Ok(out);
            }
            let read = batch.len();
            // Only what follows the position (a source must not, but may, return less).
            let batch: Vec<StreamRecord> = batch
                .into_iter()
                .filter(|r| pos.as_ref().is_none_or(|p| r.sequence_number > *p))
                .collect();
            if batch.is_empty() && read > 0 {
                stale_reads = stale_reads.saturating_add(1);
                if stale_reads >= 3 {
                    return Err(SinkError::Stream(StreamError::Unexpected(anyhow::anyhow!(
                        "shard {shard} keeps returning records at or before {}",
                        pos.as_ref()
                            .map_or_else(|| "its start".to_owned(), ToString::to_string)
                    ))));
                }
                continue;
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
    /// A flush that failed is finished before anything more is read, so the buffer never holds
    /// more than about one flush ([`SinkConfig::max_bytes`] plus one read).
    ///
    /// # Errors
    /// [`SinkError`]; buffered records are kept and committed records stay committed.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<SinkReport, SinkError> {
        self.start(now).await?;
        let shards: Vec<ShardId> = self.positions.keys().cloned().collect();
        for shard in shards {
            loop {
                if self.bytes >= self.config.max_bytes {
                    self.flush(now).await?;
                }
                let pos = self.positions.get(&shard).cloned().flatten();
                let mut batch = self
                    .source
                    .read(&shard, pos.clone(), self.config.read_batch)
                    .await?;
                // Only what follows the position: a range is always (checkpoint, last], so its
                // write id is the one a restart derives from the stream.
                let read = batch.len();
                batch.retain(|r| pos.as_ref().is_none_or(|p| r.sequence_number > *p));
                if batch.is_empty() && read > 0 {
                    tracing::warn!(shard = %shard, records = read, "The stream returned only records at or before the position; reading again at the next poll.");
                    break;
                }
                let Some(last) = batch.last() else { break };
                self.positions
                    .insert(shard.clone(), Some(last.sequence_number.clone()));
                self.report.records_read = self
                    .report
                    .records_read
                    .saturating_add(u64::try_from(batch.len()).unwrap_or(u64::MAX));
                let buffer = self
                    .buffers
                    .entry(shard.clone())
                    .or_insert_with(|| ShardBuffer {
                        after: pos,
                        records: Vec::new(),
                    });
                for r in batch {
                    self.bytes = self.bytes.saturating_add(r.data.len());
                    self.oldest = Some(self.oldest.map_or(r.arrived_at, |o| o.min(r.arrived_at)));
                    buffer.records.push(r);
                }
            }
        }
        if self.bytes >= self.config.max_bytes
            || self
                .oldest
                .is_some_and(|o| now.signed_duration_since(o) >= self.config.max_age)
        {
            self.flush(now).await?;
        }
        Ok(self.report)
    }

    /// Writes everything buffered now.
    ///
    /// # Errors
    /// [`SinkError`]; on error the flush's plan is kept and the next poll or flush finishes it
    /// (same files, same rows), and a restart rewrites what was half done.
    pub async fn flush(&mut self, now: DateTime<Utc>) -> Result<SinkReport, SinkError> {
        self.start(now).await?;
        let buffers = std::mem::take(&mut self.buffers);
        if buffers.is_empty() {
            return Ok(self.report);
        }
        for (shard, buffer) in buffers {
            if let Some(plan) = self.plan_range(&shard, buffer.after, &buffer.records, now) {
                self.pending.insert(shard, plan);
            }
        }
        self.bytes = 0;
        self.oldest = None;
        self.finish_pending().await?;
        self.report.flushes = self.report.flushes.saturating_add(1);
        Ok(self.report)
    }

    /// Freezes one shard range: valid events by hourly partition without duplicates, the rest as
    /// dead letters. The range's ids count as seen from now on (a retry writes the same plan).
    fn plan_range(
        &mut self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        records: &[StreamRecord],
        now: DateTime<Utc>,
    ) -> Option<PlannedRange> {
        let (first, last) = (records.first()?, records.last()?);
        let write_id = format!(
            "{}-{}-{}",
            shard.0, first.sequence_number, last.sequence_number
        );
        let mut partitions: BTreeMap<PartitionKey, Vec<ClickEvent>> = BTreeMap::new();
        let mut letters = Vec::new();
        let mut in_range: HashSet<EventId> = HashSet::new();
        let mut duplicates = 0_u64;
        for r in records {
            match ClickEvent::parse(&r.data, r.arrived_at) {
                Ok(ev) => {
                    if !in_range.insert(ev.event_id) || self.recent.contains(&ev.event_id) {
                        duplicates = duplicates.saturating_add(1);
                        continue;
                    }
                    partitions
                        .entry(PartitionKey::hour_of(ev.occurred_utc()))
                        .or_default()
                        .push(ev);
                }
                Err(e) => letters.push(DeadLetter::new(
                    SOURCE,
                    e.code.as_str(),
                    &e.message,
                    &format!("{}/{}", r.shard_id, r.sequence_number),
                    &r.data,
                    now,
                )),
            }
        }
        self.recent
            .add(shard, after, in_range.into_iter().collect());
        Some(PlannedRange {
            end: last.sequence_number.clone(),
            write_id,
            intent_recorded: false,
            letters,
            partitions,
            duplicates,
            recovered: false,
        })
    }

    /// Writes the planned ranges: intent, dead letters, each partition not yet committed, then
    /// the checkpoint. Progress is kept in the plan, so a retry resumes where this stopped.
    async fn finish_pending(&mut self) -> Result<(), SinkError> {
        let shards: Vec<ShardId> = self.pending.keys().cloned().collect();
        for shard in shards {
            let Some(plan) = self.pending.get_mut(&shard) else {
                continue;
            };
            if !plan.intent_recorded {
                if let Some(Some(window)) = self.recent.window_of(&shard) {
                    self.checkpoints.commit(WINDOW, &shard, &window).await?;
                }
                self.checkpoints.commit(INTENT, &shard, &plan.end).await?;
                plan.intent_recorded = true;
            }
            if !plan.letters.is_empty() {
                self.dead_letters.put_many(&plan.letters).await?;
                let n = u64::try_from(plan.letters.len()).unwrap_or(u64::MAX);
                self.report.dead_lettered = self.report.dead_lettered.saturating_add(n);
                plan.letters.clear();
            }
            while let Some((key, events)) = plan.partitions.first_key_value() {
                let n = u64::try_from(events.len()).unwrap_or(u64::MAX);
                let mut w = self
                    .lake
                    .open(&self.table, key, WriteMode::Append, &plan.write_id)
                    .await?;
                w.write(TableRows::Clickstream(events.clone())).await?;
                let info = w.commit().await?;
                self.catalog.put_partition(&info).await?;
                plan.partitions.pop_first();
                self.report.events_written = self.report.events_written.saturating_add(n);
                self.report.files = self.report.files.saturating_add(1);
            }
            self.checkpoints.commit(CONSUMER, &shard, &plan.end).await?;
            self.report.duplicates = self.report.duplicates.saturating_add(plan.duplicates);
            if plan.recovered {
                self.report.recovered_ranges = self.report.recovered_ranges.saturating_add(1);
            }
            self.pending.remove(&shard);
        }
        Ok(())
    }
}
