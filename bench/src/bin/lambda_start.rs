//! The stream-processor function's cold start: from the process's spawn to its first
//! invocation's response, and its peak memory, for stores of 2 k, 20 k and 200 k customers;
//! ours (the `provided.al2023` bootstrap) against a Python function doing the same work, both
//! under a fake Lambda Runtime API and over S3 and DynamoDB on the AWS emulator
//! (`bench/python/lambda_start.py` runs both). Writes its section of `docs/BENCHMARKS.md`.
//!
//! The models: each trained (`ModelBuilder`, day by day as the trainer folds the lake in) on 14
//! generated days of a store of that many customers, their clicks and orders, over the same
//! catalog. A model holds no per-customer data (customers' purchases live in their activity
//! records), so its size follows the catalog and the store's co-views, not its customers. The event: the first 100 click records of the next generated day, in the
//! Kinesis event Lambda delivers.
//!
//! `scripts/bench --only lambda-start` (it starts the emulator and builds the bootstrap).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fashion_bench::{
    Spread, arg, arg_text, git_head, load_average, machine, peer_output, repo_root, timed,
    write_section,
};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::{PurchaseRecord, TrainingEvent};
use fashion_domain::ids::{CustomerId, OrderId, ProductId};
use fashion_domain::model::RecModel;
use fashion_domain::services::recommender::ModelIndex;
use fashion_domain::services::trainer::{ModelBuilder, TrainerParams};
use serde_json::{Value, json};

/// Generated days the model is trained on.
const DAYS: u32 = 14;
/// Records in the measured invocation's batch.
const BATCH: usize = 100;
/// The model sizes measured, in customers.
const SIZES: [u64; 3] = [2_000, 20_000, 200_000];

/// A click record as the batch carries it: partition key, data, event time.
type Record = (String, Vec<u8>, DateTime<Utc>);

/// The model of a generated store of `customers` customers, trained day by day on [`DAYS`] days
/// of its clicks and orders (as the trainer folds the lake in), with the purchased lines it read
/// and the first [`BATCH`] click records of the next day.
fn train(customers: u64) -> anyhow::Result<(RecModel, u64, Vec<Record>)> {
    let generator = Generator::new(GenConfig {
        users: u32::try_from(customers)?,
        days: DAYS + 1,
        dirty_rate: 0.0,
        ..GenConfig::default()
    });
    let next = generator.day(DAYS).events;
    let trained_at = next.first().map_or_else(Utc::now, |e| e.occurred_at);
    let params = TrainerParams::default();
    let mut builder = ModelBuilder::new(generator.products(), trained_at, &params);
    for d in 0..DAYS {
        let day = generator.day(d);
        let events: Vec<TrainingEvent> = day
            .events
            .iter()
            .filter_map(|e| ClickEvent::parse(&e.data, e.occurred_at).ok())
            .filter_map(|ev| TrainingEvent::from_event(&ev))
            .collect();
        builder.add_interactions(&events);
        let mut purchases = Vec::new();
        for o in &day.orders {
            let (Some(customer), Ok(order)) = (
                o.order
                    .customer_id
                    .and_then(|c| CustomerId::from_i64(c).ok()),
                OrderId::from_i64(o.order.order_id),
            ) else {
                continue;
            };
            for item in &o.items {
                if let Some(product) = item.product_id.and_then(|p| ProductId::from_i64(p).ok()) {
                    purchases.push(PurchaseRecord {
                        customer,
                        order,
                        product,
                        at: o.order.ordered_at,
                    });
                }
            }
        }
        builder.add_purchases(&purchases);
    }
    let purchased = builder.purchases();
    let batch = next
        .iter()
        .take(BATCH)
        .map(|e| (e.partition_key.clone(), e.data.clone(), e.occurred_at))
        .collect();
    Ok((builder.finish(), purchased, batch))
}

/// The Kinesis event Lambda would deliver for `records` (one shard, in order).
fn kinesis_event(records: &[(String, Vec<u8>, DateTime<Utc>)]) -> Value {
    let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/fashion-clickstream";
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (key, data, at))| {
            let sequence = format!("4956816737333333333333333333333333333333333333{:010}", i);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                    "approximateArrivalTimestamp": at.timestamp_millis() as f64 / 1000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/fashion-stream-processor",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

fn series(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let runs = arg("--runs", 5).max(1);
    let ours =
        arg_text("--bootstrap").context("usage: lambda_start --bootstrap PATH [--runs N]")?;
    let endpoint = std::env::var("FASHION_TEST_AWS_ENDPOINT")
        .context("FASHION_TEST_AWS_ENDPOINT is not set: run `scripts/bench --only lambda-start`")?;
    // The emulator's virtualenv has boto3, which the harness and the Python function use.
    let python = std::env::var("FASHION_TEST_MOTO_SERVER")
        .ok()
        .and_then(|m| PathBuf::from(m).parent().map(|d| d.join("python")))
        .context("FASHION_TEST_MOTO_SERVER is not set (the emulator's virtualenv has boto3)")?;
    let load_before = load_average();

    let mut trained = Vec::new();
    let mut batch: Vec<(String, Vec<u8>, DateTime<Utc>)> = Vec::new();
    for n in SIZES {
        let (model, purchased_lines, next) = train(n)?;
        if n == 20_000 {
            batch = next;
        }
        trained.push((n, model, purchased_lines));
    }

    let dir = std::env::temp_dir().join(format!("fashion-lambda-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut models = Vec::new();
    let mut model_bytes = Vec::new();
    let mut in_process = Vec::new();
    for (n, model, _) in &trained {
        let path = dir.join(format!("model-{n}.json"));
        let bytes = serde_json::to_vec(model)?;
        model_bytes.push((*n, bytes.len()));
        // The part of a cold start that follows the model's size, alone: decoding the model's
        // JSON and indexing it for scoring, as the function does once it has the object.
        let (load, _) = timed(1, runs as usize, || {
            serde_json::from_slice::<RecModel>(&bytes)
                .map(|m| std::hint::black_box(ModelIndex::new(&m)))
        });
        in_process.push(load);
        std::fs::write(&path, bytes)?;
        models.push(format!("{n}={}", path.display()));
    }
    let event = dir.join("event.json");
    std::fs::write(&event, serde_json::to_vec(&kinesis_event(&batch))?)?;

    let out = peer_output(
        Command::new(&python)
            .arg(repo_root().join("bench/python/lambda_start.py"))
            .args(["--endpoint", &endpoint, "--ours", &ours])
            .arg("--event")
            .arg(&event)
            .args(["--models", &models.join(","), "--runs", &runs.to_string()])
            // Each run applies the batch anew: the customers' activity and lists are deleted first,
            // so every run reads, updates and writes them (a replayed batch would be skipped).
            .arg("--reset-activity"),
        "the harness",
    );
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;

    let mut body = format!(
        "## Stream-processor function: cold start\n\n\
         `scripts/bench --only lambda-start` at {}, {}: {}; load average {load_before} before, LOAD_AFTER after. \
         From the process's spawn to its first invocation's response (a Kinesis batch of {BATCH} click \
         records), and its peak memory (`VmHWM`), under a fake Lambda Runtime API on loopback, with the model \
         in S3 and the tables in DynamoDB on the AWS emulator (moto). Ours: the release `bootstrap`; the \
         peer: a Python {} function (boto3 {}) doing the same work (load the newest model, validate, check the \
         products in the catalog table, read and write each customer's activity and list; the batch's \
         customers' items are deleted before each run, so every run applies the whole batch; the batch is the \
         20 k store's). The models: each trained on {DAYS} generated days of a store of that many customers \
         ({} products; {}). A model holds no per-customer data: what a customer bought is in their \
         activity record, which the function reads anyway. Median (min–max) of {runs} runs after a warm-up, each a new process. The rest of a start is \
         the process, the SDK's clients, and the emulator's answers (moto, a Python server on this machine, \
         not AWS's in-region latency); init is the time to the function's first request for an event (process start, the SDK's clients, \
         the model read from S3, decoded and indexed), the rest is the batch; the decode-and-index column is that one step timed alone in this \
         process, the part that follows the model's size.\n\n\
         | customers in the store | model JSON | ours: decode + index the model, in process, ms | ours: start → response, ms | of which init, ms | ours: peak MB | Python: start → response, ms | of which init, ms | Python: peak MB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        git_head(),
        Utc::now().format("%Y-%m-%d"),
        machine(),
        out["python"].as_str().unwrap_or("?"),
        out["boto3"].as_str().unwrap_or("?"),
        trained.first().map_or(0, |t| t.1.products.len()),
        trained
            .iter()
            .map(|(n, m, lines)| format!(
                "{n}: {} interactions, {lines} purchased lines",
                m.trained_on_events
            ))
            .collect::<Vec<_>>()
            .join("; "),
    );
    let mut figures = Vec::new();
    for (n, bytes) in &model_bytes {
        let key = n.to_string();
        let ms = |who: &str, what: &str| {
            Spread::of(
                series(&out["results"][who][&key][what])
                    .iter()
                    .map(|s| s * 1e3)
                    .collect(),
            )
        };
        let mb = |who: &str| {
            Spread::of(
                series(&out["results"][who][&key]["peak_kb"])
                    .iter()
                    .map(|k| k / 1024.0)
                    .collect(),
            )
        };
        let (ot, om, pt, pm) = (
            ms("ours", "seconds"),
            mb("ours"),
            ms("python", "seconds"),
            mb("python"),
        );
        let (oi, pi) = (ms("ours", "init_seconds"), ms("python", "init_seconds"));
        let load = in_process.get(figures.len()).map_or_else(String::new, |s| {
            Spread {
                median: s.median * 1e3,
                min: s.min * 1e3,
                max: s.max * 1e3,
            }
            .show(1)
        });
        body.push_str(&format!(
            "| {n} | {:.1} MB | {load} | {} | {} | {} | {} | {} | {} |\n",
            *bytes as f64 / 1e6,
            ot.show(1),
            oi.show(1),
            om.show(1),
            pt.show(1),
            pi.show(1),
            pm.show(1),
        ));
        figures.push((*n, ot, om));
    }
    let at = |n: u64| figures.iter().find(|f| f.0 == n);
    if let (Some(small), Some(mid), Some(large)) = (at(2_000), at(20_000), at(200_000)) {
        body.push_str(&format!(
            "\n- ≤ 20 ms and ≤ 20 MB at 20 k customers (every run): {} (ours {:.1}–{:.1} ms, {:.1}–{:.1} MB).\n\
             - Flat in the customer count (the 200 k store's slowest run within 20 % of the 2 k store's fastest, \
             time and memory): {} (time {:.2}×, memory {:.2}×).\n",
            if mid.1.max <= 20.0 && mid.2.max <= 20.0 { "met" } else { "**not met**" },
            mid.1.min,
            mid.1.max,
            mid.2.min,
            mid.2.max,
            if large.1.max <= small.1.min * 1.2 && large.2.max <= small.2.min * 1.2 {
                "met"
            } else {
                "**not met**"
            },
            large.1.max / small.1.min,
            large.2.max / small.2.min,
        ));
    }
    let body = body.replace("LOAD_AFTER", &load_average());
    let path = write_section("lambda-start", &body)?;
    println!("{body}");
    eprintln!("wrote {}", path.display());
    Ok(())
}
