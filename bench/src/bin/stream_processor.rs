//! Stream processor throughput on the in-memory adapters, on one core, next to two peers measured
//! in the same run on the same input: parsing alone (the floor) and a Python implementation of the
//! same logic (`bench/python/stream_processor.py`, the same dedupe window). Three stream shapes,
//! each from an activity store warmed with the week before. Writes its section of
//! `docs/BENCHMARKS.md`.
//!
//! `cargo run --release -p fashion-bench --bin stream_processor [-- --users N --runs N]`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use fashion_bench::{
    Spread, arg, git_head, load_average, machine, peer_output, repo_root, timed, write_section,
};
use fashion_datagen::{GenConfig, GeneratedEvent, Generator};
use fashion_domain::activity::{MAX_SEEN_EVENTS, UserActivity, codec};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::TrainingEvent;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::model::RecModel;
use fashion_domain::ports::{ProductCatalog, RecommendationReader, UserActivityStore};
use fashion_domain::services::recommender::ModelIndex;
use fashion_domain::services::stream_processor::{
    BatchReport, ModelHandle, ProcessorConfig, StreamProcessor,
};
use fashion_domain::services::trainer::{TrainerParams, build_model, remember_purchases};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use fashion_memory::{
    InMemoryDeadLetterSink, InMemoryProductCatalog, InMemoryRecommendationStore,
    InMemoryUserActivityStore,
};
use serde_json::json;

/// Days of activity the store is warmed with before the measured day.
const WARM_DAYS: u32 = 7;
/// Records per batch of the one-shard and sharded shapes.
const BATCH: usize = 1_000;
/// Shards of the sharded shape (20,000 customers / 400 = 50 customers per shard).
const SHARDS: usize = 400;
/// The ESM-like shape: the aws stack's stream and event-source mapping
/// (`provisioning/stacks/aws.toml`: 4 shards, batches of at most 100 records or 5 s).
const ESM_SHARDS: usize = 4;
const ESM_BATCH: usize = 100;
const ESM_WINDOW_SECS: f64 = 5.0;
/// The event rate the ESM-like shape replays the day at: a busy store's peak hour, stated
/// rather than the generated day's own (about 1.4 events/s, which would make every batch a
/// handful of records).
const ESM_RATE: f64 = 1_000.0;
/// The measured day's sequence numbers start above every position the warm week left.
const SEQUENCE_BASE: u64 = 1_000_000_000;
/// What the DynamoDB item adds to the activity's state: the names and values of `customer_id`,
/// `version`, `expires_at` (10 digits) and `updated_at` (24 characters), by DynamoDB's size
/// rules (the adapter's test bounds the whole item at 1 KB).
fn item_overhead(customer: u64, version: u64) -> usize {
    let number = |v: u64| v.to_string().len().div_ceil(2) + 1;
    "customer_id".len()
        + number(customer)
        + "version".len()
        + number(version)
        + "state".len()
        + "expires_at".len()
        + number(9_999_999_999)
        + "updated_at".len()
        + 24
}

#[derive(Default, Debug, PartialEq, Eq, Clone)]
struct Totals {
    processed: usize,
    duplicates: usize,
    dead_lettered: usize,
    failed: usize,
    activity_writes: usize,
    recommendation_writes: usize,
}

fn add(t: &mut Totals, r: &BatchReport) {
    t.processed += r.processed;
    t.duplicates += r.duplicates;
    t.dead_lettered += r.dead_lettered;
    t.failed += r.failed.len();
    t.activity_writes += r.customers_updated;
    t.recommendation_writes += r.recommendations_written;
}

/// What every run shares.
struct Setup<'a> {
    generator: &'a Generator,
    model: &'a RecModel,
    warm: &'a [UserActivity],
    now: DateTime<Utc>,
    runs: usize,
    rt: tokio::runtime::Runtime,
}

fn main() -> anyhow::Result<()> {
    let users = arg("--users", 20_000);
    let runs = arg("--runs", 5).max(1) as usize;
    let load_before = load_average();
    let generator = Generator::new(GenConfig {
        users,
        days: WARM_DAYS + 1,
        dirty_rate: 0.01,
        ..GenConfig::default()
    });
    let warm_days: Vec<Vec<GeneratedEvent>> =
        (0..WARM_DAYS).map(|d| generator.day(d).events).collect();
    let input = generator.day(WARM_DAYS).events;

    // The model: trained on the warm week.
    let history: Vec<TrainingEvent> = warm_days
        .iter()
        .flatten()
        .filter_map(|e| ClickEvent::parse(&e.data, e.occurred_at).ok())
        .filter_map(|ev| TrainingEvent::from_event(&ev))
        .collect();
    let trained_at = input.first().map_or_else(Utc::now, |e| e.occurred_at);
    let model = build_model(
        generator.products(),
        &history,
        &[],
        trained_at,
        &TrainerParams::default(),
    );
    let now: DateTime<Utc> = input.last().map_or_else(Utc::now, |e| e.occurred_at);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("runtime")?;

    // The store in steady state: the warm week through the processor, one shard in time order.
    let warm_records: Vec<GeneratedEvent> = warm_days.into_iter().flatten().collect();
    anyhow::ensure!(
        (warm_records.len() as u64) < SEQUENCE_BASE,
        "the warm week's positions must lie below the measured day's"
    );
    let warm = rt.block_on(warm_store(&generator, &model, &warm_records, now))?;
    eprintln!(
        "input: {} records from {users} customers; model trained on {} interactions; {} \
         customers warmed with {} records",
        input.len(),
        history.len(),
        warm.len(),
        warm_records.len()
    );
    let setup = Setup {
        generator: &generator,
        model: &model,
        warm: &warm,
        now,
        runs,
        rt,
    };
    let mut body = format!(
        "## Stream processor (in-memory adapters, one core)\n\n\
         `cargo run --release -p fashion-bench --bin stream_processor` at {}, {}: {}; load average {load_before} \
         before, LOAD_AFTER after.\n\n\
         Input: one generated day of {users} customers ({} records, 1% dirty), processed by a store warmed with \
         the {WARM_DAYS} days before ({} records, {} customers' activity), with a model trained on that week. \
         Each figure: median (min–max) of {runs} runs after a warm-up run; every run starts from the same warm \
         store. Peers in the same run: parsing and validation alone (the floor) and the same logic in Python 3 \
         (`bench/python/stream_processor.py`, the same dedupe rules: stream positions and the {MAX_SEEN_EVENTS} \
         newest event ids). Store writes are counted on the in-memory adapters (one activity item and one \
         recommendation list per customer updated); an item's size is its compact state plus the attributes \
         the DynamoDB adapter adds.\n",
        git_head(),
        Utc::now().format("%Y-%m-%d"),
        machine(),
        input.len(),
        warm_records.len(),
        warm.len(),
    );
    let shapes: [(&str, Vec<Vec<StreamRecord>>); 3] = [
        (
            "ESM-like: 4 shards, time-windowed batches",
            esm_like(&input),
        ),
        (
            "one shard in time order",
            by_shard(&input, 1, BATCH, SEQUENCE_BASE),
        ),
        (
            "sharded by customer (400 shards)",
            by_shard(&input, SHARDS, BATCH, SEQUENCE_BASE),
        ),
    ];
    if std::env::args().any(|a| a == "--profile") {
        // Only the processor on the ESM-like shape, for a profiler; nothing is written.
        let (_, batches) = &shapes[0];
        for _ in 0..setup.runs {
            let (seconds, _, _, _) = our_run(&setup, batches);
            eprintln!("ESM-like: {seconds:.3} s");
        }
        return Ok(());
    }
    let mut esm = None;
    for (label, batches) in &shapes {
        let (text, figures) = run_shape(&setup, batches, label)?;
        body.push_str(&text);
        esm.get_or_insert(figures);
    }
    let esm = esm.context("no shape ran")?;
    body.push_str(&targets(&esm));
    let body = body.replace("LOAD_AFTER", &load_average());
    let path = write_section("stream-processor", &body)?;
    println!("{body}");
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn processor(
    generator: &Generator,
    model: &RecModel,
    activity: Arc<InMemoryUserActivityStore>,
    recs: Arc<InMemoryRecommendationStore>,
) -> impl std::future::Future<
    Output = StreamProcessor<
        Arc<InMemoryUserActivityStore>,
        Arc<InMemoryRecommendationStore>,
        Arc<InMemoryProductCatalog>,
        Arc<InMemoryDeadLetterSink>,
    >,
> {
    let catalog = Arc::new(InMemoryProductCatalog::new());
    let products = generator.products().to_vec();
    let model = ModelHandle::new(ModelIndex::new(model));
    async move {
        catalog
            .upsert_many(&products)
            .await
            .expect("memory catalog");
        StreamProcessor::new(
            activity,
            recs,
            catalog,
            Arc::new(InMemoryDeadLetterSink::new()),
            model,
            ProcessorConfig::default(),
        )
    }
}

/// Every customer's activity after the warm week.
async fn warm_store(
    generator: &Generator,
    model: &RecModel,
    records: &[GeneratedEvent],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<UserActivity>> {
    let activity = Arc::new(InMemoryUserActivityStore::new());
    let p = processor(
        generator,
        model,
        activity.clone(),
        Arc::new(InMemoryRecommendationStore::new()),
    )
    .await;
    // The warm week's positions (from 1) lie below the measured day's ([`SEQUENCE_BASE`]).
    for batch in by_shard(records, 1, BATCH, 0) {
        p.process(&batch, now).await;
    }
    // What the trainer adds: the week's purchases, in each customer's activity record.
    let mut bought: BTreeMap<CustomerId, Vec<(DateTime<Utc>, ProductId)>> = BTreeMap::new();
    for d in 0..WARM_DAYS {
        for o in generator.day(d).orders {
            let Some(customer) = o
                .order
                .customer_id
                .and_then(|c| CustomerId::from_i64(c).ok())
            else {
                continue;
            };
            for item in &o.items {
                if let Some(product) = item.product_id.and_then(|p| ProductId::from_i64(p).ok()) {
                    bought
                        .entry(customer)
                        .or_default()
                        .push((o.order.ordered_at, product));
                }
            }
        }
    }
    let buyers: Vec<CustomerId> = bought.keys().copied().collect();
    remember_purchases(activity.as_ref(), bought).await?;
    let customers: Vec<CustomerId> = records
        .iter()
        .filter_map(|e| e.partition_key.parse().ok())
        .filter_map(|c| CustomerId::new(c).ok())
        .chain(buyers)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    Ok(activity.get_many(&customers).await?)
}

fn record(
    e: &GeneratedEvent,
    shard: usize,
    position: u64,
    arrived_at: DateTime<Utc>,
) -> StreamRecord {
    StreamRecord {
        shard_id: ShardId(format!("shardId-{shard:012}")),
        sequence_number: SequenceNumber::from_u64(position),
        partition_key: e.partition_key.clone(),
        data: e.data.clone(),
        arrived_at,
    }
}

/// The records of each shard (by customer), in time order, `batch` at a time; positions above
/// `base`.
fn by_shard(
    events: &[GeneratedEvent],
    shards: usize,
    batch: usize,
    base: u64,
) -> Vec<Vec<StreamRecord>> {
    let mut per_shard: Vec<Vec<StreamRecord>> = vec![Vec::new(); shards];
    for e in events {
        let s = fashion_domain::stream::shard_for_key(&e.partition_key, shards);
        let position = base + per_shard[s].len() as u64 + 1;
        per_shard[s].push(record(e, s, position, e.occurred_at));
    }
    per_shard
        .iter()
        .flat_map(|s| s.chunks(batch).map(<[StreamRecord]>::to_vec))
        .collect()
}

/// The day replayed at [`ESM_RATE`] events/s (evenly spaced, in time order) onto
/// [`ESM_SHARDS`] shards by customer; each shard's batches close at [`ESM_BATCH`] records or
/// [`ESM_WINDOW_SECS`] after their first record arrived, as Lambda's event-source mapping cuts
/// them; batches in the order they close. Records keep their own arrival time (the hour of the
/// day they happened in), which validation checks event times against; only the batching
/// follows the replay's clock.
fn esm_like(events: &[GeneratedEvent]) -> Vec<Vec<StreamRecord>> {
    let window = (ESM_WINDOW_SECS * ESM_RATE) as usize;
    // Batches by the replay's clock: the n-th event arrives at n / ESM_RATE seconds.
    let mut open: Vec<(usize, Vec<StreamRecord>)> = vec![(0, Vec::new()); ESM_SHARDS];
    let mut counts = [0_u64; ESM_SHARDS];
    let mut closed: Vec<(usize, Vec<StreamRecord>)> = Vec::new();
    for (n, e) in events.iter().enumerate() {
        // Batches whose window ran out before this arrival close first.
        for (first, shard) in &mut open {
            if !shard.is_empty() && n >= *first + window {
                closed.push((*first + window, std::mem::take(shard)));
            }
        }
        let s = fashion_domain::stream::shard_for_key(&e.partition_key, ESM_SHARDS);
        counts[s] += 1;
        let (first, batch) = &mut open[s];
        if batch.is_empty() {
            *first = n;
        }
        batch.push(record(e, s, SEQUENCE_BASE + counts[s], e.occurred_at));
        if batch.len() == ESM_BATCH {
            closed.push((n, std::mem::take(batch)));
        }
    }
    for (first, batch) in open.into_iter().filter(|(_, b)| !b.is_empty()) {
        closed.push((first + window, batch));
    }
    closed.sort_by_key(|(at, _)| *at);
    closed.into_iter().map(|(_, b)| b).collect()
}

/// What the ESM-like shape measured, for the targets.
struct Figures {
    events: f64,
    ours: Spread,
    totals: Totals,
    largest_item: usize,
}

fn run_shape(
    setup: &Setup<'_>,
    batches: &[Vec<StreamRecord>],
    label: &str,
) -> anyhow::Result<(String, Figures)> {
    let records: Vec<&StreamRecord> = batches.iter().flatten().collect();
    let n = records.len();
    let customers_per_batch = batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|r| r.partition_key.as_str())
                .collect::<HashSet<_>>()
                .len()
        })
        .sum::<usize>() as f64
        / batches.len().max(1) as f64;
    let records_per_batch = n as f64 / batches.len().max(1) as f64;

    // Peer 1: parsing and validation alone.
    let (floor, valid) = timed(1, setup.runs, || {
        records
            .iter()
            .filter(|r| ClickEvent::parse(&r.data, r.arrived_at).is_ok())
            .count()
    });

    // Ours: the whole processor on one core, each run from the warm store (loaded untimed).
    let mut times = Vec::with_capacity(setup.runs);
    let mut last = None;
    for run in 0..=setup.runs {
        let (seconds, totals, activity, recs) = our_run(setup, batches);
        if run > 0 {
            times.push(seconds);
        }
        last = Some((totals, activity, recs));
    }
    let ours = Spread::of(times);
    let (totals, activity, recs) = last.context("no run")?;

    // The largest activity item after the day, compact and as the JSON it used to be stored as.
    let customers: Vec<CustomerId> = setup
        .warm
        .iter()
        .map(|a| a.customer_id)
        .chain(
            records
                .iter()
                .filter_map(|r| r.partition_key.parse().ok())
                .filter_map(|c| CustomerId::new(c).ok()),
        )
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let stored = setup.rt.block_on(activity.get_many(&customers))?;
    let (mut largest_item, mut largest_json) = (0, 0);
    for a in &stored {
        let state = codec::encode(a)?.len();
        largest_item = largest_item.max(state + item_overhead(a.customer_id.get(), a.version));
        largest_json = largest_json.max(serde_json::to_vec(a)?.len());
    }

    // Peer 2: the Python implementation on the same files, from the same warm store.
    let py = python_peer(setup, batches)?;
    let py_times: Vec<f64> = py["seconds"]
        .as_array()
        .context("seconds")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    anyhow::ensure!(!py_times.is_empty(), "the Python peer timed no run");
    let python = Spread::of(py_times);
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
        if let Some(ours) = setup.rt.block_on(recs.get(id))? {
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

    let writes = (totals.activity_writes + totals.recommendation_writes) as f64
        / totals.processed.max(1) as f64;
    let rate = |s: Spread| s.per(n as f64);
    let text = format!(
        "\n### {label}\n\n\
         {} batches, {records_per_batch:.1} records and {customers_per_batch:.1} customers per batch on average.\n\n\
         | implementation | seconds | events/s | vs ours (medians) |\n|---|---:|---:|---:|\n\
         | parse + validate only (floor) | {} | {} | {:.2}× faster |\n\
         | **stream processor (Rust)** | {} | **{}** | 1× |\n\
         | same logic in Python 3 | {} | {} | {:.1}× slower |\n\n\
         {n} records ({valid} valid). Both implementations processed {} events, skipped {} duplicates and \
         dead-lettered {} records (counts identical: {same_counts}); their stored top-10 lists agree on {:.1}% of \
         items. Store writes: {} activity items and {} recommendation lists, {writes:.2} per processed event. \
         Largest activity item: {largest_item} bytes (the same record as JSON, the form stored before: {largest_json} bytes).\n",
        batches.len(),
        floor.show(3),
        rate(floor).show(0),
        ours.median / floor.median,
        ours.show(3),
        rate(ours).show(0),
        python.show(3),
        rate(python).show(0),
        python.median / ours.median,
        totals.processed,
        totals.duplicates,
        totals.dead_lettered,
        agreement * 100.0,
        totals.activity_writes,
        totals.recommendation_writes,
    );
    Ok((
        text,
        Figures {
            events: n as f64,
            ours,
            totals,
            largest_item,
        },
    ))
}

/// One run of ours from the warm store (loaded untimed): seconds, totals and the stores.
fn our_run(
    setup: &Setup<'_>,
    batches: &[Vec<StreamRecord>],
) -> (
    f64,
    Totals,
    Arc<InMemoryUserActivityStore>,
    Arc<InMemoryRecommendationStore>,
) {
    setup.rt.block_on(async {
        let activity = Arc::new(InMemoryUserActivityStore::new());
        for a in setup.warm {
            activity
                .put(&UserActivity {
                    version: 0,
                    ..a.clone()
                })
                .await
                .expect("memory store");
        }
        let recs = Arc::new(InMemoryRecommendationStore::new());
        let p = processor(setup.generator, setup.model, activity.clone(), recs.clone()).await;
        let mut t = Totals::default();
        let started = Instant::now();
        for batch in batches {
            add(&mut t, &p.process(batch, setup.now).await);
        }
        (started.elapsed().as_secs_f64(), t, activity, recs)
    })
}

/// Runs the Python peer on the batches, from the warm store: its JSON answer.
fn python_peer(
    setup: &Setup<'_>,
    batches: &[Vec<StreamRecord>],
) -> anyhow::Result<serde_json::Value> {
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
    std::fs::write(dir.join("model.json"), serde_json::to_vec(setup.model)?)?;
    std::fs::write(
        dir.join("catalog.json"),
        serde_json::to_vec(setup.generator.products())?,
    )?;
    let warm: Vec<serde_json::Value> = setup
        .warm
        .iter()
        .map(|a| {
            json!({
                "customer": a.customer_id.get(),
                "recent": a.recent.iter().map(|i| json!([i.product_id.get(), i.event_type, i.at.to_rfc3339()])).collect::<Vec<_>>(),
                "seen": a.seen_events.iter().map(|k| k.0).collect::<Vec<_>>(),
                "purchased": a.purchased.iter().map(|p| p.get()).collect::<Vec<_>>(),
                "applied": a.applied.as_ref().map(|p| json!([p.shard.0, p.sequence.0])),
                "count": a.event_count,
            })
        })
        .collect();
    std::fs::write(dir.join("warm.json"), serde_json::to_vec(&warm)?)?;
    let script = repo_root().join("bench/python/stream_processor.py");
    let out = peer_output(
        Command::new("python3")
            .arg(&script)
            .arg("--dir")
            .arg(&dir)
            .arg("--now")
            .arg(setup.now.to_rfc3339())
            .arg("--seen-window")
            .arg(MAX_SEEN_EVENTS.to_string())
            .arg("--warm")
            .arg(dir.join("warm.json"))
            .arg("--runs")
            .arg(setup.runs.to_string()),
        "the Python peer",
    );
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// The targets on the ESM-like shape, each met only when the whole range meets it.
fn targets(esm: &Figures) -> String {
    let rate = esm.ours.per(esm.events);
    let writes = (esm.totals.activity_writes + esm.totals.recommendation_writes) as f64
        / esm.totals.processed.max(1) as f64;
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    format!(
        "\n### Targets (ESM-like shape, warm store; a target is met only when every run meets it)\n\n\
         - ≥ 500 000 events/s on one core: {} (min–max {:.0}–{:.0} events/s).\n\
         - ≤ 0.1 store writes per event: {} ({writes:.2}: every event changes its customer's activity and, \
         rescored, their list; at about one event per customer per batch, each costs its own writes).\n\
         - every activity item ≤ 1 KB: {} (largest {} bytes).\n",
        met(rate.min >= 500_000.0),
        rate.min,
        rate.max,
        met(writes <= 0.1),
        met(esm.largest_item <= 1024),
        esm.largest_item,
    )
}
