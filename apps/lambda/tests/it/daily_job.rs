//! The daily-job function's handler on a scheduled event: PostgreSQL (the throwaway cluster of
//! `FASHION_TEST_DATABASE_URL`) in, Parquet on the S3 emulator and partitions in its Glue out.

use crate::common;

use chrono::{Duration, NaiveDate};
use common::{emulator, unique};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::lake::tables;
use fashion_domain::ports::{ProductCatalog, PurchaseStore, TableCatalog};
use fashion_lambda::daily_job::{DailyJobFunction, connect_source};
use fashion_lambda::settings::{self, DailyJobSettings};
use fashion_postgres::PostgresPurchaseStore;
use fashion_tests::fixtures::{customer, order, product};
use serde_json::{Value, json};

const DATABASE_URL_VAR: &str = "FASHION_TEST_DATABASE_URL";

/// The test cluster's URL (`postgres://fashion@127.0.0.1:<port>/fashion_test`, trust auth).
fn database_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{DATABASE_URL_VAR} is not set: this test needs PostgreSQL. Run it through \
             `scripts/services cargo nextest run -p fashion-lambda` (or `scripts/test`)."
        )
    })
}

/// A store migrated into a fresh schema of the test cluster.
async fn fresh_store() -> PostgresPurchaseStore {
    let url = database_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    PostgresPurchaseStore::connect_in_schema(&url, &schema)
        .await
        .expect("connect and migrate")
}

#[tokio::test]
async fn the_scheduled_event_runs_yesterday_into_s3_and_glue_and_a_rerun_replaces_it() {
    // Arrange: three orders on 25 Nov (store time, UTC+7) and one on the 26th.
    let tz = parse_time_zone("Asia/Ho_Chi_Minh").expect("tz");
    let day = StoreDay::new(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"), tz);
    let store = fresh_store().await;
    store
        .put_customers(&(1..=3).map(customer).collect::<Vec<_>>())
        .await
        .expect("customers");
    store
        .put_products(&(1..=4).map(product).collect::<Vec<_>>())
        .await
        .expect("products");
    store
        .put_orders(&[
            order(1, 1, day.start + Duration::hours(1), 2),
            order(2, 2, day.start + Duration::hours(5), 1),
            order(3, 3, day.end - Duration::minutes(1), 3),
            order(4, 1, day.end + Duration::hours(1), 1),
        ])
        .await
        .expect("orders");
    let aws = emulator().await;
    let bucket = unique("lake");
    aws.s3_client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let database = unique("lake").replace('-', "_");
    fashion_tests::aws::create_glue_database(&aws.glue_client(), &database).await;
    // The DynamoDB catalog already knows product 1 as it is and product 2 in another colour.
    let products_table = common::catalog_table(&aws).await;
    let products = aws.dynamodb_product_catalog(&products_table);
    let mut recoloured = product(2);
    recoloured.base_colour = Some("Never This Colour".into());
    products
        .upsert_many(&[product(1), recoloured])
        .await
        .expect("catalog");
    let function = DailyJobFunction::new(
        std::sync::Arc::new(store),
        aws.s3_lake_writer(&database, &bucket, "lake"),
        aws.glue_table_catalog(&database, &bucket, "lake"),
        aws.dynamodb_product_catalog(&products_table),
        tz,
    );
    // AWS's sample scheduled event, fired at 00:01 on 26 Nov store time.
    let mut event: Value = serde_json::from_str(include_str!(
        "../fixtures/example-eventbridge-schedule.json"
    ))
    .expect("sample event");
    event["time"] = json!("2026-11-25T17:01:00Z");

    // Act
    let first = function.handle(&event).await.expect("daily job");
    let again = function
        .handle(&json!({ "date": "2026-11-25" }))
        .await
        .expect("backfill of the same day");

    // Assert
    let (first_sync, again_sync) = (first.catalog, again.catalog);
    let (first, again) = (first.job, again.job);
    assert_eq!(first.date, day.date);
    assert_eq!(first.written_to(tables::ORDERS), 3, "{first:?}");
    assert_eq!(first.written_to(tables::ORDER_ITEMS), 6);
    assert!(first.is_balanced());
    assert_eq!(again.written, first.written, "a rerun writes the same rows");
    assert_eq!(
        (first_sync.in_store, first_sync.written),
        (4, 3),
        "products 2 (changed), 3 and 4 (new) reach the catalog; 1 is left alone"
    );
    assert_eq!(again_sync.written, 0, "a second sync has nothing to write");
    assert_eq!(
        products.list().await.expect("catalog"),
        (1..=4).map(product).collect::<Vec<_>>()
    );
    let catalog = aws.glue_table_catalog(&database, &bucket, "lake");
    let orders = catalog
        .partitions(tables::ORDERS)
        .await
        .expect("partitions");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].key.path(), "dt=2026-11-25");
    assert_eq!(
        orders[0].rows, 3,
        "the rerun replaced the partition, not added to it"
    );
    let prefix = orders[0]
        .location
        .strip_prefix(&format!("s3://{bucket}/"))
        .expect("a location in the lake bucket");
    let objects = aws
        .s3_client()
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    assert!(
        objects
            .contents()
            .iter()
            .any(|o| o.key().is_some_and(|k| k.ends_with(".parquet"))),
        "Parquet data under the catalogued location"
    );
    assert_eq!(
        catalog
            .partitions(tables::DAILY_SALES)
            .await
            .expect("partitions")
            .len(),
        1
    );
}

/// The daily job's settings as provisioning sets them, with `url` and `secret`.
fn job_settings(url: &str, secret: Option<&str>) -> DailyJobSettings {
    let vars = [
        (settings::DATABASE_URL, Some(url)),
        (settings::DATABASE_SECRET_ARN, secret),
        (settings::TIME_ZONE, Some("Asia/Ho_Chi_Minh")),
        (settings::GLUE_DATABASE, Some("lake")),
        (settings::LAKE_BUCKET, Some("bucket")),
        (settings::CATALOG_TABLE, Some("products")),
    ];
    DailyJobSettings::from_lookup(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(str::to_owned))
    })
    .expect("complete settings")
}

#[tokio::test]
async fn the_cold_start_logs_in_with_the_database_secret_not_the_url() {
    // Arrange: the URL names a user the cluster does not know; RDS's managed secret (here in
    // the emulator's Secrets Manager) names the real one.
    let aws = emulator().await;
    let url = database_url().replacen("postgres://fashion@", "postgres://nobody@", 1);
    assert!(
        url.contains("nobody@"),
        "the test cluster's user is fashion: {url}"
    );
    let (good, bad) = (unique("db-secret"), unique("db-secret"));
    for (name, user) in [(&good, "fashion"), (&bad, "ghost")] {
        aws.secrets_client()
            .create_secret()
            .name(name)
            .secret_string(json!({"username": user, "password": "not-in-any-file"}).to_string())
            .send()
            .await
            .expect("create the secret");
    }

    // Act
    let with_secret = connect_source(&job_settings(&url, Some(&good)), &aws).await;
    let wrong_secret = connect_source(&job_settings(&url, Some(&bad)), &aws).await;
    let url_only = connect_source(&job_settings(&url, None), &aws).await;
    let missing = connect_source(&job_settings(&url, Some("no-such-secret")), &aws).await;

    // Assert
    with_secret.expect("the secret's user logs in, whatever the URL says");
    let said = format!("{:#}", wrong_secret.expect_err("the secret's user is used"));
    assert!(said.contains("ghost"), "{said}");
    let said = format!(
        "{:#}",
        url_only.expect_err("without a secret, the URL's user")
    );
    assert!(said.contains("nobody"), "{said}");
    let said = format!(
        "{:#}",
        missing.expect_err("an unreadable secret stops the cold start")
    );
    assert!(said.contains("no-such-secret"), "{said}");
}
