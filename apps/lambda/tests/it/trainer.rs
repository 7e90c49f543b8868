//! The trainer function on the AWS emulator: clickstream and order lines in the S3 lake
//! (catalogued in Glue), products in DynamoDB; a scheduled event in, a model in the S3 model
//! store and the buyers' purchases in their DynamoDB activity records out. Both through the handler and through the real `bootstrap` binary against the fake
//! Lambda Runtime API.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use common::{FakeRuntime, Outcome, activity_table, catalog_table, emulator, lake};
use fashion_aws::AwsConfig;
use fashion_domain::event::{ClickEvent, EventType};
use fashion_domain::ids::OrderId;
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::model::RecModel;
use fashion_domain::money::Cents;
use fashion_domain::order::OrderLine;
use fashion_domain::ports::{
    LakeWriter, ModelStore, ProductCatalog, TableCatalog, UserActivityStore, WriteMode,
};
use fashion_lambda::settings::{self, TrainerSettings};
use fashion_lambda::trainer::TrainerFunction;
use fashion_tests::fixtures::{cid, pid, product, t0, view};
use serde_json::json;
use tokio::process::Command;

const ANSWER_TIMEOUT: StdDuration = StdDuration::from_secs(60);
const MODELS_PREFIX: &str = "models/recommender";
const LOOKBACK_DAYS: &str = "30";

/// The trainer's resources on the emulator, with history in them.
struct Resources {
    catalog: String,
    activity: String,
    bucket: String,
    database: String,
}

impl Resources {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (settings::CATALOG_TABLE, self.catalog.clone()),
            (settings::ACTIVITY_TABLE, self.activity.clone()),
            (settings::MODELS_BUCKET, self.bucket.clone()),
            (settings::MODELS_PREFIX, MODELS_PREFIX.to_owned()),
            (settings::GLUE_DATABASE, self.database.clone()),
            (settings::LAKE_BUCKET, self.bucket.clone()),
            (settings::TRAINER_LOOKBACK_DAYS, LOOKBACK_DAYS.to_owned()),
        ]
    }

    fn settings(&self) -> TrainerSettings {
        let env: BTreeMap<&str, String> = self.env().into_iter().collect();
        TrainerSettings::from_lookup(&|name| env.get(name).cloned()).expect("settings")
    }
}

fn kind(mut e: ClickEvent, kind: EventType) -> ClickEvent {
    e.event_type = kind;
    if kind == EventType::PageView {
        e.product_id = None;
    }
    e
}

/// Customers 1–4 each view products 1 and 2 in one session (and a page without a product);
/// customer 5 views product 5; one view is older than the lookback and one later than training.
/// Customer 9 bought products 3 and 4 in one order.
fn history() -> (Vec<ClickEvent>, Vec<OrderLine>) {
    let mut events = Vec::new();
    for c in 1..=4_u64 {
        let secs = i64::try_from(c).expect("small") * 60;
        events.push(view(c * 10 + 1, c, 1, secs));
        events.push(view(c * 10 + 2, c, 2, secs + 5));
        events.push(kind(view(c * 10 + 3, c, 1, secs + 9), EventType::PageView));
    }
    events.push(view(51, 5, 5, 600));
    events.push(view(61, 6, 6, -40 * 86_400));
    events.push(view(71, 6, 6, 2 * 86_400));
    let line = |n: u32, product: u32| OrderLine {
        order_id: OrderId::new(1).expect("id"),
        line_no: n,
        customer_id: cid(9),
        product_id: pid(product),
        quantity: 1,
        unit_price: Cents(1000),
        line_total: Cents(1000),
        ordered_at: t0() - Duration::hours(1),
    };
    (events, vec![line(1, 3), line(2, 4)])
}

/// Creates the resources and writes the history through the S3 lake writer and Glue.
async fn arrange(aws: &AwsConfig) -> Resources {
    let (bucket, database) = lake(aws).await;
    let r = Resources {
        catalog: catalog_table(aws).await,
        activity: activity_table(aws).await,
        bucket,
        database,
    };
    aws.dynamodb_product_catalog(&r.catalog)
        .upsert_many(&(1..=6).map(product).collect::<Vec<_>>())
        .await
        .expect("catalog");
    let writer = aws.s3_lake_writer(&r.database, &r.bucket, "lake");
    let catalog = aws.glue_table_catalog(&r.database, &r.bucket, "lake");
    let clicks = TableDef::named(tables::CLICKSTREAM).expect("table");
    let items = TableDef::named(tables::ORDER_ITEMS).expect("table");
    catalog.ensure_table(&clicks).await.expect("ensure_table");
    catalog.ensure_table(&items).await.expect("ensure_table");
    let (events, lines) = history();
    let mut by_hour: BTreeMap<PartitionKey, Vec<ClickEvent>> = BTreeMap::new();
    for e in events {
        by_hour
            .entry(PartitionKey::hour_of(e.occurred_utc()))
            .or_default()
            .push(e);
    }
    let mut parts = vec![];
    for (key, rows) in by_hour {
        parts.push((clicks.clone(), key, TableRows::Clickstream(rows)));
    }
    parts.push((
        items.clone(),
        PartitionKey::day(t0().date_naive()),
        TableRows::OrderItems(lines),
    ));
    for (table, key, rows) in parts {
        let mut w = writer
            .open(&table, &key, WriteMode::Replace, "test")
            .await
            .expect("open");
        w.write(rows).await.expect("write");
        let info = w.commit().await.expect("commit");
        catalog.put_partition(&info).await.expect("put_partition");
    }
    r
}

fn neighbours_of(model: &RecModel, product: u32) -> Vec<u32> {
    model
        .neighbours
        .iter()
        .find(|(p, _)| p.get() == product)
        .map(|(_, n)| n.iter().map(|n| n.product_id.get()).collect())
        .unwrap_or_default()
}

fn training_time() -> DateTime<Utc> {
    t0() + Duration::days(1)
}

#[tokio::test]
async fn a_scheduled_event_trains_on_the_s3_lake_and_stores_the_model_in_s3() {
    // Arrange
    let aws = emulator().await;
    let r = arrange(&aws).await;
    let function = TrainerFunction::new(&r.settings(), &aws);
    let event = json!({
        "job": "trainer",
        "scheduled_time": training_time().to_rfc3339(),
        "time_zone": "Asia/Ho_Chi_Minh",
    });

    // Act
    let report = function.handle(&event).await.expect("training");

    // Assert
    assert_eq!(
        report.interactions, 9,
        "eight co-views and one view in the lookback; page views, older and later events left out"
    );
    assert_eq!(report.purchases, 2);
    assert_eq!(report.products, 6);
    let models = aws.s3_model_store(&r.bucket, MODELS_PREFIX);
    assert_eq!(
        models.latest_version().await.expect("latest"),
        Some(report.version.clone()),
        "the new model is the latest in S3"
    );
    let model = models
        .get(&report.version)
        .await
        .expect("read model")
        .expect("the model is stored");
    assert_eq!(model.trained_on_events, 9);
    assert_eq!(
        neighbours_of(&model, 1),
        vec![2],
        "co-viewed in four sessions"
    );
    assert_eq!(neighbours_of(&model, 3), vec![4], "bought together");
    assert!(neighbours_of(&model, 5).is_empty(), "viewed alone");
    assert_eq!(report.activity_records_written, 1);
    let buyer = aws
        .dynamodb_user_activity_store(&r.activity, StdDuration::from_secs(3600))
        .get_many(&[cid(9)])
        .await
        .expect("read activity");
    assert_eq!(
        buyer.first().map(|a| a.purchased.clone()),
        Some(vec![pid(3), pid(4)]),
        "the buyer's record holds what they bought, never recommended to them again"
    );
}

#[tokio::test]
async fn the_trainer_bootstrap_answers_a_scheduled_event_with_its_report() {
    // Arrange
    let aws = emulator().await;
    let r = arrange(&aws).await;
    let mut runtime = FakeRuntime::start().await;
    let mut command = common::bootstrap(env!("CARGO_BIN_EXE_trainer"), "trainer", 2048, &runtime);
    for (k, v) in r.env() {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start the bootstrap binary");

    // Act
    runtime.invoke(json!({ "scheduled_time": training_time().to_rfc3339() }));
    let outcome = runtime.outcome(ANSWER_TIMEOUT).await;
    runtime.invoke(json!({ "until": "not a time" }));
    let refused = runtime.outcome(ANSWER_TIMEOUT).await;
    child.kill().await.expect("stop the function");

    // Assert
    let Outcome::Response(_, report) = outcome else {
        panic!("expected a response, got {outcome:?}");
    };
    assert_eq!(report["interactions"], json!(9));
    assert_eq!(report["purchases"], json!(2));
    assert_eq!(report["activity_records_written"], json!(1));
    let version = report["version"].as_str().expect("version").to_owned();
    assert_eq!(
        aws.s3_model_store(&r.bucket, MODELS_PREFIX)
            .latest_version()
            .await
            .expect("latest"),
        Some(version)
    );
    let Outcome::Error(_, error) = refused else {
        panic!("a bad event must be an invocation error, got {refused:?}");
    };
    assert!(
        error.to_string().contains("not a time"),
        "the error names what was wrong: {error}"
    );
}

#[tokio::test]
async fn a_missing_setting_fails_the_trainer_cold_start_with_every_problem_named() {
    // Arrange
    let runtime = FakeRuntime::start().await;

    // Act
    let child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "trainer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(settings::TRAINER_LOOKBACK_DAYS, "a while")
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
        settings::CATALOG_TABLE,
        settings::ACTIVITY_TABLE,
        settings::MODELS_BUCKET,
        settings::GLUE_DATABASE,
        settings::LAKE_BUCKET,
        settings::TRAINER_LOOKBACK_DAYS,
    ] {
        assert!(said.contains(var), "{var} is named in {said:?}");
    }
}
