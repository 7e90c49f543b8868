//! The lake's rules for records a managed delivery service lands (Firehose on AWS, which calls
//! them through its data-transformation function), the same rules the micro-batch
//! [`lake_sink`](super::lake_sink) applies on its own:
//!
//! - a record that is not a valid click event (the domain's [`ClickEvent::parse`]: JSON shape,
//!   event types, ids, the event-time window around its arrival) never reaches the lake: it
//!   becomes a dead letter with its rule and message;
//! - a second copy of an event already seen in the batch is dropped;
//! - a valid event lands as the lake's `clickstream` row (every column, the UTC offset filled from
//!   its timestamp) in the partition of its **event** hour (`dt`, `hour`).
//!
//! Delivery after this gate stays at-least-once (a retried batch lands again), so the lake is
//! "unique by `event_id` when read": its readers deduplicate.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::dead_letter::DeadLetter;
use crate::event::ClickEvent;
use crate::ids::EventId;
use crate::lake::{PartitionKey, TableRows};

/// The name dead letters of the gate carry.
pub const SOURCE: &str = "lake-gate";

/// One record handed to the gate.
#[derive(Debug, Clone, Copy)]
pub struct GateRecord<'a> {
    /// The delivery service's id of the record (named in its dead letter).
    pub id: &'a str,
    /// The record as published.
    pub data: &'a [u8],
    /// When the stream received it (the event-time window is checked against this).
    pub arrived_at: DateTime<Utc>,
}

/// What becomes of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It lands in the lake.
    Land {
        /// Its event-time partition (`dt`, `hour`).
        partition: PartitionKey,
        /// The `clickstream` row, one member per data column.
        row: Map<String, Value>,
    },
    /// A second copy of an event earlier in the batch.
    Duplicate,
    /// Invalid: its dead letter.
    Invalid(DeadLetter),
}

/// Judges a batch, one verdict per record in order; `now` stamps the dead letters.
#[must_use]
pub fn judge(records: &[GateRecord<'_>], now: DateTime<Utc>) -> Vec<Verdict> {
    let mut seen: HashSet<EventId> = HashSet::with_capacity(records.len());
    records
        .iter()
        .map(|r| match ClickEvent::parse(r.data, r.arrived_at) {
            Ok(ev) if !seen.insert(ev.event_id) => Verdict::Duplicate,
            Ok(ev) => Verdict::Land {
                partition: PartitionKey::hour_of(ev.occurred_utc()),
                row: TableRows::Clickstream(vec![ev])
                    .json_rows()
                    .pop()
                    .unwrap_or_default(),
            },
            Err(e) => Verdict::Invalid(DeadLetter::new(
                SOURCE,
                e.code.as_str(),
                &e.message,
                r.id,
                r.data,
                now,
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::{Cell, TableDef, tables};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(id: &str, ts: &str) -> Vec<u8> {
        serde_json::json!({
            "event_id": id,
            "user_id": 42,
            "session_id": "s-1",
            "event_type": "product_view",
            "product_id": 7,
            "occurred_at": ts,
            "device": "mobile",
            "schema_version": 1,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn valid_events_land_in_their_event_hour_once_and_invalid_ones_become_dead_letters() {
        let now = at("2026-11-25T10:05:00Z");
        let a = event(
            "6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a11",
            "2026-11-25T10:59:30+01:00",
        );
        let far = event(
            "6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a12",
            "2027-01-01T00:00:00Z",
        );
        let records = [
            GateRecord {
                id: "r1",
                data: &a,
                arrived_at: now,
            },
            GateRecord {
                id: "r2",
                data: b"{not json",
                arrived_at: now,
            },
            GateRecord {
                id: "r3",
                data: &a,
                arrived_at: now,
            },
            GateRecord {
                id: "r4",
                data: &far,
                arrived_at: now,
            },
        ];
        let verdicts = judge(&records, now);
        assert_eq!(verdicts.len(), 4);
        let Verdict::Land { partition, row } = &verdicts[0] else {
            panic!("{:?}", verdicts[0])
        };
        assert_eq!(
            partition,
            &PartitionKey::hour_of(at("2026-11-25T09:59:30Z"))
        );
        assert_eq!(row["utc_offset_minutes"], 60);
        assert_eq!(row["user_id"], 42);
        assert_eq!(row["occurred_at"], "2026-11-25T09:59:30Z");
        let columns = TableDef::named(tables::CLICKSTREAM).unwrap().columns;
        assert_eq!(row.len(), columns.len(), "every column, nothing else");
        for c in &columns {
            assert!(row.contains_key(&c.name), "{} missing", c.name);
        }
        assert_eq!(verdicts[2], Verdict::Duplicate);
        for (v, id) in [(&verdicts[1], "r2"), (&verdicts[3], "r4")] {
            let Verdict::Invalid(letter) = v else {
                panic!("{v:?}")
            };
            assert_eq!(letter.source, SOURCE);
            assert_eq!(letter.origin, id);
            assert!(!letter.reason.is_empty());
        }
    }

    #[test]
    fn a_cell_is_json_as_the_lake_stores_it() {
        assert_eq!(Cell::Null.to_json(), Value::Null);
        assert_eq!(Cell::Int32(-3).to_json(), serde_json::json!(-3));
        assert_eq!(
            Cell::Timestamp(at("2026-11-25T09:59:30.123456Z")).to_json(),
            "2026-11-25T09:59:30.123456Z"
        );
        assert_eq!(Cell::Money(crate::money::Cents(1999)).to_json(), "19.99");
    }
}
