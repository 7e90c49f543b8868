//! The real `firehose-transform` bootstrap binary against a fake Lambda Runtime API, with a batch
//! as Firehose hands it over (records read from Kinesis, base64 data), its dead letters on the
//! AWS emulator's DynamoDB.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use common::{FakeRuntime, Outcome, ProcessorResources, emulator};
use fashion_domain::lake::PartitionKey;
use fashion_domain::ports::DeadLetterReader;
use fashion_lambda::settings;
use fashion_tests::fixtures::{t0, view};
use serde_json::{Value, json};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A Firehose transformation event over a Kinesis source, its records arrived at `arrived`.
fn firehose_event(payloads: &[&[u8]], arrived: DateTime<Utc>) -> Value {
    let millis = arrived.timestamp_millis();
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = format!("49590338271490256608559692538361571095921575989136588{i:03}");
            json!({
                "recordId": format!("{seq}-0"),
                "approximateArrivalTimestamp": millis + 500,
                "data": BASE64.encode(data),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": "7",
                    "approximateArrivalTimestamp": millis,
                    "sequenceNumber": seq,
                    "subsequenceNumber": 0,
                },
            })
        })
        .collect();
    json!({
        "invocationId": "00540a87-5050-496a-84e4-e7d92bbaf5e2",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/clickstream",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/clickstream",
        "region": "us-east-1",
        "records": records,
    })
}

#[tokio::test]
async fn the_transformation_lands_valid_events_by_event_hour_and_dead_letters_the_rest() {
    // Arrange
    let aws = emulator().await;
    let r = ProcessorResources::create(&aws).await;
    let mut runtime = FakeRuntime::start().await;
    let valid = view(1, 7, 3, 30).to_json();
    let other = view(2, 7, 4, 90).to_json();
    let mut far_future = view(3, 7, 5, 0);
    far_future.occurred_at = t0().fixed_offset() + chrono::Duration::days(400);
    let far_future = far_future.to_json();
    let batch = firehose_event(
        &[&valid, b"{not json", &valid, &far_future, &other],
        t0() + chrono::Duration::minutes(2),
    );

    // Act
    let mut child = common::bootstrap(
        env!("CARGO_BIN_EXE_firehose-transform"),
        "firehose-transform",
        256,
        &runtime,
    )
    .env(settings::DEAD_LETTERS_TABLE, &r.dead_letters)
    .spawn()
    .expect("start the bootstrap binary");
    runtime.invoke(batch.clone());
    let answer = runtime.outcome(ANSWER_TIMEOUT).await;
    child.kill().await.expect("stop the function");

    // Assert
    let Outcome::Response(_, answer) = answer else {
        panic!("expected a response, got {answer:?}");
    };
    let records = answer["records"].as_array().expect("records");
    let results: Vec<&str> = records
        .iter()
        .map(|r| r["result"].as_str().expect("result"))
        .collect();
    assert_eq!(results, ["Ok", "Dropped", "Dropped", "Dropped", "Ok"]);
    for (out, sent) in records
        .iter()
        .zip(batch["records"].as_array().expect("sent"))
    {
        assert_eq!(
            out["recordId"], sent["recordId"],
            "one answer per record, in order"
        );
    }
    let row: Value = serde_json::from_slice(
        &BASE64
            .decode(records[0]["data"].as_str().expect("data"))
            .expect("base64"),
    )
    .expect("the lake row is one JSON object");
    assert_eq!(row["event_id"], view(1, 7, 3, 30).event_id.to_string());
    assert_eq!(row["user_id"], 7);
    assert_eq!(row["product_id"], 3);
    assert!(row["utc_offset_minutes"].is_i64(), "filled: {row}");
    let hour = PartitionKey::hour_of(view(1, 7, 3, 30).occurred_utc());
    let keys = &records[0]["metadata"]["partitionKeys"];
    assert_eq!(keys["dt"], hour.0[0].1);
    assert_eq!(keys["hour"], hour.0[1].1);
    let dead = aws.dynamodb_dead_letter_sink(&r.dead_letters);
    assert_eq!(
        dead.count().await.expect("count"),
        2,
        "the malformed record and the far-future event, not the duplicate"
    );
}
