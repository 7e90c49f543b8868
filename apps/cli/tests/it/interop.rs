//! The lake is standard Parquet: pyarrow and DuckDB read what `fashion demo` wrote, with the same
//! row counts, schemas and exact decimals. The test command provides a Python with both
//! (`FASHION_TEST_PYTHON`).

use std::process::Command;

use serde_json::Value;

const READER: &str = r#"
import json, sys
import pyarrow.dataset as ds
import duckdb
lake = sys.argv[1]
out = {}
for table in ["clickstream", "orders", "order_items", "daily_sales"]:
    d = ds.dataset(f"{lake}/{table}", format="parquet", partitioning="hive")
    out[table] = d.to_table().num_rows
glob = f"{lake}/clickstream/*/*/*.parquet"
out["duckdb_clickstream"] = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall()[0][0]
out["duckdb_distinct_events"] = duckdb.sql(f"SELECT COUNT(DISTINCT event_id) FROM read_parquet('{glob}', hive_partitioning=true)").fetchall()[0][0]
rev = duckdb.sql(f"SELECT SUM(revenue) FROM read_parquet('{lake}/daily_sales/*/*.parquet')").fetchall()[0][0]
out["duckdb_revenue"] = str(rev)
out["occurred_at_type"] = str(ds.dataset(f"{lake}/clickstream", format="parquet", partitioning="hive").schema.field("occurred_at").type)
print(json.dumps(out))
"#;

#[test]
fn pyarrow_and_duckdb_read_the_lake_the_demo_writes() {
    let python = std::env::var("FASHION_TEST_PYTHON").expect(
        "FASHION_TEST_PYTHON is not set: run the tests through scripts/test, which prepares a Python with pyarrow and DuckDB",
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let demo = Command::new(env!("CARGO_BIN_EXE_fashion"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "demo",
            "--days",
            "2",
            "--users",
            "300",
            "--products",
            "500",
            "--json",
        ])
        .env_remove("DATABASE_URL")
        .env_remove("FASHION_CONFIG")
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let summary: Value = serde_json::from_slice(&demo.stdout).unwrap();
    let revenue: Value = serde_json::from_slice(
        &Command::new(env!("CARGO_BIN_EXE_fashion"))
            .arg("--data-dir")
            .arg(&data)
            .args(["query", "SELECT SUM(revenue) FROM daily_sales", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();

    let out = Command::new(&python)
        .arg("-c")
        .arg(READER)
        .arg(data.join("lake"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();

    for table in ["clickstream", "orders", "order_items", "daily_sales"] {
        assert_eq!(
            theirs[table], summary["lake_rows"][table],
            "{table} rows as pyarrow reads them"
        );
    }
    assert_eq!(
        theirs["duckdb_clickstream"],
        summary["lake_rows"]["clickstream"]
    );
    assert_eq!(
        theirs["duckdb_distinct_events"],
        summary["lake_rows"]["clickstream"]
    );
    assert_eq!(
        theirs["duckdb_revenue"].as_str(),
        revenue["rows"][0][0].as_str(),
        "money is the same exact decimal"
    );
    assert_eq!(theirs["occurred_at_type"], "timestamp[us, tz=UTC]");
}
