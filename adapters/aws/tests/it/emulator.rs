//! Behaviour beyond the contract suites, on the AWS emulator: Firehose delivery, TTL, Glue
//! tables and partitions, Athena parameter binding, and missing resources reported as such.

use crate::common;

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use common::{create_bucket, emulator, unique};
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, tables};
use fashion_domain::ports::{
    ClickstreamPublisher, LakeError, ModelStore, QueryEngine, QueryParam, RecommendationReader,
    StoreError, StreamError, TableCatalog, UserActivityStore,
};
use fashion_domain::stream::OutboundRecord;
use fashion_tests::fixtures::cid;
use serde_json::json;

#[tokio::test]
async fn firehose_direct_put_delivers_every_record_once_as_json_lines() {
    // Arrange
    let aws = emulator().await;
    let bucket = unique("firehose");
    create_bucket(&aws, &bucket).await;
    let stream = unique("to-lake");
    // Boxed: the SDK's request future is large.
    Box::pin(
        aws.firehose_client()
            .create_delivery_stream()
            .delivery_stream_name(&stream)
            .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(
                aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                    .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                    .role_arn("arn:aws:iam::123456789012:role/firehose-to-lake")
                    .prefix("raw/clickstream/")
                    .build()
                    .expect("destination"),
            )
            .send(),
    )
    .await
    .expect("create delivery stream");
    let records: Vec<OutboundRecord> = (0..7)
        .map(|i| OutboundRecord {
            partition_key: format!("customer-{i}"),
            data: format!("{{\"n\":{i}}}").into_bytes(),
        })
        .collect();

    // Act
    let report = aws
        .firehose_publisher(&stream)
        .publish(&records)
        .await
        .expect("publish");

    // Assert
    assert_eq!(report.accepted, 7);
    let mut lines = Vec::new();
    for key in common::list_keys(&aws, &bucket, "raw/clickstream/").await {
        let body = common::get_object(&aws, &bucket, &key).await;
        lines.extend(
            String::from_utf8(body)
                .expect("utf-8")
                .lines()
                .map(str::to_owned),
        );
    }
    lines.sort();
    let mut want: Vec<String> = (0..7).map(|i| format!("{{\"n\":{i}}}")).collect();
    want.sort();
    assert_eq!(lines, want, "every record delivered once, one per line");
}

#[tokio::test]
async fn activity_items_carry_a_ttl_after_each_write() {
    // Arrange
    let aws = emulator().await;
    let (table, store) = common::activity_store(&aws).await;
    let before = Utc::now().timestamp();

    // Act
    store
        .put(&fashion_domain::activity::UserActivity::new(cid(3)))
        .await
        .expect("put");

    // Assert
    let item = aws
        .dynamodb_client()
        .get_item()
        .table_name(&table)
        .key(
            fashion_aws::DynamoDbUserActivityStore::PARTITION_KEY,
            aws_sdk_dynamodb::types::AttributeValue::N("3".into()),
        )
        .send()
        .await
        .expect("get item");
    let expires: i64 = item
        .item()
        .and_then(|i| i.get(fashion_aws::DynamoDbUserActivityStore::TTL_ATTRIBUTE))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .expect("expires_at is a number");
    let thirty_days = 30 * 24 * 3600;
    assert!(
        (before + thirty_days..=Utc::now().timestamp() + thirty_days).contains(&expires),
        "expires_at is 30 days after the write: {expires}"
    );
}

#[tokio::test]
async fn missing_streams_tables_and_buckets_are_not_found() {
    let aws = emulator().await;

    let stream = aws
        .kinesis_clickstream(&unique("missing"))
        .publish(&[OutboundRecord {
            partition_key: "k".into(),
            data: b"{}".to_vec(),
        }])
        .await;
    assert!(
        matches!(stream, Err(StreamError::NotFound { .. })),
        "{stream:?}"
    );

    let table = aws
        .dynamodb_recommendation_store(&unique("missing"))
        .get(cid(1))
        .await;
    assert!(
        matches!(table, Err(StoreError::NotFound { .. })),
        "{table:?}"
    );

    let bucket = aws
        .s3_model_store(&unique("missing"), "models")
        .latest_version()
        .await;
    assert!(
        matches!(bucket, Err(StoreError::NotFound { .. })),
        "a missing bucket is not an empty store: {bucket:?}"
    );
}

#[tokio::test]
async fn glue_tables_are_created_updated_and_partitions_replaced_by_key() {
    // Arrange
    let aws = emulator().await;
    let database = unique("lake").replace('-', "_");
    fashion_tests::aws::create_glue_database(&aws.glue_client(), &database).await;
    let catalog = aws.glue_table_catalog(&database, "lake-bucket", "lake");
    let mut orders = TableDef::named(tables::ORDERS).expect("orders");
    let day = |d: u32| PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, d).expect("date"));
    let part = |d: u32, rows: u64| PartitionInfo {
        table: tables::ORDERS.into(),
        key: day(d),
        location: format!("s3://lake-bucket/lake/orders/dt=2026-11-{d:02}/"),
        files: 1,
        rows,
        bytes: 100 * rows,
    };

    // Act
    catalog.ensure_table(&orders).await.expect("create");
    catalog.ensure_table(&orders).await.expect("idempotent");
    orders.description = "Clean orders (v2)".into();
    catalog.ensure_table(&orders).await.expect("update");
    catalog.put_partition(&part(25, 3)).await.expect("put");
    catalog.put_partition(&part(24, 2)).await.expect("put");
    catalog.put_partition(&part(25, 9)).await.expect("replace");

    // Assert
    assert_eq!(
        catalog.table(tables::ORDERS).await.expect("table"),
        Some(orders)
    );
    assert_eq!(catalog.table("nope").await.expect("table"), None);
    assert_eq!(
        catalog
            .partitions(tables::ORDERS)
            .await
            .expect("partitions"),
        vec![part(24, 2), part(25, 9)],
        "ordered by key, the second put of a key replaces the first"
    );
    let glue = aws
        .glue_client()
        .get_table()
        .database_name(&database)
        .name(tables::ORDERS)
        .send()
        .await
        .expect("get table");
    let sd = glue
        .table()
        .and_then(|t| t.storage_descriptor())
        .expect("storage descriptor");
    assert_eq!(sd.location(), Some("s3://lake-bucket/lake/orders/"));
    assert_eq!(
        sd.input_format(),
        Some(fashion_aws::glue::PARQUET_INPUT_FORMAT)
    );
    assert_eq!(
        sd.columns()
            .iter()
            .find(|c| c.name() == "total")
            .and_then(|c| c.r#type()),
        Some("decimal(18,2)")
    );
    let orphan = catalog
        .put_partition(&PartitionInfo {
            table: "no_such_table".into(),
            ..part(24, 1)
        })
        .await;
    assert!(
        matches!(orphan, Err(LakeError::NotFound { .. })),
        "{orphan:?}"
    );
}

#[tokio::test]
async fn athena_binds_parameters_and_maps_result_types() {
    // Arrange: moto runs no SQL, so the rows Athena would return are preloaded (under the lock
    // that keeps other tests from taking them).
    common::require_moto("Athena's answers are preloaded through moto's API");
    let aws = emulator().await;
    let workgroup = unique("wg");
    common::create_workgroup(&aws, &workgroup, "s3://athena-results/fashion/").await;
    let engine = aws
        .athena_query_engine("lake", &workgroup, None)
        .with_poll_settings(fashion_aws::PollSettings {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            timeout: Duration::from_secs(30),
        });
    let _athena = common::athena_lock().await;
    common::drain_athena(&engine).await;
    common::preload_athena(vec![common::athena_result(
        &[
            ("article_type", "varchar"),
            ("units", "bigint"),
            ("revenue", "decimal(18,2)"),
            ("share", "double"),
        ],
        &[
            vec![Some("Tshirts"), Some("12"), Some("240.50"), Some("0.25")],
            vec![Some("Jeans"), Some("3"), None, None],
        ],
    )])
    .await;

    // Act
    let res = engine
        .query(
            "SELECT article_type, units, revenue, share FROM daily_sales WHERE dt = $1 AND units > $2 AND colour = $1",
            &[QueryParam::Text("it's".into()), QueryParam::Int(2)],
        )
        .await
        .expect("query");

    // Assert
    assert_eq!(
        res.columns,
        vec!["article_type", "units", "revenue", "share"]
    );
    assert_eq!(
        res.rows,
        vec![
            vec![json!("Tshirts"), json!(12), json!("240.50"), json!(0.25)],
            vec![json!("Jeans"), json!(3), json!(null), json!(null)],
        ]
    );
    let athena = aws.athena_client();
    let ids = athena
        .list_query_executions()
        .work_group(&workgroup)
        .send()
        .await
        .expect("list executions");
    let mut found = false;
    for id in ids.query_execution_ids() {
        let exec = athena
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .expect("get execution");
        let Some(e) = exec.query_execution() else {
            continue;
        };
        if e.query().is_some_and(|q| q.contains("daily_sales")) {
            found = true;
            assert_eq!(
                e.query(),
                Some(
                    "SELECT article_type, units, revenue, share FROM daily_sales WHERE dt = ? AND units > ? AND colour = ?"
                )
            );
            assert_eq!(e.execution_parameters(), ["'it''s'", "2", "'it''s'"]);
            assert_eq!(
                e.query_execution_context().and_then(|c| c.database()),
                Some("lake")
            );
        }
    }
    assert!(found, "the query ran in the workgroup");
}

/// A moto server of this test's own, on `port`, so that the test can stop and restart it.
struct PrivateMoto {
    child: std::process::Child,
}

impl PrivateMoto {
    async fn start(port: u16) -> Self {
        let server = std::env::var("FASHION_TEST_MOTO_SERVER").unwrap_or_else(|_| {
            panic!(
                "FASHION_TEST_MOTO_SERVER is not set: run the AWS tests through \
                 `scripts/services cargo nextest run -p fashion-aws`, which installs moto"
            )
        });
        // Owned at once, so that Drop stops it on every path.
        let moto = Self {
            child: std::process::Command::new(server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start moto_server"),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not listen on port {port}");
    }

    fn stop(mut self) {
        self.child.kill().expect("stop moto_server");
        self.child.wait().expect("reap moto_server");
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 14: the AWS adapters through an emulator restart. While it is down every call fails
/// retryably (after the SDK's and the adapter's retries, within its timeouts) with a message
/// naming the resource; after it comes back empty (moto keeps nothing) a missing resource is a
/// clear not-found error; once the resources exist again, the same clients work, without a
/// restart of their own.
#[tokio::test]
async fn the_adapters_survive_an_emulator_restart() {
    // Arrange: a private emulator, a stream and an activity table on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let moto = PrivateMoto::start(port).await;
    let aws = fashion_aws::AwsConfig::builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(common::REGION)
        .static_credentials("testing", "testing")
        .sdk_retries(2, Duration::from_millis(10))
        .attempt_timeout(Duration::from_secs(2))
        .backoff(common::quick_backoff())
        .load()
        .await;
    let stream = unique("restart");
    common::create_stream(&aws, &stream, 1).await;
    let (table, activity) = common::activity_store(&aws).await;
    let clicks = aws.kinesis_clickstream(&stream);
    let record = || OutboundRecord {
        partition_key: "7".into(),
        data: b"{}".to_vec(),
    };
    clicks.publish(&[record()]).await.expect("publish before");

    // Act: the emulator goes away, then comes back empty, then the resources are recreated.
    moto.stop();
    let started = std::time::Instant::now();
    let down_publish = clicks.publish(&[record()]).await;
    let down_read = activity.get_many(&[cid(7)]).await;
    let down_for = started.elapsed();
    let moto = PrivateMoto::start(port).await;
    let missing = clicks.publish(&[record()]).await;
    common::create_stream(&aws, &stream, 1).await;
    common::create_table(&aws, &table, &fashion_aws_core::dynamodb::USER_ACTIVITY).await;
    let back_publish = clicks.publish(&[record()]).await;
    let back_read = activity.get_many(&[cid(7)]).await;
    drop(moto);

    // Assert
    let e = down_publish.expect_err("publishing while the emulator is down fails");
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains(&stream), "{e}");
    let e = down_read.expect_err("reading while the emulator is down fails");
    assert!(e.is_retryable(), "{e}");
    assert!(down_for < Duration::from_secs(60), "bounded: {down_for:?}");
    let e = missing.expect_err("the restarted emulator has no stream");
    assert!(
        matches!(e, StreamError::NotFound { .. }),
        "a missing stream is not found, not retried: {e:?}"
    );
    assert!(e.to_string().contains(&stream), "{e}");
    assert_eq!(
        back_publish
            .expect("the same client publishes again")
            .accepted,
        1
    );
    assert_eq!(back_read.expect("the same client reads again"), vec![]);
}
