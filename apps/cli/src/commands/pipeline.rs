//! Steps shared by the commands and the demo: one pass of the stream processor over the stream,
//! and one pass of the lake sink.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use fashion_domain::ports::{
    CheckpointStore, ClickstreamSource, DeadLetterSink, ProductCatalog, RecommendationStore,
    UserActivityStore,
};
use fashion_domain::services::consumer::{Handled, PassReport, StreamConsumer};
use fashion_domain::services::stream_processor::{BatchReport, StreamProcessor};
use serde::Serialize;

use crate::stack::PROCESSOR;

/// Totals of the processor over one or more passes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessorTotals {
    /// Records read.
    pub records: u64,
    /// New events applied.
    pub processed: u64,
    /// Replays and retried sends skipped.
    pub duplicates: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Records left to retry.
    pub failed: u64,
    /// Recommendation lists written.
    pub recommendations_written: u64,
}

impl ProcessorTotals {
    /// Counts one batch (totals saturate rather than wrap).
    pub fn add(&mut self, r: &BatchReport) {
        self.records = self.records.saturating_add(r.received as u64);
        self.processed = self.processed.saturating_add(r.processed as u64);
        self.duplicates = self.duplicates.saturating_add(r.duplicates as u64);
        self.dead_lettered = self.dead_lettered.saturating_add(r.dead_lettered as u64);
        self.failed = self.failed.saturating_add(r.failed.len() as u64);
        self.recommendations_written = self
            .recommendations_written
            .saturating_add(r.recommendations_written as u64);
    }

    /// Adds the totals of other passes.
    pub fn merge(&mut self, t: &Self) {
        self.records = self.records.saturating_add(t.records);
        self.processed = self.processed.saturating_add(t.processed);
        self.duplicates = self.duplicates.saturating_add(t.duplicates);
        self.dead_lettered = self.dead_lettered.saturating_add(t.dead_lettered);
        self.failed = self.failed.saturating_add(t.failed);
        self.recommendations_written = self
            .recommendations_written
            .saturating_add(t.recommendations_written);
    }
}

/// Runs the processor over everything `source` holds past the processor's checkpoints, at time
/// `now`. Records after a failed one are left for the next pass, as Lambda's event-source mapping
/// does.
///
/// # Errors
/// When the stream or checkpoints fail.
pub async fn process_pass<S, K, A, R, C, D>(
    source: S,
    checkpoints: K,
    processor: &StreamProcessor<A, R, C, D>,
    batch_size: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<(PassReport, ProcessorTotals)>
where
    S: ClickstreamSource,
    K: CheckpointStore,
    A: UserActivityStore,
    R: RecommendationStore,
    C: ProductCatalog,
    D: DeadLetterSink,
{
    let consumer = StreamConsumer::new(source, checkpoints, PROCESSOR, batch_size);
    let totals = RefCell::new(ProcessorTotals::default());
    let pass = consumer
        .pass(|batch| {
            let totals = &totals;
            async move {
                let report = processor.process(&batch, now).await;
                totals.borrow_mut().add(&report);
                Handled {
                    done: report.failed.first().copied().unwrap_or(batch.len()),
                }
            }
        })
        .await?;
    Ok((pass, totals.into_inner()))
}
