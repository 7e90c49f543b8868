//! Contract of [`DeadLetterSink`].

use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ports::{DeadLetterReader, DeadLetterSink};

use crate::fixtures::t0;

fn letter(n: u32) -> DeadLetter {
    DeadLetter::new(
        "stream-processor",
        "malformed",
        &format!("expected value at line 1 column {n}"),
        &format!("shardId-000000000000/{n}"),
        format!("{{broken {n}").as_bytes(),
        t0() + chrono::Duration::seconds(i64::from(n)),
    )
}

/// Dead letters are kept in order, counted, and stored once per key.
pub async fn dead_letter_sink_contract<S: DeadLetterSink + DeadLetterReader>(sink: &S) {
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

    // Any record, however large or binary, makes a storable letter that keeps its bytes exactly
    // (the largest a Kinesis record can be: 1 MiB, here of control bytes, which JSON escapes to
    // six bytes each).
    let record: Vec<u8> = (0..1024 * 1024).map(|i| (i % 32) as u8).collect();
    let huge = DeadLetter::new(
        "lake-sink",
        "too_large",
        "1048576 bytes, limit 16384",
        "shardId-000000000000/99",
        &record,
        t0() + chrono::Duration::seconds(99),
    );
    sink.put_many(std::slice::from_ref(&huge))
        .await
        .expect("a 1 MiB binary record's dead letter is storable");
    let listed = sink.list(100).await.expect("list");
    let back = listed.last().expect("the huge letter is listed");
    assert_eq!(back, &huge);
    assert!(back.payload_truncated);
    assert_eq!(back.payload_size, Some(1024 * 1024));
    assert_eq!(
        back.payload_raw().expect("base64"),
        record[..fashion_domain::dead_letter::MAX_PAYLOAD_BYTES].to_vec()
    );
}
