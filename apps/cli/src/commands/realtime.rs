//! `fashion stream consume`, `fashion sink run`, `fashion train`, `fashion eval`, `fashion recs`.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use fashion_datagen::GroundTruth;
use fashion_domain::backoff::Backoff;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{Clock, ProductCatalog, RecommendationReader, SystemClock};
use fashion_domain::services::evaluation::{EvalParams, evaluate};
use fashion_domain::services::history::{FullHistory, load_full_history};
use serde_json::json;

use super::pipeline::{ProcessorTotals, process_pass};
use crate::output::print_json;
use crate::settings::{Settings, StackKind};
use crate::stack::{LocalStack, files};

/// How often a following consumer looks for a newer model.
const MODEL_REFRESH: StdDuration = StdDuration::from_secs(60);

/// Waits before the next pass of a following loop: no wait while work gets done, then the
/// domain's backoff, growing up to 30 s, while nothing can be committed.
struct IdleWait {
    backoff: Backoff,
    idle_passes: u32,
}

impl IdleWait {
    fn new() -> Self {
        Self {
            backoff: Backoff {
                max_attempts: u32::MAX,
                base: StdDuration::from_millis(500),
                cap: StdDuration::from_secs(30),
            },
            idle_passes: 0,
        }
    }

    async fn after(&mut self, progressed: bool) {
        if progressed {
            self.idle_passes = 0;
            return;
        }
        self.idle_passes = self.idle_passes.saturating_add(1);
        tokio::time::sleep(self.backoff.delay(self.idle_passes)).await;
    }
}

/// True when an error is worth retrying (throttling, a locked database, a timeout).
fn retryable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<fashion_domain::ports::StreamError>()
            .is_some_and(fashion_domain::ports::StreamError::is_retryable)
            || c.downcast_ref::<fashion_domain::services::lake_sink::SinkError>()
                .is_some_and(fashion_domain::services::lake_sink::SinkError::is_retryable)
            || c.downcast_ref::<fashion_domain::ports::StoreError>()
                .is_some_and(fashion_domain::ports::StoreError::is_retryable)
    })
}

pub async fn consume(
    settings: &Settings,
    follow: bool,
    batch_size: usize,
    json: bool,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if settings.stack == StackKind::Emulator {
        anyhow::ensure!(
            !follow,
            "--follow is not played on the emulator: run the command again for what arrived since"
        );
        let totals = on_emulator::consume(clock.now()).await?;
        return print_totals(&totals, json);
    }
    let stack = LocalStack::open(settings, clock.clone()).await?;
    let processor = stack.processor().await?;
    let mut totals = ProcessorTotals::default();
    let mut last_refresh = std::time::Instant::now();
    let mut backoff = IdleWait::new();
    loop {
        let pass = process_pass(
            stack.stream.clone(),
            stack.state.checkpoints(),
            &processor,
            batch_size,
            clock.now(),
        )
        .await;
        let (pass, t) = match pass {
            Ok(r) => r,
            Err(e) if follow && retryable(&e) => {
                tracing::warn!(error.message = %e, "A pass failed; retrying.");
                backoff.after(false).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        totals.merge(&t);
        if !follow {
            break;
        }
        if last_refresh.elapsed() >= MODEL_REFRESH {
            if let Err(e) = processor.model().refresh(stack.models.as_ref()).await {
                tracing::warn!(error.message = %e, "Model refresh failed; keeping the current model.");
            }
            last_refresh = std::time::Instant::now();
        }
        // Caught up, or stuck on records to retry: wait before the next pass.
        backoff.after(pass.records_committed > 0).await;
    }
    print_totals(&totals, json)
}

fn print_totals(totals: &ProcessorTotals, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(totals);
    }
    println!(
        "Read {} records: {} processed, {} duplicates, {} dead-lettered, {} left to retry; {} recommendation lists written.",
        totals.records,
        totals.processed,
        totals.duplicates,
        totals.dead_lettered,
        totals.failed,
        totals.recommendations_written
    );
    Ok(())
}

pub async fn sink(settings: &Settings, follow: bool, json: bool) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if settings.stack == StackKind::Emulator {
        anyhow::ensure!(
            !follow,
            "--follow is not played on the emulator: run the command again for what arrived since"
        );
        return on_emulator::sink(clock.now(), json).await;
    }
    let stack = LocalStack::open(settings, clock.clone()).await?;
    let mut sink = stack.sink(settings);
    let mut backoff = IdleWait::new();
    loop {
        let before = sink.report().records_read;
        let step = async {
            sink.poll(clock.now())
                .await
                .context("the lake sink failed")?;
            if !follow {
                sink.flush(clock.now())
                    .await
                    .context("the lake sink failed to flush")?;
            }
            stack
                .trim_stream(settings, clock.now())
                .await
                .context("failed to apply the stream's retention")?;
            anyhow::Ok(())
        };
        match step.await {
            Ok(()) => {}
            Err(e) if follow && retryable(&e) => {
                tracing::warn!(error.message = %e, "The sink failed; retrying.");
                backoff.after(false).await;
                continue;
            }
            Err(e) => return Err(e),
        }
        if !follow {
            break;
        }
        backoff.after(sink.report().records_read > before).await;
    }
    let r = sink.report();
    if json {
        return print_json(&r);
    }
    println!(
        "Read {} records; wrote {} events in {} files over {} flushes; {} duplicates dropped, {} dead-lettered.",
        r.records_read, r.events_written, r.files, r.flushes, r.duplicates, r.dead_lettered
    );
    Ok(())
}

pub async fn train(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ports = crate::ports::Ports::open(settings, clock.clone()).await?;
    let (_, report) = ports
        .trainer()
        .train(clock.now())
        .await
        .context("training failed")?;
    if json {
        return print_json(&report);
    }
    println!(
        "Trained model {} on {} interactions and {} purchased lines: {} products, {} with neighbours.",
        report.version,
        report.interactions,
        report.purchases,
        report.products,
        report.products_with_neighbours
    );
    println!(
        "Recent purchases of {} customers checked; {} activity records updated.",
        report.customers_with_recent_purchases, report.activity_records_written
    );
    for t in report.top_trends.iter().take(5) {
        println!(
            "  trending {:<20} {:<28} growth x{:.1}",
            t.dimension.as_str(),
            t.key,
            t.growth
        );
    }
    Ok(())
}

fn ground_truth(settings: &Settings) -> anyhow::Result<Option<GroundTruth>> {
    let path = settings.path(files::GROUND_TRUTH);
    if !path.exists() {
        return Ok(None);
    }
    let bytes =
        std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
        format!("failed to parse {}", path.display())
    })?))
}

pub async fn eval(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let ports = crate::ports::Ports::open(settings, Arc::new(SystemClock)).await?;
    let FullHistory {
        events,
        purchases,
        products,
    } = load_full_history(ports.history.as_ref(), ports.products.as_ref()).await?;
    anyhow::ensure!(
        !events.is_empty(),
        "the lake has no clicks yet: run `fashion demo`, or generate, consume and sink first"
    );
    let planted = ground_truth(settings)?
        .map(|t| t.planted_trends)
        .unwrap_or_default();
    let report = tokio::task::spawn_blocking(move || {
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
    if json {
        return print_json(&report);
    }
    println!(
        "Hold-out after {:?}: {} customers evaluated.",
        report.cutoff, report.customers_evaluated
    );
    println!(
        "HR@10 {:.3} (popularity {:.3}, random {:.3}; x{:.1} over popularity), NDCG@10 {:.3} (popularity {:.3}).",
        report.hr_at_10,
        report.popularity_hr_at_10,
        report.random_hr_at_10,
        report.lift_over_popularity,
        report.ndcg_at_10,
        report.popularity_ndcg_at_10
    );
    println!(
        "Planted trends {:?}; top trend signals {:?}; precision {:.2}.",
        report.planted_trends, report.top_trends, report.planted_trend_precision
    );
    Ok(())
}

pub async fn recs(settings: &Settings, user: &str, json: bool) -> anyhow::Result<()> {
    let id = CustomerId::parse(user)?;
    let ports = crate::ports::Ports::open(settings, Arc::new(SystemClock)).await?;
    let recs = ports
        .recommendations
        .get(id)
        .await
        .context("failed to read recommendations")?;
    let Some(recs) = recs else {
        if json {
            return print_json(&json!({ "customer_id": id, "items": [] }));
        }
        println!("No recommendations for customer {id} yet.");
        return Ok(());
    };
    if json {
        return print_json(&recs);
    }
    let ids: Vec<_> = recs.items.iter().map(|i| i.product_id).collect();
    let products = ports
        .products
        .get_many(&ids)
        .await
        .context("failed to read the catalog")?;
    println!(
        "Recommendations for customer {id} (model {}, {}):",
        recs.model_version, recs.updated_at
    );
    for (rank, item) in recs.items.iter().enumerate() {
        let name = products
            .iter()
            .find(|p| p.id == item.product_id)
            .map_or("?", |p| p.product_display_name.as_str());
        println!(
            "{:>3}. {:>6}  {:<48} {:>7.3}  {}",
            rank.saturating_add(1),
            item.product_id,
            name,
            item.score,
            item.reason.as_str()
        );
    }
    Ok(())
}

/// `stream consume` and `sink run` on the emulator, where moto runs neither the event-source
/// mapping nor Firehose: their stand-ins, calling the real handlers (`crate::emulator`).
#[cfg(feature = "aws")]
mod on_emulator {
    use chrono::{DateTime, Utc};

    use super::ProcessorTotals;
    use crate::output::print_json;

    pub async fn consume(now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals> {
        crate::emulator::consume(now).await
    }

    pub async fn sink(now: DateTime<Utc>, json: bool) -> anyhow::Result<()> {
        let d = crate::emulator::sink(now).await?;
        if json {
            return print_json(&d);
        }
        println!(
            "Firehose's stand-in read {} records in {} batches: {} landed in {} objects, {} \
             duplicates dropped, {} dead-lettered.",
            d.records, d.batches, d.landed, d.objects, d.duplicates, d.dead_lettered
        );
        Ok(())
    }
}

/// Without the `aws` feature there is no emulator stack.
#[cfg(not(feature = "aws"))]
mod on_emulator {
    use chrono::{DateTime, Utc};

    use super::ProcessorTotals;

    const NO_AWS: &str = "this build has no AWS support: --stack emulator needs the `aws` \
                          feature (cargo run --release -p fashion --features aws -- …)";

    #[allow(clippy::unused_async)]
    pub async fn consume(_now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals> {
        anyhow::bail!(NO_AWS)
    }

    #[allow(clippy::unused_async)]
    pub async fn sink(_now: DateTime<Utc>, _json: bool) -> anyhow::Result<()> {
        anyhow::bail!(NO_AWS)
    }
}
