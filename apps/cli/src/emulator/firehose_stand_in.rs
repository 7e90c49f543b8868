//! Firehose played locally, for `fashion demo --stack emulator`: the emulator stores the
//! provisioned delivery stream but delivers nothing, so this stand-in does what that delivery
//! stream does, in order:
//!
//! 1. reads the Kinesis stream as a consumer of its own, [`CONSUMER`] (Firehose keeps its read
//!    positions itself; the stand-in commits its own to the stack's checkpoints table, after
//!    each delivery, so a record is delivered at least once across runs, as by Firehose);
//! 2. buffers records until the stack's buffering hints say deliver (`sink.buffer_size_mib` of
//!    record data, or `sink.buffer_interval_secs` since the first buffered record);
//! 3. invokes the transformation handler (`fashion-lambda`'s `FirehoseTransformFunction`, as
//!    Lambda would be invoked) with the batch as Firehose sends it: base64 data, the Kinesis
//!    arrival time of each record;
//! 4. converts the records it returns `Ok` to Parquet as Firehose's record format conversion
//!    does ([`fashion_parquet::hive`]: the Glue table's columns, INT96 timestamps, Snappy) and
//!    puts one object per partition, under the delivery stream's prefix with the `dt`/`hour`
//!    keys the function returned substituted, named as Firehose names its objects.
//!
//! Not played: retrying a failed invocation (the demo stops with the error), the error prefix
//! (a record the function fails, or one that does not convert, stops the demo: the function
//! only returns `Ok` rows of the table's own shape), and Firehose's two buffers (processor and
//! destination) are one here.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use fashion_domain::lake::{TableDef, tables};
use fashion_domain::ports::{CheckpointStore, ClickstreamSource};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use fashion_lambda::events::{FirehoseBatch, FirehoseKinesisMetadata, FirehoseRecord};
use fashion_lambda::firehose_transform::FirehoseTransformFunction;
use serde_json::{Map, Value};

use crate::demo_stack::LakeDelivery;

/// The stand-in's name in the checkpoints table.
pub const CONSUMER: &str = "firehose-stand-in";

/// Records read from a shard at a time.
const READ_LIMIT: usize = 1_000;
/// The version Firehose writes in object names (the delivery stream's first version).
const STREAM_VERSION: u32 = 1;

/// When the stand-in delivers: Firehose's buffering hints.
#[derive(Debug, Clone, Copy)]
pub struct BufferingHints {
    /// Bytes of record data.
    pub bytes: usize,
    /// Time since the first buffered record.
    pub interval: Duration,
}

/// Where delivered objects go.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The lake bucket.
    pub bucket: String,
    /// The delivery stream's prefix, with its `!{partitionKeyFromLambda:KEY}` expressions.
    pub prefix: String,
    /// The delivery stream's name, which starts each object's name.
    pub stream_name: String,
}

/// What the stand-in delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Delivered {
    /// Records read from the stream.
    pub records: u64,
    /// Invocations of the transformation function.
    pub batches: u64,
    /// Rows the function returned `Ok`, put in the lake.
    pub landed: u64,
    /// Duplicates within a batch, dropped.
    pub duplicates: u64,
    /// Invalid records the function stored as dead letters and dropped.
    pub dead_lettered: u64,
    /// Objects put in the lake.
    pub objects: u64,
}

/// The delivery stream, played by this process.
pub struct FirehoseStandIn {
    source: Arc<dyn ClickstreamSource>,
    checkpoints: Arc<dyn CheckpointStore>,
    function: FirehoseTransformFunction,
    s3: aws_sdk_s3::Client,
    to: Destination,
    hints: BufferingHints,
    table: TableDef,
    positions: BTreeMap<ShardId, SequenceNumber>,
    buffer: Vec<StreamRecord>,
    buffered_bytes: usize,
    first_buffered: Option<DateTime<Utc>>,
    delivered: Delivered,
}

impl FirehoseStandIn {
    /// A stand-in reading `source` from its committed positions in `checkpoints`.
    ///
    /// # Errors
    /// When the lake declares no clickstream table (a build error).
    pub fn new(
        source: Arc<dyn ClickstreamSource>,
        checkpoints: Arc<dyn CheckpointStore>,
        function: FirehoseTransformFunction,
        s3: aws_sdk_s3::Client,
        to: Destination,
        hints: BufferingHints,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            source,
            checkpoints,
            function,
            s3,
            to,
            hints,
            table: TableDef::named(tables::CLICKSTREAM).context("no clickstream table")?,
            positions: BTreeMap::new(),
            buffer: Vec::new(),
            buffered_bytes: 0,
            first_buffered: None,
            delivered: Delivered::default(),
        })
    }

    /// What it delivered so far.
    #[must_use]
    pub const fn delivered(&self) -> Delivered {
        self.delivered
    }

    /// True when the buffering hints say deliver at `now`.
    fn due(&self, now: DateTime<Utc>) -> bool {
        self.buffered_bytes >= self.hints.bytes
            || self
                .first_buffered
                .and_then(|t| t.checked_add_signed(self.hints.interval))
                .is_some_and(|deadline| now >= deadline)
    }

    /// Reads every shard to its end, delivering whenever the buffer fills.
    async fn take_in(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let shards = self
            .source
            .shards()
            .await
            .context("Firehose's stand-in failed to list the stream's shards")?;
        for shard in shards {
            if !self.positions.contains_key(&shard) {
                let committed =
                    self.checkpoints
                        .load(CONSUMER, &shard)
                        .await
                        .with_context(|| {
                            format!("failed to load the stand-in's position on {shard}")
                        })?;
                if let Some(position) = committed {
                    self.positions.insert(shard.clone(), position);
                }
            }
            loop {
                let after = self.positions.get(&shard).cloned();
                let records = self
                    .source
                    .read(&shard, after, READ_LIMIT)
                    .await
                    .with_context(|| format!("Firehose's stand-in failed to read {shard}"))?;
                if records.is_empty() {
                    break;
                }
                for r in records {
                    self.positions
                        .insert(shard.clone(), r.sequence_number.clone());
                    self.buffered_bytes = self.buffered_bytes.saturating_add(r.data.len());
                    self.first_buffered.get_or_insert(now);
                    self.buffer.push(r);
                    if self.buffered_bytes >= self.hints.bytes {
                        self.deliver(now).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The buffer as the transformation batch Firehose sends.
    fn batch(&self, now: DateTime<Utc>) -> FirehoseBatch {
        let millis = |t: DateTime<Utc>| Some(t.timestamp_millis() as f64);
        FirehoseBatch {
            records: self
                .buffer
                .iter()
                .map(|r| FirehoseRecord {
                    record_id: Some(format!("{}-{}", r.shard_id, r.sequence_number)),
                    approximate_arrival_timestamp: millis(now),
                    data: base64::engine::general_purpose::STANDARD.encode(&r.data),
                    kinesis_record_metadata: Some(FirehoseKinesisMetadata {
                        approximate_arrival_timestamp: millis(r.arrived_at),
                    }),
                })
                .collect(),
        }
    }

    /// Invokes the function on the buffer and puts what it returns in the lake.
    async fn deliver(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = self.batch(now);
        let (response, report) = self
            .function
            .handle_at(&batch, now)
            .await
            .context("the Firehose transformation function failed (Firehose would retry)")?;
        let mut partitions: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
        for r in &response.records {
            let id = r.record_id.as_deref().unwrap_or("?");
            match r.result.as_deref() {
                Some("Dropped") => continue,
                Some("Ok") => {}
                other => anyhow::bail!(
                    "the transformation returned {other:?} for record {id}: Firehose would \
                     write it under the error prefix"
                ),
            }
            let row: Map<String, Value> = serde_json::from_slice(&r.data.0)
                .with_context(|| format!("record {id} came back as no JSON object"))?;
            let prefix = substitute(&self.to.prefix, &r.metadata.partition_keys)
                .with_context(|| format!("record {id}"))?;
            partitions.entry(prefix).or_default().push(row);
        }
        let objects = partitions.len();
        for (prefix, rows) in partitions {
            let body = fashion_parquet::hive::write_json_rows(&self.table, &rows)
                .context("Firehose's record format conversion refused the batch")?;
            let key = format!(
                "{prefix}{}-{STREAM_VERSION}-{}-{}",
                self.to.stream_name,
                now.format("%Y-%m-%d-%H-%M-%S"),
                uuid::Uuid::new_v4()
            );
            self.s3
                .put_object()
                .bucket(&self.to.bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .with_context(|| format!("failed to put s3://{}/{key}", self.to.bucket))?;
        }
        tracing::debug!(
            records = self.buffer.len(),
            landed = report.landed,
            duplicates = report.duplicates,
            dead_lettered = report.dead_lettered,
            objects,
            "Firehose's stand-in delivered a batch."
        );
        let d = &mut self.delivered;
        d.records = d.records.saturating_add(self.buffer.len() as u64);
        d.batches = d.batches.saturating_add(1);
        d.landed = d.landed.saturating_add(report.landed);
        d.duplicates = d.duplicates.saturating_add(report.duplicates);
        d.dead_lettered = d.dead_lettered.saturating_add(report.dead_lettered);
        d.objects = d.objects.saturating_add(objects as u64);
        // Delivered: every buffered record is up to the in-memory positions.
        let mut delivered: BTreeMap<ShardId, SequenceNumber> = BTreeMap::new();
        for r in self.buffer.drain(..) {
            delivered.insert(r.shard_id, r.sequence_number);
        }
        for (shard, position) in &delivered {
            self.checkpoints
                .commit(CONSUMER, shard, position)
                .await
                .with_context(|| format!("failed to commit the stand-in's position on {shard}"))?;
        }
        self.buffered_bytes = 0;
        self.first_buffered = None;
        Ok(())
    }
}

/// `prefix` with each `!{partitionKeyFromLambda:KEY}` replaced by the record's `KEY`, as Firehose
/// does; a key the record lacks is an error (Firehose sends such a record to its error prefix).
fn substitute(
    prefix: &str,
    keys: &std::collections::HashMap<String, String>,
) -> anyhow::Result<String> {
    const OPEN: &str = "!{partitionKeyFromLambda:";
    let mut out = String::with_capacity(prefix.len());
    let mut rest = prefix;
    while let Some(start) = rest.find(OPEN) {
        let (before, expr) = rest.split_at(start);
        out.push_str(before);
        let expr = expr.get(OPEN.len()..).unwrap_or_default();
        let end = expr
            .find('}')
            .with_context(|| format!("an unclosed expression in the prefix {prefix}"))?;
        let (name, after) = expr.split_at(end);
        let value = keys
            .get(name)
            .with_context(|| format!("no partition key {name} returned for the prefix {prefix}"))?;
        out.push_str(value);
        rest = after.get(1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[async_trait(?Send)]
impl LakeDelivery for FirehoseStandIn {
    async fn poll(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.take_in(now).await?;
        if self.due(now) {
            self.deliver(now).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        self.take_in(now).await?;
        self.deliver(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_fill_the_delivery_prefix_as_firehose_does() {
        let cfg = provisioning::config::StackConfig::builtin(provisioning::config::StackName::Aws)
            .unwrap();
        let keys = [("dt", "2026-11-25"), ("hour", "09")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into_iter()
            .collect();
        assert_eq!(
            substitute(&cfg.clickstream_delivery_prefix(), &keys).unwrap(),
            format!("{}clickstream/dt=2026-11-25/hour=09/", cfg.lake.prefix)
        );
        let only_dt = [("dt".to_owned(), "2026-11-25".to_owned())]
            .into_iter()
            .collect();
        let err = substitute(&cfg.clickstream_delivery_prefix(), &only_dt).unwrap_err();
        assert!(err.to_string().contains("no partition key hour"), "{err}");
    }
}
