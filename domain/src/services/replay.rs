//! Replaying dead letters: the click events set aside because of a rule a fixed bug broke, or a
//! product the catalog did not know yet, go back on the stream once they pass the same checks
//! the stream processor makes (the event's own validation as of when it arrived, and its product
//! in the catalog). A letter whose payload was truncated cannot be replayed and is counted.
//!
//! Replaying is idempotent downstream: the stream processor and the lake sink drop an event id
//! they have already applied, so replaying the same letters twice changes nothing. (The
//! processor remembers the 32 newest event ids of each customer; a second replay of a letter
//! after that many later events of its customer would be applied again, which is why replays are
//! meant for recent letters, chosen by code and source.) The letters stay in the store, as a record of what happened.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::dead_letter::DeadLetter;
use crate::event::{ClickEvent, InvalidEventCode};
use crate::ids::ProductId;
use crate::ports::{ClickstreamPublisher, ProductCatalog, StoreError, StreamError};
use crate::stream::OutboundRecord;

/// What a replay did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Letters examined.
    pub examined: u64,
    /// Events put back on the stream (or that would be, dry).
    pub replayed: u64,
    /// Letters that still break a rule, by rule.
    pub still_invalid: BTreeMap<String, u64>,
    /// Letters whose payload was cut short when stored.
    pub truncated: u64,
    /// Records the stream refused, with the reason.
    pub failed: Vec<String>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The catalog could not be read.
    #[error("failed to read the catalog: {0}")]
    Catalog(#[from] StoreError),
    /// The stream could not be written.
    #[error("failed to publish to the stream: {0}")]
    Stream(#[from] StreamError),
}

/// Replays the click events among `letters` that are valid now; with `dry_run`, publishes
/// nothing and reports what it would replay.
///
/// # Errors
/// [`ReplayError`] when the catalog or the stream fails.
pub async fn replay(
    letters: &[DeadLetter],
    catalog: &dyn ProductCatalog,
    stream: &dyn ClickstreamPublisher,
    dry_run: bool,
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut candidates: Vec<(ClickEvent, Vec<u8>)> = Vec::new();
    let still = |report: &mut ReplayReport, code: &str| {
        let n = report.still_invalid.entry(code.to_owned()).or_default();
        *n = n.saturating_add(1);
    };
    for letter in letters {
        report.examined = report.examined.saturating_add(1);
        if letter.payload_truncated {
            report.truncated = report.truncated.saturating_add(1);
            continue;
        }
        let Ok(bytes) = letter.payload_raw() else {
            still(&mut report, InvalidEventCode::Malformed.as_str());
            continue;
        };
        match ClickEvent::parse(&bytes, letter.at) {
            Ok(ev) => candidates.push((ev, bytes)),
            Err(e) => still(&mut report, e.code.as_str()),
        }
    }
    let wanted: Vec<ProductId> = candidates
        .iter()
        .filter_map(|(ev, _)| ev.product_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let known: HashSet<ProductId> = if wanted.is_empty() {
        HashSet::new()
    } else {
        catalog
            .get_many(&wanted)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect()
    };
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    for (ev, bytes) in candidates {
        if ev.product_id.is_some_and(|p| !known.contains(&p)) {
            still(&mut report, InvalidEventCode::UnknownProduct.as_str());
            continue;
        }
        // The same event set aside twice (by the processor and the lake sink) goes back once.
        if seen.insert(ev.event_id) {
            records.push(OutboundRecord {
                partition_key: ev.user_id.to_string(),
                data: bytes,
            });
        }
    }
    if !dry_run && !records.is_empty() {
        let published = stream.publish(&records).await?;
        report.failed = published
            .failed
            .into_iter()
            .map(|(i, why)| format!("record {i}: {why}"))
            .collect();
    }
    report.replayed = (records.len() as u64).saturating_sub(report.failed.len() as u64);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::ports::{MockClickstreamPublisher, MockProductCatalog, PublishReport};
    use crate::product::Product;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T10:05:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn click(id: &str, product: u32) -> Vec<u8> {
        format!(
            r#"{{"event_id":"{id}","event_type":"product_view","user_id":42,"session_id":"s-1","product_id":{product},"occurred_at":"2026-11-25T17:00:00+07:00","device":"mobile","schema_version":1}}"#
        )
        .into_bytes()
    }

    fn letter(code: &str, payload: &[u8]) -> DeadLetter {
        DeadLetter::new("stream-processor", code, "why", "shard/1", payload, at())
    }

    fn product(id: u32) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            gender: "Women".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: "Tshirts".into(),
            base_colour: None,
            season: None,
            year: None,
            usage: None,
            product_display_name: String::new(),
            price: None,
        }
    }

    #[tokio::test]
    async fn events_valid_now_go_back_once_and_the_rest_are_counted_by_rule() {
        // Arrange: product 7 was added to the catalog after its events were set aside; 8 still
        // is unknown.
        let a = "6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a11";
        let mut truncated = letter("malformed", b"{");
        truncated.payload_truncated = true;
        let letters = vec![
            letter("unknown_product", &click(a, 7)),
            letter("unknown_product", &click(a, 7)),
            letter(
                "unknown_product",
                &click("6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a12", 8),
            ),
            letter("malformed", b"{not json"),
            truncated,
        ];
        let mut catalog = MockProductCatalog::new();
        catalog.expect_get_many().returning(|ids| {
            Ok(ids
                .iter()
                .filter(|id| id.get() == 7)
                .map(|id| product(id.get()))
                .collect())
        });
        let mut stream = MockClickstreamPublisher::new();
        stream
            .expect_publish()
            .withf(move |records| {
                records.len() == 1
                    && records[0].partition_key == "42"
                    && records[0].data == click(a, 7)
            })
            .times(1)
            .returning(|r| {
                Ok(PublishReport {
                    accepted: r.len(),
                    failed: Vec::new(),
                })
            });

        // Act
        let report = replay(&letters, &catalog, &stream, false).await.unwrap();

        // Assert
        assert_eq!(report.examined, 5);
        assert_eq!(report.replayed, 1);
        assert_eq!(report.truncated, 1);
        assert_eq!(
            report.still_invalid,
            BTreeMap::from([("malformed".into(), 1), ("unknown_product".into(), 1)])
        );
    }

    #[tokio::test]
    async fn a_dry_run_publishes_nothing() {
        let letters = vec![letter(
            "unknown_product",
            &click("6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a11", 7),
        )];
        let mut catalog = MockProductCatalog::new();
        catalog
            .expect_get_many()
            .returning(|_| Ok(vec![product(7)]));
        let mut stream = MockClickstreamPublisher::new();
        stream.expect_publish().never();
        let report = replay(&letters, &catalog, &stream, true).await.unwrap();
        assert_eq!(report.replayed, 1);
    }
}
