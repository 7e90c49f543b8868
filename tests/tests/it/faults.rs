//! The whole-pipeline fault suite on the local stack (SQLite state and stream, Parquet lake):
//! the stream processor, the lake sink and the daily job run through ports that throttle, fail
//! ambiguously (applied but errored), go down for a while, deliver records again, and crash the
//! process between any write and its checkpoint; a crashed "process" loses all its memory and is
//! rebuilt over the same stores. After each scenario the end state must equal a fault-free run's:
//! every valid event counted exactly once in the customers' activity (the recommendations'
//! inputs) and in the lake, every invalid record in the dead-letter store with its reason, every
//! day's partitions identical. A randomized soak repeats this over many seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fashion_datagen::{GenConfig, Generator, GroundTruth};
use fashion_domain::calendar::StoreDay;
use fashion_domain::ids::CustomerId;
use fashion_domain::lake::tables;
use fashion_domain::ports::{
    CheckpointStore, ClickstreamPublisher, DeadLetterReader, ProductCatalog, PurchaseStore,
    QueryEngine, UserActivityStore,
};
use fashion_domain::services::consumer::{Handled, StreamConsumer};
use fashion_domain::services::daily_job::{DAILY_JOB_TABLES, DailyJob};
use fashion_domain::services::lake_sink::{self, LakeSink, SinkConfig};
use fashion_domain::services::stream_processor::{ModelHandle, ProcessorConfig, StreamProcessor};
use fashion_domain::stream::OutboundRecord;
use fashion_local::{DataFusionEngine, LocalLake, SqlitePurchaseStore, SqliteStreamLog, StateDb};
use fashion_memory::ManualClock;
use fashion_tests::faults::{Faults, Faulty, Rates};

const PROCESSOR: &str = "processor";
/// Rounds of work (a round is one pass of the processor and one poll and flush of the sink)
/// before faults stop, and in all.
const FAULTY_ROUNDS: usize = 400;
const MAX_ROUNDS: usize = 600;

fn config() -> GenConfig {
    GenConfig {
        seed: 7,
        start: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        days: 2,
        users: 120,
        products: 150,
        dirty_rate: 0.05,
        ..GenConfig::default()
    }
}

/// The stores of one run: what survives a crash.
struct Stack {
    _dir: tempfile::TempDir,
    state: StateDb,
    stream: Arc<SqliteStreamLog>,
    lake: LocalLake,
    purchases: Arc<SqlitePurchaseStore>,
}

impl Stack {
    /// A fresh stack holding the generated catalog, customers, orders and click stream.
    async fn with_input(g: &Generator) -> (Self, GroundTruth) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDb::open(&dir.path().join("state.db")).await.unwrap();
        let clock = Arc::new(ManualClock::new(fashion_tests::fixtures::t0()));
        let stream = Arc::new(
            SqliteStreamLog::open(&dir.path().join("stream.db"), 3, clock.clone())
                .await
                .unwrap(),
        );
        let purchases = Arc::new(
            SqlitePurchaseStore::open(&dir.path().join("orders.db"))
                .await
                .unwrap(),
        );
        state.catalog().upsert_many(g.products()).await.unwrap();
        purchases.put_customers(g.customers()).await.unwrap();
        purchases.put_products(g.products()).await.unwrap();
        let mut truth = g.ground_truth();
        for d in 0..g.config().days {
            let day = g.day(d);
            truth.add_day(&day);
            purchases.put_orders(&day.orders).await.unwrap();
            for chunk in day.events.chunks(50) {
                clock.set(chunk.last().unwrap().occurred_at);
                let records: Vec<OutboundRecord> = chunk
                    .iter()
                    .map(fashion_datagen::GeneratedEvent::outbound)
                    .collect();
                stream.publish(&records).await.unwrap();
            }
        }
        let lake = LocalLake::new(dir.path().join("lake"));
        (
            Self {
                _dir: dir,
                state,
                stream,
                lake,
                purchases,
            },
            truth,
        )
    }

    fn engine(&self) -> DataFusionEngine {
        DataFusionEngine::new(self.lake.clone(), Arc::new(self.state.table_catalog()))
    }

    /// True when the processor and the sink have committed every record of every shard.
    async fn drained(&self) -> bool {
        let checkpoints = self.state.checkpoints();
        for (shard, head) in self.stream.heads().await.unwrap() {
            for consumer in [PROCESSOR, lake_sink::CONSUMER] {
                if checkpoints.load(consumer, &shard).await.unwrap() != head {
                    return false;
                }
            }
        }
        true
    }
}

/// What a run did, for the scenario's own checks.
#[derive(Debug, Default)]
struct Run {
    rounds: usize,
    restarts: usize,
    errors: usize,
}

/// Runs the real-time path to the end of the stream under `faults`, rebuilding every service
/// after each crash.
async fn run_realtime(stack: &Stack, faults: &Arc<Faults>, now: DateTime<Utc>) -> Run {
    let mut run = Run::default();
    'process: loop {
        // A (re)started process: services built from nothing over the same stores.
        faults.restart();
        let source = Arc::new(Faulty::new(stack.stream.clone(), faults));
        let checkpoints = Arc::new(Faulty::new(stack.state.checkpoints(), faults));
        let dead = Arc::new(Faulty::new(stack.state.dead_letters(), faults));
        let consumer = StreamConsumer::new(source.clone(), checkpoints.clone(), PROCESSOR, 40);
        let processor = StreamProcessor::new(
            Faulty::new(stack.state.activity(), faults),
            Faulty::new(stack.state.recommendations(), faults),
            Faulty::new(stack.state.catalog(), faults),
            dead.clone(),
            ModelHandle::default(),
            ProcessorConfig::default(),
        );
        let mut sink = LakeSink::new(
            source,
            checkpoints,
            Faulty::new(stack.lake.clone(), faults),
            Faulty::new(stack.state.table_catalog(), faults),
            dead,
            SinkConfig {
                max_age: Duration::zero(),
                max_bytes: 16 * 1024,
                read_batch: 60,
            },
        );
        loop {
            run.rounds += 1;
            assert!(
                run.rounds < MAX_ROUNDS,
                "the pipeline did not drain: {run:?}, {:?}",
                faults.injected()
            );
            if run.rounds == FAULTY_ROUNDS {
                faults.quiet();
            }
            let passed = consumer
                .pass(|batch| {
                    let processor = &processor;
                    async move {
                        let report = processor.process(&batch, now).await;
                        Handled {
                            done: report.failed.first().copied().unwrap_or(batch.len()),
                        }
                    }
                })
                .await;
            let sunk = match sink.poll(now).await {
                Ok(_) => sink.flush(now).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if passed.is_err() || sunk.is_err() {
                run.errors += 1;
            }
            if faults.crashed() {
                run.restarts += 1;
                continue 'process;
            }
            if passed.is_ok() && sunk.is_ok() && stack.drained().await {
                return run;
            }
        }
    }
}

/// The end state a scenario is judged on.
#[derive(Debug, PartialEq)]
struct EndState {
    /// Per customer: events applied, the ids seen and the recent interactions (not the write
    /// version, which counts retries).
    activity: BTreeMap<u64, String>,
    /// Dead letters by (source, code, origin).
    dead_letters: BTreeSet<(String, String, String)>,
    /// Event ids in the lake's clickstream, with how often each appears.
    lake_events: BTreeMap<String, u64>,
    /// Every daily-job table's rows, sorted.
    daily: BTreeMap<String, Vec<String>>,
}

async fn end_state(stack: &Stack, customers: u32) -> EndState {
    let ids: Vec<CustomerId> = (1..=u64::from(customers))
        .map(|c| CustomerId::new(c).unwrap())
        .collect();
    let activity = stack
        .state
        .activity()
        .get_many(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|mut a| {
            a.version = 0;
            (a.customer_id.get(), serde_json::to_string(&a).unwrap())
        })
        .collect();
    let dead_letters = stack
        .state
        .dead_letters()
        .list(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.source, d.code, d.origin))
        .collect();
    let engine = stack.engine();
    let mut lake_events = BTreeMap::new();
    let rows = engine
        .query(
            "SELECT event_id, COUNT(*) AS n FROM clickstream GROUP BY event_id",
            &[],
        )
        .await
        .unwrap();
    for row in rows.rows {
        lake_events.insert(
            row[0].as_str().unwrap().to_owned(),
            row[1].as_u64().unwrap(),
        );
    }
    let mut daily = BTreeMap::new();
    for table in DAILY_JOB_TABLES {
        let Ok(result) = engine.query(&format!("SELECT * FROM {table}"), &[]).await else {
            continue;
        };
        let mut rows: Vec<String> = result
            .rows
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        rows.sort();
        daily.insert((*table).to_owned(), rows);
    }
    EndState {
        activity,
        dead_letters,
        lake_events,
        daily,
    }
}

/// Runs the daily job for every generated day under `faults`, rerunning a day until it succeeds
/// (the job is stateless: a crash is a rerun).
async fn run_daily(stack: &Stack, g: &Generator, faults: &Arc<Faults>) -> usize {
    let mut attempts = 0;
    for date in g.dates() {
        let day = StoreDay::new(date, g.config().time_zone);
        let job = DailyJob::new(
            Arc::new(Faulty::new(stack.purchases.clone(), faults)),
            Arc::new(Faulty::new(stack.lake.clone(), faults)),
            Arc::new(Faulty::new(stack.state.table_catalog(), faults)),
        );
        loop {
            attempts += 1;
            assert!(attempts < 200, "the daily job never succeeded");
            faults.restart();
            if attempts == 100 {
                faults.quiet();
            }
            if job.run(day).await.is_ok() {
                break;
            }
        }
    }
    attempts
}

fn now(g: &Generator) -> DateTime<Utc> {
    let last = *g.dates().last().unwrap();
    last.and_hms_opt(23, 59, 0).unwrap().and_utc() + Duration::days(1)
}

/// The fault-free run every scenario is compared with, and the ground truth it must match.
async fn reference() -> (Generator, EndState) {
    let g = Generator::new(config());
    let (stack, truth) = Stack::with_input(&g).await;
    let none = Faults::none();
    let run = run_realtime(&stack, &none, now(&g)).await;
    run_daily(&stack, &g, &none).await;
    assert_eq!(run.errors, 0);
    let state = end_state(&stack, g.config().users).await;
    // The fault-free run itself is right: every valid event once in the lake and in the
    // customers' activity, every dirty record dead-lettered.
    assert_eq!(state.lake_events.len() as u64, truth.valid_events());
    assert!(state.lake_events.values().all(|n| *n == 1));
    let applied: u64 = state
        .activity
        .values()
        .map(|a| {
            serde_json::from_str::<serde_json::Value>(a).unwrap()["event_count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(applied, truth.valid_events());
    assert!(!state.dead_letters.is_empty());
    assert!(
        state
            .daily
            .get(tables::ORDERS)
            .is_some_and(|r| !r.is_empty())
    );
    (g, state)
}

/// Runs one faulty scenario and compares its end state with the reference.
async fn scenario(seed: u64, rates: Rates, g: &Generator, expected: &EndState) -> Arc<Faults> {
    let (stack, _) = Stack::with_input(g).await;
    let faults = Faults::new(seed, rates);
    let run = run_realtime(&stack, &faults, now(g)).await;
    run_daily(&stack, g, &faults).await;
    let state = end_state(&stack, g.config().users).await;
    let twice: Vec<_> = state.lake_events.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: events in the lake more than once: {twice:?} ({run:?}, {:?})",
        faults.injected()
    );
    assert_eq!(
        state.lake_events, expected.lake_events,
        "seed {seed}: lake ({run:?})"
    );
    assert_eq!(
        state.activity,
        expected.activity,
        "seed {seed}: activity ({run:?}, {:?})",
        faults.injected()
    );
    assert_eq!(
        state.dead_letters, expected.dead_letters,
        "seed {seed}: dead letters"
    );
    assert_eq!(state.daily, expected.daily, "seed {seed}: daily partitions");
    faults
}

const fn rates(fail: f64, ambiguous: f64, crash: f64, outage: f64, redeliver: f64) -> Rates {
    Rates {
        fail,
        ambiguous,
        crash,
        outage,
        outage_calls: 25,
        redeliver,
    }
}

#[tokio::test]
async fn throttling_and_timeouts_change_nothing() {
    let (g, expected) = reference().await;
    let faults = scenario(1, rates(0.15, 0.0, 0.0, 0.0, 0.0), &g, &expected).await;
    assert!(faults.count("fail") > 50, "{:?}", faults.injected());
}

#[tokio::test]
async fn writes_applied_but_reported_failed_change_nothing() {
    let (g, expected) = reference().await;
    let faults = scenario(2, rates(0.0, 0.15, 0.0, 0.0, 0.0), &g, &expected).await;
    assert!(faults.count("ambiguous") > 20, "{:?}", faults.injected());
}

#[tokio::test]
async fn a_store_down_for_a_while_changes_nothing() {
    let (g, expected) = reference().await;
    let faults = scenario(3, rates(0.0, 0.0, 0.0, 0.01, 0.0), &g, &expected).await;
    assert!(faults.count("outage") > 2, "{:?}", faults.injected());
}

#[tokio::test]
async fn records_delivered_again_change_nothing() {
    let (g, expected) = reference().await;
    let faults = scenario(4, rates(0.0, 0.0, 0.0, 0.0, 0.2), &g, &expected).await;
    assert!(faults.count("redeliver") > 10, "{:?}", faults.injected());
}

#[tokio::test]
async fn crashes_between_writes_and_checkpoints_change_nothing() {
    let (g, expected) = reference().await;
    let faults = scenario(5, rates(0.0, 0.0, 0.03, 0.0, 0.0), &g, &expected).await;
    assert!(faults.count("crash") > 10, "{:?}", faults.injected());
}

/// Every fault at once, over many seeds: each run is killed at random points many times.
#[tokio::test]
async fn a_randomized_soak_of_every_fault_changes_nothing() {
    let (g, expected) = reference().await;
    let started = std::time::Instant::now();
    let mut crashes = 0;
    for seed in 100..112 {
        let faults = scenario(seed, rates(0.05, 0.05, 0.008, 0.004, 0.05), &g, &expected).await;
        crashes += faults.count("crash");
        // Bounded in time as well as in count.
        if started.elapsed() > std::time::Duration::from_secs(60) {
            break;
        }
    }
    assert!(crashes > 20, "the soak killed the pipeline {crashes} times");
}
