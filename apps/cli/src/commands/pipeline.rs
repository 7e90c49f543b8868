//! Steps shared by the commands and the demo: one pass of the stream processor over the stream,
//! and one pass of the lake sink.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use fashion_domain::services::consumer::{Handled, PassReport, StreamConsumer};
use fashion_domain::services::stream_processor::BatchReport;
use serde::Serialize;

use crate::stack::{LocalProcessor, LocalStack};

/// The processor's consumer name (its checkpoints).
pub const PROCESSOR: &str = "stream-processor";

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
    fn add(&mut self, r: &BatchReport) {
        self.records += r.received as u64;
        self.processed += r.processed as u64;
        self.duplicates += r.duplicates as u64;
        self.dead_lettered += r.dead_lettered as u64;
        self.failed += r.failed.len() as u64;
        self.recommendations_written += r.recommendations_written as u64;
    }
}

/// Runs the processor over everything the stream holds past its checkpoints, at time `now`.
/// Records after a failed one are left for the next pass, as Lambda's event-source mapping does.
///
/// # Errors
/// When the stream or checkpoints fail.
pub async fn process_pass(
    stack: &LocalStack,
    processor: &LocalProcessor,
    batch_size: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<(PassReport, ProcessorTotals)> {
    let consumer = StreamConsumer::new(
        stack.stream.clone(),
        stack.state.checkpoints(),
        PROCESSOR,
        batch_size,
    );
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
