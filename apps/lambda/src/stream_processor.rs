//! The stream-processor function: a Kinesis event in, the domain's [`StreamProcessor`] over the
//! DynamoDB stores, and a partial batch response out, naming exactly the records to retry.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
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

/// A Kinesis event as Lambda's event-source mapping delivers it, for a local poller that reads
/// the stream itself: one record per stream record, `eventID` = `<shard>:<sequence number>`.
#[must_use]
pub fn to_kinesis_event(records: &[StreamRecord], stream_arn: &str, region: &str) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .map(|r| {
            let mut e = KinesisEventRecord::default();
            e.aws_region = Some(region.to_owned());
            e.event_id = Some(format!("{}:{}", r.shard_id.0, r.sequence_number.0));
            e.event_name = Some("aws:kinesis:record".to_owned());
            e.event_source = Some("aws:kinesis".to_owned());
            e.event_source_arn = Some(stream_arn.to_owned());
            e.event_version = Some("1.0".to_owned());
            e.kinesis.approximate_arrival_timestamp = SecondTimestamp(r.arrived_at);
            e.kinesis.data.0.clone_from(&r.data);
            e.kinesis.partition_key.clone_from(&r.partition_key);
            e.kinesis.sequence_number.clone_from(&r.sequence_number.0);
            e.kinesis.kinesis_schema_version = Some("1.0".to_owned());
            e
        })
        .collect();
    event
}

/// How many leading records of a batch a partial batch response lets the event-source mapping
/// check off: those before the first record it names (Lambda retries from the lowest failed
/// sequence number). A named identifier that is not in the batch fails the whole batch, as
/// Lambda treats an unknown or empty `itemIdentifier`.
#[must_use]
pub fn records_done(records: &[KinesisEventRecord], response: &KinesisEventResponse) -> usize {
    let mut done = records.len();
    for failure in &response.batch_item_failures {
        let position = failure.item_identifier.as_deref().and_then(|id| {
            records
                .iter()
                .position(|r| !id.is_empty() && r.kinesis.sequence_number == id)
        });
        done = done.min(position.unwrap_or(0));
    }
    done
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
