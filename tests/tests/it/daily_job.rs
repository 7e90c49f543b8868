//! The daily job service against the in-memory fakes: what it publishes, quarantines, counts and
//! catalogues, and that a failure anywhere before the commit publishes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::customer::Customer;
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows, tables};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{
    LakeError, LakeWriter, PartitionWriter, PurchaseSource, PurchaseStore, PurchaseStoreError,
    QueryEngine, QueryParam, TableCatalog, WriteMode,
};
use fashion_domain::product::Product;
use fashion_domain::sales::QuarantineRule;
use fashion_domain::services::daily_job::{
    DAILY_JOB_TABLES, DailyJob, DailyJobError, DailyJobReport, RowCounts,
};
use fashion_memory::{InMemoryLake, InMemoryPurchaseStore, ManualClock};
use fashion_tests::fixtures::{customer, order, product, t0};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

fn day() -> StoreDay {
    let tz = parse_time_zone("Asia/Ho_Chi_Minh").expect("tz");
    StoreDay::new(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"), tz)
}

fn dt() -> String {
    "2026-11-25".to_owned()
}

/// A store with customers 1..=3 (odd ones in Ho Chi Minh City, even ones in Hanoi) and
/// products 1..=4.
async fn store() -> InMemoryPurchaseStore {
    let db = InMemoryPurchaseStore::new();
    db.put_customers(&(1..=3).map(customer).collect::<Vec<_>>())
        .await
        .expect("customers");
    db.put_products(&(1..=4).map(product).collect::<Vec<_>>())
        .await
        .expect("products");
    db
}

async fn run(db: &Arc<InMemoryPurchaseStore>, lake: &InMemoryLake) -> DailyJobReport {
    let report = DailyJob::new(db.clone(), Arc::new(lake.clone()), Arc::new(lake.clone()))
        .run(day())
        .await
        .expect("the daily job runs");
    assert!(report.is_balanced(), "unbalanced: {report:#?}");
    report
}

async fn rows(lake: &InMemoryLake, table: &str) -> Vec<Vec<Value>> {
    lake.query_engine()
        .query(
            &format!("SELECT * FROM {table} WHERE dt = $1"),
            &[QueryParam::Text(dt())],
        )
        .await
        .expect("query")
        .rows
}

async fn everything(lake: &InMemoryLake) -> Vec<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    for t in DAILY_JOB_TABLES {
        out.push(rows(lake, t).await);
    }
    out
}

fn at(hours: i64) -> chrono::DateTime<chrono::Utc> {
    day().start + Duration::hours(hours)
}

#[tokio::test]
async fn a_clean_day_is_published_aggregated_and_catalogued() {
    // Arrange: customer 1 (HCMC) buys twice, customer 2 (Hanoi) once; order 3 is cancelled.
    let db = store().await;
    let mut cancelled = order(3, 2, at(9), 1);
    cancelled.order.status = "cancelled".into();
    db.put_orders(&[order(1, 1, at(1), 2), order(2, 1, at(5), 1), cancelled])
        .await
        .expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    // Act
    let report = run(&db, &lake).await;

    // Assert: detail tables.
    assert_eq!(
        report.extracted,
        RowCounts {
            orders: 3,
            lines: 4
        }
    );
    assert_eq!(
        report.written_to(tables::ORDERS),
        3,
        "cancelled orders are published"
    );
    assert_eq!(report.written_to(tables::ORDER_ITEMS), 4);
    assert_eq!(report.written_to(tables::QUARANTINE), 0);
    assert_eq!(report.written_to(tables::PRODUCTS), 4);
    assert_eq!(report.written_to(tables::CUSTOMERS), 3);
    assert!(report.quarantined.is_empty());

    // Aggregates: only sales count; product 1 was bought by customer 1 in two orders.
    let sales = rows(&lake, tables::DAILY_SALES).await;
    assert_eq!(
        sales,
        vec![
            vec![
                json!(1),
                json!("Jeans"),
                json!("Black"),
                json!("Men"),
                json!("Apparel"),
                json!("Ho Chi Minh City"),
                json!(2),
                json!("20.00"),
                json!(2),
                json!(1),
                json!(dt()),
            ],
            vec![
                json!(2),
                json!("Casual Shoes"),
                json!("Black"),
                json!("Women"),
                json!("Apparel"),
                json!("Ho Chi Minh City"),
                json!(1),
                json!("10.00"),
                json!(1),
                json!(1),
                json!(dt()),
            ],
        ]
    );
    assert_eq!(
        rows(&lake, tables::CUSTOMER_DAILY).await,
        vec![vec![
            json!(1),
            json!("Ho Chi Minh City"),
            json!(2),
            json!(3),
            json!("30.00"),
            json!(dt())
        ]]
    );

    // Catalogue: every table, one partition each, quarantine one per source table.
    for t in DAILY_JOB_TABLES {
        let parts: Vec<PartitionInfo> = lake.partitions(t).await.expect("partitions");
        let keys: Vec<String> = parts.iter().map(|p| p.key.path()).collect();
        let expected = if t == tables::QUARANTINE {
            vec![
                "source_table=order_items/dt=2026-11-25".to_owned(),
                "source_table=orders/dt=2026-11-25".to_owned(),
            ]
        } else {
            vec!["dt=2026-11-25".to_owned()]
        };
        assert_eq!(keys, expected, "partitions of {t}");
        assert!(lake.table(t).await.expect("table").is_some());
    }
    assert_eq!(report.partitions.len(), 8);
}

#[tokio::test]
async fn every_rule_is_counted_per_rule_and_the_books_balance() {
    // Arrange: one order per rule, plus a clean order with a duplicated line.
    let db = store().await;
    let mut orders: Vec<StoredOrder> = Vec::new();
    let mut o = order(10, 1, at(1), 2);
    o.order.customer_id = None;
    orders.push(o);
    orders.push(order(11, 99, at(1), 1));
    let mut o = order(12, 1, at(1), 2);
    o.items[1].product_id = Some(77);
    orders.push(o);
    let mut o = order(13, 1, at(1), 2);
    o.items[0].quantity = 0;
    o.order.total_cents = 1000;
    orders.push(o);
    let mut o = order(14, 1, at(1), 1);
    o.items[0].unit_price_cents = -1000;
    o.order.total_cents = -1000;
    orders.push(o);
    let mut o = order(15, 1, at(1), 1);
    o.order.total_cents += 1;
    orders.push(o);
    let mut o = order(16, 1, day().start - Duration::days(3), 1);
    o.order.recorded_at = at(2);
    orders.push(o);
    let mut o = order(17, 1, at(1), 1);
    o.order.status = "on_hold".into();
    orders.push(o);
    let mut o = order(18, 1, at(1), 2);
    o.items[0].product_id = None;
    orders.push(o);
    let mut o = order(19, 2, at(3), 2);
    o.items.push(o.items[1].clone());
    orders.push(o);
    db.put_orders(&orders).await.expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    // Act
    let report = run(&db, &lake).await;

    // Assert
    use QuarantineRule as R;
    let count = |r: R| report.quarantined.get(&r).copied().unwrap_or_default();
    let rc = |orders, lines| RowCounts { orders, lines };
    assert_eq!(
        count(R::MissingKey),
        rc(1, 3),
        "order 10 with 2 lines, line 2 of 18"
    );
    assert_eq!(count(R::UnknownCustomer), rc(1, 1));
    assert_eq!(count(R::UnknownProduct), rc(0, 1));
    assert_eq!(count(R::NonPositiveQuantity), rc(0, 1));
    assert_eq!(count(R::NegativePrice), rc(0, 1));
    assert_eq!(count(R::TotalMismatch), rc(1, 1));
    assert_eq!(count(R::TimestampOutsideDay), rc(1, 1));
    assert_eq!(count(R::UnknownStatus), rc(1, 1));
    assert_eq!(
        count(R::RejectedLine),
        rc(4, 3),
        "orders 12, 13, 14 and 18 and their good lines"
    );
    assert_eq!(report.duplicate_lines_dropped, 1);
    assert_eq!(report.written_to(tables::ORDERS), 1);
    assert_eq!(report.written_to(tables::ORDER_ITEMS), 2);
    assert_eq!(
        report.extracted,
        RowCounts {
            orders: 10,
            lines: 16
        }
    );

    let quarantined = rows(&lake, tables::QUARANTINE).await;
    assert_eq!(
        quarantined.len(),
        9 + 13,
        "nine orders and their thirteen lines"
    );
    let order_16 = quarantined
        .iter()
        .find(|r| r[1] == json!("order 16"))
        .expect("order 16 quarantined");
    assert_eq!(order_16[0], json!("timestamp_outside_day"));
    assert_eq!(order_16[4], json!("orders"), "source_table partition");
    let record: Value =
        serde_json::from_str(order_16[3].as_str().expect("record")).expect("JSON record");
    assert_eq!(record["order_id"], json!(16));
}

#[tokio::test]
async fn a_day_of_many_chunks_is_streamed_through_and_accounted_for() {
    // Arrange: more orders than the memory source's chunk of 1024.
    let db = store().await;
    let orders: Vec<StoredOrder> = (1..=2_500)
        .map(|id| {
            let mut o = order(id, 1 + id % 3, at(0) + Duration::seconds(id), 3);
            if id % 100 == 0 {
                o.order.status = "lost".into();
            }
            o
        })
        .collect();
    db.put_orders(&orders).await.expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    // Act
    let report = run(&db, &lake).await;

    // Assert
    assert_eq!(
        report.extracted,
        RowCounts {
            orders: 2_500,
            lines: 7_500
        }
    );
    assert_eq!(report.written_to(tables::ORDERS), 2_475);
    assert_eq!(
        report.quarantined[&QuarantineRule::UnknownStatus],
        RowCounts {
            orders: 25,
            lines: 75
        }
    );
    let by_customer = rows(&lake, tables::CUSTOMER_DAILY).await;
    let units: i64 = by_customer.iter().filter_map(|r| r[3].as_i64()).sum();
    assert_eq!(units, 2_475 * 3);
}

#[tokio::test]
async fn rerunning_a_day_replaces_its_partitions_with_identical_rows() {
    // Arrange
    let db = store().await;
    let mut dirty = order(2, 1, at(4), 2);
    dirty.order.total_cents = 1;
    db.put_orders(&[order(1, 1, at(1), 3), dirty, order(3, 3, at(8), 1)])
        .await
        .expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    // Act
    let first = run(&db, &lake).await;
    let before = everything(&lake).await;
    let second = run(&db, &lake).await;
    let after = everything(&lake).await;

    // Assert
    assert_eq!(before, after, "no duplicates, same rows, same order");
    assert_eq!(first.written, second.written);
    assert_eq!(first.quarantined, second.quarantined);
    assert_eq!(
        first
            .partitions
            .iter()
            .map(|p| (&p.key, p.rows))
            .collect::<Vec<_>>(),
        second
            .partitions
            .iter()
            .map(|p| (&p.key, p.rows))
            .collect::<Vec<_>>()
    );
}

/// A source that yields the first chunk of the inner one, then fails.
struct FailingSource(Arc<InMemoryPurchaseStore>);

#[async_trait]
impl PurchaseSource for FailingSource {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        self.0
            .extract_day(day)
            .take(1)
            .chain(stream::iter([Err(PurchaseStoreError::Unavailable {
                message: "connection reset".into(),
            })]))
            .boxed()
    }

    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError> {
        self.0.customers().await
    }

    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError> {
        self.0.products().await
    }
}

#[tokio::test]
async fn a_source_failure_midway_publishes_nothing_and_may_be_retried() {
    // Arrange: a published day, then a rerun whose extraction breaks after one chunk.
    let db = store().await;
    let orders: Vec<StoredOrder> = (1..=1_500)
        .map(|id| order(id, 1, at(2) + Duration::seconds(id), 1))
        .collect();
    db.put_orders(&orders[..10]).await.expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();
    run(&db, &lake).await;
    let published = everything(&lake).await;
    db.put_orders(&orders).await.expect("more orders");

    // Act
    let result = DailyJob::new(
        Arc::new(FailingSource(db.clone())),
        Arc::new(lake.clone()),
        Arc::new(lake.clone()),
    )
    .run(day())
    .await;

    // Assert
    let err = result.expect_err("the extraction failed");
    assert!(matches!(err, DailyJobError::Source(_)), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(everything(&lake).await, published, "nothing new is visible");
}

/// A lake whose writes to one table fail.
struct BrokenTable {
    inner: InMemoryLake,
    table: &'static str,
}

struct BrokenWriter {
    inner: Box<dyn PartitionWriter>,
    broken: bool,
}

#[async_trait]
impl PartitionWriter for BrokenWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        if self.broken {
            return Err(LakeError::Unexpected(anyhow::anyhow!("disk full")));
        }
        self.inner.write(rows).await
    }

    async fn commit(self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        self.inner.commit().await
    }

    async fn abort(self: Box<Self>) -> Result<(), LakeError> {
        self.inner.abort().await
    }
}

#[async_trait]
impl LakeWriter for BrokenTable {
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        Ok(Box::new(BrokenWriter {
            inner: self.inner.open(table, partition, mode, write_id).await?,
            broken: table.name == self.table,
        }))
    }
}

#[tokio::test]
async fn a_failed_write_aborts_every_partition_of_the_run() {
    // Arrange
    let db = store().await;
    db.put_orders(&[order(1, 1, at(1), 2)])
        .await
        .expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    for table in [tables::ORDER_ITEMS, tables::CUSTOMERS] {
        // Act
        let result = DailyJob::new(
            db.clone(),
            Arc::new(BrokenTable {
                inner: lake.clone(),
                table,
            }),
            Arc::new(lake.clone()),
        )
        .run(day())
        .await;

        // Assert
        match result {
            Err(DailyJobError::Write { table: t, .. }) => assert_eq!(t, table),
            other => panic!("expected a write error on {table}: {other:?}"),
        }
        for t in DAILY_JOB_TABLES {
            assert!(rows(&lake, t).await.is_empty(), "{t} must stay empty");
        }
    }
}

#[tokio::test]
async fn the_report_is_json_with_rule_names_and_the_clock_times_the_run() {
    // Arrange
    let db = store().await;
    let mut o = order(1, 1, at(1), 1);
    o.items[0].unit_price_cents = -1;
    o.order.total_cents = -1;
    db.put_orders(&[o]).await.expect("orders");
    let lake = InMemoryLake::new();

    // Act
    let report = DailyJob::new(Arc::new(db), Arc::new(lake.clone()), Arc::new(lake.clone()))
        .with_clock(ManualClock::new(t0()))
        .run(day())
        .await
        .expect("runs");
    let value = serde_json::to_value(&report).expect("serialises");

    // Assert
    assert_eq!(value["date"], json!("2026-11-25"));
    assert_eq!(value["quarantined"]["negative_price"]["lines"], json!(1));
    assert_eq!(value["quarantined"]["rejected_line"]["orders"], json!(1));
    assert_eq!(value["written"]["orders"], json!(0));
    assert_eq!(value["extracted"], json!({ "orders": 1, "lines": 1 }));
    assert_eq!(report.started_at, t0());
    assert_eq!(report.duration_ms, 0, "the manual clock did not move");
    let back: DailyJobReport = serde_json::from_value(value).expect("deserialises");
    assert_eq!(back, report);
}

/// Issue 14, defect 5: amounts beyond the lake's `decimal(18,2)`, and an order that would take a
/// day's aggregate beyond it, are quarantined (not wrapped, not a panic) and the day publishes.
#[tokio::test]
async fn amounts_beyond_decimal_18_2_are_quarantined_and_the_day_still_publishes() {
    // Arrange: order 1 is fine; order 2's unit price is beyond decimal(18,2); orders 3 and 4 are
    // each within it but together overflow product 1's revenue in Ho Chi Minh City for the day
    // (customers 1 and 3 live there).
    let db = store().await;
    let max = fashion_domain::money::Cents::MAX.get();
    let priced = |id: i64, customer: i64, cents: i64| {
        let mut o = order(id, customer, at(id), 1);
        o.items[0].unit_price_cents = cents;
        o.order.total_cents = cents;
        o
    };
    db.put_orders(&[
        order(1, 1, at(1), 1),
        priced(2, 1, max + 1),
        priced(3, 3, max / 2 + 1),
        priced(4, 1, max / 2 + 1),
    ])
    .await
    .expect("orders");
    let db = Arc::new(db);
    let lake = InMemoryLake::new();

    // Act
    let report = run(&db, &lake).await;

    // Assert
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(
        report.quarantined.get(&QuarantineRule::AmountOutOfRange),
        Some(&RowCounts {
            orders: 2,
            lines: 2
        }),
        "{report:?}"
    );
    assert_eq!(report.written_to(tables::ORDERS), 2);
    let sales = rows(&lake, tables::DAILY_SALES).await;
    let revenue: Vec<&Value> = sales.iter().map(|r| &r[7]).collect();
    assert_eq!(
        revenue,
        vec![&json!(
            fashion_domain::money::Cents(1000 + max / 2 + 1).to_string()
        )],
        "orders 1 and 3 only"
    );
}
