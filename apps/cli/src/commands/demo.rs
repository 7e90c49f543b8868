//! `fashion demo`: the whole pipeline on the embedded stack over simulated days. It provisions the
//! local stores in the data directory, generates a store with a little dirty data, sends every
//! click through the stream as it happens, runs the stream processor and the lake sink as the
//! clock moves, runs the daily job at each simulated 00:01 and the trainer on its period, then
//! evaluates and prints a summary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Days, Duration, TimeZone, Utc};
use fashion_datagen::{GenConfig, Generator, GroundTruth};
use fashion_domain::calendar::StoreDay;
use fashion_domain::catalog_csv::write_styles;
use fashion_domain::lake::all_tables;
use fashion_domain::ports::{
    ClickstreamPublisher, Clock, HistorySource, ProductCatalog, RecommendationStore, TableCatalog,
};
use fashion_domain::services::evaluation::{EvalParams, EvalReport, evaluate};
use fashion_domain::services::schedule::{Due, Schedule};
use fashion_domain::stream::OutboundRecord;
use fashion_memory::ManualClock;
use futures::TryStreamExt;
use serde::Serialize;

use super::pipeline::{ProcessorTotals, process_pass};
use crate::cli::DemoArgs;
use crate::output::{print_json, progress};
use crate::settings::Settings;
use crate::stack::{LocalProcessor, LocalSink, LocalStack, files, is_empty_dir};

/// Marks a data directory as the demo's own, so a rerun may wipe it.
const MARKER: &str = ".fashion-demo";
/// Click records sent per step of the simulation.
const STEP_EVENTS: usize = 2_000;
/// Records per processor batch (Lambda's batch size).
const BATCH: usize = 500;

#[derive(Debug, Default, Serialize)]
struct LakeTable {
    partitions: usize,
    files: u64,
    rows: u64,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct TrendLine {
    key: String,
    growth: f64,
    score: f64,
}

#[derive(Debug, Default, Serialize)]
struct EtlTotals {
    runs: u64,
    orders_written: u64,
    lines_written: u64,
    duplicate_lines_dropped: u64,
    quarantined_by_rule: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
struct Checks {
    every_event_accounted_for: bool,
    lake_clickstream_equals_valid_events: bool,
    daily_jobs_balanced: bool,
}

#[derive(Debug, Serialize)]
struct DemoSummary {
    days: u32,
    customers: usize,
    products: usize,
    events_generated: u64,
    events_exact_duplicates: u64,
    events_processed: u64,
    events_duplicates_skipped: u64,
    events_dead_lettered: u64,
    events_valid_expected: u64,
    lake_rows: BTreeMap<String, u64>,
    lake_tables: BTreeMap<String, LakeTable>,
    customers_with_recommendations: u64,
    models_trained: u64,
    etl: EtlTotals,
    top_trends: Vec<TrendLine>,
    planted_trends: Vec<String>,
    evaluation: EvalReport,
    checks: Checks,
    wall_seconds: f64,
    data_dir: String,
}

/// Prepares the data directory: a previous demo's is wiped; anything else is refused unless forced.
fn prepare_dir(settings: &Settings, force: bool) -> anyhow::Result<()> {
    let dir = &settings.data_dir;
    if dir.join(MARKER).exists() || (force && dir.exists()) {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("failed to clear {}", dir.display()))?;
    } else if !is_empty_dir(dir) {
        anyhow::bail!(
            "{} holds data that is not from a previous demo; use another --data-dir, or --force to wipe it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        b"written by `fashion demo`; the next demo wipes this directory\n",
    )
    .context("failed to mark the demo directory")?;
    Ok(())
}

struct Sim<'a> {
    settings: &'a Settings,
    stack: &'a LocalStack,
    clock: &'a ManualClock,
    processor: LocalProcessor,
    sink: LocalSink,
    schedule: Schedule,
    last_check: DateTime<Utc>,
    totals: ProcessorTotals,
    etl: EtlTotals,
    etl_balanced: bool,
    models: u64,
}

impl Sim<'_> {
    /// Moves the clock forward (never back) and lets every component catch up to it.
    async fn advance(&mut self, to: DateTime<Utc>) -> anyhow::Result<()> {
        let now = to.max(self.clock.now());
        self.clock.set(now);
        let (_, t) = process_pass(self.stack, &self.processor, BATCH, now).await?;
        self.totals.records += t.records;
        self.totals.processed += t.processed;
        self.totals.duplicates += t.duplicates;
        self.totals.dead_lettered += t.dead_lettered;
        self.totals.failed += t.failed;
        self.totals.recommendations_written += t.recommendations_written;
        self.sink.poll(now).await.context("the lake sink failed")?;
        for job in self.schedule.due(self.last_check, now) {
            match job {
                Due::DailyJob { day, .. } => {
                    let report = self
                        .stack
                        .daily_job()
                        .run(StoreDay::new(day, self.settings.tz()))
                        .await
                        .with_context(|| format!("the daily job for {day} failed"))?;
                    self.etl.runs += 1;
                    self.etl.orders_written +=
                        report.written_to(fashion_domain::lake::tables::ORDERS);
                    self.etl.lines_written +=
                        report.written_to(fashion_domain::lake::tables::ORDER_ITEMS);
                    self.etl.duplicate_lines_dropped += report.duplicate_lines_dropped;
                    for (rule, n) in &report.quarantined {
                        *self
                            .etl
                            .quarantined_by_rule
                            .entry(rule.as_str().to_owned())
                            .or_default() += n.orders + n.lines;
                    }
                    self.etl_balanced &= report.is_balanced();
                }
                Due::Train { .. } => {
                    // The trainer reads the lake: write out what the sink holds first.
                    self.sink
                        .flush(now)
                        .await
                        .context("the lake sink failed to flush")?;
                    self.stack
                        .trainer()
                        .train(now)
                        .await
                        .context("training failed")?;
                    self.processor
                        .model()
                        .refresh(self.stack.models.as_ref())
                        .await
                        .context("failed to load the model")?;
                    self.models += 1;
                }
            }
        }
        self.last_check = now;
        Ok(())
    }
}

async fn lake_tables(stack: &LocalStack) -> anyhow::Result<BTreeMap<String, LakeTable>> {
    let mut out = BTreeMap::new();
    for t in all_tables() {
        let parts = stack
            .catalog
            .partitions(&t.name)
            .await
            .context("failed to read the lake catalog")?;
        if parts.is_empty() {
            continue;
        }
        let entry: &mut LakeTable = out.entry(t.name.clone()).or_default();
        entry.partitions = parts.len();
        for p in parts {
            entry.files += p.files;
            entry.rows += p.rows;
            entry.bytes += p.bytes;
        }
    }
    Ok(out)
}

pub async fn run(settings: &Settings, args: &DemoArgs, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_dir(settings, args.force)?;
    let tz = settings.tz();
    let config = GenConfig {
        seed: settings.seed,
        start: settings.generator.start,
        days: args.days.max(1),
        users: args.users,
        products: args.products,
        time_zone: tz,
        dirty_rate: args.dirty_rate,
    };
    let generator = Generator::new(config.clone());
    let day0 = tz
        .from_local_datetime(&config.start.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let clock = Arc::new(ManualClock::new(day0));
    let stack = LocalStack::open(settings, clock.clone()).await?;

    // Provision: catalog (and its Kaggle-format file), customers, products, lake tables.
    let dir = settings.path(files::GENERATED);
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    std::fs::write(dir.join("styles.csv"), write_styles(generator.products()))
        .context("failed to write styles.csv")?;
    stack
        .state
        .catalog()
        .upsert_many(generator.products())
        .await
        .context("failed to load the catalog")?;
    stack
        .purchases
        .put_products(generator.products())
        .await
        .context("failed to load products")?;
    stack
        .purchases
        .put_customers(generator.customers())
        .await
        .context("failed to load customers")?;
    for t in all_tables() {
        stack
            .catalog
            .ensure_table(&t)
            .await
            .context("failed to create the lake tables")?;
    }

    let mut sim = Sim {
        settings,
        stack: &stack,
        clock: &clock,
        processor: stack.processor().await?,
        sink: stack.sink(settings),
        schedule: Schedule {
            trainer_period: Duration::hours(24),
            ..Schedule::new(tz)
        },
        // Scheduling starts after the first 00:01: the day before the simulation has no data.
        last_check: day0 + Duration::minutes(2),
        totals: ProcessorTotals::default(),
        etl: EtlTotals::default(),
        etl_balanced: true,
        models: 0,
    };
    let mut truth: GroundTruth = generator.ground_truth();
    let pb = progress(u64::from(config.days), "simulating days", json);
    for d in 0..config.days {
        let day = generator.day(d);
        truth.add_day(&day);
        let mut orders = day.orders.clone();
        orders.sort_by_key(|o| o.order.recorded_at);
        let mut next_order = 0;
        for chunk in day.events.chunks(STEP_EVENTS) {
            let Some(t) = chunk.last().map(|e| e.occurred_at) else {
                continue;
            };
            clock.set(t.max(clock.now()));
            let records: Vec<OutboundRecord> = chunk
                .iter()
                .map(|e| OutboundRecord {
                    partition_key: e.partition_key.clone(),
                    data: e.data.clone(),
                })
                .collect();
            let report = stack
                .stream
                .publish(&records)
                .await
                .context("failed to publish clicks")?;
            anyhow::ensure!(
                report.failed.is_empty(),
                "{} clicks could not be published",
                report.failed.len()
            );
            let upto = orders[next_order..]
                .iter()
                .take_while(|o| o.order.recorded_at <= t)
                .count();
            stack
                .purchases
                .put_orders(&orders[next_order..next_order + upto])
                .await
                .context("failed to record orders")?;
            next_order += upto;
            sim.advance(t).await?;
        }
        stack
            .purchases
            .put_orders(&orders[next_order..])
            .await
            .context("failed to record orders")?;
        // Past 00:01 of the next day: the daily job runs for this day.
        let next_day = config
            .start
            .checked_add_days(Days::new(u64::from(d) + 1))
            .unwrap_or(config.start);
        sim.advance(StoreDay::new(next_day, tz).start + Duration::minutes(2))
            .await?;
        pb.inc(1);
    }
    let now = clock.now();
    sim.sink
        .flush(now)
        .await
        .context("the lake sink failed to flush")?;
    stack
        .trainer()
        .train(now)
        .await
        .context("training failed")?;
    sim.models += 1;
    pb.finish_and_clear();

    // Evaluate and summarise.
    let events = stack
        .engine
        .interactions(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .try_concat()
        .await?;
    let purchases = stack
        .engine
        .purchases(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .try_concat()
        .await?;
    let products = generator.products().to_vec();
    let planted = generator.planted_trends().to_vec();
    let evaluation = tokio::task::spawn_blocking(move || {
        evaluate(
            &products,
            &events,
            &purchases,
            &planted,
            &EvalParams::default(),
        )
    })
    .await
    .context("the evaluation failed")?;
    let report = super::lake::trend_report(&stack, settings, None, 5).await?;
    let tables = lake_tables(&stack).await?;
    let lake_rows: BTreeMap<String, u64> =
        tables.iter().map(|(k, v)| (k.clone(), v.rows)).collect();
    std::fs::write(
        settings.path(files::GROUND_TRUTH),
        serde_json::to_vec_pretty(&truth)?,
    )
    .context("failed to write the ground truth")?;
    let totals = sim.totals.clone();
    let expected_valid = truth.valid_events();
    let summary = DemoSummary {
        days: config.days,
        customers: generator.customers().len(),
        products: generator.products().len(),
        events_generated: truth.events_sent,
        events_exact_duplicates: truth.event_duplicates,
        events_processed: totals.processed,
        events_duplicates_skipped: totals.duplicates,
        events_dead_lettered: totals.dead_lettered,
        events_valid_expected: expected_valid,
        checks: Checks {
            every_event_accounted_for: totals.processed + totals.dead_lettered
                == truth.events_sent - truth.event_duplicates,
            lake_clickstream_equals_valid_events: lake_rows
                .get("clickstream")
                .copied()
                .unwrap_or(0)
                == expected_valid,
            daily_jobs_balanced: sim.etl_balanced,
        },
        lake_rows,
        lake_tables: tables,
        customers_with_recommendations: stack.state.recommendations().count().await?,
        models_trained: sim.models,
        etl: sim.etl,
        top_trends: report
            .article_type_colours
            .iter()
            .map(|s| TrendLine {
                key: s.key.clone(),
                growth: s.growth,
                score: s.score,
            })
            .collect(),
        planted_trends: truth
            .planted_trends
            .iter()
            .map(fashion_domain::trends::PlantedTrend::key)
            .collect(),
        evaluation,
        wall_seconds: started.elapsed().as_secs_f64(),
        data_dir: settings.data_dir.display().to_string(),
    };
    if json {
        return print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &DemoSummary) {
    println!(
        "Simulated {} days of a store with {} customers and {} products ({:.1} s).",
        s.days, s.customers, s.products, s.wall_seconds
    );
    println!();
    println!("Clickstream");
    println!(
        "  events generated        {:>9}  ({} exact duplicates)",
        s.events_generated, s.events_exact_duplicates
    );
    println!("  processed               {:>9}", s.events_processed);
    println!(
        "  duplicates skipped      {:>9}",
        s.events_duplicates_skipped
    );
    println!("  dead-lettered           {:>9}", s.events_dead_lettered);
    println!(
        "  customers with recs     {:>9}",
        s.customers_with_recommendations
    );
    println!();
    println!("Lake ({})", s.data_dir);
    for (name, t) in &s.lake_tables {
        println!(
            "  {name:<16} {:>9} rows  {:>5} files  {:>4} partitions  {:>9} bytes",
            t.rows, t.files, t.partitions, t.bytes
        );
    }
    println!();
    println!(
        "Daily job: {} runs, {} orders and {} lines published, {} duplicate lines dropped",
        s.etl.runs, s.etl.orders_written, s.etl.lines_written, s.etl.duplicate_lines_dropped
    );
    for (rule, n) in &s.etl.quarantined_by_rule {
        println!("  quarantined {rule:<24} {n:>6} rows");
    }
    println!();
    println!(
        "Trends (article type / colour)          planted: {}",
        s.planted_trends.join(", ")
    );
    for t in &s.top_trends {
        let mark = if s.planted_trends.contains(&t.key) {
            "  <- planted"
        } else {
            ""
        };
        println!(
            "  {:<36} growth x{:<6.2} score {:>6.1}{mark}",
            t.key, t.growth, t.score
        );
    }
    println!();
    let e = &s.evaluation;
    println!(
        "Recommendations: HR@10 {:.3} vs popularity {:.3} (x{:.1}), random {:.3}; NDCG@10 {:.3}; {} models trained.",
        e.hr_at_10,
        e.popularity_hr_at_10,
        e.lift_over_popularity,
        e.random_hr_at_10,
        e.ndcg_at_10,
        s.models_trained
    );
    println!(
        "Checks: every event accounted for: {}; lake clickstream = valid events: {}; daily jobs balanced: {}.",
        s.checks.every_event_accounted_for,
        s.checks.lake_clickstream_equals_valid_events,
        s.checks.daily_jobs_balanced
    );
}
