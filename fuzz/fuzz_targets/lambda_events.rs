//! The Lambda payloads on arbitrary JSON: a Kinesis batch as the event-source mapping delivers it
//! (records decoded, their data parsed as clicks, the partial batch response mapped back), and the
//! schedules' events the daily job and the trainer read their day and instant from, and a
//! Firehose transformation batch (judged by the lake gate, answered one record per record, every
//! `Ok` a JSON row with its event-hour keys). Nothing panics; a day or instant that is accepted is never after the invocation's now (plus the
//! allowed skew).
#![no_main]

use aws_lambda_events::event::kinesis::KinesisEvent;
use chrono::{DateTime, Utc};
use fashion_domain::event::{ClickEvent, MAX_FUTURE_SKEW};
use fashion_domain::services::lake_gate::judge;
use fashion_domain::services::stream_processor::BatchReport;
use fashion_lambda::events::{
    FirehoseBatch, day_of, firehose_payloads, firehose_response, gate_records, records_done,
    response, to_stream_record, training_time,
};
use libfuzzer_sys::fuzz_target;

/// True when the input is JSON whose records' `approximateArrivalTimestamp`s have at most 3
/// fractional digits.
/// aws_lambda_events 1.2.1 (`encodings/time.rs`, `deserialize_seconds`) reads the number through
/// `f64::to_string` and scales its fraction as milliseconds: 4 or more digits decode wrong, 14 or
/// more overflow a `u64` multiply (a panic with debug assertions, as this build has; a wrapped
/// value in release). Lambda's Kinesis event source sends milliseconds, so the target stays in
/// that domain; the upstream defect is noted, not worked around in the function.
fn millisecond_arrivals(json: &[u8]) -> bool {
    // Not JSON: the batch cannot decode either (but the decoder may reach a timestamp before
    // it finds the syntax error).
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(json) else {
        return false;
    };
    let fraction_digits = |f: f64| f.to_string().split_once('.').map_or(0, |(_, d)| d.len());
    let records = event.get("Records").and_then(serde_json::Value::as_array);
    records.into_iter().flatten().all(
        |r| match r.pointer("/kinesis/approximateArrivalTimestamp") {
            Some(serde_json::Value::Number(n)) => {
                n.as_f64().is_none_or(|f| fraction_digits(f) <= 3)
            }
            Some(serde_json::Value::String(s)) => {
                s.parse::<f64>().map_or(true, |f| fraction_digits(f) <= 3)
            }
            _ => true,
        },
    )
}

const ZONES: [chrono_tz::Tz; 4] = [
    chrono_tz::UTC,
    chrono_tz::Asia::Ho_Chi_Minh,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Pacific::Pago_Pago,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let now = DateTime::<Utc>::from_timestamp(1_795_000_000, 0).unwrap_or_default();

    if millisecond_arrivals(json)
        && let Ok(batch) = serde_json::from_slice::<KinesisEvent>(json)
    {
        let records: Vec<_> = batch.records.iter().map(to_stream_record).collect();
        let mut report = BatchReport::default();
        for (i, r) in records.iter().enumerate() {
            if ClickEvent::parse(&r.data, r.arrived_at).is_err()
                && i % 2 == usize::from(selector & 1)
            {
                report.failed.push(i);
            }
        }
        let answer = response(&batch.records, &report);
        assert!(records_done(&batch.records, &answer) <= batch.records.len());
    }

    if let Ok(batch) = serde_json::from_slice::<FirehoseBatch>(json) {
        let payloads = firehose_payloads(&batch, now);
        let verdicts = judge(&gate_records(&batch, &payloads), now);
        let answer = firehose_response(&batch, &verdicts);
        assert_eq!(answer.records.len(), batch.records.len());
        for (out, sent) in answer.records.iter().zip(&batch.records) {
            assert_eq!(out.record_id, sent.record_id);
            if out.result.as_deref() == Some("Ok") {
                let row: serde_json::Value =
                    serde_json::from_slice(&out.data.0).expect("an Ok record is a JSON row");
                assert!(row.is_object());
                let keys = &out.metadata.partition_keys;
                assert!(
                    keys.contains_key("dt") && keys.contains_key("hour"),
                    "{keys:?}"
                );
            } else {
                assert_eq!(out.result.as_deref(), Some("Dropped"));
            }
        }
    }

    if let Ok(event) = serde_json::from_slice::<serde_json::Value>(json) {
        let tz = ZONES[usize::from(selector) % ZONES.len()];
        if let Ok(day) = day_of(&event, now, tz) {
            let today = now.with_timezone(&tz).date_naive();
            assert!(day.date <= today, "{} after {today}", day.date);
        }
        if let Ok(until) = training_time(&event, now) {
            assert!(until <= now + MAX_FUTURE_SKEW, "{until}");
        }
    }
});
