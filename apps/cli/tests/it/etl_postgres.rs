//! `fashion etl` against a real PostgreSQL (the test command starts a throwaway cluster and sets
//! `FASHION_TEST_DATABASE_URL`): generated orders, dirty ones included, become identical
//! partitions however often a day is rerun.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sqlx::Connection;

/// A fresh database on the test cluster, so tests never see each other's rows.
async fn fresh_database() -> String {
    let admin = std::env::var("FASHION_TEST_DATABASE_URL").expect(
        "FASHION_TEST_DATABASE_URL is not set: run the tests through scripts/test (or scripts/services), \
         which starts a throwaway PostgreSQL cluster",
    );
    let name = format!("fashion_cli_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test cluster");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin
        .rsplit_once('/')
        .expect("a database URL ends with /database");
    format!("{base}/{name}")
}

fn fashion(data_dir: &Path, url: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fashion"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("FASHION_CONFIG")
        .output()
        .expect("the fashion binary runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every Parquet file of the daily job's tables, by path, with its bytes.
fn snapshot(lake: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    for t in [
        "orders",
        "order_items",
        "daily_sales",
        "customer_daily",
        "quarantine",
    ] {
        walk(lake, &lake.join(t), &mut out);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn etl_against_postgres_quarantines_dirty_rows_and_reruns_give_identical_partitions() {
    // Arrange: three days of a store with plenty of dirty orders, in PostgreSQL.
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    fashion(
        dir.path(),
        &url,
        &[
            "generate",
            "--days",
            "3",
            "--users",
            "1500",
            "--products",
            "800",
            "--dirty-rate",
            "0.1",
            "--json",
        ],
    );

    // Act
    let first: Value = serde_json::from_slice(
        &fashion(
            dir.path(),
            &url,
            &[
                "etl",
                "backfill",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-03",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    let before = snapshot(&dir.path().join("lake"));
    let again: Value = serde_json::from_slice(
        &fashion(
            dir.path(),
            &url,
            &["etl", "run", "--date", "2026-11-02", "--json"],
        )
        .stdout,
    )
    .unwrap();
    let after = snapshot(&dir.path().join("lake"));

    // Assert: every extracted row is published, quarantined or dropped as a duplicate.
    let reports = first.as_array().unwrap();
    assert_eq!(reports.len(), 3);
    let mut rules = std::collections::BTreeSet::new();
    for r in reports {
        let q: (u64, u64) = r["quarantined"]
            .as_object()
            .unwrap()
            .values()
            .fold((0, 0), |a, c| {
                (
                    a.0 + c["orders"].as_u64().unwrap(),
                    a.1 + c["lines"].as_u64().unwrap(),
                )
            });
        rules.extend(r["quarantined"].as_object().unwrap().keys().cloned());
        assert_eq!(
            r["extracted"]["orders"].as_u64().unwrap(),
            r["written"]["orders"].as_u64().unwrap() + q.0,
            "{r}"
        );
        assert_eq!(
            r["extracted"]["lines"].as_u64().unwrap(),
            r["written"]["order_items"].as_u64().unwrap()
                + q.1
                + r["duplicate_lines_dropped"].as_u64().unwrap(),
            "{r}"
        );
    }
    for rule in [
        "missing_key",
        "unknown_customer",
        "unknown_product",
        "non_positive_quantity",
        "negative_price",
        "total_mismatch",
        "unknown_status",
    ] {
        assert!(rules.contains(rule), "rule {rule} never fired: {rules:?}");
    }
    assert!(
        reports
            .iter()
            .any(|r| r["duplicate_lines_dropped"].as_u64().unwrap() > 0)
    );
    // A rerun of a day gives the same report figures and byte-identical files.
    assert_eq!(again["written"], reports[1]["written"]);
    assert_eq!(again["quarantined"], reports[1]["quarantined"]);
    assert_eq!(before.len(), after.len());
    assert!(
        before == after,
        "rerunning a day must leave identical partitions"
    );
    // The published rows are queryable, money exact.
    let q: Value = serde_json::from_slice(
        &fashion(
            dir.path(),
            &url,
            &[
                "query",
                "SELECT SUM(revenue) AS revenue, SUM(units) AS units FROM daily_sales",
                "--json",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        q["rows"][0][0].as_str().unwrap().contains('.'),
        "revenue is an exact decimal: {q}"
    );
}
