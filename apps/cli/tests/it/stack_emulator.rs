//! The commands on a provisioned `emulator` stack (`--stack emulator`), as a user runs them after
//! `provisioning up --stack emulator`: the resource names come from provisioning's saved state,
//! never from the user. From a fresh stack: `catalog import` of a Kaggle-format styles.csv,
//! `generate --catalog` over it into the stack (the transactional database, DynamoDB, Kinesis),
//! `etl run` into the S3 lake and Glue, `sink run` and `stream consume` (the Firehose and
//! event-source mapping stand-ins calling the real handlers, as moto runs neither), `train` from
//! the S3 lake, `trends`, `query` (DataFusion over the S3 lake), `recs` and `dead-letters list`,
//! each checked against what was generated. Built only with the `aws` feature (`scripts/test`
//! runs it).

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::catalog_csv::write_styles;
use fashion_domain::ports::HistorySource;
use futures::TryStreamExt;
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::state::StackState;
use provisioning::layout::names;
use provisioning::package::bootstrap_zip;
use provisioning::providers::aws::{OUT_NAME, glue, s3};
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
    fashion_on("emulator", dir, env, args)
}

/// Runs `fashion --json --stack STACK ARGS` in `dir`; its JSON output, or its error text.
fn fashion_on(
    stack: &str,
    dir: &Path,
    env: &[(&str, String)],
    args: &[&str],
) -> Result<Value, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fashion"));
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--json", "--stack", stack])
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
async fn the_pipeline_runs_command_by_command_on_a_provisioned_emulator_stack() {
    // Arrange: a fresh stack.
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = provision(dir.path()).await;
    let env = stack_env(&cfg);
    let run = |args: &[&str]| {
        fashion(dir.path(), &env, args).unwrap_or_else(|e| panic!("fashion {args:?}: {e}"))
    };
    // One day, yesterday: the stream stamps arrival with the wall clock, and a click the
    // generator dates three days later must lie in the future to be refused.
    let start = Utc::now().date_naive() - Duration::days(1);
    let last = start;

    // Act: a Kaggle-format catalog imported into the stack, a store generated over it, then the
    // stand-ins of the event-source mapping and Firehose, the daily job, the trainer, and the
    // stream processor again with the model.
    let theirs = Generator::new(GenConfig {
        seed: 999,
        products: 300,
        ..GenConfig::default()
    });
    let mut styles_text = write_styles(theirs.products());
    styles_text
        .push_str("not-a-number,Men,Apparel,Topwear,Tshirts,Navy Blue,Fall,2011,Casual,Bad row\n");
    let styles = dir.path().join("styles.csv");
    std::fs::write(&styles, styles_text).expect("write styles.csv");
    let styles_arg = styles.display().to_string();
    let imported = run(&["catalog", "import", &styles_arg]);
    let generated = run(&[
        "generate",
        "--catalog",
        &styles_arg,
        "--days",
        "1",
        "--users",
        "60",
        "--dirty-rate",
        "0.02",
        "--start",
        &start.to_string(),
    ]);
    let etl = run(&["etl", "run", "--date", &start.to_string()]);
    // The same day again, by the deployed function (its handler, wired by its provisioned
    // environment: the emulator runs no function).
    let invoked = run(&["etl", "run", "--invoke", "--date", &start.to_string()]);
    let landed = run(&["sink", "run"]);
    let trained = run(&["train"]);
    let processed = run(&["stream", "consume"]);
    // No --date: the last day is read from the delivered clickstream's `dt=` prefixes.
    let trends = run(&["trends"]);
    let letters = run(&["dead-letters", "list"]);

    // Assert: the catalog reached DynamoDB (the bad row reported), and the store was generated
    // over it ...
    assert_eq!(imported["stack"], "emulator");
    assert_eq!(imported["imported"].as_u64(), Some(300));
    assert_eq!(imported["rejected"].as_u64(), Some(1));
    assert_eq!(generated["products"].as_u64(), Some(300), "{generated}");
    let product = &theirs.products()[0];
    let shown = run(&["catalog", "show", &product.id.to_string()]);
    assert_eq!(
        shown["productDisplayName"].as_str(),
        Some(product.product_display_name.as_str())
    );
    // ... Firehose's stand-in landed every valid click and set the invalid ones aside ...
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let invalid = count(&generated, "invalid_events");
    let valid = count(&generated, "events_sent") - count(&generated, "event_duplicates") - invalid;
    assert!(invalid > 0, "the generator sent dirty clicks: {generated}");
    assert_eq!(count(&landed, "dead_lettered"), invalid, "{landed}");
    assert!(count(&landed, "landed") >= valid, "{landed}");
    // ... the daily job read the transactional database into the S3 lake and found the
    // catalog in step ...
    assert_eq!(etl["date"], start.to_string());
    assert!(
        etl["written"]["order_items"].as_u64().unwrap_or(0) > 0,
        "{etl}"
    );
    assert_eq!(etl["catalog"]["in_store"].as_u64(), Some(300), "{etl}");
    assert_eq!(etl["catalog"]["written"].as_u64(), Some(0), "{etl}");
    assert_eq!(
        invoked["function"].as_str(),
        Some(cfg.physical(names::DAILY_JOB).as_str()),
        "{invoked}"
    );
    assert_eq!(invoked["date"], etl["date"]);
    assert_eq!(
        invoked["written"], etl["written"],
        "the function rewrote the day as the run from here wrote it: {invoked} vs {etl}"
    );
    assert_eq!(
        invoked["catalog"]["in_store"].as_u64(),
        Some(300),
        "{invoked}"
    );
    // ... the trainer read the clicks and the order lines from S3 ...
    assert!(count(&trained, "interactions") > 0, "{trained}");
    assert!(count(&trained, "purchases") > 0, "{trained}");
    // ... and the processor enriched every valid click from the imported catalog.
    assert_eq!(count(&processed, "dead_lettered"), invalid, "{processed}");
    assert_eq!(count(&processed, "processed"), valid, "{processed}");
    assert!(
        count(&processed, "recommendations_written") > 0,
        "{processed}"
    );
    assert_eq!(trends["date"], last.to_string());
    assert!(
        trends["article_types"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{trends}"
    );
    assert_eq!(count(&letters, "total_stored"), 2 * invalid, "{letters}");
    for rule in letters["by_rule"].as_object().expect("by rule").keys() {
        assert!(
            rule.starts_with("lake-gate/") || rule.starts_with("stream-processor/"),
            "{rule}"
        );
    }
    let with_recs = (1..=60)
        .map(|c| run(&["recs", &c.to_string()]))
        .filter(|r| r["items"].as_array().is_some_and(|i| !i.is_empty()))
        .count();
    assert!(
        with_recs > 0,
        "`recs` reads the recommendations from DynamoDB"
    );

    // Act + Assert: the lake read through its contract holds each valid click once; a second
    // `sink run` has nothing left to deliver.
    let aws = fashion_aws::AwsConfig::builder()
        .endpoint_url(endpoint())
        .region(&cfg.region)
        .static_credentials("test", "test")
        .load()
        .await;
    let state = StackState::load(&cfg.state_file())
        .expect("state")
        .expect("provisioned");
    let name = |kind: &str, n: &str| {
        state
            .outputs
            .get(kind, n)
            .and_then(|o| o.get(OUT_NAME))
            .cloned()
            .expect("provisioned name")
    };
    let history = aws.s3_history_source(
        &name(glue::DATABASE_KIND, names::LAKE),
        &name(s3::KIND, names::LAKE),
        "lake",
    );
    let clicks: Vec<_> = history
        .clickstream(
            chrono::DateTime::<Utc>::MIN_UTC,
            chrono::DateTime::<Utc>::MAX_UTC,
        )
        .try_concat()
        .await
        .expect("read the lake");
    assert_eq!(clicks.len() as u64, valid);
    let again = run(&["sink", "run"]);
    assert_eq!(count(&again, "records"), 0, "{again}");

    // Act: Firehose delivers one object twice (at least once), then SQL over the S3 lake.
    let bucket = name(s3::KIND, names::LAKE);
    let s3 = aws.s3_client();
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/clickstream/dt=")
        .send()
        .await
        .expect("list");
    let first = listed
        .contents()
        .first()
        .and_then(|o| o.key())
        .expect("a delivered object")
        .to_owned();
    s3.copy_object()
        .bucket(&bucket)
        .copy_source(format!("{bucket}/{first}"))
        .key(format!("{first}-redelivered"))
        .send()
        .await
        .expect("redeliver");
    let top = run(&["query", "--named", "top_products"]);
    // No --param: the window ends on the clickstream's last delivered day.
    let funnel = run(&["query", "--named", "daily_funnel"]);

    // Assert: DataFusion read the daily job's tables and the delivered clickstream from S3,
    // each click once.
    assert!(
        top["rows"].as_array().is_some_and(|r| !r.is_empty()),
        "{top}"
    );
    let events_column = funnel["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|c| c == "events"))
        .expect("an events column");
    let counted: u64 = funnel["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[events_column].as_u64().expect("a count"))
        .sum();
    assert_eq!(counted, valid, "{funnel}");

    // Assert: Athena's table definitions read what was delivered and written. Moto's Athena runs
    // no SQL, so the Glue tables Athena would read through are checked against the objects: the
    // clickstream's projection template names each delivered object's directory, with `dt` and
    // `hour` inside the projected ranges, and every table's columns are the Hive reading of its
    // files' Parquet schema.
    let database = name(glue::DATABASE_KIND, names::LAKE);
    // A Glue table's parameters, and its columns as (name, Hive type).
    let glue_table = |table: &'static str| {
        let glue = aws.glue_client();
        let database = database.clone();
        async move {
            let t = glue
                .get_table()
                .database_name(database)
                .name(table)
                .send()
                .await
                .expect("the Glue table")
                .table
                .expect("a table");
            let columns: Vec<(String, String)> = t
                .storage_descriptor()
                .expect("storage descriptor")
                .columns()
                .iter()
                .map(|c| {
                    (
                        c.name().to_owned(),
                        c.r#type().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            (t.parameters().cloned().unwrap_or_default(), columns)
        }
    };
    let (parameters, clickstream_columns) = glue_table("clickstream").await;
    assert_eq!(parameters["projection.enabled"], "true");
    let template = &parameters["storage.location.template"];
    for object in listed.contents() {
        let key = object.key().expect("key");
        let partition = key
            .strip_prefix("lake/clickstream/")
            .and_then(|rest| rest.rsplit_once('/'))
            .map(|(dir, _)| dir)
            .expect("a partitioned key");
        let (dt, hour) = partition
            .strip_prefix("dt=")
            .and_then(|p| p.split_once("/hour="))
            .expect("dt=/hour=");
        assert!(
            chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d")
                .is_ok_and(|d| d.to_string().as_str() >= "2020-01-01"),
            "{key}: dt within projection.dt.range"
        );
        assert!(
            hour.len() == 2 && hour.parse::<u32>().is_ok_and(|h| h <= 23),
            "{key}: hour as projection.hour.digits/range say"
        );
        let directory = template.replace("${dt}", dt).replace("${hour}", hour);
        assert_eq!(
            format!("s3://{bucket}/{key}")
                .rsplit_once('/')
                .map(|(d, _)| format!("{d}/")),
            Some(directory.clone()),
            "the projection locates {key}"
        );
    }
    let object = |key: String| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            fashion_parquet::hive::hive_columns(body).unwrap_or_else(|e| panic!("{key}: {e}"))
        }
    };
    assert_eq!(
        object(first.clone()).await,
        clickstream_columns,
        "Athena reads the delivered clickstream's columns"
    );
    let order_items = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("lake/order_items/dt=")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with(".parquet"))
        .expect("an order_items file")
        .to_owned();
    assert_eq!(
        object(order_items).await,
        glue_table("order_items").await.1,
        "Athena reads the daily job's order lines' columns"
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
fn commands_a_stack_does_not_run_say_what_does_that_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err =
        fashion_on("aws", dir.path(), &[], &["sink", "run"]).expect_err("Firehose does that work");
    assert!(err.contains("Firehose delivery stream"), "{err}");
    let err = fashion(
        dir.path(),
        &[],
        &["query", "--engine", "athena", "--named", "top_products"],
    )
    .expect_err("moto's Athena runs no SQL");
    assert!(err.contains("Athena runs on the aws stack only"), "{err}");
    let err = fashion(dir.path(), &[], &["serve"]).expect_err("not yet on the emulator");
    assert!(err.contains("local stack only"), "{err}");
    let err = fashion(
        dir.path(),
        &[("FASHION_TIME_ZONE", "Europe/Paris".to_owned())],
        &["etl", "run"],
    )
    .expect_err("the emulator stack runs in its own zone");
    assert!(
        err.contains("Europe/Paris") && err.contains("provisioning's time_zone"),
        "{err}"
    );
    let err = fashion_on("local", dir.path(), &[], &["etl", "run", "--invoke"])
        .expect_err("the local stack deploys no function");
    assert!(err.contains("the local stack has none"), "{err}");
}
