//! The commands on a provisioned `emulator` stack (`--stack emulator`), as a user runs them after
//! `provisioning up --stack emulator`: the resource names come from provisioning's saved state,
//! never from the user. From a fresh stack: `catalog import` reaches the DynamoDB catalog, so
//! the stream processor's Lambda handler enriches a click instead of dead-lettering it; `recs`
//! and `dead-letters list` read their DynamoDB tables. Built only with the
//! `aws` feature (`scripts/test` runs it).

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::catalog_csv::write_styles;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::RecommendationStore;
use fashion_domain::recommendation::{Reason, Recommendations, RecommendedItem};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use fashion_lambda::settings::StreamProcessorSettings;
use fashion_lambda::stream_processor::{StreamProcessorFunction, to_kinesis_event};
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::state::StackState;
use provisioning::layout::names;
use provisioning::package::bootstrap_zip;
use provisioning::providers::aws::{OUT_ARN, OUT_NAME, dynamodb, kinesis, s3};
use serde_json::Value;

use crate::demo_emulator::endpoint;

/// The stack's settings the `fashion` processes read, as environment variables.
fn stack_env(cfg: &StackConfig) -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL",
            cfg.endpoint_url.clone().expect("endpoint"),
        ),
        ("FASHION_PROVISION_NAME_PREFIX", cfg.name_prefix.clone()),
        (
            "FASHION_PROVISION_STATE_DIR",
            cfg.state_dir.display().to_string(),
        ),
    ]
}

/// Runs `fashion --json --stack emulator ARGS` in `dir`; its JSON output, or its error text.
fn fashion(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Result<Value, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fashion"));
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--json", "--stack", "emulator"])
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FASHION_STACK")
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run fashion");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("one JSON document"))
}

/// A fresh emulator stack in `dir` (placeholder Lambda packages: the emulator never runs them).
async fn provision(dir: &Path) -> StackConfig {
    let mut cfg = StackConfig::builtin(StackName::Emulator).expect("builtin config");
    cfg.endpoint_url = Some(endpoint());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    cfg.name_prefix = format!("fcli-{:08x}", nanos ^ std::process::id());
    cfg.state_dir = dir.join(".state");
    for (name, f) in cfg.functions_by_name() {
        let zip = dir.join(format!("{name}.zip"));
        std::fs::write(&zip, bootstrap_zip(b"#!/bin/sh\nexit 1\n").expect("zip")).expect("write");
        f.zip = zip;
    }
    cfg.validate().expect("valid config");
    let report = provisioning::providers::connect(cfg.clone())
        .await
        .expect("reach the emulator")
        .up()
        .await
        .expect("up");
    assert!(report.is_ok(), "provisioning failed: {:?}", report.failures);
    cfg
}

#[tokio::test]
async fn catalog_recs_and_dead_letters_run_on_a_provisioned_emulator_stack() {
    // Arrange: a fresh stack, and a styles.csv with one row no product can come from.
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = provision(dir.path()).await;
    let env = stack_env(&cfg);
    let generator = Generator::new(GenConfig {
        days: 1,
        users: 20,
        products: 30,
        start: (Utc::now() - Duration::days(2)).date_naive(),
        dirty_rate: 0.0,
        ..GenConfig::default()
    });
    let mut styles = write_styles(generator.products());
    styles
        .push_str("not-a-number,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Bad row\n");
    let styles_file = dir.path().join("styles.csv");
    std::fs::write(&styles_file, styles).expect("write styles.csv");
    let styles_arg = styles_file.display().to_string();

    // Act: import, then look one product up.
    let imported = fashion(dir.path(), &env, &["catalog", "import", &styles_arg]).expect("import");
    let product = &generator.products()[0];
    let shown = fashion(
        dir.path(),
        &env,
        &["catalog", "show", &product.id.to_string()],
    )
    .expect("show");

    // Assert: every good row reached the stack's catalog, the bad one is reported.
    assert_eq!(imported["stack"], "emulator");
    assert_eq!(
        imported["imported"].as_u64(),
        Some(generator.products().len() as u64)
    );
    assert_eq!(imported["rejected"].as_u64(), Some(1));
    assert_eq!(
        shown["productDisplayName"].as_str(),
        Some(product.product_display_name.as_str())
    );

    // Act: a click on an imported product through the stream processor's Lambda handler, as
    // the event-source mapping would deliver it.
    let state = StackState::load(&cfg.state_file())
        .expect("state")
        .expect("provisioned");
    let out = |kind: &str, name: &str, key: &str| {
        state
            .outputs
            .get(kind, name)
            .and_then(|o| o.get(key))
            .cloned()
            .unwrap_or_else(|| panic!("no {key} for {kind} {name}"))
    };
    let table = |name: &str| out(dynamodb::KIND, name, OUT_NAME);
    let aws = fashion_aws::AwsConfig::builder()
        .endpoint_url(endpoint())
        .region(&cfg.region)
        .static_credentials("test", "test")
        .load()
        .await;
    let function = StreamProcessorFunction::new(
        &StreamProcessorSettings {
            activity_table: table(names::USER_ACTIVITY),
            recommendations_table: table(names::RECOMMENDATIONS),
            catalog_table: table(names::PRODUCTS),
            dead_letters_table: table(names::DEAD_LETTERS),
            models_bucket: out(s3::KIND, names::LAKE, OUT_NAME),
            models_prefix: "models".into(),
            activity_ttl: std::time::Duration::from_secs(3600),
            model_refresh: std::time::Duration::from_secs(300),
        },
        &aws,
    )
    .await
    .expect("cold start");
    let click = generator
        .day(0)
        .events
        .into_iter()
        .find(|e| e.product_id.is_some())
        .expect("a click on a product");
    let record = StreamRecord {
        shard_id: ShardId("shardId-000000000000".into()),
        sequence_number: SequenceNumber("1".into()),
        partition_key: click.partition_key.clone(),
        data: click.data.clone(),
        arrived_at: click.occurred_at,
    };
    let event = to_kinesis_event(
        &[record],
        &out(kinesis::KIND, names::CLICKSTREAM, OUT_ARN),
        &cfg.region,
    );
    let (_, report) = function
        .handle_at(&event, click.occurred_at + Duration::seconds(1))
        .await;

    // Assert: enriched from the imported catalog, not dead-lettered as an unknown product.
    assert_eq!(
        (report.processed, report.dead_lettered),
        (1, 0),
        "{report:?}"
    );
    let letters = fashion(dir.path(), &env, &["dead-letters", "list"]).expect("dead letters");
    assert_eq!(letters["total_stored"].as_u64(), Some(0), "{letters}");

    // Act: recommendations as the processor stores them with a model (this stack has none
    // yet, so the click above left the fallbacks' empty list), read back by `recs`.
    let stored = Recommendations {
        customer_id: CustomerId::new(42).expect("id"),
        items: vec![RecommendedItem {
            product_id: product.id,
            score: 0.5,
            reason: Reason::Similar,
        }],
        model_version: "m1".into(),
        updated_at: Utc::now(),
    };
    aws.dynamodb_recommendation_store(&table(names::RECOMMENDATIONS))
        .put_many(std::slice::from_ref(&stored))
        .await
        .expect("store recommendations");
    let recs = fashion(dir.path(), &env, &["recs", "42"]).expect("recs");

    // Assert
    assert_eq!(
        serde_json::from_value::<Recommendations>(recs).expect("recommendations"),
        stored,
        "`recs` reads the stack's DynamoDB table"
    );
}

#[test]
fn a_stack_never_provisioned_is_named_with_the_command_that_provisions_it() {
    // Arrange: a prefix and state directory with no stack in them.
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_owned()),
        ("FASHION_PROVISION_NAME_PREFIX", "fcli-never".to_owned()),
        (
            "FASHION_PROVISION_STATE_DIR",
            dir.path().join(".state").display().to_string(),
        ),
    ];

    // Act
    let err = fashion(dir.path(), &env, &["recs", "42"]).expect_err("no stack, no answer");

    // Assert
    assert!(
        err.contains("has not been provisioned")
            && err.contains("cargo run -p provisioning -- up --stack emulator"),
        "{err}"
    );
}

#[test]
fn commands_the_emulator_stack_does_not_run_say_what_does_that_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = fashion(dir.path(), &[], &["sink", "run"]).expect_err("Firehose does that work");
    assert!(err.contains("Firehose delivery stream"), "{err}");
    let err = fashion(dir.path(), &[], &["train"]).expect_err("not yet on the emulator");
    assert!(err.contains("local stack only"), "{err}");
}
