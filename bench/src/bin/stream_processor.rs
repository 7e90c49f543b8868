//! Stream processor throughput on the in-memory adapters, on one core, next to two peers measured
//! in the same run on the same input: parsing alone (the floor) and a Python implementation of the
//! same logic (`bench/python/stream_processor.py`). Writes its section of `docs/BENCHMARKS.md`.
//!
//! `cargo run --release -p fashion-bench --bin stream_processor [-- --users N --days N]`

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use fashion_bench::{machine, median_secs, repo_root, write_section};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::TrainingEvent;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{ProductCatalog, RecommendationReader};
use fashion_domain::services::recommender::ModelIndex;
use fashion_domain::services::stream_processor::{
    BatchReport, ModelHandle, ProcessorConfig, StreamProcessor,
};
use fashion_domain::services::trainer::{TrainerParams, build_model};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use fashion_memory::{
    InMemoryDeadLetterSink, InMemoryProductCatalog, InMemoryRecommendationStore,
    InMemoryUserActivityStore,
};
use serde_json::json;

const BATCH: usize = 1_000;
/// Shards of the sharded shape (20,000 customers / 400 = 50 customers per shard).
const SHARDS: usize = 400;
const RUNS: usize = 3;
/// `FASHION_BENCH_PROFILE=1`: only run the processor, many times (for a profiler).
const PROFILE_ENV: &str = "FASHION_BENCH_PROFILE";

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default, Debug, PartialEq, Eq)]
struct Totals {
    processed: usize,
    duplicates: usize,
    dead_lettered: usize,
    failed: usize,
}

fn add(t: &mut Totals, r: &BatchReport) {
    t.processed += r.processed;
    t.duplicates += r.duplicates;
    t.dead_lettered += r.dead_lettered;
    t.failed += r.failed.len();
}

fn main() -> anyhow::Result<()> {
    let users = arg("--users", 20_000);
    let days = arg("--days", 3).max(2);
    let generator = Generator::new(GenConfig {
        users,
        days,
        dirty_rate: 0.01,
        ..GenConfig::default()
    });

    // Train on every day but the last; the last day is the input.
    let mut history = Vec::new();
    for d in 0..days - 1 {
        for e in generator.day(d).events {
            if let Ok(ev) = ClickEvent::parse(&e.data, e.occurred_at) {
                history.extend(TrainingEvent::from_event(&ev));
            }
        }
    }
    let input = generator.day(days - 1);
    let trained_at = input
        .events
        .first()
        .map_or_else(Utc::now, |e| e.occurred_at);
    let model = build_model(
        generator.products(),
        &history,
        &[],
        trained_at,
        &TrainerParams::default(),
    );
    let now: DateTime<Utc> = input.events.last().map_or_else(Utc::now, |e| e.occurred_at);
    eprintln!(
        "input: {} records from {users} customers; model trained on {} interactions",
        input.events.len(),
        history.len()
    );
    let mut body = format!(
        "## Stream processor (in-memory adapters, one core)\n\n\
         `cargo run --release -p fashion-bench --bin stream_processor` — {}; input: one generated day of {users} \
         customers ({} records, 1% dirty), a model trained on the days before; batches of {BATCH}; median of {RUNS} runs \
         (Python: one run). Two stream shapes: one shard in time order, and {SHARDS} shards keyed by customer with one \
         consumer per shard, as Kinesis and Lambda run it (each customer in a batch is rescored once, so \
         fewer customers per batch means less scoring per event).\n",
        machine(),
        input.events.len(),
    );
    for (label, shards) in [("one shard", 1usize), ("sharded by customer", SHARDS)] {
        let batches = shape(&input.events, shards);
        body.push_str(&run_shape(&generator, &model, &batches, now, label)?);
    }
    if std::env::var_os(PROFILE_ENV).is_some() {
        return Ok(());
    }
    let path = write_section("stream-processor", &body)?;
    println!("{body}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Cuts the day's records into batches: per shard (by customer), in time order, `BATCH` at a time.
fn shape(events: &[fashion_datagen::GeneratedEvent], shards: usize) -> Vec<Vec<StreamRecord>> {
    let mut per_shard: Vec<Vec<StreamRecord>> = vec![Vec::new(); shards];
    for e in events {
        let s = fashion_domain::stream::shard_for_key(&e.partition_key, shards);
        let seq = per_shard[s].len() as u64 + 1;
        per_shard[s].push(StreamRecord {
            shard_id: ShardId(format!("shardId-{s:012}")),
            sequence_number: SequenceNumber::from_u64(seq),
            partition_key: e.partition_key.clone(),
            data: e.data.clone(),
            arrived_at: e.occurred_at,
        });
    }
    per_shard
        .iter()
        .flat_map(|s| s.chunks(BATCH).map(<[StreamRecord]>::to_vec))
        .collect()
}

fn run_shape(
    generator: &Generator,
    model: &fashion_domain::model::RecModel,
    batches: &[Vec<StreamRecord>],
    now: DateTime<Utc>,
    label: &str,
) -> anyhow::Result<String> {
    let records: Vec<&StreamRecord> = batches.iter().flatten().collect();
    let n = records.len();
    let customers_per_batch = batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|r| r.partition_key.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len()
        })
        .sum::<usize>() as f64
        / batches.len().max(1) as f64;

    // Peer 1: parsing and validation alone.
    let (parse_secs, valid) = median_secs(RUNS, || {
        records
            .iter()
            .filter(|r| ClickEvent::parse(&r.data, r.arrived_at).is_ok())
            .count()
    });

    // Ours: the whole processor on one core (a current-thread runtime).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let mut last_recs = None;
    let runs = if std::env::var_os(PROFILE_ENV).is_some() {
        15
    } else {
        RUNS
    };
    let (full_secs, totals) = median_secs(runs, || {
        rt.block_on(async {
            let catalog = Arc::new(InMemoryProductCatalog::new());
            catalog
                .upsert_many(generator.products())
                .await
                .expect("memory catalog");
            let recs = Arc::new(InMemoryRecommendationStore::new());
            let p = StreamProcessor::new(
                Arc::new(InMemoryUserActivityStore::new()),
                recs.clone(),
                catalog,
                Arc::new(InMemoryDeadLetterSink::new()),
                ModelHandle::new(ModelIndex::new(model)),
                ProcessorConfig::default(),
            );
            let mut t = Totals::default();
            for batch in batches {
                add(&mut t, &p.process(batch, now).await);
            }
            last_recs = Some(recs);
            t
        })
    });
    let recs = last_recs.context("no run")?;
    if std::env::var_os(PROFILE_ENV).is_some() {
        println!(
            "{label}: processor {:.0} events/s ({full_secs:.3} s)",
            n as f64 / full_secs
        );
        return Ok(String::new());
    }

    // Peer 2: the Python implementation on the same files.
    let dir = std::env::temp_dir().join(format!("fashion-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let lines: Vec<String> = batches
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| {
            batch.iter().map(move |r| {
                json!({"data": String::from_utf8_lossy(&r.data), "arrived_at": r.arrived_at.to_rfc3339(),
                       "seq": r.sequence_number.0, "shard": r.shard_id.0, "batch": b})
                .to_string()
            })
        })
        .collect();
    std::fs::write(dir.join("records.jsonl"), lines.join("\n"))?;
    std::fs::write(dir.join("model.json"), serde_json::to_vec(&model)?)?;
    std::fs::write(
        dir.join("catalog.json"),
        serde_json::to_vec(generator.products())?,
    )?;
    let script = repo_root().join("bench/python/stream_processor.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--dir")
        .arg(&dir)
        .arg("--now")
        .arg(now.to_rfc3339())
        .output()
        .context("failed to run python3")?;
    anyhow::ensure!(
        out.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("the Python peer's output")?;
    let py_secs = py["seconds"].as_f64().context("seconds")?;
    let _ = std::fs::remove_dir_all(&dir);

    // Same logic, same answers: compare counts and each customer's list.
    let same_counts = py["processed"].as_u64() == Some(totals.processed as u64)
        && py["duplicates"].as_u64() == Some(totals.duplicates as u64)
        && py["dead_lettered"].as_u64() == Some(totals.dead_lettered as u64);
    let py_recs: HashMap<String, Vec<u64>> =
        serde_json::from_value(py["recommendations"].clone()).unwrap_or_default();
    let (mut overlap, mut compared) = (0usize, 0usize);
    for (customer, theirs) in &py_recs {
        let Ok(id) = CustomerId::parse(customer) else {
            continue;
        };
        if let Some(ours) = rt.block_on(recs.get(id))? {
            let ours: Vec<u64> = ours
                .items
                .iter()
                .map(|i| u64::from(i.product_id.get()))
                .collect();
            overlap += ours.iter().filter(|p| theirs.contains(p)).count();
            compared += ours.len().max(theirs.len());
        }
    }
    let agreement = if compared == 0 {
        0.0
    } else {
        overlap as f64 / compared as f64
    };

    let eps = |secs: f64| n as f64 / secs;
    Ok(format!(
        "\n### {label} ({customers_per_batch:.0} customers per batch on average)\n\n\
         | implementation | seconds | events/s | vs ours |\n|---|---:|---:|---:|\n\
         | parse + validate only (floor) | {parse_secs:.3} | {:.0} | {:.2}x faster |\n\
         | **stream processor (Rust)** | {full_secs:.3} | **{:.0}** | 1x |\n\
         | same logic in Python 3 (`bench/python/stream_processor.py`) | {py_secs:.3} | {:.0} | {:.1}x slower |\n\n\
         {n} records ({valid} valid). Both implementations processed {} events, skipped {} duplicates and \
         dead-lettered {} records (counts identical: {same_counts}); their stored top-10 lists agree on {:.1}% of items.\n",
        eps(parse_secs),
        full_secs / parse_secs,
        eps(full_secs),
        eps(py_secs),
        py_secs / full_secs,
        totals.processed,
        totals.duplicates,
        totals.dead_lettered,
        agreement * 100.0,
    ))
}
