//! The stream-processor function: a Kinesis event in, the domain's [`StreamProcessor`] over the
//! DynamoDB stores, and a partial batch response out, naming exactly the records to retry.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::Utc;
use fashion_aws::{
    AwsConfig, DynamoDbDeadLetterSink, DynamoDbProductCatalog, DynamoDbRecommendationStore,
    DynamoDbUserActivityStore, S3ModelStore,
};
use fashion_domain::ports::StoreError;
use fashion_domain::services::stream_processor::{
    BatchReport, ModelHandle, ProcessorConfig, StreamProcessor,
};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};

use crate::settings::StreamProcessorSettings;

/// The processor over the AWS adapters.
pub type AwsStreamProcessor = StreamProcessor<
    DynamoDbUserActivityStore,
    DynamoDbRecommendationStore,
    DynamoDbProductCatalog,
    DynamoDbDeadLetterSink,
>;

/// The function: clients and the model are created once per cold start and reused by every
/// invocation; the model is re-checked for a newer version at most every `model_refresh`.
pub struct StreamProcessorFunction {
    processor: AwsStreamProcessor,
    models: S3ModelStore,
    model_refresh: Duration,
    last_refresh: Mutex<Instant>,
}

impl StreamProcessorFunction {
    /// Builds the adapters and loads the newest model (none yet is fine: the processor then
    /// recommends by popularity fallbacks only).
    ///
    /// # Errors
    /// The model store's error when it cannot be read: the cold start fails and Lambda retries it.
    pub async fn new(
        settings: &StreamProcessorSettings,
        aws: &AwsConfig,
    ) -> Result<Self, StoreError> {
        let models = aws.s3_model_store(&settings.models_bucket, &settings.models_prefix);
        let model = ModelHandle::default();
        model.refresh(&models).await?;
        let processor = StreamProcessor::new(
            aws.dynamodb_user_activity_store(&settings.activity_table, settings.activity_ttl),
            aws.dynamodb_recommendation_store(&settings.recommendations_table),
            aws.dynamodb_product_catalog(&settings.catalog_table),
            aws.dynamodb_dead_letter_sink(&settings.dead_letters_table),
            model,
            ProcessorConfig::default(),
        );
        Ok(Self {
            processor,
            models,
            model_refresh: settings.model_refresh,
            last_refresh: Mutex::new(Instant::now()),
        })
    }

    /// Loads a newer model when the refresh interval has passed; on failure the current model
    /// stays in use.
    async fn maybe_refresh(&self) {
        {
            let mut last = self
                .last_refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() < self.model_refresh {
                return;
            }
            *last = Instant::now();
        }
        if let Err(e) = self.processor.model().refresh(&self.models).await {
            tracing::warn!(error.message = %e, error.cause_chain = ?e, "Could not check for a newer model; keeping the current one.");
        }
    }

    /// Handles one batch: every record processed, dead-lettered or reported failed.
    #[tracing::instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle(&self, event: KinesisEvent) -> KinesisEventResponse {
        self.maybe_refresh().await;
        let records: Vec<StreamRecord> = event.records.iter().map(to_stream_record).collect();
        let report = self.processor.process(&records, Utc::now()).await;
        tracing::info!(
            received = report.received,
            processed = report.processed,
            duplicates = report.duplicates,
            dead_lettered = report.dead_lettered,
            failed = report.failed.len(),
            customers_updated = report.customers_updated,
            recommendations_written = report.recommendations_written,
            "Processed Kinesis batch."
        );
        response(&event.records, &report)
    }
}

/// A record of the event as the stream port describes it. The shard is the part of `eventID`
/// before the colon (`shardId-000000000000:4956...`).
#[must_use]
pub fn to_stream_record(r: &KinesisEventRecord) -> StreamRecord {
    let shard = r
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map_or("", |(shard, _)| shard);
    StreamRecord {
        shard_id: ShardId(shard.to_owned()),
        sequence_number: SequenceNumber(r.kinesis.sequence_number.clone()),
        partition_key: r.kinesis.partition_key.clone(),
        data: r.kinesis.data.0.clone(),
        arrived_at: r.kinesis.approximate_arrival_timestamp.0,
    }
}

/// The partial batch response: the sequence numbers of the records the processor reported
/// failed. Lambda then retries from the lowest of them; processed records are skipped on the
/// retry by their event ids.
#[must_use]
pub fn response(records: &[KinesisEventRecord], report: &BatchReport) -> KinesisEventResponse {
    let mut out = KinesisEventResponse::default();
    let mut failed = report.failed.clone();
    failed.sort_unstable();
    failed.dedup();
    for i in failed {
        if let Some(r) = records.get(i) {
            out.add_failure(r.kinesis.sequence_number.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KinesisEvent {
        serde_json::from_str(include_str!("../tests/fixtures/example-kinesis-event.json"))
            .expect("AWS's sample Kinesis event")
    }

    #[test]
    fn records_keep_their_shard_sequence_key_payload_and_arrival() {
        let event = sample();
        let r = to_stream_record(&event.records[0]);
        assert_eq!(r.shard_id.0, "shardId-000000000000");
        assert_eq!(
            r.sequence_number.0,
            "49568167373333333333333333333333333333333333333333333333"
        );
        assert_eq!(r.partition_key, "s1");
        assert_eq!(r.data, b"Hello World");
        assert_eq!(r.arrived_at.timestamp(), 1_480_641_523);
    }

    #[test]
    fn the_response_names_the_failed_records_by_sequence_number() {
        let event = sample();
        let report = BatchReport {
            received: 2,
            failed: vec![1, 1],
            ..BatchReport::default()
        };
        let json = serde_json::to_value(response(&event.records, &report)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({ "batchItemFailures": [
                { "itemIdentifier": "49568167373333333334444444444444444444444444444444444444" }
            ] })
        );
        let none =
            serde_json::to_value(response(&event.records, &BatchReport::default())).expect("json");
        assert_eq!(none, serde_json::json!({ "batchItemFailures": [] }));
    }
}
