//! Open-loop load benchmark of the HTTP API (`fashion serve`) next to Redis serving the same bytes,
//! on the same generator in the same run: recommendation reads (`GET /users/{id}/recommendations`
//! vs `GET recs:{id}`) and click ingest (`POST /events` vs `RPUSH clicks:{shard}`). Writes its
//! section of `docs/BENCHMARKS.md`.
//!
//! `cargo build --release -p fashion && cargo run --release -p fashion-bench --bin api_load`
//! (`-- --redis-only` measures Redis alone, needs no `fashion` binary and writes nothing).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{SecondsFormat, Utc};
use clap::Parser;
use fashion_bench::load::{
    self, Conn, LoadPlan, LoadResult, Protocol, Reply, Request, RespReply, Verdict, Workload,
    resp_command,
};
use fashion_bench::{machine, repo_root, write_section};
use fashion_domain::ports::{ClickstreamSource, SystemClock};
use fashion_domain::stream::shard_for_key;
use fashion_local::SqliteStreamLog;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde::Deserialize;
use serde_json::json;

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

/// A server process, stopped by pid when dropped (also when the benchmark fails).
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited() {
            return;
        }
        // SIGTERM first: both servers stop gracefully on it (the API drains its requests).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fills `dir` with `fashion demo` unless it already holds a store.
fn prepare_data(fashion: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.join("state.db").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    eprintln!("filling {} with `fashion demo` (once)", dir.display());
    let status = Command::new(fashion)
        .arg("demo")
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("failed to run {} demo", fashion.display()))?;
    ensure!(status.success(), "`fashion demo` failed ({status})");
    Ok(())
}

/// Starts `fashion serve` on a free port and reads its address from its first stdout line.
fn start_api(fashion: &Path, data_dir: &Path, work: &Path) -> anyhow::Result<Server> {
    let log_path = work.join("serve.log");
    let log = File::create(&log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let mut child = Command::new(fashion)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("failed to start {} serve", fashion.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut server = Server {
        name: "fashion serve",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let first = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(first);
        // Keep reading so that the server never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .with_context(|| {
            format!(
                "`fashion serve` printed nothing within {START_TIMEOUT:?}; see {}",
                log_path.display()
            )
        })?
        .context("failed to read the output of `fashion serve`")?;
    let addr = line
        .trim()
        .strip_prefix("Listening on http://")
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .with_context(|| {
            format!(
                "`fashion serve` printed {:?}, not \"Listening on http://ADDR\" (exited: {}); see {}",
                line.trim(),
                server.exited(),
                log_path.display()
            )
        })?;
    server.addr = addr;
    Ok(server)
}

/// Starts `redis-server` on a free loopback port without persistence, and waits for PONG.
async fn start_redis(bin: &Path, work: &Path) -> anyhow::Result<Server> {
    ensure!(
        bin.exists(),
        "{} not found: install it with `apt-get install redis-server` (or pass --redis-server)",
        bin.display()
    );
    // Redis cannot be told to pick a port itself: take a free one from the kernel and release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("failed to find a free port")?
        .port();
    let log_path = work.join("redis.log");
    let log = File::create(&log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let child = Command::new(bin)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(work)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("failed to start {}", bin.display()))?;
    let mut server = Server {
        name: "redis-server",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = Conn::connect(server.addr, Protocol::Resp).await
            && let Ok(Reply::Resp(RespReply::Simple(pong))) =
                c.round_trip(&resp_command(&[b"PING"])).await
            && pong == "PONG"
        {
            return Ok(server);
        }
        ensure!(
            !server.exited(),
            "redis-server exited at start; see {}",
            log_path.display()
        );
        ensure!(
            Instant::now() < deadline,
            "redis-server did not answer PING within 10 s; see {}",
            log_path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--version` of a program, shortened: redis-server says `Redis server v=7.0.15 sha=…`, of
/// which only the version is worth printing.
fn version_of(bin: &Path) -> String {
    let text = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    match text.split_whitespace().find_map(|w| w.strip_prefix("v=")) {
        Some(v) => format!("Redis {v}"),
        None if text.is_empty() => "unknown version".to_owned(),
        None => text,
    }
}

/// The recommendation bodies the API serves, by customer id (index 0 is customer 1).
async fn fetch_bodies(api: SocketAddr) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut conn = Conn::connect(api, Protocol::Http)
        .await
        .context("failed to connect to the API")?;
    let mut bodies = Vec::with_capacity(CUSTOMERS as usize);
    for id in 1..=CUSTOMERS {
        let reply = conn
            .round_trip(&http_get(api, id))
            .await
            .with_context(|| format!("failed to read the recommendations of customer {id}"))?;
        match reply {
            Reply::Http(r) if r.status == 200 => bodies.push(r.body),
            other => bail!("GET /users/{id}/recommendations answered {other:?}"),
        }
    }
    Ok(bodies)
}

/// Bodies shaped like the API's (ten items with their products), for `--redis-only`.
fn synthetic_bodies() -> Vec<Vec<u8>> {
    (1..=CUSTOMERS)
        .map(|id| {
            let items: Vec<_> = (0..10)
                .map(|i| {
                    json!({"product_id": 10_000 + id * 7 + i, "score": 0.5, "reason": "also_viewed",
                        "product": {"product_id": 10_000 + id * 7 + i, "name": "Synthetic Men Blue Casual Shirt",
                            "gender": "Men", "master_category": "Apparel", "sub_category": "Topwear",
                            "article_type": "Shirts", "colour": "Blue", "season": "Summer", "price": "29.99"}})
                })
                .collect();
            json!({"customer_id": id, "source": "personal", "model_version": "synthetic", "items": items})
                .to_string()
                .into_bytes()
        })
        .collect()
}

/// Loads every body into Redis as `recs:{id}`, byte for byte.
async fn load_redis(redis: SocketAddr, bodies: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut conn = Conn::connect(redis, Protocol::Resp)
        .await
        .context("failed to connect to Redis")?;
    for (i, body) in bodies.iter().enumerate() {
        let key = format!("{RECS_KEY}{}", i + 1);
        let reply = conn
            .round_trip(&resp_command(&[b"SET", key.as_bytes(), body]))
            .await
            .with_context(|| format!("failed to SET {key}"))?;
        ensure!(
            reply == Reply::Resp(RespReply::Simple("OK".to_owned())),
            "SET {key} answered {reply:?}"
        );
    }
    Ok(())
}

/// The catalog's product ids: the first column of `generated/styles.csv`.
fn read_products(data_dir: &Path) -> anyhow::Result<Vec<u32>> {
    let path = data_dir.join("generated").join("styles.csv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    // The header's first field is not a number, so it is skipped with any malformed line.
    let ids: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    ensure!(!ids.is_empty(), "{} holds no product", path.display());
    Ok(ids)
}

fn http_get(addr: SocketAddr, id: u32) -> Vec<u8> {
    format!("GET /users/{id}/recommendations HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// Reads of one customer's list, the customer drawn uniformly by each connection's generator.
struct Reads {
    /// Encoded requests by customer index.
    requests: Vec<Vec<u8>>,
}

impl Reads {
    fn new(protocol: Protocol, addr: SocketAddr) -> Self {
        let requests = (1..=CUSTOMERS)
            .map(|id| match protocol {
                Protocol::Http => http_get(addr, id),
                Protocol::Resp => resp_command(&[b"GET", format!("{RECS_KEY}{id}").as_bytes()]),
            })
            .collect();
        Self { requests }
    }
}

impl Workload for Reads {
    fn request(&self, _: usize, _: u64, rng: &mut Xoshiro256PlusPlus) -> Request<'_> {
        let i = rng.random_range(0..self.requests.len());
        Request {
            bytes: Cow::Borrowed(&self.requests[i]),
        }
    }

    fn judge(&self, reply: &Reply) -> Verdict {
        match reply {
            Reply::Http(r) if r.status == 200 => Verdict::Ok {
                accepted: 1,
                rejected: 0,
            },
            Reply::Resp(RespReply::Bulk(Some(_))) => Verdict::Ok {
                accepted: 1,
                rejected: 0,
            },
            other => Verdict::Error(describe(other)),
        }
    }
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Http(r) => format!(
            "HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
        ),
        Reply::Resp(RespReply::Bulk(None)) => "Redis: no such key".to_owned(),
        Reply::Resp(RespReply::Bulk(Some(b))) => format!("Redis: {} bytes", b.len()),
        Reply::Resp(other) => format!("Redis: {other:?}"),
    }
}

/// Batches of click events, one browser session of one customer per request, as the tracker
/// sends them.
struct Ingest {
    protocol: Protocol,
    addr: SocketAddr,
    batch: usize,
    products: Vec<u32>,
    /// Unique to the run: every session id starts with it, so the run's events can be counted.
    prefix: String,
    shards: usize,
}

/// The counts of a 202.
#[derive(Deserialize)]
struct Accepted {
    accepted: u64,
    rejected: u64,
}

impl Ingest {
    fn events(&self, user: u32, session: &str, rng: &mut Xoshiro256PlusPlus) -> Vec<String> {
        let device = if rng.random_range(0..2) == 0 {
            "desktop"
        } else {
            "mobile"
        };
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, false);
        let total: u32 = EVENT_TYPES.iter().map(|(_, w)| w).sum();
        (0..self.batch)
            .map(|_| {
                let mut pick = rng.random_range(0..total);
                let mut kind = EVENT_TYPES[0].0;
                for (k, w) in EVENT_TYPES {
                    if pick < w {
                        kind = k;
                        break;
                    }
                    pick -= w;
                }
                let mut ev = json!({
                    "event_id": uuid::Uuid::new_v4().to_string(),
                    "event_type": kind,
                    "user_id": user,
                    "session_id": session,
                    "occurred_at": now,
                    "device": device,
                    "schema_version": 1,
                });
                if kind != "page_view" {
                    ev["product_id"] =
                        json!(self.products[rng.random_range(0..self.products.len())]);
                }
                ev.to_string()
            })
            .collect()
    }
}

impl Workload for Ingest {
    fn request(&self, conn: usize, k: u64, rng: &mut Xoshiro256PlusPlus) -> Request<'_> {
        let user = rng.random_range(1..=CUSTOMERS);
        let session = format!("{}-{conn}-{k}", self.prefix);
        let events = self.events(user, &session, rng);
        let bytes = match self.protocol {
            Protocol::Http => {
                let body = format!("[{}]", events.join(","));
                format!(
                    "POST /events HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    self.addr,
                    body.len()
                )
                .into_bytes()
            }
            Protocol::Resp => {
                // The API's partition key is the customer id; Redis gets the same sharding.
                let key = format!(
                    "{CLICKS_KEY}{}",
                    shard_for_key(&user.to_string(), self.shards)
                );
                let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
                args.extend(events.iter().map(String::as_bytes));
                resp_command(&args)
            }
        };
        Request {
            bytes: Cow::Owned(bytes),
        }
    }

    fn judge(&self, reply: &Reply) -> Verdict {
        match reply {
            Reply::Http(r) if r.status == 202 => {
                match serde_json::from_slice::<Accepted>(&r.body) {
                    Ok(a) => Verdict::Ok {
                        accepted: a.accepted,
                        rejected: a.rejected,
                    },
                    Err(e) => Verdict::Error(format!("202 with an unreadable body: {e}")),
                }
            }
            Reply::Http(r) if r.status == 503 => {
                Verdict::RetryAfter(Duration::from_secs(r.retry_after.unwrap_or(1)))
            }
            Reply::Resp(RespReply::Integer(_)) => Verdict::Ok {
                accepted: self.batch as u64,
                rejected: 0,
            },
            other => Verdict::Error(describe(other)),
        }
    }
}

/// Samples a process's resident memory (`VmRSS`) every second on its own thread.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut samples = Vec::new();
            loop {
                if let Some(kib) = rss_kib(pid) {
                    samples.push((t0.elapsed().as_secs_f64(), kib));
                }
                if flag.load(Ordering::Relaxed) {
                    return samples;
                }
                let next = t0 + Duration::from_secs(samples.len() as u64);
                while Instant::now() < next && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Self { stop, handle }
    }

    fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Start, peak and end RSS of a run, and whether it stayed bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RssSummary {
    start_mib: f64,
    peak_mib: f64,
    end_mib: f64,
    first_half_peak_mib: f64,
    tail_peak_mib: f64,
}

impl RssSummary {
    fn of(samples: &[(f64, u64)], secs: f64) -> Option<Self> {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let peak = |f: &dyn Fn(f64) -> bool| {
            samples
                .iter()
                .filter(|(t, _)| f(*t))
                .map(|&(_, k)| mib(k))
                .fold(0.0, f64::max)
        };
        Some(Self {
            start_mib: mib(samples.first()?.1),
            peak_mib: peak(&|_| true),
            end_mib: mib(samples.last()?.1),
            first_half_peak_mib: peak(&|t| t < secs / 2.0),
            tail_peak_mib: peak(&|t| t >= secs - RSS_TAIL_SECS),
        })
    }

    fn bounded(&self) -> bool {
        self.tail_peak_mib <= self.first_half_peak_mib * RSS_SLACK
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Records of the run (session id starting with `prefix`) on the stream, and all records.
async fn count_on_stream(path: &Path, prefix: &str) -> anyhow::Result<(u64, u64)> {
    #[derive(Deserialize)]
    struct Session {
        session_id: String,
    }
    let log = SqliteStreamLog::open(path, DEFAULT_SHARDS, Arc::new(SystemClock))
        .await
        .with_context(|| format!("failed to open the stream {}", path.display()))?;
    let (mut ours, mut all) = (0, 0);
    for shard in log.shards().await.context("failed to list shards")? {
        let mut after = None;
        loop {
            let records = log
                .read(&shard, after, COUNT_PAGE)
                .await
                .with_context(|| format!("failed to read shard {shard}"))?;
            let Some(last) = records.last() else {
                break;
            };
            after = Some(last.sequence_number.clone());
            all += records.len() as u64;
            ours += records
                .iter()
                .filter(|r| {
                    serde_json::from_slice::<Session>(&r.data)
                        .is_ok_and(|s| s.session_id.starts_with(prefix))
                })
                .count() as u64;
        }
    }
    Ok((ours, all))
}

async fn redis_command(redis: SocketAddr, args: &[&[u8]]) -> anyhow::Result<RespReply> {
    let mut conn = Conn::connect(redis, Protocol::Resp)
        .await
        .context("failed to connect to Redis")?;
    match conn
        .round_trip(&resp_command(args))
        .await
        .context("Redis command failed")?
    {
        Reply::Resp(r) => Ok(r),
        Reply::Http(_) => bail!("Redis answered HTTP"),
    }
}

/// Events held in the `clicks:*` lists.
async fn count_in_lists(redis: SocketAddr, shards: usize) -> anyhow::Result<u64> {
    let mut n = 0;
    for s in 0..shards {
        let key = format!("{CLICKS_KEY}{s}");
        match redis_command(redis, &[b"LLEN", key.as_bytes()]).await? {
            RespReply::Integer(len) => n += u64::try_from(len).unwrap_or(0),
            other => bail!("LLEN {key} answered {other:?}"),
        }
    }
    Ok(n)
}

/// One ingest run and what was checked after it.
struct IngestRun {
    result: LoadResult,
    found: u64,
    /// Where they were found, for the report.
    found_where: String,
    rss: Option<RssSummary>,
    /// CPU the server used during the run, in cores.
    server_cores: f64,
}

/// Waits before each run until the machine is idle, and remembers how long it waited and which
/// runs started on a busy machine anyway. Work left over from the previous run (the kernel
/// writing back the stream's pages after an ingest, the server finishing its backlog) would
/// otherwise be charged to the next peer.
#[derive(Default)]
struct Settle {
    waited: Duration,
    busy_starts: Vec<(String, f64)>,
}

impl Settle {
    /// Busy cores over one second below which the machine counts as idle.
    const IDLE_CORES: f64 = 0.15;
    /// Longest wait before a run starts anyway.
    const MAX_WAIT: Duration = Duration::from_secs(120);

    async fn wait(&mut self, label: &str) {
        let started = Instant::now();
        loop {
            let before = load::machine_busy_secs();
            let t = Instant::now();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let busy = match (before, load::machine_busy_secs()) {
                (Some(a), Some(b)) => (b.0 - a.0) / t.elapsed().as_secs_f64(),
                // Without /proc/stat there is nothing to wait for.
                _ => 0.0,
            };
            if busy < Self::IDLE_CORES {
                break;
            }
            if started.elapsed() >= Self::MAX_WAIT {
                eprintln!("{label}: the machine is still busy ({busy:.2} cores); starting anyway");
                self.busy_starts.push((label.to_owned(), busy));
                break;
            }
        }
        self.waited += started.elapsed();
    }
}

/// One measured read run.
struct ReadRun {
    run: usize,
    peer: &'static str,
    result: LoadResult,
    /// CPU the server used during the run, in cores.
    server_cores: f64,
}

/// CPU `pid` used since `before` over the run's wall time, in cores.
fn cores_used(pid: u32, before: Option<f64>, run: &LoadResult) -> f64 {
    match (before, load::cpu_secs(pid)) {
        (Some(a), Some(b)) => (b - a) / run.wall.as_secs_f64().max(1e-9),
        _ => f64::NAN,
    }
}

/// Median and range of one figure over runs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => f64::midpoint(v[n / 2 - 1], v[n / 2]),
        };
        Self {
            median,
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }

    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

fn valid(r: &LoadResult, rate: f64) -> bool {
    r.achieved_rate() >= VALID_SHARE * rate
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
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

struct Report<'a> {
    args: &'a Args,
    api_version: Option<&'a str>,
    redis_version: &'a str,
    bodies: &'a [Vec<u8>],
    products: usize,
    shards: usize,
    reads: &'a [ReadRun],
    ingests: &'a [(&'static str, IngestRun)],
    load_before: f64,
    load_after: f64,
    settle: &'a Settle,
}

fn report(r: &Report<'_>) -> String {
    let a = r.args;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "## HTTP API under open-loop load, next to Redis\n\n\
         `cargo run --release -p fashion-bench --bin api_load --{}{}` — {}. ",
        if command.is_empty() { "" } else { " " },
        command.join(" "),
        machine()
    );
    match r.api_version {
        Some(v) => {
            let _ = write!(
                out,
                "Peers: `fashion serve` ({v}, release build) on a `fashion demo` data directory (7 days, \
                 {CUSTOMERS} customers, {} products), and `redis-server` ({}, Debian; `--save '' \
                 --appendonly no`, so in memory only) loaded with the API's own answers, so both send \
                 identical bytes. ",
                r.products, r.redis_version
            );
        }
        None => {
            let _ = write!(
                out,
                "**Redis only** (`--redis-only`): `redis-server` ({}, Debian; `--save '' --appendonly \
                 no`) with synthetic lists of the API's shape. ",
                r.redis_version
            );
        }
    }
    let _ = write!(
        out,
        "Generator: open loop, {conns} persistent connections per peer on loopback, each on its own \
         fixed schedule (rate / {conns} requests per second, evenly spaced, the connections offset so \
         that all sends are evenly spaced) with one request in flight; a request's latency runs from \
         its *intended* send time to the end of its answer, so a stalled server is charged for every \
         request it delayed (the coordinated-omission correction of wrk2), recorded in an HDR \
         histogram in microseconds. The HTTP client is a minimal HTTP/1.1 keep-alive client \
         (Content-Length bodies), the Redis one speaks RESP; a non-success answer is an error. \
         The generator is one thread (a current-thread tokio runtime) that sleeps on tokio's \
         millisecond timer to within 1.5 ms of a send and spins for the rest, so sends leave on \
         time and answers are read as they arrive; it keeps one core busy (\"generator CPU\", in \
         cores), and the server under test has the other core of this {cores}-core machine \
         (\"server CPU\"; \"machine CPU\" is the busy time of the whole machine from \
         `/proc/stat`: both processes, the kernel's loopback work and anything else; \"steal\" is \
         time the hypervisor gave this VM's CPUs to others, during which nothing here ran). \
         \"Lateness\" is \
         how late the generator released a send (its own delay, part of every latency figure; a \
         connection still waiting for its previous answer is the server's delay, not counted \
         there). A run is invalid when it completed fewer than {:.0}% of the offered requests per \
         second.\n\n\
         Before each run the benchmark waited until the machine was idle (under {:.2} cores busy \
         over one second, at most {} s; {:.0} s in all{}). One-minute load average when the runs \
         started and ended: {:.2} and {:.2} ({cores} cores; the second figure includes the \
         benchmark itself).\n",
        VALID_SHARE * 100.0,
        Settle::IDLE_CORES,
        Settle::MAX_WAIT.as_secs(),
        r.settle.waited.as_secs_f64(),
        if r.settle.busy_starts.is_empty() {
            String::new()
        } else {
            format!(
                "; **started on a busy machine anyway**: {}",
                r.settle
                    .busy_starts
                    .iter()
                    .map(|(l, b)| format!("{l} ({b:.2} cores)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        r.load_before,
        r.load_after,
        conns = a.connections,
    );
    out.push_str(&report_reads(r));
    out.push_str(&report_ingest(r));
    out
}

fn report_reads(r: &Report<'_>) -> String {
    let a = r.args;
    let mut sizes: Vec<usize> = r.bodies.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let personal = r
        .bodies
        .iter()
        .filter(|b| {
            serde_json::from_slice::<serde_json::Value>(b).is_ok_and(|v| v["source"] == "personal")
        })
        .count();
    let mut out = format!(
        "\n### Reads: `GET /users/{{id}}/recommendations` vs Redis `GET recs:{{id}}`\n\n\
         {} requests/s offered to each peer for {} s per run; {} runs per peer after one warm-up run \
         of each, alternating peers. Customer ids uniform over 1..={CUSTOMERS} (seeded; the same \
         sequence for both peers within a run). {personal} customers have a personal list, {} get \
         the fallback list; bodies {}–{} bytes (median {}). Cells: median over the runs (min–max), \
         latencies in ms.\n\n\
         | peer | p50 | p99 | p99.9 | max | achieved req/s | errors | unsent | lateness p99 | server CPU | generator CPU | machine CPU | steal | valid runs |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        a.rate,
        a.duration_secs,
        a.runs,
        r.bodies.len() - personal,
        sizes.first().copied().unwrap_or(0),
        sizes.last().copied().unwrap_or(0),
        sizes.get(sizes.len() / 2).copied().unwrap_or(0),
    );
    let rate = f64::from(a.rate);
    let mut api_p99 = None;
    let mut api_all_valid = false;
    for name in ["API", "Redis"] {
        let server_cores = Spread::of(
            &r.reads
                .iter()
                .filter(|x| x.peer == name)
                .map(|x| x.server_cores)
                .collect::<Vec<_>>(),
        );
        let runs: Vec<&LoadResult> = r
            .reads
            .iter()
            .filter(|x| x.peer == name)
            .map(|x| &x.result)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let spread = |f: &dyn Fn(&LoadResult) -> f64| {
            Spread::of(&runs.iter().map(|x| f(x)).collect::<Vec<_>>())
        };
        let p99 = spread(&|x| x.ms(0.99));
        let valid_runs = runs.iter().filter(|x| valid(x, rate)).count();
        if name == "API" {
            api_p99 = Some(p99);
            api_all_valid = valid_runs == runs.len();
        }
        let label = if name == "API" {
            "API `GET /users/{id}/recommendations`"
        } else {
            "Redis `GET recs:{id}`"
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {valid_runs}/{} |",
            spread(&|x| x.ms(0.5)).show(3),
            p99.show(3),
            spread(&|x| x.ms(0.999)).show(3),
            spread(&LoadResult::max_ms).show(3),
            spread(&LoadResult::achieved_rate).show(0),
            runs.iter().map(|x| x.errors).sum::<u64>(),
            runs.iter().map(|x| x.unsent).sum::<u64>(),
            spread(&|x| x.lateness.value_at_quantile(0.99) as f64 / 1000.0).show(3),
            server_cores.show(2),
            spread(&|x| x.generator_cores).show(2),
            spread(&|x| x.machine_cores).show(2),
            spread(&|x| x.steal_cores).show(2),
            runs.len(),
        );
    }
    out.push_str(
        "\n<details><summary>Every run</summary>\n\n\
         | run | peer | p50 | p99 | p99.9 | max | achieved req/s | errors | lateness p99 | server CPU | generator CPU | machine CPU | steal |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for rr in r.reads {
        let x = &rr.result;
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0}{} | {} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
            rr.run,
            rr.peer,
            x.ms(0.5),
            x.ms(0.99),
            x.ms(0.999),
            x.max_ms(),
            x.achieved_rate(),
            if valid(x, rate) { "" } else { " (invalid)" },
            x.errors,
            x.lateness.value_at_quantile(0.99) as f64 / 1000.0,
            rr.server_cores,
            x.generator_cores,
            x.machine_cores,
            x.steal_cores,
        );
    }
    out.push_str("\n</details>\n\n");
    let errors: Vec<&String> = r
        .reads
        .iter()
        .flat_map(|x| &x.result.error_samples)
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "Errors seen (samples): {errors:?}.\n");
    }
    match api_p99 {
        None => {
            out.push_str("- API reads p99 ≤ 1 ms at 20 000 req/s: not measured (Redis only).\n");
        }
        Some(_) if a.rate != READ_TARGET_RATE => {
            let _ = writeln!(
                out,
                "- API reads p99 ≤ 1 ms at 20 000 req/s: not measured (this run offered {} req/s).",
                a.rate
            );
        }
        Some(p99) => {
            let ok = p99.max <= READ_TARGET_P99_MS && api_all_valid;
            let _ = writeln!(
                out,
                "- API reads p99 ≤ {READ_TARGET_P99_MS} ms at {READ_TARGET_RATE} req/s (every run's p99 \
                 within it, every run valid): {} (p99 {:.3}–{:.3} ms over the runs{}).",
                met(ok),
                p99.min,
                p99.max,
                if api_all_valid {
                    ""
                } else {
                    "; some runs did not reach 95% of the offered rate"
                }
            );
        }
    }
    out
}

fn report_ingest(r: &Report<'_>) -> String {
    let a = r.args;
    let batch = a.ingest_batch.max(1);
    let mut out = format!(
        "\n### Ingest: `POST /events` vs Redis `RPUSH clicks:{{shard}}`\n\n\
         {} events/s offered to each peer for {} s, one run per peer (a minute each is long; the \
         API first, then Redis), in requests of {batch} events ({:.0} requests/s; the browser \
         tracker batches up to {TRACKER_MAX_BATCH}). A request is one browser session of one \
         customer (uniform over 1..={CUSTOMERS}): a unique `event_id` (UUID v4) per event, a \
         session id unique to the run, device desktop or mobile, event types product_view 45% / \
         click 20% / page_view 20% (no product) / add_to_cart 10% / remove_from_cart 5%, product \
         ids uniform over the catalog's {}. The API gets the JSON array as `application/json`; \
         Redis gets one `RPUSH` of the same events per request onto one of {} lists keyed by \
         customer like the stream's shards. A 503 is re-sent after its `Retry-After` (at most 5 \
         times, at most 5 s each; its wait counts in the latency). Afterwards the run's events \
         are counted on the API's stream (`stream.db`, by session id prefix) and in Redis's lists \
         (`LLEN`); the server's RSS (`VmRSS`) was sampled every second.\n\n\
         | peer | requests ok | events accepted | rejected | achieved events/s | lowest 1-s events/s | p50 | p99 | p99.9 | max | 503s | errors | unsent |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        a.ingest_rate,
        a.ingest_secs,
        f64::from(a.ingest_rate) / batch as f64,
        r.products,
        r.shards,
    );
    for (name, run) in r.ingests {
        let x = &run.result;
        let full = usize::try_from(a.ingest_secs).unwrap_or(0);
        let lowest = x
            .accepted_per_second
            .iter()
            .take(full)
            .min()
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {:.0} | {lowest} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            x.ok,
            x.accepted,
            x.rejected,
            x.accepted_rate(),
            x.ms(0.5),
            x.ms(0.99),
            x.ms(0.999),
            x.max_ms(),
            x.unavailable,
            x.errors,
            x.unsent,
        );
    }
    out.push_str(
        "\n| peer | events accepted | found afterwards | RSS start / peak / end MiB | peak first half / last 10 s MiB | server CPU | generator CPU | machine CPU | steal | lateness p99 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, run) in r.ingests {
        let rss = run.rss.map_or_else(
            || ("not sampled".to_owned(), String::new()),
            |s| {
                (
                    format!("{:.1} / {:.1} / {:.1}", s.start_mib, s.peak_mib, s.end_mib),
                    format!("{:.1} / {:.1}", s.first_half_peak_mib, s.tail_peak_mib),
                )
            },
        );
        let _ = writeln!(
            out,
            "| {name} | {} | {} {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} |",
            run.result.accepted,
            run.found,
            run.found_where,
            rss.0,
            rss.1,
            run.server_cores,
            run.result.generator_cores,
            run.result.machine_cores,
            run.result.steal_cores,
            run.result.lateness.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    let errors: Vec<&String> = r
        .ingests
        .iter()
        .flat_map(|(_, run)| &run.result.error_samples)
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors seen (samples): {errors:?}.");
    }
    out.push('\n');
    if let Some((_, run)) = r.ingests.iter().find(|(n, _)| *n == "API") {
        let x = &run.result;
        if a.ingest_rate == INGEST_TARGET_RATE && a.ingest_secs >= INGEST_TARGET_SECS {
            let _ = writeln!(
                out,
                "- At least {INGEST_TARGET_RATE} events/s sustained for {INGEST_TARGET_SECS} s (accepted \
                 events per second over the run at least 95% of the offered rate): {} ({:.0} events/s; \
                 lowest one-second window {}).",
                met(x.accepted_rate() >= VALID_SHARE * f64::from(INGEST_TARGET_RATE)),
                x.accepted_rate(),
                x.accepted_per_second
                    .iter()
                    .take(usize::try_from(a.ingest_secs).unwrap_or(0))
                    .min()
                    .copied()
                    .unwrap_or(0),
            );
        } else {
            let _ = writeln!(
                out,
                "- At least {INGEST_TARGET_RATE} events/s sustained for {INGEST_TARGET_SECS} s: not \
                 measured (this run offered {} events/s for {} s).",
                a.ingest_rate, a.ingest_secs
            );
        }
        let _ = writeln!(
            out,
            "- Every accepted event on the stream: {} ({} accepted, {} on the stream{}).",
            met(run.found == x.accepted),
            x.accepted,
            run.found,
            if run.found > x.accepted {
                "; more than accepted means requests that timed out on the client were stored"
            } else {
                ""
            }
        );
        match run.rss {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "- Bounded memory (RSS of the last {RSS_TAIL_SECS:.0} s at most {:.0}% above the peak of \
                     the first half): {} (peak {:.1} MiB; first half {:.1} MiB, last {RSS_TAIL_SECS:.0} s \
                     {:.1} MiB).",
                    (RSS_SLACK - 1.0) * 100.0,
                    met(s.bounded()),
                    s.peak_mib,
                    s.first_half_peak_mib,
                    s.tail_peak_mib
                );
            }
            None => out.push_str("- Bounded memory: not measured (no RSS samples).\n"),
        }
    } else {
        out.push_str("- Ingest targets: not measured (Redis only).\n");
    }
    if r.ingests.iter().any(|(n, _)| *n == "Redis") {
        out.push_str(
            "\nRedis keeps every event in memory (no persistence here), so its RSS grows with the \
             events it holds; the memory rule applies to the API, whose stream is on disk.\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
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
