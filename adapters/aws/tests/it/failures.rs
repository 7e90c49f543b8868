//! Failure handling, proven with a fake AWS at the HTTP boundary: the real SDK clients build,
//! sign, send and retry every request, and the fake answers with the partial failures,
//! unprocessed items and throttling errors AWS sends, and records what the adapters sent.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::{FakeAws, aws_error};
use fashion_domain::ports::{
    ClickstreamPublisher, LakeError, QueryEngine, QueryParam, RecommendationReader,
    RecommendationStore, StoreError, StreamError,
};
use fashion_domain::recommendation::Recommendations;
use fashion_domain::stream::OutboundRecord;
use fashion_tests::fixtures::{cid, t0};
use serde_json::{Value, json};

const THROTTLED: &str = "ProvisionedThroughputExceededException";

fn records(n: usize) -> Vec<OutboundRecord> {
    (0..n)
        .map(|i| OutboundRecord {
            partition_key: format!("customer-{}", i % 4),
            data: format!("record-{i}").into_bytes(),
        })
        .collect()
}

/// The payloads of a `PutRecords` or `PutRecordBatch` request, in order.
fn payloads(body: &Value) -> Vec<String> {
    body["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .map(|r| {
            let data = r["Data"].as_str().expect("Data");
            let bytes = aws_smithy_types::base64::decode(data).expect("base64");
            String::from_utf8(bytes)
                .expect("utf-8")
                .trim_end()
                .to_owned()
        })
        .collect()
}

/// A Kinesis that refuses, on the first call only, every record whose payload `refuse` picks, and
/// remembers every payload it stored.
fn flaky_kinesis(
    refuse: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> (FakeAws, Arc<Mutex<Vec<String>>>) {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let log = stored.clone();
    let fake = FakeAws::new(move |n, req| {
        assert_eq!(req.target, "Kinesis_20131202.PutRecords");
        let mut failed = 0;
        let results: Vec<Value> = payloads(&req.body)
            .into_iter()
            .map(|p| {
                if n == 0 && refuse(&p) {
                    failed += 1;
                    json!({ "ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded for shard" })
                } else {
                    log.lock().expect("lock").push(p);
                    json!({ "SequenceNumber": "49590338271490256608559692538361571095921575989136588898", "ShardId": "shardId-000000000000" })
                }
            })
            .collect();
        (
            200,
            json!({ "FailedRecordCount": failed, "Records": results }),
        )
    });
    (fake, stored)
}

#[tokio::test]
async fn a_partial_put_records_failure_resends_only_the_failed_records_none_lost_or_doubled() {
    // Arrange: the first call refuses records 1, 4 and 7.
    let refused = ["record-1", "record-4", "record-7"];
    let (fake, stored) = flaky_kinesis(move |p| refused.contains(&p));
    let kinesis = fake.config(3).await.kinesis_clickstream("clicks");
    let batch = records(10);

    // Act
    let report = kinesis.publish(&batch).await.expect("publish");

    // Assert
    assert_eq!(report.accepted, 10, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 2, "one call, then one retry");
    assert_eq!(
        payloads(&seen[1].body),
        refused,
        "the retry carries exactly the refused records, in order"
    );
    assert_eq!(
        seen[1].body["Records"][0]["PartitionKey"], "customer-1",
        "a retried record keeps its partition key"
    );
    let mut got = stored.lock().expect("lock").clone();
    got.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("record-{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every record stored exactly once");
}

#[tokio::test]
async fn a_request_over_500_records_is_split_and_only_failed_records_are_resent() {
    // Arrange: 1200 records; the first call refuses record-3.
    let (fake, stored) = flaky_kinesis(|p| p == "record-3");
    let kinesis = fake.config(3).await.kinesis_clickstream("clicks");

    // Act
    let report = kinesis.publish(&records(1200)).await.expect("publish");

    // Assert
    assert_eq!(report.accepted, 1200);
    let sizes: Vec<usize> = fake
        .seen()
        .iter()
        .map(|r| payloads(&r.body).len())
        .collect();
    assert_eq!(
        sizes,
        vec![500, 1, 500, 200],
        "batches of at most 500, the retry alone"
    );
    let got: HashSet<String> = stored.lock().expect("lock").iter().cloned().collect();
    assert_eq!(got.len(), 1200);
    assert_eq!(stored.lock().expect("lock").len(), 1200, "nothing doubled");
}

#[tokio::test]
async fn a_record_that_keeps_failing_is_reported_with_its_reason_and_the_rest_are_stored() {
    // Arrange: record-2 fails on every call.
    let fake = FakeAws::new(|_, req| {
        let results: Vec<Value> = payloads(&req.body)
            .into_iter()
            .map(|p| {
                if p == "record-2" {
                    json!({ "ErrorCode": "InternalFailure", "ErrorMessage": "internal" })
                } else {
                    json!({ "SequenceNumber": "1", "ShardId": "shardId-000000000000" })
                }
            })
            .collect();
        (200, json!({ "FailedRecordCount": 1, "Records": results }))
    });
    let kinesis = fake.config(3).await.kinesis_clickstream("clicks");

    // Act
    let report = kinesis.publish(&records(5)).await.expect("publish");

    // Assert
    assert_eq!(report.accepted, 4);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, 2, "reported by index in the request");
    assert!(report.failed[0].1.contains("InternalFailure"));
    assert_eq!(
        fake.seen().len(),
        common::quick_backoff().max_attempts as usize,
        "retried up to the backoff's attempts, then reported"
    );
}

#[tokio::test]
async fn a_throttled_put_records_call_is_retried_then_reported_as_retryable() {
    // Arrange: every call is throttled.
    let fake = FakeAws::new(|_, _| (400, aws_error(THROTTLED, "Rate exceeded")));
    let kinesis = fake.config(3).await.kinesis_clickstream("clicks");

    // Act
    let err = kinesis
        .publish(&records(3))
        .await
        .expect_err("nothing can be stored");

    // Assert
    assert!(
        matches!(err, StreamError::Unavailable { .. }),
        "throttling is Unavailable, not data loss: {err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 3, "the SDK retried the throttled call");
}

#[tokio::test]
async fn a_rejected_stream_request_is_not_retried() {
    // Arrange
    let fake = FakeAws::new(|_, _| {
        (
            400,
            aws_error("ValidationException", "1 validation error detected"),
        )
    });
    let kinesis = fake.config(3).await.kinesis_clickstream("clicks");

    // Act
    let err = kinesis.publish(&records(1)).await.expect_err("refused");

    // Assert
    assert!(matches!(err, StreamError::Rejected { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_partial_firehose_failure_resends_only_the_failed_records() {
    // Arrange: the first call refuses record-0 and record-3.
    let stored = Arc::new(Mutex::new(Vec::new()));
    let log = stored.clone();
    let fake = FakeAws::new(move |n, req| {
        assert_eq!(req.target, "Firehose_20150804.PutRecordBatch");
        let mut failed = 0;
        let results: Vec<Value> = payloads(&req.body)
            .into_iter()
            .map(|p| {
                if n == 0 && (p == "record-0" || p == "record-3") {
                    failed += 1;
                    json!({ "ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down." })
                } else {
                    log.lock().expect("lock").push(p);
                    json!({ "RecordId": "r" })
                }
            })
            .collect();
        (
            200,
            json!({ "FailedPutCount": failed, "Encrypted": false, "RequestResponses": results }),
        )
    });
    let firehose = fake.config(3).await.firehose_publisher("to-lake");

    // Act
    let report = firehose.publish(&records(5)).await.expect("publish");

    // Assert
    assert_eq!(report.accepted, 5);
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(payloads(&seen[1].body), vec!["record-0", "record-3"]);
    let mut got = stored.lock().expect("lock").clone();
    got.sort();
    assert_eq!(
        got,
        (0..5).map(|i| format!("record-{i}")).collect::<Vec<_>>()
    );
}

fn recs(customers: std::ops::RangeInclusive<u64>) -> Vec<Recommendations> {
    customers
        .map(|c| Recommendations {
            customer_id: cid(c),
            items: Vec::new(),
            model_version: "v1".into(),
            updated_at: t0(),
        })
        .collect()
}

fn customer_ids(body: &Value, table: &str) -> Vec<u64> {
    body["RequestItems"][table]
        .as_array()
        .expect("RequestItems")
        .iter()
        .map(|w| {
            w["PutRequest"]["Item"]["customer_id"]["N"]
                .as_str()
                .expect("customer_id")
                .parse()
                .expect("number")
        })
        .collect()
}

#[tokio::test]
async fn unprocessed_dynamodb_items_are_retried_until_every_item_is_written() {
    // Arrange: the first call leaves customers 3, 8 and 20 unprocessed.
    let written = Arc::new(Mutex::new(Vec::new()));
    let log = written.clone();
    let fake = FakeAws::new(move |n, req| {
        assert_eq!(req.target, "DynamoDB_20120810.BatchWriteItem");
        let requests = req.body["RequestItems"]["recs"]
            .as_array()
            .expect("requests")
            .clone();
        let mut unprocessed = Vec::new();
        for (w, c) in requests.iter().zip(customer_ids(&req.body, "recs")) {
            if n == 0 && [3, 8, 20].contains(&c) {
                unprocessed.push(w.clone());
            } else {
                log.lock().expect("lock").push(c);
            }
        }
        let body = if unprocessed.is_empty() {
            json!({ "UnprocessedItems": {} })
        } else {
            json!({ "UnprocessedItems": { "recs": unprocessed } })
        };
        (200, body)
    });
    let store = fake.config(3).await.dynamodb_recommendation_store("recs");

    // Act
    store.put_many(&recs(1..=30)).await.expect("put_many");

    // Assert
    let seen = fake.seen();
    let calls: Vec<Vec<u64>> = seen.iter().map(|r| customer_ids(&r.body, "recs")).collect();
    assert_eq!(
        calls.len(),
        3,
        "25 items, their 3 unprocessed ones, then the last 5"
    );
    assert_eq!(calls[0].len(), 25, "BatchWriteItem takes at most 25 items");
    assert_eq!(
        calls[1],
        vec![3, 8, 20],
        "only the unprocessed items are re-sent"
    );
    let mut got = written.lock().expect("lock").clone();
    got.sort_unstable();
    assert_eq!(got, (1..=30).collect::<Vec<_>>(), "every item written once");
}

#[tokio::test]
async fn items_that_stay_unprocessed_are_reported_unavailable_never_dropped() {
    // Arrange: nothing is ever processed.
    let fake = FakeAws::new(|_, req| {
        let all = req.body["RequestItems"]["recs"].clone();
        (200, json!({ "UnprocessedItems": { "recs": all } }))
    });
    let store = fake.config(3).await.dynamodb_recommendation_store("recs");

    // Act
    let err = store
        .put_many(&recs(1..=2))
        .await
        .expect_err("never written");

    // Assert
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(
        fake.seen().len(),
        common::quick_backoff().max_attempts as usize
    );
}

#[tokio::test]
async fn a_throttled_dynamodb_call_is_retried_then_reported_as_retryable() {
    // Arrange
    let fake = FakeAws::new(|_, _| (400, aws_error(THROTTLED, "Throughput exceeds the limit")));
    let store = fake.config(4).await.dynamodb_recommendation_store("recs");

    // Act
    let err = store.get(cid(1)).await.expect_err("throttled");

    // Assert
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 4, "the SDK retried the throttled call");
}

/// An Athena whose query ends in `status` and whose results come in two pages.
fn athena(status: Value) -> FakeAws {
    FakeAws::new(move |_, req| match req.target.as_str() {
        "AmazonAthena.StartQueryExecution" => (200, json!({ "QueryExecutionId": "q-1" })),
        "AmazonAthena.GetQueryExecution" => (
            200,
            json!({ "QueryExecution": { "QueryExecutionId": "q-1", "StatementType": "DML", "Status": status.clone() } }),
        ),
        "AmazonAthena.GetQueryResults" => {
            let columns = json!([
                { "Name": "product_id", "Type": "bigint" },
                { "Name": "price", "Type": "decimal", "Precision": 18, "Scale": 2 },
                { "Name": "year", "Type": "integer" },
                { "Name": "name", "Type": "varchar" }
            ]);
            if req.body.get("NextToken").is_none() {
                (
                    200,
                    json!({ "NextToken": "page-2", "ResultSet": { "ResultSetMetadata": { "ColumnInfo": columns }, "Rows": [
                        { "Data": [ { "VarCharValue": "product_id" }, { "VarCharValue": "price" }, { "VarCharValue": "year" }, { "VarCharValue": "name" } ] },
                        { "Data": [ { "VarCharValue": "5" }, { "VarCharValue": "10.05" }, {}, { "VarCharValue": "Brand 5, Comma Name" } ] }
                    ] } }),
                )
            } else {
                (
                    200,
                    json!({ "ResultSet": { "ResultSetMetadata": { "ColumnInfo": columns }, "Rows": [
                        { "Data": [ { "VarCharValue": "6" }, {}, { "VarCharValue": "2012" }, { "VarCharValue": "" } ] }
                    ] } }),
                )
            }
        }
        other => panic!("unexpected call {other}"),
    })
}

#[tokio::test]
async fn athena_results_are_paged_typed_and_the_header_row_dropped() {
    // Arrange
    let fake = athena(json!({ "State": "SUCCEEDED" }));
    let engine =
        fake.config(3)
            .await
            .athena_query_engine("lake", "fashion", Some("s3://results/athena/"));

    // Act
    let res = engine
        .query(
            "SELECT * FROM products WHERE dt = $1 AND product_id > $2",
            &[QueryParam::Text("2026-11-24".into()), QueryParam::Int(4)],
        )
        .await
        .expect("query");

    // Assert
    assert_eq!(res.columns, vec!["product_id", "price", "year", "name"]);
    assert_eq!(
        res.rows,
        vec![
            vec![
                json!(5),
                json!("10.05"),
                Value::Null,
                json!("Brand 5, Comma Name")
            ],
            vec![json!(6), Value::Null, json!(2012), json!("")],
        ]
    );
    let start = &fake.seen()[0];
    assert_eq!(
        start.body["QueryString"],
        "SELECT * FROM products WHERE dt = ? AND product_id > ?"
    );
    assert_eq!(
        start.body["ExecutionParameters"],
        json!(["'2026-11-24'", "4"])
    );
    assert_eq!(start.body["WorkGroup"], "fashion");
    assert_eq!(start.body["QueryExecutionContext"]["Database"], "lake");
    assert_eq!(
        start.body["ResultConfiguration"]["OutputLocation"],
        "s3://results/athena/"
    );
}

#[tokio::test]
async fn an_athena_query_failing_on_its_sql_is_a_query_error() {
    let fake = athena(json!({
        "State": "FAILED",
        "StateChangeReason": "line 1:1: mismatched input 'SELEKT'",
        "AthenaError": { "ErrorCategory": 2, "ErrorType": 1001, "Retryable": false }
    }));
    let engine = fake
        .config(3)
        .await
        .athena_query_engine("lake", "fashion", None);

    let err = engine
        .query("SELEKT nonsense", &[])
        .await
        .expect_err("bad SQL");

    assert!(
        matches!(&err, LakeError::Query { message } if message.contains("SELEKT")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_athena_query_failing_inside_the_service_is_retryable() {
    let fake = athena(json!({
        "State": "FAILED",
        "StateChangeReason": "Internal error",
        "AthenaError": { "ErrorCategory": 1, "ErrorType": 401, "Retryable": true }
    }));
    let engine = fake
        .config(3)
        .await
        .athena_query_engine("lake", "fashion", None);

    let err = engine.query("SELECT 1", &[]).await.expect_err("failed");

    assert!(matches!(err, LakeError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
}
