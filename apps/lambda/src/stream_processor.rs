//! The stream-processor function: a Kinesis event in, the domain's [`StreamProcessor`] over the
//! DynamoDB stores, and a partial batch response out, naming exactly the records to retry.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use fashion_aws::{
    AwsConfig, DynamoDbDeadLetterSink, DynamoDbProductCatalog, DynamoDbRecommendationStore,
    DynamoDbUserActivityStore, S3ModelStore,
};
use fashion_domain::ports::StoreError;
use fashion_domain::services::stream_processor::{
    BatchReport, ModelHandle, ProcessorConfig, StreamProcessor,
};
use fashion_domain::stream::StreamRecord;

pub use crate::events::{records_done, response, to_kinesis_event, to_stream_record};
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
    /// The model store's error when it cannot be reached: the cold start fails and Lambda retries
    /// it. A model that cannot be decoded does not fail it (see [`ModelHandle::load`]).
    pub async fn new(
        settings: &StreamProcessorSettings,
        aws: &AwsConfig,
    ) -> Result<Self, StoreError> {
        let models = aws.s3_model_store(&settings.models_bucket, &settings.models_prefix);
        let model = ModelHandle::default();
        // A corrupt newest model starts the function with an earlier one or the fallbacks
        // (logged as an error), never a failed cold start on every shard.
        model.load(&models).await?;
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

    /// Loads the newest model now, whatever the refresh interval (a local poller calls this
    /// after training, where Lambda would pick the model up at its next interval). Returns
    /// whether the model changed.
    ///
    /// # Errors
    /// The model store's error; the current model stays in use.
    pub async fn refresh_model(&self) -> Result<bool, StoreError> {
        *self
            .last_refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.processor.model().refresh(&self.models).await
    }

    /// Handles one batch: every record processed, dead-lettered or reported failed.
    pub async fn handle(&self, event: KinesisEvent) -> KinesisEventResponse {
        self.handle_at(&event, Utc::now()).await.0
    }

    /// Handles one batch as of `now` (recency and dead-letter stamps), returning the partial
    /// batch response and the processor's report. Lambda's entry point is [`Self::handle`]; a
    /// local poller replaying a simulated clock calls this one.
    #[tracing::instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle_at(
        &self,
        event: &KinesisEvent,
        now: DateTime<Utc>,
    ) -> (KinesisEventResponse, BatchReport) {
        self.maybe_refresh().await;
        let records: Vec<StreamRecord> = event.records.iter().map(to_stream_record).collect();
        let report = self.processor.process(&records, now).await;
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
        (response(&event.records, &report), report)
    }
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
    fn stream_records_make_the_event_lambda_would_deliver() {
        let event = sample();
        let records: Vec<StreamRecord> = event.records.iter().map(to_stream_record).collect();
        let rebuilt = to_kinesis_event(&records, "arn:aws:kinesis:EXAMPLE", "us-east-1");
        let back: Vec<StreamRecord> = rebuilt.records.iter().map(to_stream_record).collect();
        assert_eq!(
            back, records,
            "shard, sequence, key, payload and arrival survive"
        );
        let json = serde_json::to_value(&rebuilt).expect("json");
        let parsed: KinesisEvent = serde_json::from_value(json).expect("Lambda's wire format");
        assert_eq!(parsed, rebuilt);
    }

    #[test]
    fn the_mapping_checks_off_the_records_before_the_first_failure() {
        let event = sample();
        let fail = |ids: &[&str]| {
            let mut r = KinesisEventResponse::default();
            for id in ids {
                r.add_failure((*id).to_owned());
            }
            r
        };
        let second = event.records[1].kinesis.sequence_number.clone();
        let first = event.records[0].kinesis.sequence_number.clone();
        assert_eq!(records_done(&event.records, &fail(&[])), 2);
        assert_eq!(records_done(&event.records, &fail(&[&second])), 1);
        assert_eq!(records_done(&event.records, &fail(&[&second, &first])), 0);
        assert_eq!(
            records_done(&event.records, &fail(&["not-in-the-batch"])),
            0,
            "an unknown identifier fails the whole batch"
        );
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
