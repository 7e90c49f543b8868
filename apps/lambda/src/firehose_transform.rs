//! The Firehose transformation function: the delivery stream hands it each buffered batch of
//! clickstream records before converting them to Parquet, and it applies the lake's rules (the
//! domain's [`lake_gate`](fashion_domain::services::lake_gate)). Valid events go back `Ok` as the
//! lake's row with their event-time `dt`/`hour` as dynamic-partitioning keys; invalid ones are
//! stored as dead letters with their reason and go back `Dropped`, as do duplicates within the
//! batch.
//!
//! The dead letters are written before the answer: if that fails the invocation fails, and
//! Firehose retries the whole batch (then, past its retry duration, writes it under the error
//! prefix), so no invalid record is dropped without its dead letter. A retried batch may land its
//! valid rows twice; the lake is deduplicated by `event_id` when read.

use aws_lambda_events::event::firehose::KinesisFirehoseResponse;
use chrono::{DateTime, Utc};
use fashion_aws::{AwsConfig, DynamoDbDeadLetterSink};
use fashion_domain::ports::{DeadLetterSink, StoreError};
use fashion_domain::services::lake_gate::{Verdict, judge};

pub use crate::events::{FirehoseBatch, firehose_payloads, firehose_response, gate_records};
use crate::settings::FirehoseTransformSettings;

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransformReport {
    /// Records returned `Ok`.
    pub landed: u64,
    /// Duplicates returned `Dropped`.
    pub duplicates: u64,
    /// Invalid records stored as dead letters and returned `Dropped`.
    pub dead_lettered: u64,
}

/// The function over any dead-letter sink (DynamoDB on AWS).
pub struct FirehoseTransformFunction<D = DynamoDbDeadLetterSink> {
    dead_letters: D,
}

impl FirehoseTransformFunction {
    /// The function over the stack's dead-letter table, built once per cold start.
    #[must_use]
    pub fn new(settings: &FirehoseTransformSettings, aws: &AwsConfig) -> Self {
        Self::with_sink(aws.dynamodb_dead_letter_sink(&settings.dead_letters_table))
    }
}

impl<D: DeadLetterSink> FirehoseTransformFunction<D> {
    /// The function over `dead_letters`.
    pub const fn with_sink(dead_letters: D) -> Self {
        Self { dead_letters }
    }

    /// Handles one batch.
    ///
    /// # Errors
    /// The dead-letter store's error: the invocation fails and Firehose retries the batch.
    pub async fn handle(
        &self,
        batch: &FirehoseBatch,
    ) -> Result<KinesisFirehoseResponse, StoreError> {
        Ok(self.handle_at(batch, Utc::now()).await?.0)
    }

    /// Handles one batch as of `now` (the dead letters' stamp), with its report.
    ///
    /// # Errors
    /// The dead-letter store's error.
    #[tracing::instrument(skip_all, fields(records = batch.records.len()), err)]
    pub async fn handle_at(
        &self,
        batch: &FirehoseBatch,
        now: DateTime<Utc>,
    ) -> Result<(KinesisFirehoseResponse, TransformReport), StoreError> {
        let payloads = firehose_payloads(batch, now);
        let verdicts = judge(&gate_records(batch, &payloads), now);
        let mut report = TransformReport::default();
        let mut letters = Vec::new();
        for v in &verdicts {
            match v {
                Verdict::Land { .. } => report.landed = report.landed.saturating_add(1),
                Verdict::Duplicate => report.duplicates = report.duplicates.saturating_add(1),
                Verdict::Invalid(letter) => letters.push(letter.clone()),
            }
        }
        if !letters.is_empty() {
            self.dead_letters.put_many(&letters).await?;
            report.dead_lettered = letters.len() as u64;
        }
        tracing::info!(
            landed = report.landed,
            duplicates = report.duplicates,
            dead_lettered = report.dead_lettered,
            "Transformed a batch."
        );
        Ok((firehose_response(batch, &verdicts), report))
    }
}
