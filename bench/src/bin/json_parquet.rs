//! JSON → Parquet on one core: newline-delimited click events (three generated days, each valid
//! event in its canonical JSON) validated and written as one zstd Parquet file of the lake's
//! clickstream table, the way the lake sink writes them; next to pyarrow (`read_json`, then
//! `write_table`, zstd, one thread) and DuckDB (`COPY … (FORMAT parquet, COMPRESSION zstd)`, one
//! thread) on the same file, in the same run; every output read back and compared row for row.
//! Writes its section of `docs/BENCHMARKS.md`.
//!
//! `scripts/bench --only json-parquet` (it needs the Python with pyarrow and DuckDB that
//! `scripts/lib/services.sh` prepares, named by `FASHION_TEST_PYTHON`).

use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use fashion_bench::{
    Spread, arg, load_average, machine, peer_output, repo_root, timed, write_section,
};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::event::ClickEvent;
use fashion_domain::lake::{TableDef, TableRows, tables};
use fashion_parquet::ParquetFileWriter;

/// Generated days of input.
const DAYS: u32 = 3;
/// Events per Parquet write (the lake sink's flushes write in chunks of this order).
const CHUNK: usize = 65_536;

/// Ours: each line parsed and validated as the stream's consumers do, then the lake's Parquet
/// writer (zstd) into `out`, in chunks. Returns the rows written.
fn ours(input: &Path, out: &Path, arrived: DateTime<Utc>) -> anyhow::Result<usize> {
    let table = TableDef::named(tables::CLICKSTREAM).context("clickstream table")?;
    let file = std::fs::File::create(out)?;
    let mut writer = ParquetFileWriter::new(&table, BufWriter::new(file))?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut rows = 0;
    for line in BufReader::new(std::fs::File::open(input)?).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        chunk.push(ClickEvent::parse(&line, arrived).map_err(|e| anyhow::anyhow!("{e}"))?);
        if chunk.len() == CHUNK {
            rows += chunk.len();
            writer.write(&TableRows::Clickstream(std::mem::take(&mut chunk)))?;
        }
    }
    rows += chunk.len();
    writer.write(&TableRows::Clickstream(chunk))?;
    writer.finish()?;
    Ok(rows)
}

fn main() -> anyhow::Result<()> {
    let users = arg("--users", 20_000);
    let runs = arg("--runs", 5).max(1) as usize;
    let python = std::env::var("FASHION_TEST_PYTHON").context(
        "FASHION_TEST_PYTHON is not set: it names a Python with pyarrow and DuckDB; run \
         `scripts/bench --only json-parquet`, which prepares one",
    )?;
    let load_before = load_average();
    let dir = std::env::temp_dir().join(format!("fashion-json-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("events.jsonl");

    // The input: every valid event of the generated days, in its canonical JSON.
    let generator = Generator::new(GenConfig {
        users,
        days: DAYS,
        dirty_rate: 0.0,
        ..GenConfig::default()
    });
    let mut text = Vec::new();
    let mut last = DateTime::<Utc>::MIN_UTC;
    for d in 0..DAYS {
        for e in generator.day(d).events {
            if let Ok(ev) = ClickEvent::parse(&e.data, e.occurred_at) {
                last = last.max(e.occurred_at);
                text.extend_from_slice(&ev.to_json());
                text.push(b'\n');
            }
        }
    }
    std::fs::write(&input, &text)?;
    let bytes = text.len() as f64;
    drop(text);
    let arrived = last + Duration::hours(1);

    let out = dir.join("ours.parquet");
    let (seconds, rows) = timed(1, runs, || ours(&input, &out, arrived));
    let rows = rows?;
    let out_bytes = std::fs::metadata(&out)?.len();
    let peers = peer_output(
        Command::new(&python)
            .arg(repo_root().join("bench/python/json_parquet.py"))
            .arg("--input")
            .arg(&input)
            .arg("--ours")
            .arg(&out)
            .arg("--out-dir")
            .arg(&dir)
            .arg("--runs")
            .arg(runs.to_string()),
        "the Python peers",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let peers = peers?;

    let mb = bytes / 1e6;
    let mut body = format!(
        "## JSON → Parquet (one core)\n\n\
         `scripts/bench --only json-parquet` at {}: {}; load average {load_before} before, LOAD_AFTER after. \
         Input: {rows} click events ({mb:.1} MB of newline-delimited JSON: {DAYS} generated days of {users} \
         customers, each valid event in its canonical form), from the page cache. Each figure: median (min–max) \
         of {runs} runs after a warm-up. Ours validates every event as the stream's consumers do and writes the \
         lake's clickstream table (one more column than the input: the event's UTC offset) with the lake's \
         writer; the peers write the input's columns as they are. Every output is read back and compared row \
         for row on the events' columns.\n\n\
         | implementation | seconds | MB/s | rows/s | output MB | rows equal ours |\n|---|---:|---:|---:|---:|---|\n\
         | **ours** (validate + lake writer, zstd level 1) | {} | **{}** | {} | {:.1} | — |\n",
        Utc::now().format("%Y-%m-%d"),
        machine(),
        seconds.show(3),
        seconds.per(mb).show(1),
        seconds.per(rows as f64).show(0),
        out_bytes as f64 / 1e6,
    );
    let mut spreads = Vec::new();
    for (name, label) in [
        ("pyarrow", "pyarrow `read_json` + `write_table` (zstd)"),
        (
            "duckdb",
            "DuckDB `COPY … (FORMAT parquet, COMPRESSION zstd)`",
        ),
    ] {
        let p = &peers[name];
        let times: Vec<f64> = p["seconds"]
            .as_array()
            .context("seconds")?
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        let s = Spread::of(times);
        body.push_str(&format!(
            "| {label} {} | {} | {} | {} | {:.1} | {} |\n",
            peers["versions"][name].as_str().unwrap_or("?"),
            s.show(3),
            s.per(mb).show(1),
            s.per(rows as f64).show(0),
            p["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            if p["same_rows"].as_bool() == Some(true) {
                "yes".to_owned()
            } else {
                format!("**no** ({} rows)", p["rows"])
            },
        ));
        spreads.push((name, s));
    }
    let ours_rate = seconds.per(mb);
    for (name, s) in spreads {
        let theirs = s.per(mb);
        body.push_str(&format!(
            "\n- ≥ {name} (our slowest run at least their fastest): {} (ours {:.1}–{:.1} MB/s, {name} \
             {:.1}–{:.1} MB/s).",
            if ours_rate.min >= theirs.max {
                "met"
            } else {
                "**not met**"
            },
            ours_rate.min,
            ours_rate.max,
            theirs.min,
            theirs.max,
        ));
    }
    body.push('\n');
    let body = body.replace("LOAD_AFTER", &load_average());
    let path = write_section("json-parquet", &body)?;
    println!("{body}");
    eprintln!("wrote {}", path.display());
    Ok(())
}
