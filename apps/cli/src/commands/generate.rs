//! `fashion generate`: a synthetic store written into the configured stack's stores: the catalog
//! (and `generated/styles.csv` in the Kaggle format), customers and orders in the transactional
//! database, every click on the stream (on the local stream arriving at its event time), and the
//! ground truth (in the data directory).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use fashion_datagen::{DayData, GenConfig, Generator, GroundTruth};
use fashion_domain::catalog_csv::write_styles;
use fashion_domain::ports::ClickstreamPublisher;
use fashion_domain::stream::OutboundRecord;
use fashion_memory::ManualClock;
use serde::Serialize;

use crate::cli::GenerateArgs;
use crate::output::{print_json, progress};
use crate::ports::{Ports, transactional};
use crate::settings::Settings;
use crate::stack::files;

/// Records per publish call.
const PUBLISH_BATCH: usize = 500;

#[derive(Serialize)]
struct GenerateReport {
    seed: u64,
    days: u32,
    products: usize,
    customers: usize,
    orders: u64,
    events_sent: u64,
    event_duplicates: u64,
    invalid_events: u64,
    generation_seconds: f64,
    generated_events_per_second: f64,
    total_seconds: f64,
    planted_trends: Vec<String>,
    /// The imported catalog generated over (`--catalog`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_file: Option<String>,
    /// Its rows the loader refused.
    catalog_rows_rejected: usize,
    data_dir: String,
}

/// The generator configuration from settings and flags.
pub fn gen_config(args: &GenerateArgs, settings: &Settings) -> GenConfig {
    let g = &settings.generator;
    GenConfig {
        seed: settings.seed,
        start: args.start.unwrap_or(g.start),
        days: args.days.unwrap_or(g.days),
        users: args.users.unwrap_or(g.users),
        products: args.products.unwrap_or(g.products),
        time_zone: settings.tz(),
        dirty_rate: args.dirty_rate.unwrap_or(g.dirty_rate),
    }
}

/// Publishes a day's records in time order, the stream stamping each batch with the time of its
/// newest record (as if the website sent them live).
pub async fn publish_day(
    day: &DayData,
    publisher: &dyn ClickstreamPublisher,
    clock: &ManualClock,
) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    for chunk in day.events.chunks(PUBLISH_BATCH) {
        if let Some(last) = chunk.last() {
            clock.set(last.occurred_at);
        }
        let records: Vec<OutboundRecord> = chunk
            .iter()
            .map(fashion_datagen::GeneratedEvent::outbound)
            .collect();
        let report = publisher
            .publish(&records)
            .await
            .context("failed to publish clicks")?;
        if !report.failed.is_empty() {
            anyhow::bail!(
                "{} records could not be published: {:?}",
                report.failed.len(),
                report.failed.first()
            );
        }
        sent = sent.saturating_add(report.accepted as u64);
    }
    Ok(sent)
}

pub async fn run(args: &GenerateArgs, settings: &Settings, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = gen_config(args, settings);
    let dir = settings.path(files::GENERATED);
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;

    let imported = args
        .catalog
        .as_deref()
        .map(super::catalog::read_styles)
        .transpose()?;
    let gen_started = Instant::now();
    let (generator, catalog_rejected) = match imported {
        Some(parsed) => {
            anyhow::ensure!(
                !parsed.products.is_empty(),
                "{} holds no product the loader accepts ({} rows rejected)",
                args.catalog
                    .as_deref()
                    .map_or_else(String::new, |f| f.display().to_string()),
                parsed.rejected.len()
            );
            let rejected = parsed.rejected.len();
            (
                Generator::with_catalog(config.clone(), parsed.products),
                rejected,
            )
        }
        None => (Generator::new(config.clone()), 0),
    };
    let generator = Arc::new(generator);
    let mut gen_seconds = gen_started.elapsed().as_secs_f64();

    std::fs::write(dir.join("styles.csv"), write_styles(generator.products()))
        .context("failed to write styles.csv")?;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    // The local stream stamps each batch's arrival with the simulated clock; Kinesis with its
    // own (a past event time arriving now is accepted; only the future is refused).
    let ports = Ports::open(settings, clock.clone()).await?;
    let db = transactional(settings).await?;
    db.put_products(generator.products())
        .await
        .context("failed to load products")?;
    db.put_customers(generator.customers())
        .await
        .context("failed to load customers")?;
    ports
        .products
        .upsert_many(generator.products())
        .await
        .context("failed to load the catalog")?;
    let stream = ports.stream.clone();

    // Generate the next day on a worker thread while this one writes the current day.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(DayData, f64)>(1);
    let g = generator.clone();
    let days = config.days;
    let worker = tokio::task::spawn_blocking(move || {
        for d in 0..days {
            let t = Instant::now();
            let day = g.day(d);
            if tx.blocking_send((day, t.elapsed().as_secs_f64())).is_err() {
                break;
            }
        }
    });
    let pb = progress(u64::from(days), "generating days", json);
    let mut truth: GroundTruth = generator.ground_truth();
    while let Some((day, secs)) = rx.recv().await {
        gen_seconds += secs;
        truth.add_day(&day);
        publish_day(&day, stream.as_ref(), &clock).await?;
        db.put_orders(&day.orders)
            .await
            .context("failed to load orders")?;
        pb.inc(1);
    }
    worker.await.context("the generator thread failed")?;
    pb.finish_and_clear();
    std::fs::write(
        settings.path(files::GROUND_TRUTH),
        serde_json::to_vec_pretty(&truth)?,
    )
    .context("failed to write the ground truth")?;

    let report = GenerateReport {
        seed: config.seed,
        days: config.days,
        products: generator.products().len(),
        customers: generator.customers().len(),
        orders: truth.orders,
        events_sent: truth.events_sent,
        event_duplicates: truth.event_duplicates,
        invalid_events: truth.invalid_events.values().sum(),
        generation_seconds: gen_seconds,
        generated_events_per_second: truth.events_sent as f64 / gen_seconds.max(1e-9),
        total_seconds: started.elapsed().as_secs_f64(),
        planted_trends: truth
            .planted_trends
            .iter()
            .map(fashion_domain::trends::PlantedTrend::key)
            .collect(),
        catalog_file: args.catalog.as_ref().map(|f| f.display().to_string()),
        catalog_rows_rejected: catalog_rejected,
        data_dir: settings.data_dir.display().to_string(),
    };
    if json {
        return print_json(&report);
    }
    println!(
        "Generated {} days for {} customers and {} products: {} click records ({} duplicates, {} invalid), {} orders.",
        report.days,
        report.customers,
        report.products,
        report.events_sent,
        report.event_duplicates,
        report.invalid_events,
        report.orders
    );
    println!(
        "Generation took {:.2} s ({:.0} events/s); with loading, {:.2} s. Planted trends: {}.",
        report.generation_seconds,
        report.generated_events_per_second,
        report.total_seconds,
        report.planted_trends.join(", ")
    );
    if let Some(file) = &report.catalog_file {
        println!(
            "Over the catalog {file} ({} rows rejected by the loader).",
            report.catalog_rows_rejected
        );
    }
    println!("Data is in {}.", report.data_dir);
    Ok(())
}
