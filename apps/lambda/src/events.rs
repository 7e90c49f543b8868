//! What each function is invoked with, decoded: the Kinesis batch's records, the schedules'
//! events (which day the daily job runs, which instant the trainer trains up to), the partial
//! batch response, and Firehose's transformation batch and the answer it expects. Pure functions over the payloads, compiled without the AWS SDK (the `fuzz`
//! crate drives them with arbitrary input).

use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::firehose::{KinesisFirehoseResponse, KinesisFirehoseResponseRecord};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use fashion_domain::calendar::StoreDay;
use fashion_domain::event::{MAX_FUTURE_SKEW, parse_timestamp};
use fashion_domain::services::catalog_sync::CatalogSyncError;
use fashion_domain::services::daily_job::DailyJobError;
use fashion_domain::services::lake_gate::{GateRecord, Verdict};
use fashion_domain::services::stream_processor::BatchReport;
use fashion_domain::services::trainer::TrainError;
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use serde_json::Value;

/// Why a daily-job invocation could not run.
#[derive(Debug, thiserror::Error)]
pub enum DailyJobFunctionError {
    /// The event names a date that is not `YYYY-MM-DD`, or a time that is not RFC 3339.
    #[error("bad event: {0}")]
    BadEvent(String),
    /// The job failed; retryable when its cause is.
    #[error(transparent)]
    Job(#[from] DailyJobError),
    /// The product catalog's sync failed; retryable when its cause is.
    #[error(transparent)]
    CatalogSync(#[from] CatalogSyncError),
}

/// The store day an event asks for: `date` (top level, or in an EventBridge event's `detail`)
/// for a backfill; otherwise the day before the schedule's firing time (`scheduled_time`, which
/// provisioning's Scheduler input carries, or an EventBridge event's `time`; so a late retry
/// still runs the same day) in the store's time zone, or before `now` without one.
///
/// # Errors
/// [`DailyJobFunctionError::BadEvent`] for a malformed date or time.
pub fn day_of(
    event: &Value,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<StoreDay, DailyJobFunctionError> {
    let bad = DailyJobFunctionError::BadEvent;
    let today = StoreDay::yesterday(now, tz)
        .date
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    if let Some((field, d)) = text_field(event, &["/date", "/detail/date"]).map_err(bad)? {
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|_| d.len() == 10)
            .ok_or_else(|| bad(format!("{field} {d:?} is not a date like 2026-11-25")))?;
        if date > today {
            return Err(bad(format!(
                "{field} {d} is after today ({today}): there is nothing to run yet"
            )));
        }
        return Ok(StoreDay::new(date, tz));
    }
    let at = match text_field(event, &["/scheduled_time", "/time"]).map_err(bad)? {
        Some((field, t)) => parse_timestamp(t)
            .map_err(|e| bad(format!("{field}: {e}")))?
            .with_timezone(&Utc),
        None => now,
    };
    if now
        .checked_add_signed(MAX_FUTURE_SKEW)
        .is_some_and(|latest| at > latest)
    {
        return Err(bad(format!(
            "the schedule's time {at} is in the future (now {now})"
        )));
    }
    Ok(StoreDay::yesterday(at, tz))
}

/// Why a trainer invocation could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainerFunctionError {
    /// The event names a time that is not RFC 3339.
    #[error("bad event: {0}")]
    BadEvent(String),
    /// Training failed; retryable when its cause is.
    #[error(transparent)]
    Train(#[from] TrainError),
}

impl TrainerFunctionError {
    /// True when invoking again later may succeed.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::BadEvent(_) => false,
            Self::Train(e) => e.is_retryable(),
        }
    }
}

/// Fields that may carry the instant to train up to, in order of precedence: `until` (top
/// level, or in an EventBridge event's `detail`) retrains as of a past instant; the schedule's
/// `scheduled_time` (the Scheduler's `<aws.scheduler.scheduled-time>`, which provisioning puts in
/// the input) and an EventBridge event's `time` keep a late retry training on the same history.
const TIME_FIELDS: [&str; 4] = ["/until", "/detail/until", "/scheduled_time", "/time"];

/// The instant an event asks to train up to; `now` when it names none.
///
/// # Errors
/// [`TrainerFunctionError::BadEvent`] for a time that is not RFC 3339.
pub fn training_time(
    event: &Value,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TrainerFunctionError> {
    let bad = TrainerFunctionError::BadEvent;
    let Some((field, text)) = text_field(event, &TIME_FIELDS).map_err(bad)? else {
        return Ok(now);
    };
    let until = parse_timestamp(text)
        .map_err(|e| bad(format!("{field}: {e}")))?
        .with_timezone(&Utc);
    // A model's version is its training time: one from the future would sort after every later
    // model and stay the latest for good.
    if now
        .checked_add_signed(MAX_FUTURE_SKEW)
        .is_some_and(|latest| until > latest)
    {
        return Err(bad(format!(
            "{field} {text} is in the future (now {now}): a model trained as of then would stay \
             the latest until that time"
        )));
    }
    Ok(until)
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

/// The first of `pointers` present in `event`, with its text: `None` when none is present, an
/// error naming the field when one is present but is not a string (a numeric or null `date`
/// must not silently run another day).
fn text_field<'a>(
    event: &'a serde_json::Value,
    pointers: &[&'static str],
) -> Result<Option<(&'static str, &'a str)>, String> {
    for &pointer in pointers {
        match event.pointer(pointer) {
            None => {}
            Some(serde_json::Value::String(text)) => return Ok(Some((pointer, text.as_str()))),
            Some(other) => {
                let shown: String = other.to_string().chars().take(40).collect();
                return Err(format!("{pointer} must be a string, got {shown}",));
            }
        }
    }
    Ok(None)
}

/// A Firehose transformation batch, decoded here rather than with `aws_lambda_events`'
/// `KinesisFirehoseEvent`: its millisecond timestamps assert that a number has no fraction
/// (aws_lambda_events 1.2.1, `encodings/time.rs`, `deserialize_milliseconds`), a panic on input
/// the fuzz target found. Firehose sends whole milliseconds; this decoder takes any number.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseBatch {
    /// The records, in Firehose's order.
    #[serde(default)]
    pub records: Vec<FirehoseRecord>,
}

/// One record of a [`FirehoseBatch`].
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    /// Firehose's id of the record, returned with its result.
    #[serde(default)]
    pub record_id: Option<String>,
    /// When Firehose received it, in milliseconds since the epoch.
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<f64>,
    /// The record, base64-encoded.
    #[serde(default)]
    pub data: String,
    /// Where it came from, when Firehose reads a Kinesis stream.
    #[serde(default)]
    pub kinesis_record_metadata: Option<FirehoseKinesisMetadata>,
}

/// The Kinesis side of a [`FirehoseRecord`].
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseKinesisMetadata {
    /// When the stream received it, in milliseconds since the epoch.
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<f64>,
}

/// An instant from milliseconds since the epoch, if it is one.
fn from_millis(ms: Option<f64>) -> Option<DateTime<Utc>> {
    let ms = ms.filter(|m| m.is_finite())?;
    // Whole milliseconds; `as` saturates, and anything outside chrono's range is no instant.
    DateTime::from_timestamp_millis(ms.trunc() as i64)
}

/// The decoded payloads and arrivals of a batch's records, in order. A record's arrival is the
/// Kinesis stream's (when Firehose reads one), else Firehose's own, else `now`. A payload that
/// is not base64 is passed on as its text (which then fails as a click event, with a dead letter).
#[must_use]
pub fn firehose_payloads(
    batch: &FirehoseBatch,
    now: DateTime<Utc>,
) -> Vec<(Vec<u8>, DateTime<Utc>)> {
    use base64::Engine as _;
    batch
        .records
        .iter()
        .map(|r| {
            let data = base64::engine::general_purpose::STANDARD
                .decode(&r.data)
                .unwrap_or_else(|_| r.data.as_bytes().to_vec());
            let arrived = r
                .kinesis_record_metadata
                .as_ref()
                .and_then(|m| from_millis(m.approximate_arrival_timestamp))
                .or_else(|| from_millis(r.approximate_arrival_timestamp))
                .unwrap_or(now);
            (data, arrived)
        })
        .collect()
}

/// The records as the lake gate reads them, over [`firehose_payloads`].
#[must_use]
pub fn gate_records<'a>(
    batch: &'a FirehoseBatch,
    payloads: &'a [(Vec<u8>, DateTime<Utc>)],
) -> Vec<GateRecord<'a>> {
    batch
        .records
        .iter()
        .zip(payloads)
        .map(|(r, (data, arrived_at))| GateRecord {
            id: r.record_id.as_deref().unwrap_or(""),
            data,
            arrived_at: *arrived_at,
        })
        .collect()
}

/// Firehose's answer for a judged batch, one record per record in the same order: `Ok` with the
/// lake row (one JSON line) and its `dt`/`hour` as partition keys, or `Dropped` (an invalid
/// record, once its dead letter is stored, or a duplicate).
#[must_use]
pub fn firehose_response(batch: &FirehoseBatch, verdicts: &[Verdict]) -> KinesisFirehoseResponse {
    let records = batch
        .records
        .iter()
        .zip(verdicts)
        .map(|(r, v)| {
            // The payload types are non-exhaustive: built from their defaults, field by field.
            let mut out = KinesisFirehoseResponseRecord::default();
            out.record_id.clone_from(&r.record_id);
            out.result = Some("Dropped".to_owned());
            out.data.0 = r.data.as_bytes().to_vec();
            if let Verdict::Land { partition, row } = v {
                let mut line = serde_json::to_vec(row).unwrap_or_default();
                line.push(b'\n');
                out.result = Some("Ok".to_owned());
                out.data.0 = line;
                out.metadata.partition_keys = partition.0.iter().cloned().collect();
            }
            out
        })
        .collect();
    let mut response = KinesisFirehoseResponse::default();
    response.records = records;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wrong-typed field is quoted in the error by its first characters: cutting the text at a
    /// byte count panicked when a multi-byte character straddled the cut.
    #[test]
    fn a_wrong_typed_field_with_multibyte_text_is_refused_not_a_panic() {
        let event = serde_json::json!({ "date": [format!("a{}", "é".repeat(30))] });
        let now = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).unwrap();
        let err = day_of(&event, now, chrono_tz::UTC).unwrap_err().to_string();
        assert!(err.contains("/date must be a string"), "{err}");
        let err = training_time(&serde_json::json!({ "until": 12 }), now).unwrap_err();
        assert!(
            err.to_string().contains("/until must be a string, got 12"),
            "{err}"
        );
    }
}
