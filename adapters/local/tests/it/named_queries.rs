//! The named queries on DataFusion over a lake of 40 days: each runs, answers from its window,
//! and a windowed one reads only the partitions of its window (those before it are made
//! unreadable, so a scan of the whole history fails the test).

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use fashion_domain::ids::ProductId;
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::money::Cents;
use fashion_domain::ports::{LakeWriter, QueryEngine, TableCatalog, WriteMode};
use fashion_domain::sales::DailySales;
use fashion_domain::services::named_queries::{NAMED_QUERIES, named_query, params_for};
use fashion_local::{DataFusionEngine, LocalHistory, LocalLake, SqliteTableCatalog, StateDb};
use fashion_tests::fixtures::view;

const DAYS: u64 = 40;

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("a date")
}

fn sales(units: i64) -> DailySales {
    DailySales {
        product_id: ProductId::new(7).expect("an id"),
        article_type: "Jackets".into(),
        colour: "Navy Blue".into(),
        gender: "Women".into(),
        master_category: "Apparel".into(),
        city: "Lyon".into(),
        units,
        revenue: Cents(units * 1_000),
        orders: units,
        distinct_customers: 1,
    }
}

async fn put(
    lake: &LocalLake,
    catalog: &dyn TableCatalog,
    table: &TableDef,
    key: &PartitionKey,
    rows: TableRows,
) {
    let mut w = lake
        .open(table, key, WriteMode::Replace, "w1")
        .await
        .expect("open");
    w.write(rows).await.expect("write");
    let info = w.commit().await.expect("commit");
    catalog.put_partition(&info).await.expect("put_partition");
}

/// Day `i` (from 1) sells `i` units and has `i` clicks.
async fn forty_days(lake: &LocalLake, catalog: &dyn TableCatalog) {
    let daily = TableDef::named(tables::DAILY_SALES).expect("daily_sales");
    let clicks = TableDef::named(tables::CLICKSTREAM).expect("clickstream");
    catalog.ensure_table(&daily).await.expect("ensure");
    catalog.ensure_table(&clicks).await.expect("ensure");
    let t0 = fashion_tests::fixtures::t0();
    for i in 1..=DAYS {
        let day = first_day() + Days::new(i - 1);
        let units = i64::try_from(i).expect("small");
        put(
            lake,
            catalog,
            &daily,
            &PartitionKey::day(day),
            TableRows::DailySales(vec![sales(units)]),
        )
        .await;
        let noon = day.and_hms_opt(12, 0, 0).expect("noon").and_utc();
        let secs = noon.signed_duration_since(t0).num_seconds();
        let events = (0..i).map(|n| view(i * 100 + n, n + 1, 7, secs)).collect();
        put(
            lake,
            catalog,
            &clicks,
            &PartitionKey::hour_of(noon),
            TableRows::Clickstream(events),
        )
        .await;
    }
}

/// Overwrites every data file of the days before `from` with bytes no Parquet reader accepts.
fn spoil_days_before(lake_root: &std::path::Path, from: NaiveDate) {
    let mut spoiled = 0;
    for table in [tables::DAILY_SALES, tables::CLICKSTREAM] {
        for entry in walk(&lake_root.join(table)) {
            let dt = entry.components().find_map(|c| {
                c.as_os_str()
                    .to_str()?
                    .strip_prefix("dt=")
                    .map(str::to_owned)
            });
            let Some(dt) = dt.and_then(|d| d.parse::<NaiveDate>().ok()) else {
                continue;
            };
            if dt < from && entry.extension().is_some_and(|e| e == "parquet") {
                std::fs::write(&entry, b"not parquet").expect("spoil");
                spoiled += 1;
            }
        }
    }
    assert!(
        spoiled > 0,
        "nothing was spoiled under {}",
        lake_root.display()
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The lake's history, which names the clickstream's last day.
fn history(lake: &LocalLake, catalog: &Arc<SqliteTableCatalog>) -> LocalHistory {
    LocalHistory::new(lake.clone(), catalog.clone())
}

/// An empty lake in a temporary directory, its catalog, and DataFusion over both.
async fn empty_lake() -> (
    tempfile::TempDir,
    LocalLake,
    Arc<SqliteTableCatalog>,
    DataFusionEngine,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("open state.db");
    let lake = LocalLake::new(dir.path().join("lake"));
    let catalog = Arc::new(db.table_catalog());
    let engine = DataFusionEngine::new(lake.clone(), catalog.clone());
    (dir, lake, catalog, engine)
}

#[tokio::test]
async fn windowed_named_queries_read_only_their_days() {
    // Arrange
    let (dir, lake, catalog, engine) = empty_lake().await;
    forty_days(&lake, catalog.as_ref()).await;
    // The funnel looks at 30 days, the rising article types at 14: anything older is spoiled.
    spoil_days_before(&dir.path().join("lake"), first_day() + Days::new(DAYS - 30));

    // Act
    let rising = named_query("rising_article_types").expect("named");
    let params = params_for(
        rising,
        Vec::new(),
        catalog.as_ref(),
        &history(&lake, &catalog),
    )
    .await
    .expect("params");
    let res = engine.query(rising.sql, &params).await.expect("rising");
    let funnel = named_query("daily_funnel").expect("named");
    let params = params_for(
        funnel,
        Vec::new(),
        catalog.as_ref(),
        &history(&lake, &catalog),
    )
    .await
    .expect("params");
    let days = engine.query(funnel.sql, &params).await.expect("funnel");

    // Assert: the last 7 days sold 34..=40 units, the 7 before 27..=33.
    assert_eq!(res.rows.len(), 1, "{res:?}");
    assert_eq!(res.rows[0][0], "Jackets");
    assert_eq!(res.rows[0][1], (34..=40).sum::<i64>());
    assert_eq!(res.rows[0][2], (27..=33).sum::<i64>());
    assert_eq!(days.rows.len(), 30, "one row per day of the window");
    assert_eq!(days.rows[0][0], "2026-10-11");
    assert_eq!(days.rows[29][0], "2026-11-09");
    assert_eq!(days.rows[29][2], 40);
    for table in [tables::DAILY_SALES, tables::CLICKSTREAM] {
        let all_days = format!("SELECT COUNT(*) FROM {table}");
        assert!(
            engine.query(&all_days, &[]).await.is_err(),
            "the spoiled days of {table} must be unreadable, or the test proves nothing"
        );
    }
}

#[tokio::test]
async fn every_named_query_runs_and_a_window_needs_a_day_to_end_on() {
    let (_dir, lake, catalog, engine) = empty_lake().await;
    for table in [tables::DAILY_SALES, tables::CLICKSTREAM, tables::QUARANTINE] {
        let def = TableDef::named(table).expect("table");
        catalog.ensure_table(&def).await.expect("ensure");
    }
    let rising = named_query("rising_article_types").expect("named");
    let err = params_for(
        rising,
        Vec::new(),
        catalog.as_ref(),
        &history(&lake, &catalog),
    )
    .await
    .expect_err("no partition, no last day");
    assert!(err.to_string().contains("no partition yet"), "{err}");

    forty_days(&lake, catalog.as_ref()).await;
    for q in NAMED_QUERIES {
        let params = params_for(q, Vec::new(), catalog.as_ref(), &history(&lake, &catalog))
            .await
            .expect("params");
        let res = engine
            .query(q.sql, &params)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", q.name));
        assert!(!res.columns.is_empty(), "{}", q.name);
    }
}
