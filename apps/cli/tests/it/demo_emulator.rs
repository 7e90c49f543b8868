//! `fashion demo --stack emulator` against the AWS emulator the test command starts (moto on
//! loopback, `FASHION_TEST_AWS_ENDPOINT`): it provisions its own stack, runs the pipeline through
//! Kinesis, the Lambda handlers (the stream processor behind the event-source poller, the
//! Firehose transformation behind the Firehose stand-in), DynamoDB, S3 and Glue, and must tell
//! the same story as the local demo of the same store. What its summary claims is then checked
//! in the emulator directly, the lake read back from S3.
//! Built only with the `aws` feature (`scripts/test` runs it).

use std::process::Command;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use fashion_aws::AwsConfig;
use fashion_domain::lake::tables;
use fashion_domain::ports::{
    CheckpointStore, ClickstreamSource, DeadLetterReader, HistorySource, ModelStore,
    RecommendationReader, TableCatalog,
};
use fashion_domain::services::{lake_gate, stream_processor};
use futures::TryStreamExt;
use serde_json::Value;

const ENDPOINT_VAR: &str = "FASHION_TEST_AWS_ENDPOINT";

/// The variable that picks the AWS test backend (`scripts/lib/services.sh`).
const BACKEND_VAR: &str = "FASHION_TEST_AWS_BACKEND";

/// The emulator's endpoint; a test that needs it fails (never skips) without it, and on real AWS
/// (`FASHION_TEST_AWS_BACKEND=aws`), where only the AWS adapters' contract suites run.
pub(crate) fn endpoint() -> String {
    assert!(
        !std::env::var(BACKEND_VAR).is_ok_and(|b| b.trim() == "aws"),
        "{BACKEND_VAR}=aws: this test runs the demo on an emulator stack and needs an AWS \
         emulator (moto or LocalStack); it does not run on real AWS."
    );
    match std::env::var(ENDPOINT_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: this test needs the AWS emulator the test command starts. \
             Run it with `scripts/test`, or `scripts/services cargo nextest run -p fashion \
             --features aws --test it -E 'test(/^demo_emulator::/)'`."
        ),
    }
}

/// Runs `fashion demo` on `stack` in a fresh data directory and returns its JSON summary. The
/// simulated days end before today: the emulator's Kinesis stamps arrival with the wall clock.
fn demo(stack: &str, dir: &std::path::Path, extra_env: &[(&str, String)]) -> Value {
    let start = (Utc::now() - Duration::days(10)).date_naive().to_string();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fashion"));
    command
        .args(["--data-dir"])
        .arg(dir)
        .args([
            "--seed",
            "11",
            "--time-zone",
            "Asia/Ho_Chi_Minh",
            "--json",
            "demo",
            "--stack",
            stack,
            "--days",
            "3",
            "--users",
            "80",
            "--products",
            "150",
            "--dirty-rate",
            "0.02",
        ])
        .env("FASHION_GENERATOR__START", start)
        .env_remove("DATABASE_URL")
        .env_remove("AWS_PROFILE");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let out = command.output().expect("run fashion demo");
    assert!(
        out.status.success(),
        "fashion demo --stack {stack} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the summary is one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn resource(summary: &Value, role: &str) -> String {
    summary["emulator"]["resources"][role]
        .as_str()
        .unwrap_or_else(|| panic!("the summary names the {role}: {summary}"))
        .to_owned()
}

#[tokio::test]
async fn the_emulator_demo_runs_the_pipeline_through_aws_and_agrees_with_the_local_demo() {
    // Arrange
    let endpoint = endpoint();
    let emulator_dir = tempfile::tempdir().expect("temp dir");
    let local_dir = tempfile::tempdir().expect("temp dir");

    // Act
    let on_aws = demo(
        "emulator",
        emulator_dir.path(),
        &[("AWS_ENDPOINT_URL", endpoint.clone())],
    );
    let local = demo("local", local_dir.path(), &[]);

    // Assert: the run's own checks, and the same story as the local stack.
    for check in [
        "every_event_accounted_for",
        "lake_clickstream_equals_valid_events",
        "lake_clickstream_products_in_catalog",
        "lake_clickstream_times_accepted",
        "daily_jobs_balanced",
    ] {
        assert_eq!(
            on_aws["checks"][check],
            Value::Bool(true),
            "{check}: {on_aws}"
        );
    }
    assert!(
        on_aws["events_dead_lettered"].as_u64().unwrap_or(0) > 0,
        "dirty clicks (future-dated ones included) are dead-lettered on the emulator too"
    );
    for field in [
        "events_generated",
        "events_exact_duplicates",
        "events_processed",
        "events_duplicates_skipped",
        "events_dead_lettered",
        "events_valid_expected",
        "lake_clickstream_events",
        "customers_with_recommendations",
        "models_trained",
        "etl",
        "planted_trends",
        "top_trends",
        "evaluation",
    ] {
        assert_eq!(
            on_aws[field], local[field],
            "{field} differs between the emulator and the local stack"
        );
    }
    for (table, rows) in local["lake_rows"].as_object().expect("lake rows") {
        if table == tables::CLICKSTREAM {
            continue;
        }
        assert_eq!(
            &on_aws["lake_rows"][table], rows,
            "the daily job's {table} differs between the emulator and the local stack"
        );
    }
    assert!(
        local.get("emulator").is_none(),
        "the local summary has no emulator section"
    );

    // Assert: the emulator holds what the summary says.
    let aws = AwsConfig::builder()
        .endpoint_url(&endpoint)
        .region("us-east-1")
        .static_credentials("test", "test")
        .sdk_retries(3, StdDuration::from_millis(10))
        .load()
        .await;
    let bucket = resource(&on_aws, "lake_bucket");
    let database = resource(&on_aws, "glue_database");
    let catalog = aws.glue_table_catalog(&database, &bucket, "lake");
    assert!(
        catalog
            .partitions(tables::CLICKSTREAM)
            .await
            .expect("Glue partitions")
            .is_empty(),
        "Firehose registers no clickstream partition (the table projects them)"
    );
    let s3 = aws.s3_client();
    let delivery_stream = resource(&on_aws, "delivery_stream");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/clickstream/dt=")
        .send()
        .await
        .expect("list the clickstream");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(!keys.is_empty(), "the stand-in delivered objects");
    for key in &keys {
        let name = key.rsplit('/').next().unwrap_or_default();
        assert!(
            key.contains("/hour=") && name.starts_with(&format!("{delivery_stream}-1-")),
            "{key} is in the delivery stream's layout (dt=/hour=/<stream>-<version>-<time>-<id>)"
        );
    }
    let history = aws.s3_history_source(&database, &bucket, "lake");
    let read_back: Vec<_> = history
        .clickstream(
            chrono::DateTime::<Utc>::MIN_UTC,
            chrono::DateTime::<Utc>::MAX_UTC,
        )
        .try_concat()
        .await
        .expect("read the clickstream from S3");
    assert_eq!(
        read_back.len() as u64,
        on_aws["events_valid_expected"].as_u64().expect("count"),
        "S3 holds every valid event once, read through the lake's contract"
    );
    let dead_letters = aws.dynamodb_dead_letter_sink(&resource(&on_aws, "dead_letters_table"));
    let letters = dead_letters.list(100_000).await.expect("dead letters");
    let from = |source: &str| letters.iter().filter(|l| l.source == source).count() as u64;
    assert_eq!(
        from(lake_gate::SOURCE),
        on_aws["events_dead_lettered"].as_u64().expect("count"),
        "the Firehose transformation set aside the invalid clicks the processor refused"
    );
    assert_eq!(
        from(stream_processor::SOURCE),
        on_aws["events_dead_lettered"].as_u64().expect("count")
    );
    assert!(
        letters
            .iter()
            .all(|l| !l.code.is_empty() && !l.reason.is_empty()),
        "every dead letter carries its reason"
    );
    assert!(
        !catalog
            .partitions(tables::ORDER_ITEMS)
            .await
            .expect("Glue partitions")
            .is_empty(),
        "the daily job catalogued order lines"
    );
    let recommendations =
        aws.dynamodb_recommendation_store(&resource(&on_aws, "recommendations_table"));
    assert_eq!(
        recommendations.count().await.expect("count"),
        on_aws["customers_with_recommendations"]
            .as_u64()
            .expect("count"),
        "DynamoDB holds the recommendations the summary counts"
    );
    let models = aws.s3_model_store(&bucket, "models");
    assert!(
        models.latest_version().await.expect("latest").is_some(),
        "the trainer stored a model in S3"
    );
    let stream = aws.kinesis_clickstream(&resource(&on_aws, "kinesis_stream"));
    let checkpoints = aws.dynamodb_checkpoint_store(&resource(&on_aws, "checkpoints_table"));
    for shard in stream.shards().await.expect("shards") {
        assert!(
            checkpoints
                .load("stream-processor", &shard)
                .await
                .expect("checkpoint")
                .is_some(),
            "the poller checkpointed shard {shard} in DynamoDB"
        );
    }
    let state = on_aws["emulator"]["state_file"]
        .as_str()
        .expect("state file");
    assert!(
        std::path::Path::new(state).is_file(),
        "provisioning saved the stack's outputs at {state}"
    );
}

#[test]
fn the_emulator_demo_without_an_endpoint_fails_and_says_what_to_set() {
    // Arrange
    let dir = tempfile::tempdir().expect("temp dir");

    // Act
    let out = Command::new(env!("CARGO_BIN_EXE_fashion"))
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["demo", "--stack", "emulator", "--days", "1"])
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove(ENDPOINT_VAR)
        .output()
        .expect("run fashion demo");

    // Assert
    assert!(!out.status.success(), "no emulator, no demo");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("AWS_ENDPOINT_URL"),
        "the error names the variable to set: {said}"
    );
}
