//! The real stream-processor `bootstrap` binary against a fake Lambda Runtime API on loopback,
//! with AWS's sample Kinesis event and with click events, its stores on the AWS emulator.

use crate::common;

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use common::{FakeRuntime, Outcome, ProcessorResources, emulator, kinesis_event};
use fashion_domain::ports::{
    DeadLetterReader, ModelStore, ProductCatalog, RecommendationReader, UserActivityStore,
};
use fashion_lambda::settings;
use fashion_tests::fixtures::{cid, product, t0, view};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the binary as Lambda would, pointed at the fake runtime and the emulator.
fn spawn_bootstrap(
    runtime: &FakeRuntime,
    r: &ProcessorResources,
    recommendations_table: &str,
) -> Child {
    common::bootstrap(
        env!("CARGO_BIN_EXE_stream-processor"),
        "stream-processor",
        256,
        runtime,
    )
    .env(settings::ACTIVITY_TABLE, &r.activity)
    .env(settings::RECOMMENDATIONS_TABLE, recommendations_table)
    .env(settings::CATALOG_TABLE, &r.catalog)
    .env(settings::DEAD_LETTERS_TABLE, &r.dead_letters)
    .env(settings::MODELS_BUCKET, &r.models)
    .spawn()
    .expect("start the bootstrap binary")
}

fn response(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(_, body) => body,
        other => panic!("expected a response, got {other:?}"),
    }
}

/// Three product views by customer 7 and one malformed record, arrived just after them.
fn clicks_and_a_bad_record() -> (Value, Vec<String>) {
    let events: Vec<Vec<u8>> = (1..=3)
        .map(|n| view(100 + n, 7, n as u32, n as i64).to_json())
        .collect();
    let seqs: Vec<String> = (1..=4)
        .map(|n| format!("4959033827149025660855969253836157109592157598913658{n:04}"))
        .collect();
    let records = vec![
        (seqs[0].as_str(), "7", events[0].as_slice()),
        (seqs[1].as_str(), "7", events[1].as_slice()),
        (seqs[2].as_str(), "x", b"{not json".as_slice()),
        (seqs[3].as_str(), "7", events[2].as_slice()),
    ];
    (kinesis_event(&records, t0() + Span::minutes(1)), seqs)
}

#[tokio::test]
async fn the_bootstrap_answers_aws_sample_event_and_applies_click_events() {
    // Arrange
    let aws = emulator().await;
    let r = ProcessorResources::create(&aws).await;
    aws.dynamodb_product_catalog(&r.catalog)
        .upsert_many(&(1..=5).map(product).collect::<Vec<_>>())
        .await
        .expect("catalog");
    aws.s3_model_store(&r.models, "models")
        .put(&common::small_model())
        .await
        .expect("model");
    let mut runtime = FakeRuntime::start().await;
    let sample: Value =
        serde_json::from_str(include_str!("../fixtures/example-kinesis-event.json"))
            .expect("AWS's sample Kinesis event");

    // Act
    let started = Instant::now();
    let mut child = spawn_bootstrap(&runtime, &r, &r.recommendations);
    tokio::time::timeout(ANSWER_TIMEOUT, runtime.first_next.notified())
        .await
        .expect("the function asked for its first event");
    let cold_start = started.elapsed();
    runtime.invoke(sample);
    let first = response(runtime.outcome(ANSWER_TIMEOUT).await);
    let (clicks, _) = clicks_and_a_bad_record();
    runtime.invoke(clicks.clone());
    let second = response(runtime.outcome(ANSWER_TIMEOUT).await);
    runtime.invoke(clicks);
    let replay = response(runtime.outcome(ANSWER_TIMEOUT).await);
    let peak = child.id().and_then(common::peak_rss_kib);
    child.kill().await.expect("stop the function");

    // Assert
    assert_eq!(
        first,
        json!({ "batchItemFailures": [] }),
        "the sample's payloads are not click events: dead-lettered, not failed"
    );
    assert_eq!(second, json!({ "batchItemFailures": [] }));
    assert_eq!(
        replay,
        json!({ "batchItemFailures": [] }),
        "a replayed batch succeeds"
    );
    let dead = aws.dynamodb_dead_letter_sink(&r.dead_letters);
    assert_eq!(
        dead.count().await.expect("count"),
        3,
        "the sample's two records and the malformed one, each stored once"
    );
    let activity = aws
        .dynamodb_user_activity_store(&r.activity, Duration::from_secs(3600))
        .get_many(&[cid(7)])
        .await
        .expect("activity");
    assert_eq!(activity.len(), 1);
    assert_eq!(
        activity[0].event_count, 3,
        "three events applied once, the replay changed nothing"
    );
    let recs = aws
        .dynamodb_recommendation_store(&r.recommendations)
        .get(cid(7))
        .await
        .expect("recommendations");
    assert!(
        recs.is_some(),
        "recommendations were written for customer 7"
    );
    eprintln!(
        "stream-processor bootstrap: cold start to first invocation/next {} ms, peak RSS {} KiB",
        cold_start.as_millis(),
        peak.map_or_else(|| "unknown".to_owned(), |k| k.to_string())
    );
}

#[tokio::test]
async fn records_whose_writes_fail_are_returned_as_batch_item_failures() {
    // Arrange: the recommendations table does not exist, so every valid record's write fails.
    let aws = emulator().await;
    let r = ProcessorResources::create(&aws).await;
    aws.dynamodb_product_catalog(&r.catalog)
        .upsert_many(&(1..=5).map(product).collect::<Vec<_>>())
        .await
        .expect("catalog");
    aws.s3_model_store(&r.models, "models")
        .put(&common::small_model())
        .await
        .expect("model");
    let mut runtime = FakeRuntime::start().await;
    let mut child = spawn_bootstrap(&runtime, &r, &common::unique("missing"));
    let (clicks, seqs) = clicks_and_a_bad_record();

    // Act
    runtime.invoke(clicks);
    let answer = response(runtime.outcome(ANSWER_TIMEOUT).await);
    child.kill().await.expect("stop the function");

    // Assert
    let mut failed: Vec<String> = answer["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("itemIdentifier")
                .to_owned()
        })
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![seqs[0].clone(), seqs[1].clone(), seqs[3].clone()],
        "exactly the click records are retried; the malformed one is dead-lettered"
    );
    assert_eq!(
        aws.dynamodb_dead_letter_sink(&r.dead_letters)
            .count()
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn a_missing_setting_fails_the_cold_start_with_every_problem_named() {
    // Arrange
    let runtime = FakeRuntime::start().await;

    // Act: no table or bucket names at all.
    let child = Command::new(env!("CARGO_BIN_EXE_stream-processor"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "stream-processor")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the bootstrap binary");
    let out = tokio::time::timeout(ANSWER_TIMEOUT, child.wait_with_output())
        .await
        .expect("the function exits")
        .expect("output");

    // Assert
    assert!(
        !out.status.success(),
        "a misconfigured function must not start"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for var in [
        settings::ACTIVITY_TABLE,
        settings::RECOMMENDATIONS_TABLE,
        settings::CATALOG_TABLE,
        settings::DEAD_LETTERS_TABLE,
        settings::MODELS_BUCKET,
    ] {
        assert!(said.contains(var), "{var} is named in {said:?}");
    }
}

/// Issue 14, defect 6: a corrupt newest model does not fail the cold start (on every shard, for
/// good): the function starts with the last good model, says so, and processes events.
#[tokio::test]
async fn a_corrupt_newest_model_starts_the_function_with_the_last_good_one() {
    // Arrange: a good model, then a newer one whose object is truncated garbage.
    let aws = emulator().await;
    let r = ProcessorResources::create(&aws).await;
    aws.dynamodb_product_catalog(&r.catalog)
        .upsert_many(&(1..=5).map(product).collect::<Vec<_>>())
        .await
        .expect("catalog");
    let good = common::small_model();
    aws.s3_model_store(&r.models, "models")
        .put(&good)
        .await
        .expect("model");
    let newer = format!("{}-z", good.version);
    for (key, body) in [
        (
            format!("models/{newer}.json"),
            "{\"version\":\"trunc".to_owned(),
        ),
        ("models/LATEST".to_owned(), newer.clone()),
    ] {
        aws.s3_client()
            .put_object()
            .bucket(&r.models)
            .key(key)
            .body(body.into_bytes().into())
            .send()
            .await
            .expect("put object");
    }
    let mut runtime = FakeRuntime::start().await;

    // Act
    let mut child = spawn_bootstrap(&runtime, &r, &r.recommendations);
    tokio::time::timeout(ANSWER_TIMEOUT, runtime.first_next.notified())
        .await
        .expect("the cold start succeeded and the function asked for its first event");
    let (clicks, _) = clicks_and_a_bad_record();
    runtime.invoke(clicks);
    let answer = response(runtime.outcome(ANSWER_TIMEOUT).await);
    child.kill().await.expect("stop the function");

    // Assert
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    let recs = aws
        .dynamodb_recommendation_store(&r.recommendations)
        .get(cid(7))
        .await
        .expect("recommendations")
        .expect("written for customer 7");
    assert_eq!(
        recs.model_version, good.version,
        "scored with the last good model"
    );
}
