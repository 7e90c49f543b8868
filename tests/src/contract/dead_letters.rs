//! Contract of [`DeadLetterSink`].

use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ports::DeadLetterSink;

use crate::fixtures::t0;

fn letter(n: u32) -> DeadLetter {
    DeadLetter {
        source: "stream-processor".into(),
        code: "malformed".into(),
        reason: format!("expected value at line 1 column {n}"),
        origin: format!("shardId-000000000000/{n}"),
        payload: format!("{{broken {n}"),
        at: t0() + chrono::Duration::seconds(i64::from(n)),
    }
}

/// Dead letters are kept in order, counted, and stored once per key.
pub async fn dead_letter_sink_contract(sink: &dyn DeadLetterSink) {
    assert_eq!(sink.count().await.expect("count"), 0);
    let batch: Vec<_> = (1..=5).map(letter).collect();
    sink.put_many(&batch).await.expect("put_many");
    sink.put_many(&batch[1..3])
        .await
        .expect("replayed put_many");
    assert_eq!(
        sink.count().await.expect("count"),
        5,
        "a replayed dead letter is stored once"
    );
    assert_eq!(
        sink.list(3).await.expect("list"),
        batch[..3].to_vec(),
        "ordered by time, oldest first, limited"
    );
    assert_eq!(sink.list(100).await.expect("list").len(), 5);
}
