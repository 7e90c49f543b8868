//! What a run is measured by: resident memory over time, CPU used, the machine's load, events
//! counted on the stream or in Redis, and the spread of repeated runs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fashion_bench::load::{self, Conn, LoadResult, Protocol, Reply, RespReply, resp_command};
use fashion_domain::ports::{ClickstreamSource, SystemClock};
use fashion_local::SqliteStreamLog;
use serde::Deserialize;

use super::{CLICKS_KEY, COUNT_PAGE, DEFAULT_SHARDS, RSS_SLACK, RSS_TAIL_SECS, VALID_SHARE};

/// Samples a process's resident memory (`VmRSS`) every second on its own thread.
pub(super) struct RssSampler {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) handle: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

pub(super) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl RssSampler {
    pub(super) fn start(pid: u32) -> Self {
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

    pub(super) fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// Start, peak and end RSS of a run, and whether it stayed bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RssSummary {
    pub(super) start_mib: f64,
    pub(super) peak_mib: f64,
    pub(super) end_mib: f64,
    pub(super) first_half_peak_mib: f64,
    pub(super) tail_peak_mib: f64,
}

impl RssSummary {
    pub(super) fn of(samples: &[(f64, u64)], secs: f64) -> Option<Self> {
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

    pub(super) fn bounded(&self) -> bool {
        self.tail_peak_mib <= self.first_half_peak_mib * RSS_SLACK
    }
}

pub(super) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Records of the run (session id starting with `prefix`) on the stream, and all records.
pub(super) async fn count_on_stream(path: &Path, prefix: &str) -> anyhow::Result<(u64, u64)> {
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

pub(super) async fn redis_command(redis: SocketAddr, args: &[&[u8]]) -> anyhow::Result<RespReply> {
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
pub(super) async fn count_in_lists(redis: SocketAddr, shards: usize) -> anyhow::Result<u64> {
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
pub(super) struct IngestRun {
    pub(super) result: LoadResult,
    pub(super) found: u64,
    /// Where they were found, for the report.
    pub(super) found_where: String,
    pub(super) rss: Option<RssSummary>,
    /// CPU the server used during the run, in cores.
    pub(super) server_cores: f64,
}

/// Waits before each run until the machine is idle, and remembers how long it waited and which
/// runs started on a busy machine anyway. Work left over from the previous run (the kernel
/// writing back the stream's pages after an ingest, the server finishing its backlog) would
/// otherwise be charged to the next peer.
#[derive(Default)]
pub(super) struct Settle {
    pub(super) waited: Duration,
    pub(super) busy_starts: Vec<(String, f64)>,
}

impl Settle {
    /// Busy cores over one second below which the machine counts as idle.
    pub(super) const IDLE_CORES: f64 = 0.15;
    /// Longest wait before a run starts anyway.
    pub(super) const MAX_WAIT: Duration = Duration::from_secs(120);

    pub(super) async fn wait(&mut self, label: &str) {
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
pub(super) struct ReadRun {
    pub(super) run: usize,
    pub(super) peer: &'static str,
    pub(super) result: LoadResult,
    /// CPU the server used during the run, in cores.
    pub(super) server_cores: f64,
}

/// CPU `pid` used since `before` over the run's wall time, in cores.
pub(super) fn cores_used(pid: u32, before: Option<f64>, run: &LoadResult) -> f64 {
    match (before, load::cpu_secs(pid)) {
        (Some(a), Some(b)) => (b - a) / run.wall.as_secs_f64().max(1e-9),
        _ => f64::NAN,
    }
}

/// Median and range of one figure over runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Spread {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Spread {
    pub(super) fn of(values: &[f64]) -> Self {
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

    pub(super) fn show(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

pub(super) fn valid(r: &LoadResult, rate: f64) -> bool {
    r.achieved_rate() >= VALID_SHARE * rate
}

pub(super) fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}
