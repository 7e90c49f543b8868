//! The daily job against a real PostgreSQL (the throwaway cluster of `FASHION_TEST_DATABASE_URL`):
//! store-day boundaries in the store's time zone, every dirty kind of the generator landing in
//! quarantine with its rule, identical partitions on reruns, and a crash before the commit
//! leaving the previous day readable.
//!
//! The lake is the in-memory one, except for the crash test, which also runs on the local
//! Parquet lake, where a crash leaves real files behind.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use fashion_datagen::{DirtyOrder, GenConfig, Generator};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows, tables};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{
    LakeError, LakeWriter, PartitionWriter, PurchaseStore, QueryEngine, QueryParam, TableCatalog,
    WriteMode,
};
use fashion_domain::sales::QuarantineRule;
use fashion_domain::services::daily_job::{DAILY_JOB_TABLES, DailyJob, DailyJobReport};
use fashion_local::{DataFusionEngine, LocalLake, StateDb};
use fashion_memory::InMemoryLake;
use fashion_postgres::PostgresPurchaseStore;
use fashion_tests::fixtures::{customer, order, product};
use serde_json::Value;

fn hcm() -> Tz {
    parse_time_zone("Asia/Ho_Chi_Minh").expect("tz")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

async fn run_day(db: &PostgresPurchaseStore, lake: &InMemoryLake, day: StoreDay) -> DailyJobReport {
    let report = DailyJob::new(
        Arc::new(db.clone()),
        Arc::new(lake.clone()),
        Arc::new(lake.clone()),
    )
    .run(day)
    .await
    .expect("the daily job runs");
    assert!(report.is_balanced(), "unbalanced report: {report:#?}");
    report
}

/// Every row of `table` in partition date `dt`, as the query engine returns them.
async fn rows(lake: &InMemoryLake, table: &str, dt: NaiveDate) -> Vec<Vec<Value>> {
    lake.query_engine()
        .query(
            &format!("SELECT * FROM {table} WHERE dt = $1"),
            &[QueryParam::Text(dt.format("%Y-%m-%d").to_string())],
        )
        .await
        .expect("query")
        .rows
}

/// Everything the job publishes for `dt`: rows of every table plus the catalog's partitions.
async fn dump(lake: &InMemoryLake, dt: NaiveDate) -> BTreeMap<String, Vec<Vec<Value>>> {
    let mut out = BTreeMap::new();
    for table in DAILY_JOB_TABLES {
        out.insert(table.to_owned(), rows(lake, table, dt).await);
        let parts: Vec<PartitionInfo> = lake.partitions(table).await.expect("partitions");
        let parts = parts
            .iter()
            .map(|p| Value::String(format!("{} {} rows", p.key, p.rows)))
            .collect();
        out.insert(format!("{table} partitions"), vec![parts]);
    }
    out
}

fn order_ids(rows: &[Vec<Value>]) -> Vec<i64> {
    rows.iter().filter_map(|r| r[0].as_i64()).collect()
}

#[tokio::test]
async fn orders_at_23_59_59_and_00_00_store_time_land_on_their_store_days() {
    // Arrange: the store is in Ho Chi Minh City (UTC+7), where 25 Nov runs from
    // 24 Nov 17:00Z to 25 Nov 17:00Z.
    let db = support::fresh_store().await;
    let lake = InMemoryLake::new();
    let d25 = StoreDay::new(date(2026, 11, 25), hcm());
    db.put_customers(&[customer(1)]).await.expect("customers");
    db.put_products(&[product(1)]).await.expect("products");
    let orders = [
        order(1, 1, d25.start - Duration::seconds(1), 1), // 24 Nov 23:59:59
        order(2, 1, d25.start, 1),                        // 25 Nov 00:00:00
        order(3, 1, d25.end - Duration::seconds(1), 1),   // 25 Nov 23:59:59
        order(4, 1, d25.end, 1),                          // 26 Nov 00:00:00
    ];
    db.put_orders(&orders).await.expect("orders");

    // Act
    let mut published = BTreeMap::new();
    for d in [24, 25, 26] {
        let day = StoreDay::new(date(2026, 11, d), hcm());
        let report = run_day(&db, &lake, day).await;
        assert_eq!(report.quarantined_total().orders, 0, "{report:#?}");
        published.insert(d, order_ids(&rows(&lake, tables::ORDERS, day.date).await));
    }

    // Assert
    assert_eq!(published[&24], vec![1]);
    assert_eq!(published[&25], vec![2, 3]);
    assert_eq!(
        published[&26],
        vec![4],
        "00:00 store time is already the next day"
    );
}

/// Issue 14: a row with an `infinity` timestamp is quarantined and the day still publishes
/// (it used to fail the whole extraction).
#[tokio::test]
async fn an_infinite_timestamp_is_quarantined_and_the_day_publishes() {
    // Arrange: order 2 was recorded during the day but its order time is `infinity`.
    let db = support::fresh_store().await;
    let lake = InMemoryLake::new();
    let d25 = StoreDay::new(date(2026, 11, 25), hcm());
    db.put_customers(&[customer(1)]).await.expect("customers");
    db.put_products(&[product(1)]).await.expect("products");
    let at = d25.start + Duration::hours(3);
    db.put_orders(&[order(1, 1, at, 1), order(2, 1, at, 1)])
        .await
        .expect("orders");
    sqlx::query("UPDATE orders SET ordered_at = 'infinity' WHERE order_id = 2")
        .execute(db.pool())
        .await
        .expect("update");

    // Act
    let report = run_day(&db, &lake, d25).await;

    // Assert
    assert!(report.is_balanced(), "{report:#?}");
    assert_eq!(
        order_ids(&rows(&lake, tables::ORDERS, d25.date).await),
        vec![1]
    );
    assert_eq!(
        report
            .quarantined
            .get(&QuarantineRule::TimestampOutsideDay)
            .map(|c| c.orders),
        Some(1),
        "{report:#?}"
    );
}

/// Which dirty kind the generator applied, from the clean and the dirty version of an order.
fn dirty_kind(clean: &StoredOrder, dirty: &StoredOrder) -> Option<DirtyOrder> {
    let (c, d) = (&clean.order, &dirty.order);
    if dirty.items.len() == clean.items.len() + 1 {
        return Some(DirtyOrder::DuplicateLine);
    }
    if d.customer_id.is_none() {
        return Some(DirtyOrder::MissingCustomer);
    }
    if d.customer_id != c.customer_id {
        return Some(DirtyOrder::UnknownCustomer);
    }
    let (cl, dl) = (&clean.items[0], &dirty.items[0]);
    if dl.product_id.is_none() {
        return Some(DirtyOrder::MissingProduct);
    }
    if dl.product_id != cl.product_id {
        return Some(DirtyOrder::UnknownProduct);
    }
    if dl.quantity != cl.quantity {
        return Some(DirtyOrder::NonPositiveQuantity);
    }
    if dl.unit_price_cents != cl.unit_price_cents {
        return Some(DirtyOrder::NegativePrice);
    }
    if d.ordered_at != c.ordered_at {
        return Some(DirtyOrder::LateRecorded);
    }
    if d.status != c.status {
        return Some(DirtyOrder::UnknownStatus);
    }
    if d.total_cents != c.total_cents {
        return Some(DirtyOrder::TotalMismatch);
    }
    assert_eq!(clean, dirty, "a change the classifier does not know");
    None
}

/// The rules an order of each dirty kind must be quarantined with: (order row, first line).
fn expected_rules(kind: DirtyOrder) -> Option<(QuarantineRule, QuarantineRule)> {
    use QuarantineRule as R;
    match kind {
        DirtyOrder::DuplicateLine => None,
        DirtyOrder::MissingCustomer => Some((R::MissingKey, R::MissingKey)),
        DirtyOrder::UnknownCustomer => Some((R::UnknownCustomer, R::UnknownCustomer)),
        DirtyOrder::MissingProduct => Some((R::RejectedLine, R::MissingKey)),
        DirtyOrder::UnknownProduct => Some((R::RejectedLine, R::UnknownProduct)),
        DirtyOrder::NonPositiveQuantity => Some((R::RejectedLine, R::NonPositiveQuantity)),
        DirtyOrder::NegativePrice => Some((R::RejectedLine, R::NegativePrice)),
        DirtyOrder::TotalMismatch => Some((R::TotalMismatch, R::TotalMismatch)),
        DirtyOrder::LateRecorded => Some((R::TimestampOutsideDay, R::TimestampOutsideDay)),
        DirtyOrder::UnknownStatus => Some((R::UnknownStatus, R::UnknownStatus)),
    }
}

fn gen_config(dirty_rate: f64) -> GenConfig {
    GenConfig {
        seed: 42,
        start: date(2026, 11, 22),
        days: 4,
        users: 800,
        products: 800,
        time_zone: hcm(),
        dirty_rate,
    }
}

/// Loads the generator's store into PostgreSQL; returns every order it recorded.
async fn load(db: &PostgresPurchaseStore, g: &Generator) -> Vec<StoredOrder> {
    db.put_customers(g.customers()).await.expect("customers");
    db.put_products(g.products()).await.expect("products");
    let mut all = Vec::new();
    for d in 0..g.config().days {
        let day = g.day(d);
        db.put_orders(&day.orders).await.expect("orders");
        all.extend(day.orders);
    }
    all
}

#[tokio::test]
async fn every_dirty_kind_of_the_generator_lands_in_quarantine_with_its_rule() {
    // Arrange: the same world with and without dirt tells which order got which kind.
    let db = support::fresh_store().await;
    let lake = InMemoryLake::new();
    let dirty_gen = Generator::new(gen_config(0.1));
    let clean_gen = Generator::new(gen_config(0.0));
    let dirty = load(&db, &dirty_gen).await;
    let clean: BTreeMap<i64, StoredOrder> = (0..clean_gen.config().days)
        .flat_map(|d| clean_gen.day(d).orders)
        .map(|o| (o.order.order_id, o))
        .collect();
    let kinds: Vec<(StoredOrder, Option<DirtyOrder>)> = dirty
        .into_iter()
        .map(|o| {
            let kind = dirty_kind(&clean[&o.order.order_id], &o);
            (o, kind)
        })
        .collect();
    let tz = hcm();
    let dates: BTreeSet<NaiveDate> = kinds
        .iter()
        .flat_map(|(o, _)| [o.order.ordered_at, o.order.recorded_at])
        .map(|t| t.with_timezone(&tz).date_naive())
        .collect();

    // Act: run every day the orders touch.
    let mut quarantine: BTreeMap<(NaiveDate, String), QuarantineRule> = BTreeMap::new();
    let mut published: BTreeSet<(NaiveDate, i64)> = BTreeSet::new();
    let mut duplicates = 0;
    for &dt in &dates {
        let report = run_day(&db, &lake, StoreDay::new(dt, tz)).await;
        duplicates += report.duplicate_lines_dropped;
        for r in rows(&lake, tables::QUARANTINE, dt).await {
            let rule: QuarantineRule =
                serde_json::from_value(r[0].clone()).expect("a known rule name");
            let key = r[1].as_str().expect("record key").to_owned();
            quarantine.insert((dt, key), rule);
        }
        for id in order_ids(&rows(&lake, tables::ORDERS, dt).await) {
            published.insert((dt, id));
        }
    }

    // Assert
    let mut seen: BTreeMap<DirtyOrder, u64> = BTreeMap::new();
    for (o, kind) in &kinds {
        let id = o.order.order_id;
        let placed = o.order.ordered_at.with_timezone(&tz).date_naive();
        let recorded = o.order.recorded_at.with_timezone(&tz).date_naive();
        match kind.and_then(expected_rules) {
            None => assert!(
                published.contains(&(placed, id)),
                "order {id} ({kind:?}) must be published on {placed}"
            ),
            Some((order_rule, line_rule)) => {
                let kind = kind.expect("dirty");
                assert_eq!(
                    quarantine.get(&(recorded, format!("order {id}"))),
                    Some(&order_rule),
                    "order {id} ({kind:?}) on {recorded}"
                );
                assert_eq!(
                    quarantine.get(&(recorded, format!("order {id} line 1"))),
                    Some(&line_rule),
                    "first line of order {id} ({kind:?})"
                );
                assert!(!published.contains(&(recorded, id)));
            }
        }
        if let Some(k) = kind {
            *seen.entry(*k).or_default() += 1;
        }
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        DirtyOrder::ALL.to_vec(),
        "every dirty kind was generated and checked"
    );
    assert_eq!(duplicates, seen[&DirtyOrder::DuplicateLine]);
}

#[tokio::test]
async fn rerunning_a_day_gives_identical_partitions() {
    // Arrange
    let db = support::fresh_store().await;
    let lake = InMemoryLake::new();
    let g = Generator::new(GenConfig {
        days: 2,
        ..gen_config(0.05)
    });
    load(&db, &g).await;
    let day = StoreDay::new(g.config().start, hcm());

    // Act
    let first = run_day(&db, &lake, day).await;
    let before = dump(&lake, day.date).await;
    let second = run_day(&db, &lake, day).await;
    let after = dump(&lake, day.date).await;

    // Assert
    assert!(first.written_to(tables::ORDERS) > 50, "{first:#?}");
    assert!(first.quarantined_total().orders > 0, "{first:#?}");
    assert_eq!(before, after);
    let same = |r: &DailyJobReport| (r.extracted, r.written.clone(), r.quarantined.clone());
    assert_eq!(same(&first), same(&second));
    assert_eq!(
        first.partitions.len(),
        8,
        "seven tables, quarantine in two partitions"
    );
}

/// How the wrapped lake fails at commit time.
#[derive(Clone, Copy)]
enum Failure {
    /// The commit returns an error (a refused write).
    Error,
    /// The process dies in the commit: the task panics, nothing is aborted or cleaned up.
    Crash,
}

/// A lake whose partition writes all fail to commit.
struct FailingLake<L> {
    inner: L,
    failure: Failure,
}

struct FailingWriter {
    inner: Box<dyn PartitionWriter>,
    failure: Failure,
}

#[async_trait]
impl PartitionWriter for FailingWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        self.inner.write(rows).await
    }

    async fn commit(self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        match self.failure {
            Failure::Error => Err(LakeError::Unavailable {
                message: "injected commit failure".into(),
            }),
            Failure::Crash => panic!("injected crash between writing and committing"),
        }
    }

    async fn abort(self: Box<Self>) -> Result<(), LakeError> {
        self.inner.abort().await
    }
}

#[async_trait]
impl<L: LakeWriter> LakeWriter for FailingLake<L> {
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        Ok(Box::new(FailingWriter {
            inner: self.inner.open(table, partition, mode, write_id).await?,
            failure: self.failure,
        }))
    }
}

#[tokio::test]
async fn a_crash_between_writing_and_committing_leaves_the_previous_day_readable() {
    // Arrange: a published day, then more orders for it.
    let db = support::fresh_store().await;
    let lake = InMemoryLake::new();
    let day = StoreDay::new(date(2026, 11, 25), hcm());
    db.put_customers(&[customer(1), customer(2)])
        .await
        .expect("customers");
    db.put_products(&(1..=3).map(product).collect::<Vec<_>>())
        .await
        .expect("products");
    db.put_orders(&[order(1, 1, day.start + Duration::hours(2), 2)])
        .await
        .expect("orders");
    run_day(&db, &lake, day).await;
    let published = dump(&lake, day.date).await;
    db.put_orders(&[
        order(2, 2, day.start + Duration::hours(5), 3),
        order(3, 9, day.start + Duration::hours(6), 1),
    ])
    .await
    .expect("more orders");

    for failure in [Failure::Error, Failure::Crash] {
        // Act
        let job = DailyJob::new(
            Arc::new(db.clone()),
            Arc::new(FailingLake {
                inner: lake.clone(),
                failure,
            }),
            Arc::new(lake.clone()),
        );
        let outcome = tokio::spawn(async move { job.run(day).await }).await;

        // Assert
        match (failure, outcome) {
            (Failure::Error, Ok(Err(e))) => assert!(e.is_retryable(), "{e}"),
            (Failure::Crash, Err(join)) => assert!(join.is_panic()),
            (_, other) => panic!("the run must fail: {other:?}"),
        }
        assert_eq!(
            dump(&lake, day.date).await,
            published,
            "the previous day stays readable, unchanged"
        );
    }

    // And a good run afterwards publishes the new data.
    let report = run_day(&db, &lake, day).await;
    assert_eq!(report.written_to(tables::ORDERS), 2);
    assert_eq!(
        report.quarantined_total().orders,
        1,
        "customer 9 is unknown"
    );
    assert_ne!(dump(&lake, day.date).await, published);
}

/// Every row of every table the job writes for `dt`, through DataFusion over the Parquet files,
/// sorted (DataFusion gives no order without ORDER BY).
async fn parquet_dump(engine: &DataFusionEngine, dt: NaiveDate) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for table in DAILY_JOB_TABLES {
        let res = engine
            .query(
                &format!("SELECT * FROM {table} WHERE dt = $1"),
                &[QueryParam::Text(dt.format("%Y-%m-%d").to_string())],
            )
            .await
            .expect("query");
        let mut rows: Vec<String> = res.rows.iter().map(|r| format!("{r:?}")).collect();
        rows.sort();
        out.push(rows);
    }
    out
}

#[tokio::test]
async fn a_crash_before_the_commit_leaves_the_previous_parquet_day_readable_and_reruns_agree() {
    // Arrange: a day published into the local Parquet lake, then more orders for it.
    let db = support::fresh_store().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let state = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("state.db");
    let catalog = Arc::new(state.table_catalog());
    let lake = LocalLake::new(dir.path().join("lake"));
    let engine = DataFusionEngine::new(lake.clone(), catalog.clone());
    let day = StoreDay::new(date(2026, 11, 25), hcm());
    db.put_customers(&[customer(1), customer(2)])
        .await
        .expect("customers");
    db.put_products(&(1..=3).map(product).collect::<Vec<_>>())
        .await
        .expect("products");
    db.put_orders(&[order(1, 1, day.start + Duration::hours(2), 2)])
        .await
        .expect("orders");
    let first = DailyJob::new(
        Arc::new(db.clone()),
        Arc::new(lake.clone()),
        catalog.clone(),
    )
    .run(day)
    .await
    .expect("first run");
    assert_eq!(first.written_to(tables::ORDERS), 1);
    let published = parquet_dump(&engine, day.date).await;
    assert_eq!(published[0].len(), 1, "one order: {published:?}");
    db.put_orders(&[
        order(2, 2, day.start + Duration::hours(5), 3),
        order(3, 9, day.start + Duration::hours(6), 1),
    ])
    .await
    .expect("more orders");

    // Act: the process dies in the first commit, after every partition's file was written.
    let job = DailyJob::new(
        Arc::new(db.clone()),
        Arc::new(FailingLake {
            inner: lake.clone(),
            failure: Failure::Crash,
        }),
        catalog.clone(),
    );
    let crashed = tokio::spawn(async move { job.run(day).await }).await;

    // Assert: files of the new day exist in staging, yet readers see the old day whole.
    assert!(crashed.expect_err("the run crashed").is_panic());
    let staged: usize = std::fs::read_dir(dir.path().join("lake").join(".staging"))
        .map(Iterator::count)
        .unwrap_or(0);
    assert!(staged > 0, "the crashed run had written its files");
    assert_eq!(parquet_dump(&engine, day.date).await, published);

    // A good run afterwards publishes the new data and the staging garbage can go.
    lake.clean_staging().expect("clean staging");
    let job = DailyJob::new(Arc::new(db.clone()), Arc::new(lake.clone()), catalog);
    let report = job.run(day).await.expect("rerun");
    assert_eq!(report.written_to(tables::ORDERS), 2);
    let after = parquet_dump(&engine, day.date).await;
    assert_eq!(after[0].len(), 2);
    assert_ne!(after, published);

    // And running it once more changes nothing.
    job.run(day).await.expect("second rerun");
    assert_eq!(parquet_dump(&engine, day.date).await, after);
}
