//! Contract of [`ClickstreamPublisher`] + [`ClickstreamSource`] over the same stream.

use std::collections::HashMap;

use fashion_domain::ports::{ClickstreamPublisher, ClickstreamSource, StreamError};
use fashion_domain::stream::{OutboundRecord, ShardId, StreamRecord};

async fn read_all(source: &dyn ClickstreamSource, limit: usize) -> Vec<StreamRecord> {
    let mut out = Vec::new();
    for shard in source.shards().await.expect("shards() must succeed") {
        let mut after = None;
        loop {
            let page = source
                .read(&shard, after.clone(), limit)
                .await
                .expect("read must succeed");
            assert!(
                page.len() <= limit,
                "read returned {} records for limit {limit}",
                page.len()
            );
            let Some(last) = page.last() else { break };
            after = Some(last.sequence_number.clone());
            out.extend(page);
        }
    }
    out
}

/// Every published record is read back once, in order per partition key, pages respect the limit,
/// positions only move forward, and an unknown shard is `NotFound`.
///
/// `publisher` and `source` must be views of the same, initially empty, stream.
pub async fn stream_contract(publisher: &dyn ClickstreamPublisher, source: &dyn ClickstreamSource) {
    // Arrange
    let records: Vec<OutboundRecord> = (0..120)
        .map(|i| OutboundRecord {
            partition_key: format!("customer-{}", i % 7),
            data: format!("{{\"n\":{i}}}").into_bytes(),
        })
        .collect();

    // Act
    let report = publisher
        .publish(&records)
        .await
        .expect("publish must succeed");
    let got = read_all(source, 25).await;

    // Assert
    assert_eq!(
        report.accepted,
        records.len(),
        "every record must be accepted: {report:?}"
    );
    assert!(report.failed.is_empty());
    assert_eq!(
        got.len(),
        records.len(),
        "every published record must be read back exactly once"
    );
    let mut per_key: HashMap<&str, Vec<u32>> = HashMap::new();
    for r in &got {
        let n: u32 = std::str::from_utf8(&r.data)
            .ok()
            .and_then(|s| {
                s.trim_start_matches("{\"n\":")
                    .trim_end_matches('}')
                    .parse()
                    .ok()
            })
            .expect("payload must come back byte for byte");
        per_key.entry(r.partition_key.as_str()).or_default().push(n);
    }
    for (key, ns) in &per_key {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "records of {key} must keep their order: {ns:?}"
        );
    }
    let mut per_shard: HashMap<&ShardId, Vec<&StreamRecord>> = HashMap::new();
    for r in &got {
        per_shard.entry(&r.shard_id).or_default().push(r);
    }
    for (shard, rs) in per_shard {
        assert!(
            rs.windows(2)
                .all(|w| w[0].sequence_number < w[1].sequence_number),
            "sequence numbers of {shard} must increase"
        );
        let tail = source
            .read(shard, Some(rs[0].sequence_number.clone()), 1000)
            .await
            .expect("read after a position must succeed");
        assert_eq!(
            tail.len(),
            rs.len() - 1,
            "reading after the first record must skip exactly it"
        );
    }

    let second = read_all(source, 1000).await;
    assert_eq!(
        second.len(),
        got.len(),
        "reading does not consume: a second reader sees everything"
    );

    let missing = source
        .read(&ShardId("no-such-shard".into()), None, 10)
        .await;
    assert!(
        matches!(missing, Err(StreamError::NotFound { .. })),
        "unknown shard must be NotFound, got {missing:?}"
    );
}
