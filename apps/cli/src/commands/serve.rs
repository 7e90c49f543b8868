//! `fashion serve`: the front door over the local stack: the click collector publishes to the
//! embedded stream, recommendations come from the local store, trends from the lake's history,
//! the dashboard's panels from SQL over the lake (DataFusion: the feature `sql`, on by default).
//! Stops gracefully on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use fashion_api::{ApiConfig, ApiPorts, Gauge, PipelineProbe};
use fashion_domain::ports::{CheckpointStore, SystemClock, TableCatalog};
use fashion_domain::services::lake_sink;
use fashion_local::{SqliteCheckpointStore, SqliteStreamLog, SqliteTableCatalog};

use crate::cli::ServeArgs;
use crate::settings::Settings;
use crate::stack::{LocalStack, PROCESSOR};

/// What the local stack can tell `/metrics` about the rest of the pipeline.
struct LocalProbe {
    stream: Arc<SqliteStreamLog>,
    checkpoints: SqliteCheckpointStore,
    tables: Arc<SqliteTableCatalog>,
}

/// Lake tables whose newest partition `/metrics` reports: the micro-batches and the daily job.
const WATCHED_TABLES: [&str; 2] = [
    fashion_domain::lake::tables::CLICKSTREAM,
    fashion_domain::lake::tables::DAILY_SALES,
];

#[async_trait::async_trait]
impl PipelineProbe for LocalProbe {
    async fn gauges(&self) -> anyhow::Result<Vec<Gauge>> {
        let mut out = Vec::new();
        for (shard, head) in self.stream.heads().await? {
            let head = head.and_then(|h| h.as_u64()).unwrap_or(0);
            for consumer in [PROCESSOR, lake_sink::CONSUMER] {
                let done = self
                    .checkpoints
                    .load(consumer, &shard)
                    .await?
                    .and_then(|c| c.as_u64())
                    .unwrap_or(0);
                out.push(Gauge {
                    name: "fashion_stream_lag_records",
                    help: "Records on the stream a consumer has not processed yet",
                    labels: vec![
                        ("consumer", consumer.to_owned()),
                        ("shard", shard.0.clone()),
                    ],
                    value: head.saturating_sub(done) as f64,
                });
            }
        }
        for table in WATCHED_TABLES {
            let newest = self
                .tables
                .partitions(table)
                .await?
                .iter()
                .filter_map(|p| {
                    p.key
                        .0
                        .iter()
                        .find(|(k, _)| k == "dt")
                        .and_then(|(_, v)| v.parse::<chrono::NaiveDate>().ok())
                })
                .max();
            if let Some(day) = newest {
                out.push(Gauge {
                    name: "fashion_lake_newest_partition_day_seconds",
                    help: "Start (UTC) of the newest day partition of a lake table: the last micro-batch and the last daily job",
                    labels: vec![("table", table.to_owned())],
                    value: day.and_hms_opt(0, 0, 0).map_or(0.0, |t| t.and_utc().timestamp() as f64),
                });
            }
        }
        Ok(out)
    }
}

pub async fn run(settings: &Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let stack = LocalStack::open(settings, Arc::new(SystemClock)).await?;
    let probe = LocalProbe {
        stream: Arc::clone(&stack.stream),
        checkpoints: stack.state.checkpoints(),
        tables: Arc::clone(&stack.catalog),
    };
    let dead_letters = Arc::new(stack.state.dead_letters());
    let ports = ApiPorts {
        publisher: stack.stream.clone(),
        recommendations: Arc::new(stack.state.recommendations()),
        catalog: Arc::new(stack.state.catalog()),
        activity: Arc::new(stack.state.activity()),
        models: stack.models.clone(),
        history: stack.history.clone(),
        lake: stack.sql()?,
        dead_letters: dead_letters.clone(),
        dead_letter_log: dead_letters,
        clock: stack.clock.clone(),
        probe: Some(Arc::new(probe)),
    };
    let config = ApiConfig {
        time_zone: settings.tz(),
        ..ApiConfig::default()
    };
    let app = fashion_api::router(ports, config);
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("failed to listen on {}", args.addr))?;
    let addr = listener
        .local_addr()
        .context("failed to read the listening address")?;
    // The first line is for scripts and tests that start the server on port 0. A reader that
    // stops listening (a closed pipe) must not stop the server: write errors are ignored.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Listening on http://{addr}");
        let _ = writeln!(
            out,
            "Dashboard: http://{addr}/  Tracker: http://{addr}/tracker.js  API: http://{addr}/openapi.json"
        );
        let _ = out.flush();
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    tracing::info!("Stopped serving.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
