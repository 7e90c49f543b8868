//! `fashion demo`: the whole pipeline over simulated days. It provisions the stores, generates a
//! store with a little dirty data, sends every click through the stream as it happens, runs the
//! stream processor and the lake sink as the clock moves, runs the daily job at each simulated
//! 00:01 and the trainer on its period, then evaluates and prints a summary.
//!
//! The simulation runs over [`DemoStack`], the ports of either stack: the embedded one in the
//! data directory (the default), or with `--stack emulator` the AWS adapters against an AWS
//! emulator (see `crate::emulator`, built with the `aws` feature).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::ports::DynTrainer;
use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Days, Duration, TimeZone, Utc};
use fashion_datagen::{GenConfig, Generator, GroundTruth};
use fashion_domain::calendar::StoreDay;
use fashion_domain::catalog_csv::write_styles;
use fashion_domain::event::MAX_FUTURE_SKEW;
use fashion_domain::ids::ProductId;
use fashion_domain::lake::all_tables;
use fashion_domain::ports::{
    CheckpointStore, ClickstreamPublisher, ClickstreamSource, Clock, DeadLetterSink, HistorySource,
    LakeWriter, ModelStore, ProductCatalog, RecommendationStore, TableCatalog, UserActivityStore,
};
use fashion_domain::product::Product;
use fashion_domain::services::daily_job::DailyJob;
use fashion_domain::services::evaluation::{EvalParams, evaluate};
use fashion_domain::services::history::{FullHistory, load_full_history};
use fashion_domain::services::lake_sink::LakeSink;
use fashion_domain::services::schedule::{Due, Schedule};
use fashion_domain::services::stream_processor::{ModelHandle, ProcessorConfig, StreamProcessor};
use fashion_domain::services::trainer::{Trainer, TrainerParams};
use fashion_domain::stream::OutboundRecord;
use fashion_memory::ManualClock;
use futures::TryStreamExt;

use self::summary::{Checks, DemoSummary, EtlTotals, LakeTable, TrendLine, print_summary};
use super::pipeline::{ProcessorTotals, process_pass};
use crate::cli::DemoArgs;
use crate::demo_stack::{DemoStack, DynProcessor, DynSink, StreamRunner};
use crate::output::{print_json, progress};
use crate::settings::{Settings, StackKind};

mod summary;
use crate::stack::{LocalStack, PurchaseDb, files, is_empty_dir, sink_config};

/// Marks a data directory as the demo's own, so a rerun may wipe it.
const MARKER: &str = ".fashion-demo";
/// Click records sent per step of the simulation.
const STEP_EVENTS: usize = 2_000;
/// Records per processor batch of the local consumer.
const BATCH: usize = 500;

/// The domain's processor behind the local stream consumer and its checkpoints.
struct ConsumerRun {
    /// The stream.
    source: Arc<dyn ClickstreamSource>,
    /// The processor's checkpoints.
    checkpoints: Arc<dyn CheckpointStore>,
    /// The processor.
    processor: DynProcessor,
    /// Where trained models are read from.
    models: Arc<dyn ModelStore>,
}

#[async_trait(?Send)]
impl StreamRunner for ConsumerRun {
    async fn pass(&self, now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals> {
        let (_, totals) = process_pass(
            self.source.clone(),
            self.checkpoints.clone(),
            &self.processor,
            BATCH,
            now,
        )
        .await?;
        Ok(totals)
    }

    async fn reload_model(&self) -> anyhow::Result<()> {
        self.processor
            .model()
            .refresh(self.models.as_ref())
            .await
            .context("failed to load the model")?;
        Ok(())
    }
}

impl DemoStack {
    /// The embedded stack in the data directory, timed by `clock`.
    ///
    /// # Errors
    /// When a store cannot be opened or the latest model cannot be read.
    pub async fn local(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let stack = LocalStack::open(settings, clock).await?;
        let activity: Arc<dyn UserActivityStore> = Arc::new(stack.state.activity());
        let recommendations = Arc::new(stack.state.recommendations());
        let products: Arc<dyn ProductCatalog> = Arc::new(stack.state.catalog());
        let dead_letters: Arc<dyn DeadLetterSink> = Arc::new(stack.state.dead_letters());
        let checkpoints: Arc<dyn CheckpointStore> = Arc::new(stack.state.checkpoints());
        let lake: Arc<dyn LakeWriter> = Arc::new(stack.lake.clone());
        let tables: Arc<dyn TableCatalog> = stack.catalog.clone();
        let models: Arc<dyn ModelStore> = stack.models.clone();
        let model = ModelHandle::default();
        model
            .refresh(models.as_ref())
            .await
            .context("failed to load the latest model")?;
        let processor = StreamProcessor::new(
            activity.clone(),
            recommendations.clone() as Arc<dyn RecommendationStore>,
            products.clone(),
            dead_letters.clone(),
            model,
            ProcessorConfig::default(),
        );
        let sink: DynSink = LakeSink::new(
            stack.stream.clone() as Arc<dyn ClickstreamSource>,
            checkpoints.clone(),
            lake.clone(),
            tables.clone(),
            dead_letters,
            sink_config(settings),
        );
        Ok(Self {
            publisher: stack.stream.clone(),
            products,
            recommendations,
            tables,
            lake,
            history: stack.history.clone(),
            models: models.clone(),
            activity,
            purchases: stack.purchases.clone(),
            processor: Box::new(ConsumerRun {
                source: stack.stream.clone(),
                checkpoints,
                processor,
                models,
            }),
            delivery: Box::new(sink),
            info: None,
        })
    }

    /// The daily job over this stack's database and lake.
    fn daily_job(
        &self,
        clock: Arc<dyn Clock>,
    ) -> DailyJob<dyn PurchaseDb, dyn LakeWriter, dyn TableCatalog, Arc<dyn Clock>> {
        DailyJob::new(
            self.purchases.clone(),
            self.lake.clone(),
            self.tables.clone(),
        )
        .with_clock(clock)
    }

    /// The trainer over this stack's lake, catalog and model store.
    fn trainer(&self) -> DynTrainer {
        Trainer::new(
            self.history.clone(),
            self.products.clone(),
            self.models.clone(),
            self.activity.clone(),
            TrainerParams::default(),
        )
    }
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
    stack: &'a mut DemoStack,
    clock: &'a Arc<ManualClock>,
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
        let t = self.stack.processor.pass(now).await?;
        self.totals.merge(&t);
        self.stack.delivery.poll(now).await?;
        for job in self.schedule.due(self.last_check, now) {
            match job {
                Due::DailyJob { day, .. } => {
                    let report = self
                        .stack
                        .daily_job(self.clock.clone())
                        .run(StoreDay::new(day, self.settings.tz()))
                        .await
                        .with_context(|| format!("the daily job for {day} failed"))?;
                    // Counts of rows: saturating, as no demo has 2^64 of them.
                    let etl = &mut self.etl;
                    etl.runs = etl.runs.saturating_add(1);
                    etl.orders_written = etl
                        .orders_written
                        .saturating_add(report.written_to(fashion_domain::lake::tables::ORDERS));
                    etl.lines_written = etl.lines_written.saturating_add(
                        report.written_to(fashion_domain::lake::tables::ORDER_ITEMS),
                    );
                    etl.duplicate_lines_dropped = etl
                        .duplicate_lines_dropped
                        .saturating_add(report.duplicate_lines_dropped);
                    for (rule, n) in &report.quarantined {
                        let count = etl
                            .quarantined_by_rule
                            .entry(rule.as_str().to_owned())
                            .or_default();
                        *count = count.saturating_add(n.orders.saturating_add(n.lines));
                    }
                    self.etl_balanced &= report.is_balanced();
                }
                Due::Train { .. } => {
                    // The trainer reads the lake: deliver what is buffered first.
                    self.stack.delivery.flush(now).await?;
                    self.stack
                        .trainer()
                        .train(now)
                        .await
                        .context("training failed")?;
                    self.stack.processor.reload_model().await?;
                    self.models = self.models.saturating_add(1);
                }
            }
        }
        self.last_check = now;
        Ok(())
    }
}

async fn lake_tables(stack: &DemoStack) -> anyhow::Result<BTreeMap<String, LakeTable>> {
    let mut out = BTreeMap::new();
    for t in all_tables() {
        let parts = stack
            .tables
            .partitions(&t.name)
            .await
            .context("failed to read the lake catalog")?;
        if parts.is_empty() {
            continue;
        }
        let entry: &mut LakeTable = out.entry(t.name.clone()).or_default();
        entry.partitions = parts.len();
        for p in parts {
            entry.files = entry.files.saturating_add(p.files);
            entry.rows = entry.rows.saturating_add(p.rows);
            entry.bytes = entry.bytes.saturating_add(p.bytes);
        }
    }
    Ok(out)
}

/// The lake's clickstream as read through its contract (each event id once), checked against
/// the catalog and the simulated time.
#[derive(Debug, Default)]
struct ClickstreamReadBack {
    events: u64,
    unknown_products: u64,
    outside_window: u64,
}

/// Reads the whole clickstream back from the lake, chunk by chunk: events whose product is not
/// among `products`, or whose time lies outside `[from, to]`, are counted.
async fn read_back_clickstream(
    history: &dyn HistorySource,
    products: &[Product],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<ClickstreamReadBack> {
    let known: HashSet<ProductId> = products.iter().map(|p| p.id).collect();
    let mut chunks = history.clickstream(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    let mut out = ClickstreamReadBack::default();
    while let Some(chunk) = chunks
        .try_next()
        .await
        .context("failed to read the clickstream back from the lake")?
    {
        for e in chunk {
            out.events = out.events.saturating_add(1);
            if e.product_id.is_some_and(|p| !known.contains(&p)) {
                out.unknown_products = out.unknown_products.saturating_add(1);
            }
            if !(from..=to).contains(&e.occurred_utc()) {
                out.outside_window = out.outside_window.saturating_add(1);
            }
        }
    }
    Ok(out)
}

/// `(days, customers, products)` simulated when not given: the emulator answers every call
/// over HTTP, so its default store is smaller.
const fn default_size(stack: StackKind) -> (u32, u32, u32) {
    match stack {
        StackKind::Local | StackKind::Aws => (7, 2000, 3000),
        StackKind::Emulator => (3, 200, 400),
    }
}

/// Opens the configured stack's ports.
#[cfg_attr(not(feature = "aws"), allow(clippy::unused_async))]
async fn open_stack(
    settings: &Settings,
    clock: Arc<ManualClock>,
    json: bool,
) -> anyhow::Result<DemoStack> {
    match settings.stack {
        StackKind::Local => DemoStack::local(settings, clock).await,
        #[cfg(feature = "aws")]
        StackKind::Emulator => Box::pin(crate::emulator::open(settings, clock, json)).await,
        #[cfg(not(feature = "aws"))]
        StackKind::Emulator => {
            let _ = json;
            anyhow::bail!(
                "this build has no AWS support: `--stack emulator` needs the `aws` feature \
                 (cargo run --release -p fashion --features aws -- demo --stack emulator)"
            )
        }
        StackKind::Aws => anyhow::bail!(
            "`fashion demo` simulates a store on a stack of its own, locally or on an AWS \
             emulator (--stack emulator); it never writes simulated data into an AWS account"
        ),
    }
}

pub async fn run(settings: &Settings, args: &DemoArgs, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_dir(settings, args.force)?;
    let tz = settings.tz();
    let (days, users, products) = default_size(settings.stack);
    let config = GenConfig {
        seed: settings.seed,
        start: settings.generator.start,
        days: args.days.unwrap_or(days).max(1),
        users: args.users.unwrap_or(users),
        products: args.products.unwrap_or(products),
        time_zone: tz,
        dirty_rate: args.dirty_rate,
    };
    let generator = Generator::new(config.clone());
    let day0 = tz
        .from_local_datetime(&config.start.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let clock = Arc::new(ManualClock::new(day0));
    let mut stack = Box::pin(open_stack(settings, clock.clone(), json)).await?;

    // Provision: catalog (and its Kaggle-format file), customers, products, lake tables.
    let dir = settings.path(files::GENERATED);
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    std::fs::write(dir.join("styles.csv"), write_styles(generator.products()))
        .context("failed to write styles.csv")?;
    stack
        .products
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
            .tables
            .ensure_table(&t)
            .await
            .context("failed to create the lake tables")?;
    }

    let mut sim = Sim {
        settings,
        stack: &mut stack,
        clock: &clock,
        schedule: Schedule {
            trainer_period: Duration::hours(24),
            ..Schedule::new(tz)
        },
        // Scheduling starts after the first 00:01: the day before the simulation has no data.
        last_check: day0
            .checked_add_signed(Duration::minutes(2))
            .unwrap_or(day0),
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
        let mut pending: &[_] = &orders;
        for chunk in day.events.chunks(STEP_EVENTS) {
            let Some(t) = chunk.last().map(|e| e.occurred_at) else {
                continue;
            };
            clock.set(t.max(clock.now()));
            let records: Vec<OutboundRecord> = chunk
                .iter()
                .map(fashion_datagen::GeneratedEvent::outbound)
                .collect();
            let report = sim
                .stack
                .publisher
                .publish(&records)
                .await
                .context("failed to publish clicks")?;
            anyhow::ensure!(
                report.failed.is_empty(),
                "{} clicks could not be published",
                report.failed.len()
            );
            let upto = pending
                .iter()
                .take_while(|o| o.order.recorded_at <= t)
                .count();
            let (recorded, rest) = pending.split_at_checked(upto).unwrap_or((pending, &[]));
            sim.stack
                .purchases
                .put_orders(recorded)
                .await
                .context("failed to record orders")?;
            pending = rest;
            sim.advance(t).await?;
        }
        sim.stack
            .purchases
            .put_orders(pending)
            .await
            .context("failed to record orders")?;
        // Past 00:01 of the next day: the daily job runs for this day.
        let next_day = config
            .start
            .checked_add_days(Days::new(u64::from(d).saturating_add(1)))
            .unwrap_or(config.start);
        let start = StoreDay::new(next_day, tz).start;
        sim.advance(
            start
                .checked_add_signed(Duration::minutes(2))
                .unwrap_or(start),
        )
        .await?;
        pb.inc(1);
    }
    let now = clock.now();
    let totals = sim.totals.clone();
    let etl = std::mem::take(&mut sim.etl);
    let (etl_balanced, mut models_trained) = (sim.etl_balanced, sim.models);
    stack.delivery.flush(now).await?;
    stack
        .trainer()
        .train(now)
        .await
        .context("training failed")?;
    models_trained = models_trained.saturating_add(1);
    pb.finish_and_clear();

    // Evaluate and summarise.
    let FullHistory {
        events,
        purchases,
        products: catalog,
    } = load_full_history(stack.history.as_ref(), stack.products.as_ref()).await?;
    let report = super::lake::trend_report_of(&events, &purchases, &catalog, tz, None, 5)?;
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
    let lake_clicks = read_back_clickstream(
        stack.history.as_ref(),
        generator.products(),
        day0,
        now.checked_add_signed(MAX_FUTURE_SKEW).unwrap_or(now),
    )
    .await?;
    let tables = lake_tables(&stack).await?;
    let lake_rows: BTreeMap<String, u64> =
        tables.iter().map(|(k, v)| (k.clone(), v.rows)).collect();
    std::fs::write(
        settings.path(files::GROUND_TRUTH),
        serde_json::to_vec_pretty(&truth)?,
    )
    .context("failed to write the ground truth")?;
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
            every_event_accounted_for: totals.processed.checked_add(totals.dead_lettered)
                == truth.events_sent.checked_sub(truth.event_duplicates),
            lake_clickstream_equals_valid_events: lake_clicks.events == expected_valid,
            lake_clickstream_products_in_catalog: lake_clicks.unknown_products == 0,
            lake_clickstream_times_accepted: lake_clicks.outside_window == 0,
            daily_jobs_balanced: etl_balanced,
        },
        lake_rows,
        lake_clickstream_events: lake_clicks.events,
        lake_tables: tables,
        customers_with_recommendations: stack.recommendations.count().await?,
        models_trained,
        etl,
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
        emulator: stack.info.clone(),
    };
    if json {
        return print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}
