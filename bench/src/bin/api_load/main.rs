//! Open-loop load benchmark of the HTTP API (`fashion serve`) next to Redis serving the same bytes,
//! on the same generator in the same run: recommendation reads (`GET /users/{id}/recommendations`
//! vs `GET recs:{id}`) and click ingest (`POST /events` vs `RPUSH clicks:{shard}`). Writes its
//! section of `docs/BENCHMARKS.md`.
//!
//! `cargo build --release -p fashion && cargo run --release -p fashion-bench --bin api_load`
//! (`-- --redis-only` measures Redis alone, needs no `fashion` binary and writes nothing).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use clap::Parser;
use fashion_bench::load::{self, LoadPlan, Protocol};
use fashion_bench::{repo_root, write_section};
use fashion_domain::ports::SystemClock;
use fashion_local::SqliteStreamLog;

use measure::{
    IngestRun, ReadRun, RssSampler, RssSummary, Settle, cores_used, count_in_lists,
    count_on_stream, load_average, redis_command,
};
use report::{Report, report};
use servers::{prepare_data, start_api, start_redis, version_of};
use workloads::{Ingest, Reads, fetch_bodies, load_redis, read_products, synthetic_bodies};

mod measure;
mod report;
mod servers;
mod workloads;

/// Customer ids of `fashion demo` (its default), requested uniformly.
const CUSTOMERS: u32 = 2_000;
/// Products assumed when there is no catalog file (`--redis-only` without a data directory).
const DEFAULT_PRODUCTS: u32 = 3_000;
/// Shards of the Redis lists when there is no stream to copy the count from.
const DEFAULT_SHARDS: usize = 4;
/// The browser tracker sends at most this many events per request.
const TRACKER_MAX_BATCH: usize = 20;
/// `fashion serve` may load a model and the catalog before it listens.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// A server that does not stop on SIGTERM within this long is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// A run that completes fewer than this share of the offered requests per second is invalid.
const VALID_SHARE: f64 = 0.95;
/// The targets.
const READ_TARGET_RATE: u32 = 20_000;
const READ_TARGET_P99_MS: f64 = 1.0;
const INGEST_TARGET_RATE: u32 = 20_000;
const INGEST_TARGET_SECS: u64 = 60;
/// Memory is bounded when the RSS of the last seconds is within this factor of the peak of the
/// first half of the run.
const RSS_SLACK: f64 = 1.10;
const RSS_TAIL_SECS: f64 = 10.0;
/// Event types of a generated session, with weights (a browsing mix: mostly views).
const EVENT_TYPES: [(&str, u32); 5] = [
    ("product_view", 45),
    ("click", 20),
    ("page_view", 20),
    ("add_to_cart", 10),
    ("remove_from_cart", 5),
];
/// Key prefixes in Redis.
const RECS_KEY: &str = "recs:";
const CLICKS_KEY: &str = "clicks:";
/// Records read from the stream per call when counting.
const COUNT_PAGE: usize = 10_000;

/// Open-loop load benchmark of `fashion serve` next to Redis.
#[derive(Debug, Parser)]
#[command(name = "api_load")]
struct Args {
    /// The release `fashion` binary [default: $CARGO_TARGET_DIR/release/fashion, else
    /// target/release/fashion].
    #[arg(long)]
    fashion: Option<PathBuf>,
    /// The data directory served; `fashion demo` fills it first when it has no state.db
    /// [default: <target>/api-load/data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Reads: requests per second offered to each peer.
    #[arg(long, default_value_t = 20_000)]
    rate: u32,
    /// Reads: length of one run.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Reads: measured runs per peer, after one warm-up run of each.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Ingest: events per second offered to each peer.
    #[arg(long, default_value_t = 20_000)]
    ingest_rate: u32,
    /// Ingest: events per request.
    #[arg(long, default_value_t = 10)]
    ingest_batch: usize,
    /// Ingest: length of the run (one run per peer).
    #[arg(long, default_value_t = 60)]
    ingest_secs: u64,
    /// Persistent connections per peer.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seed of the customer ids and events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The Redis server binary.
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_server: PathBuf,
    /// Print the section without writing docs/BENCHMARKS.md (for trying settings).
    #[arg(long)]
    no_write: bool,
    /// Measure Redis alone on synthetic bodies (no `fashion` binary needed); print the figures
    /// without writing the section.
    #[arg(long)]
    redis_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread for the whole generator: on a 2-core machine the server under test gets the
    // other core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to build the runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        // On Ctrl-C or SIGTERM the benchmark's future is dropped, and with it the servers' guards,
        // which stop them: no redis-server or `fashion serve` is left behind.
        tokio::select! {
            r = Box::pin(bench(args)) => r,
            s = interrupted() => bail!("interrupted by {}", s?),
        }
    })
}

/// Resolves on the first SIGINT or SIGTERM, naming it.
async fn interrupted() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("failed to watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("failed to watch SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from)
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let work = target_dir().join("api-load");
    std::fs::create_dir_all(&work)
        .with_context(|| format!("failed to create {}", work.display()))?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| work.join("data"));
    let redis_version = version_of(&args.redis_server);

    // The API first (it provides the bodies), then Redis loaded with them.
    let mut api_version = None;
    let (api, bodies, products, shards) = if args.redis_only {
        let products =
            read_products(&data_dir).unwrap_or_else(|_| (1..=DEFAULT_PRODUCTS).collect());
        (None, synthetic_bodies(), products, DEFAULT_SHARDS)
    } else {
        let fashion = args
            .fashion
            .clone()
            .unwrap_or_else(|| target_dir().join("release").join("fashion"));
        ensure!(
            fashion.exists(),
            "{} not found: build it with `cargo build --release -p fashion` (or pass --fashion)",
            fashion.display()
        );
        api_version = Some(version_of(&fashion));
        prepare_data(&fashion, &data_dir)?;
        let api = start_api(&fashion, &data_dir, &work)?;
        eprintln!("fashion serve listening on {}", api.addr);
        let bodies = fetch_bodies(api.addr).await?;
        let products = read_products(&data_dir)?;
        let shards = SqliteStreamLog::open(
            &data_dir.join("stream.db"),
            DEFAULT_SHARDS,
            Arc::new(SystemClock),
        )
        .await
        .context("failed to open the stream")?
        .shard_count();
        (Some(api), bodies, products, shards)
    };
    let redis = start_redis(&args.redis_server, &work).await?;
    load_redis(redis.addr, &bodies).await?;
    eprintln!(
        "redis-server on {}, loaded with {} lists",
        redis.addr,
        bodies.len()
    );

    let mut peers: Vec<(&'static str, SocketAddr, Protocol, u32)> = Vec::new();
    if let Some(api) = &api {
        peers.push(("API", api.addr, Protocol::Http, api.pid()));
    }
    peers.push(("Redis", redis.addr, Protocol::Resp, redis.pid()));

    let load_before = load_average();
    let mut settle = Settle::default();

    // Reads: a warm-up run of each peer, then `runs` runs of each, alternating.
    let rate = f64::from(args.rate);
    let mut reads: Vec<ReadRun> = Vec::new();
    for run in 0..=args.runs {
        for &(name, addr, protocol, pid) in &peers {
            let plan = LoadPlan {
                rate,
                duration: Duration::from_secs(args.duration_secs),
                connections: args.connections,
                // The same ids for both peers within a run; other ids in the next run.
                seed: args.seed.wrapping_add(run as u64 * 1_000),
            };
            let label = if run == 0 {
                format!("reads warm-up {name}")
            } else {
                format!("reads run {run} {name}")
            };
            settle.wait(&label).await;
            let cpu = load::cpu_secs(pid);
            let r = load::run(addr, protocol, Rc::new(Reads::new(protocol, addr)), plan).await?;
            let server_cores = cores_used(pid, cpu, &r);
            eprintln!(
                "{label}: p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} ms, {:.0} req/s, {} errors, lateness p99 {:.3} ms, CPU server {server_cores:.2} generator {:.2} machine {:.2} steal {:.2}",
                r.ms(0.5),
                r.ms(0.99),
                r.ms(0.999),
                r.max_ms(),
                r.achieved_rate(),
                r.errors,
                r.lateness.value_at_quantile(0.99) as f64 / 1000.0,
                r.generator_cores,
                r.machine_cores,
                r.steal_cores,
            );
            if run > 0 {
                reads.push(ReadRun {
                    run,
                    peer: name,
                    result: r,
                    server_cores,
                });
            }
        }
    }

    // Ingest: one run of each peer.
    let nonce = Utc::now().timestamp_millis();
    let mut ingests: Vec<(&'static str, IngestRun)> = Vec::new();
    let ingest_plan = LoadPlan {
        rate: f64::from(args.ingest_rate) / args.ingest_batch.max(1) as f64,
        duration: Duration::from_secs(args.ingest_secs),
        connections: args.connections,
        seed: args.seed,
    };
    for &(name, addr, protocol, pid) in &peers {
        let prefix = format!(
            "bench-{}-{nonce}-{}",
            std::process::id(),
            name.to_lowercase()
        );
        if protocol == Protocol::Resp {
            for s in 0..shards {
                redis_command(redis.addr, &[b"DEL", format!("{CLICKS_KEY}{s}").as_bytes()]).await?;
            }
        }
        let workload = Rc::new(Ingest {
            protocol,
            addr,
            batch: args.ingest_batch.max(1),
            products: products.clone(),
            prefix: prefix.clone(),
            shards,
        });
        settle.wait(&format!("ingest {name}")).await;
        let sampler = RssSampler::start(pid);
        let cpu = load::cpu_secs(pid);
        let result = load::run(addr, protocol, workload, ingest_plan).await?;
        let server_cores = cores_used(pid, cpu, &result);
        let rss = RssSummary::of(&sampler.finish(), args.ingest_secs as f64);
        let (found, found_where) = if protocol == Protocol::Http {
            let (ours, all) = count_on_stream(&data_dir.join("stream.db"), &prefix).await?;
            (
                ours,
                format!("on the stream (which holds {all} records in all)"),
            )
        } else {
            (
                count_in_lists(redis.addr, shards).await?,
                "in the lists".to_owned(),
            )
        };
        eprintln!(
            "ingest {name}: {} events accepted ({:.0}/s), {found} {found_where}, p99 {:.3} ms, {} 503s, {} errors",
            result.accepted,
            result.accepted_rate(),
            result.ms(0.99),
            result.unavailable,
            result.errors
        );
        ingests.push((
            name,
            IngestRun {
                result,
                found,
                found_where,
                rss,
                server_cores,
            },
        ));
    }
    let load_after = load_average();

    let body = report(&Report {
        args: &args,
        api_version: api_version.as_deref(),
        redis_version: &redis_version,
        bodies: &bodies,
        products: products.len(),
        shards,
        reads: &reads,
        ingests: &ingests,
        load_before,
        load_after,
        settle: &settle,
    });
    drop(api);
    drop(redis);
    println!("{body}");
    if args.redis_only || args.no_write {
        eprintln!("docs/BENCHMARKS.md left unchanged");
    } else {
        let path =
            write_section("api-load", &body).context("failed to write docs/BENCHMARKS.md")?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use fashion_bench::load::Workload as _;
    use rand::rngs::Xoshiro256PlusPlus;

    use super::measure::Spread;
    use super::*;

    #[test]
    fn spread_takes_the_median_and_range_of_the_runs() {
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0, 5.0, 4.0]),
            Spread {
                median: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
        assert_eq!(Spread::of(&[1.0, 2.0]).median, 1.5);
    }

    #[test]
    fn memory_is_bounded_when_the_tail_stays_near_the_first_half_peak() {
        // Arrange: 60 one-second samples, flat at 100 MiB, then growing in the last 10 s.
        let flat: Vec<(f64, u64)> = (0..60).map(|t| (f64::from(t), 100 * 1024)).collect();
        let growing: Vec<(f64, u64)> = (0..60)
            .map(|t| (f64::from(t), if t >= 50 { 120 * 1024 } else { 100 * 1024 }))
            .collect();

        // Act
        let flat = RssSummary::of(&flat, 60.0).unwrap();
        let growing = RssSummary::of(&growing, 60.0).unwrap();

        // Assert
        assert!(flat.bounded());
        assert!(!growing.bounded());
        assert_eq!(growing.peak_mib, 120.0);
    }

    #[test]
    fn ingest_requests_carry_the_batch_with_the_run_prefix() {
        // Arrange
        let workload = |protocol| Ingest {
            protocol,
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            batch: 3,
            products: vec![15970],
            prefix: "bench-x".to_owned(),
            shards: 4,
        };
        let mut rng: Xoshiro256PlusPlus = rand::SeedableRng::seed_from_u64(7);

        // Act
        let http = workload(Protocol::Http)
            .request(2, 9, &mut rng)
            .bytes
            .into_owned();
        let resp = workload(Protocol::Resp)
            .request(2, 9, &mut rng)
            .bytes
            .into_owned();

        // Assert
        let http = String::from_utf8(http).unwrap();
        let (head, body) = http.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /events HTTP/1.1\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let events: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
        assert_eq!(events.len(), 3);
        for e in &events {
            assert_eq!(e["session_id"], "bench-x-2-9");
            assert_eq!(e["schema_version"], 1);
            assert_eq!(e["product_id"].is_null(), e["event_type"] == "page_view");
        }
        assert!(
            String::from_utf8(resp)
                .unwrap()
                .starts_with("*5\r\n$5\r\nRPUSH\r\n")
        );
    }
}
