//! Trend SQL: every named query (`fashion query --named`) on DataFusion, as `fashion query` runs
//! it, against DuckDB on the same Parquet files, in the same run; results compared row for row.
//! The lake is a data directory the caller built with the CLI (`fashion generate`, `sink run`,
//! `etl backfill`: 90 days, over 10 M click rows; `scripts/bench --only trend-sql` does it).
//!
//! - **cold**: a new engine for each run (ours: a `DataFusionEngine` over the catalog; DuckDB: a
//!   new connection and its views), one discarded warm-up; the files stay in the page cache (the
//!   benchmark cannot drop it).
//! - **hot**: one engine, a discarded warm-up, then the timed runs. Our engine plans each query in
//!   a new session (it lists the partitions and reads the footers every time), so its hot and cold
//!   runs differ little; DuckDB's connection keeps its metadata between queries.
//!
//! Writes its section of `docs/BENCHMARKS.md`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use fashion_bench::{
    Spread, arg, arg_text, git_head, load_average, machine, peer_output, repo_root, write_section,
};
use fashion_domain::ports::{HistorySource, QueryEngine, QueryParam, QueryResult, TableCatalog};
use fashion_domain::services::named_queries::{NAMED_QUERIES, params_for};
use fashion_local::{DataFusionEngine, LocalHistory, LocalLake, StateDb};
use serde_json::{Value, json};

/// One query's runs on our engine.
struct Ours {
    name: &'static str,
    params: Vec<QueryParam>,
    cold: Vec<f64>,
    hot: Vec<f64>,
    result: QueryResult,
}

fn text(params: &[QueryParam]) -> Vec<String> {
    params
        .iter()
        .map(|p| match p {
            QueryParam::Text(s) => s.clone(),
            QueryParam::Int(i) => i.to_string(),
            QueryParam::Float(f) => f.to_string(),
        })
        .collect()
}

/// A cell for comparison: numbers (and decimals written as strings) as numbers.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn same_cell(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Whether two results hold the same rows, in the order the queries' ORDER BY gives them, ties
/// aside (rows equal under the sort keys may come in either order, so both sides are sorted by
/// their text before the cells are compared).
fn same_rows(ours: &[Vec<Value>], theirs: &[Vec<Value>]) -> bool {
    let sorted = |rows: &[Vec<Value>]| {
        let mut v: Vec<Vec<Value>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| number(c).map_or_else(|| c.clone(), |x| json!(format!("{x:.6e}"))))
                    .collect()
            })
            .collect();
        v.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
        v
    };
    ours.len() == theirs.len()
        && sorted(ours)
            .iter()
            .zip(sorted(theirs).iter())
            .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cell(x, y)))
}

async fn run_ours(
    lake: &LocalLake,
    catalog: &Arc<dyn TableCatalog>,
    history: &dyn HistorySource,
    runs: usize,
) -> anyhow::Result<Vec<Ours>> {
    let mut out = Vec::new();
    for q in NAMED_QUERIES {
        let params = params_for(q, Vec::new(), catalog.as_ref(), history).await?;
        let mut cold = Vec::new();
        let mut result = QueryResult::default();
        for i in 0..=runs {
            let t = Instant::now();
            let engine = DataFusionEngine::new(lake.clone(), catalog.clone());
            result = engine
                .query(q.sql, &params)
                .await
                .with_context(|| format!("{} on DataFusion", q.name))?;
            if i > 0 {
                cold.push(t.elapsed().as_secs_f64());
            }
        }
        let engine = DataFusionEngine::new(lake.clone(), catalog.clone());
        let mut hot = Vec::new();
        for i in 0..=runs {
            let t = Instant::now();
            engine.query(q.sql, &params).await?;
            if i > 0 {
                hot.push(t.elapsed().as_secs_f64());
            }
        }
        out.push(Ours {
            name: q.name,
            params,
            cold,
            hot,
            result,
        });
    }
    Ok(out)
}

fn seconds(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn geomean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

/// The version of `crate` this workspace builds, from its lock file.
fn locked_version(krate: &str) -> String {
    let lock = include_str!("../../../Cargo.lock");
    let needle = format!("name = \"{krate}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| lock.get(i + needle.len()..))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("?")
        .to_owned()
}

fn main() -> anyhow::Result<()> {
    let runs = arg("--runs", 5).max(1) as usize;
    let data_dir = arg_text("--data-dir")
        .map(PathBuf::from)
        .context("usage: trend_sql --data-dir DIR [--runs N] (a data directory with a lake)")?;
    anyhow::ensure!(
        data_dir.join("lake").is_dir() && data_dir.join("state.db").is_file(),
        "{} holds no lake and catalog (lake/, state.db): build one with `fashion --data-dir DIR \
         generate`, `sink run` and `etl backfill`, as `scripts/bench --only trend-sql` does",
        data_dir.display()
    );
    let python = std::env::var("FASHION_TEST_PYTHON").context(
        "FASHION_TEST_PYTHON is not set: it names a Python with DuckDB; run \
         `scripts/bench --only trend-sql`, which prepares one",
    )?;
    let load_before = load_average();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let lake = LocalLake::new(data_dir.join("lake"));
    let (ours, click_rows, click_days) = runtime.block_on(async {
        let state = StateDb::open(&data_dir.join("state.db")).await?;
        let catalog: Arc<dyn TableCatalog> = Arc::new(state.table_catalog());
        let history = LocalHistory::new(lake.clone(), catalog.clone());
        let clicks = catalog.partitions("clickstream").await?;
        let days: std::collections::BTreeSet<&str> = clicks
            .iter()
            .filter_map(|p| {
                p.key
                    .0
                    .iter()
                    .find(|(k, _)| k == "dt")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        let count = DataFusionEngine::new(lake.clone(), catalog.clone())
            .query("SELECT COUNT(*) AS n FROM clickstream", &[])
            .await?;
        let rows = count
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_u64)
            .context("clickstream row count")?;
        let ours = run_ours(&lake, &catalog, &history, runs).await?;
        anyhow::Ok((ours, rows, days.len()))
    })?;

    let queries: Vec<Value> = ours
        .iter()
        .map(|o| {
            let sql = NAMED_QUERIES
                .iter()
                .find(|q| q.name == o.name)
                .map_or("", |q| q.sql);
            json!({"name": o.name, "sql": sql, "params": text(&o.params)})
        })
        .collect();
    let queries_file =
        std::env::temp_dir().join(format!("fashion-trend-sql-{}.json", std::process::id()));
    std::fs::write(&queries_file, serde_json::to_vec(&queries)?)?;
    let duck = peer_output(
        Command::new(&python)
            .arg(repo_root().join("bench/python/trend_sql.py"))
            .arg("--lake")
            .arg(data_dir.join("lake"))
            .arg("--queries")
            .arg(&queries_file)
            .arg("--runs")
            .arg(runs.to_string()),
        "DuckDB",
    );
    let _ = std::fs::remove_file(&queries_file);
    let duck = duck?;

    let mut body = format!(
        "## Trend SQL: DataFusion vs DuckDB\n\n\
         `scripts/bench --only trend-sql` at {}, {}: {}; load average {load_before} before, LOAD_AFTER after. \
         The lake: {click_rows} click rows over {click_days} days (`fashion generate --days 90 --users 20000 --dirty-rate 0.01`, \
         `fashion sink run`, `fashion etl backfill` over the 90 days), files in the page cache. Each named \
         query with the parameters `fashion query --named` gives it (the last day of its table). Ours: \
         DataFusion {} as `fashion query` runs it (2 target partitions); the peer: DuckDB {} ({} threads) over \
         the same files (`read_parquet`, Hive partitions as text). Cold: a new engine per run (our engine, or \
         a new DuckDB connection and its views); hot: one engine, the query repeated. Median (min–max) of {runs} \
         runs after a warm-up, in milliseconds. Rows compared cell by cell (numbers to 1e-9 relative; rows tied \
         under ORDER BY in any order).\n\n\
         | query | ours cold | DuckDB cold | ours hot | DuckDB hot | hot ratio (median) | rows | equal |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
        git_head(),
        Utc::now().format("%Y-%m-%d"),
        machine(),
        locked_version("datafusion"),
        duck["duckdb"].as_str().unwrap_or("?"),
        duck["threads"],
    );
    let (mut cold_ratios, mut hot_ratios) = (Vec::new(), Vec::new());
    let mut worst: Vec<(f64, &str)> = Vec::new();
    let mut all_equal = true;
    for o in &ours {
        let theirs = &duck["queries"][o.name];
        if let Some(e) = theirs["error"].as_str() {
            all_equal = false;
            body.push_str(&format!(
                "| {} | {} | DuckDB failed: {} | | | | | no |\n",
                o.name,
                Spread::of(o.cold.iter().map(|s| s * 1e3).collect()).show(1),
                e.replace('|', "\\|").lines().next().unwrap_or("")
            ));
            continue;
        }
        let ms = |v: &[f64]| Spread::of(v.iter().map(|s| s * 1e3).collect());
        let (oc, oh) = (ms(&o.cold), ms(&o.hot));
        let (dc, dh) = (ms(&seconds(&theirs["cold"])), ms(&seconds(&theirs["hot"])));
        let rows: Vec<Vec<Value>> =
            serde_json::from_value(theirs["rows"].clone()).unwrap_or_default();
        let equal = same_rows(&o.result.rows, &rows);
        all_equal &= equal;
        cold_ratios.push(oc.median / dc.median);
        hot_ratios.push(oh.median / dh.median);
        // The worst case for the 3× rule: our slowest run against their fastest.
        worst.push((oh.max / dh.min, o.name));
        worst.push((oc.max / dc.min, o.name));
        body.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {:.2}× | {} | {} |\n",
            o.name,
            oc.show(1),
            dc.show(1),
            oh.show(1),
            dh.show(1),
            oh.median / dh.median,
            o.result.rows.len(),
            if equal { "yes" } else { "**no**" },
        ));
    }
    let (gc, gh) = (geomean(&cold_ratios), geomean(&hot_ratios));
    let worst_one = worst
        .iter()
        .copied()
        .fold((0.0f64, ""), |a, b| if b.0 > a.0 { b } else { a });
    body.push_str(&format!(
        "\nGeometric mean of the ratios ours / DuckDB (medians): cold {gc:.2}×, hot {gh:.2}×.\n\n\
         - DataFusion ≤ 1.2× DuckDB, geometric mean (hot and cold): {}.\n\
         - No query over 3× (our slowest run against DuckDB's fastest, hot and cold): {} (worst: `{}`, {:.2}×).\n\
         - Every query's rows equal DuckDB's: {}.\n",
        if gc <= 1.2 && gh <= 1.2 { "met" } else { "**not met**" },
        if worst_one.0 <= 3.0 { "met" } else { "**not met**" },
        worst_one.1,
        worst_one.0,
        if all_equal { "yes" } else { "**no**" },
    ));
    let body = body.replace("LOAD_AFTER", &load_average());
    let path = write_section("trend-sql", &body)?;
    println!("{body}");
    eprintln!("wrote {}", path.display());
    Ok(())
}
