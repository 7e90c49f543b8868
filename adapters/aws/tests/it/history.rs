//! The S3 history source on the emulator beyond the port's contract: it reads only the version
//! directory Glue points at (not a stale sibling, not the manifest), reports a corrupt object
//! instead of skipping it, and reads files other engines wrote with other physical types.

use crate::common;

use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, Utc};
use common::{create_bucket, create_glue_database, emulator, list_keys, unique};
use fashion_domain::event::EventType;
use fashion_domain::history::{TrainingEvent, session_hash};
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{HistorySource, LakeError, LakeWriter, TableCatalog, WriteMode};
use fashion_tests::fixtures::{cid, pid, t0, view};
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;

struct Lake {
    aws: fashion_aws::AwsConfig,
    bucket: String,
    lake: fashion_aws::S3LakeWriter,
    catalog: fashion_aws::GlueTableCatalog,
    history: fashion_aws::S3HistorySource,
}

async fn lake() -> Lake {
    let aws = emulator().await;
    let bucket = unique("lake");
    create_bucket(&aws, &bucket).await;
    let database = create_glue_database(&aws).await;
    let lake = aws.s3_lake_writer(&database, &bucket, "lake");
    let catalog = aws.glue_table_catalog(&database, &bucket, "lake");
    let history = aws.s3_history_source(&database, &bucket, "lake");
    catalog
        .ensure_table(&TableDef::named(tables::CLICKSTREAM).expect("table"))
        .await
        .expect("ensure_table");
    Lake {
        aws,
        bucket,
        lake,
        catalog,
        history,
    }
}

async fn all(history: &dyn HistorySource) -> Result<Vec<TrainingEvent>, LakeError> {
    history
        .interactions(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .try_concat()
        .await
}

async fn put(l: &Lake, key: &str, body: Vec<u8>) {
    l.aws
        .s3_client()
        .put_object()
        .bucket(&l.bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put object");
}

/// Writes one partition of three views through the lake writer; returns its location's key.
async fn write_views(l: &Lake) -> (PartitionInfo, String) {
    let table = TableDef::named(tables::CLICKSTREAM).expect("table");
    let key = PartitionKey::hour_of(t0());
    let mut w = l
        .lake
        .open(&table, &key, WriteMode::Append, "flush-1")
        .await
        .expect("open");
    w.write(TableRows::Clickstream(
        (1..=3).map(|n| view(n, 1, 1, 0)).collect(),
    ))
    .await
    .expect("write");
    let info = w.commit().await.expect("commit");
    l.catalog.put_partition(&info).await.expect("put_partition");
    let prefix = info
        .location
        .strip_prefix(&format!("s3://{}/", l.bucket))
        .expect("location in the lake bucket")
        .to_owned();
    (info, prefix)
}

#[tokio::test]
async fn only_the_catalogued_version_directory_is_read() {
    // Arrange: a stale version directory beside the current one (a replaced version whose
    // deletion failed), and a hidden scratch file inside it.
    let l = lake().await;
    let (_, version) = write_views(&l).await;
    let data = list_keys(&l.aws, &l.bucket, &version)
        .await
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .expect("a data file");
    // Other events than the current version's, so that deduplication cannot hide a wrong read.
    let table = TableDef::named(tables::CLICKSTREAM).expect("table");
    let others = fashion_parquet::encode(
        &table,
        &[TableRows::Clickstream(
            (11..=13).map(|n| view(n, 2, 2, 0)).collect(),
        )],
    )
    .expect("encode");
    let partition = version
        .trim_end_matches('/')
        .rsplit_once('/')
        .expect("version under the partition")
        .0;
    put(
        &l,
        &format!("{partition}/v-stale/part-old-00000.parquet"),
        others.clone(),
    )
    .await;
    put(&l, &format!("{version}_scratch.parquet"), others).await;
    assert!(data.starts_with(&version));

    // Act
    let events = all(&l.history).await.expect("history");

    // Assert
    let mut expected: Vec<TrainingEvent> = (1..=3)
        .filter_map(|n| TrainingEvent::from_event(&view(n, 1, 1, 0)))
        .collect();
    let mut events = events;
    events.sort_by_key(|e| e.at);
    expected.sort_by_key(|e| e.at);
    assert_eq!(
        events, expected,
        "the current version's three events, nothing from a stale version or a hidden file"
    );
}

#[tokio::test]
async fn a_corrupt_object_is_an_error_not_a_gap() {
    // Arrange
    let l = lake().await;
    let (_, version) = write_views(&l).await;
    put(
        &l,
        &format!("{version}part-broken-00000.parquet"),
        b"not parquet".to_vec(),
    )
    .await;

    // Act
    let result = all(&l.history).await;

    // Assert
    let err = result.expect_err("a file that cannot be decoded must fail the read");
    assert!(
        err.to_string().contains("part-broken-00000.parquet"),
        "the error names the file: {err}"
    );
    assert!(
        !err.is_retryable(),
        "a corrupt file does not heal by retrying: {err:?}"
    );
}

#[tokio::test]
async fn files_of_other_engines_with_other_physical_types_are_read() {
    // Arrange: a partition written by another engine: 32-bit ids and nanosecond timestamps
    // without a time zone, no offset or device columns, registered in Glue by hand.
    let l = lake().await;
    let at = t0() + Duration::minutes(5);
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("user_id", DataType::Int32, false),
        Field::new("session_id", DataType::Utf8, false),
        Field::new("product_id", DataType::Int32, true),
        Field::new(
            "occurred_at",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        ),
    ]));
    let nanos = at.timestamp_nanos_opt().expect("in range");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                "7d4c2c5e-0000-4000-8000-000000000001",
                "7d4c2c5e-0000-4000-8000-000000000002",
            ])),
            Arc::new(StringArray::from(vec!["add_to_cart", "page_view"])),
            Arc::new(Int32Array::from(vec![42, 42])),
            Arc::new(StringArray::from(vec!["s-42", "s-42"])),
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(TimestampNanosecondArray::from(vec![nanos, nanos])),
        ],
    )
    .expect("batch");
    let mut file = Vec::new();
    let mut w = ArrowWriter::try_new(&mut file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let key = PartitionKey::hour_of(at);
    let dir = format!("lake/clickstream/{}/other-engine/", key.path());
    put(&l, &format!("{dir}part-0.parquet"), file).await;
    l.catalog
        .put_partition(&PartitionInfo {
            table: tables::CLICKSTREAM.to_owned(),
            key,
            location: format!("s3://{}/{dir}", l.bucket),
            files: 1,
            rows: 2,
            bytes: 0,
        })
        .await
        .expect("put_partition");

    // Act
    let events = all(&l.history).await.expect("history");

    // Assert
    assert_eq!(
        events,
        vec![TrainingEvent {
            customer: cid(42),
            session: session_hash("s-42"),
            product: pid(7),
            kind: EventType::AddToCart,
            at,
        }]
    );
}

/// One Parquet file the way Firehose's record format conversion writes the clickstream (Hive's
/// Parquet SerDe: every column optional, timestamps as INT96, Snappy), one row per event.
fn firehose_parquet(events: &[fashion_domain::event::ClickEvent]) -> Vec<u8> {
    let table = TableDef::named(tables::CLICKSTREAM).expect("clickstream");
    fashion_parquet::hive::write_json_rows(
        &table,
        &TableRows::Clickstream(events.to_vec()).json_rows(),
    )
    .expect("Hive-shaped Parquet")
}

#[tokio::test]
async fn clickstream_objects_in_firehoses_layout_are_read_without_a_registered_partition() {
    // Arrange: two hours of clicks as the delivery stream lands them (object names as Firehose
    // gives them, no extension, no Glue partition), a duplicate delivery of one object (Firehose
    // is at-least-once), an error-output object and a hidden one that are not data.
    let l = lake().await;
    let first: Vec<_> = (1..=3)
        .map(|n| view(n, 42, 7, i64::try_from(n).unwrap() * 60))
        .collect();
    let second = vec![view(4, 43, 8, 3_700)];
    let stream = "fashion-prod-clickstream-to-lake";
    for (events, suffix) in [(&first, "a1"), (&first, "b2"), (&second, "c3")] {
        let key = PartitionKey::hour_of(events[0].occurred_utc());
        put(
            &l,
            &format!(
                "lake/clickstream/{}/{stream}-1-2026-11-25-10-15-00-{suffix}",
                key.path()
            ),
            firehose_parquet(events),
        )
        .await;
    }
    let hour = PartitionKey::hour_of(first[0].occurred_utc()).path();
    put(
        &l,
        &format!("lake/clickstream/{hour}/_SUCCESS"),
        b"x".to_vec(),
    )
    .await;
    put(
        &l,
        &format!("lake/clickstream/{hour}/.tmp-x"),
        b"x".to_vec(),
    )
    .await;

    // Act: the whole history, and a window of the second hour only.
    let events = all(&l.history).await.expect("history");
    let later: Vec<TrainingEvent> = l
        .history
        .interactions(
            second[0].occurred_utc(),
            second[0].occurred_utc() + Duration::minutes(1),
        )
        .try_concat()
        .await
        .expect("window");

    // Assert: each event once, decoded from Snappy and INT96.
    let expected = |e: &fashion_domain::event::ClickEvent| TrainingEvent {
        customer: e.user_id,
        session: session_hash(e.session_id.as_str()),
        product: e.product_id.expect("a product"),
        kind: e.event_type,
        at: e.occurred_utc(),
    };
    let mut got = events.clone();
    got.sort_by_key(|e| e.at);
    assert_eq!(
        got,
        first
            .iter()
            .chain(&second)
            .map(expected)
            .collect::<Vec<_>>()
    );
    assert_eq!(later, vec![expected(&second[0])]);
    let mut whole: Vec<_> = l
        .history
        .clickstream(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .try_concat()
        .await
        .expect("clickstream");
    whole.sort_by_key(|e| e.event_id);
    assert_eq!(
        whole,
        first.iter().chain(&second).cloned().collect::<Vec<_>>(),
        "the whole events, each once though one object was delivered twice"
    );
}
