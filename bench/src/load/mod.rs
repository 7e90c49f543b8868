//! An open-loop load generator over persistent loopback connections, with the two minimal clients
//! it speaks: HTTP/1.1 keep-alive (Content-Length bodies only) and Redis RESP.
//!
//! Each connection sends on its own fixed schedule (evenly spaced, one request in flight), and a
//! request's latency runs from its *intended* send time to the end of its answer, so a server that
//! stalls is charged for every request it delayed (the coordinated-omission correction wrk2 makes).
//! Everything runs on the caller's thread: call [`run`] inside a [`tokio::task::LocalSet`] of a
//! current-thread runtime.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use tokio::sync::Semaphore;

mod wire;

pub use wire::{Conn, HttpResponse, Protocol, Reply, RespReply, resp_command};

/// An attempt that takes longer than this is an error, and its connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After the last intended send time, connections that fell behind may still send their overdue
/// requests for this long; what is left then is counted as not sent.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// The pacer sleeps on tokio's (millisecond) timer until this long before a send, then spins.
const SPIN_WINDOW: Duration = Duration::from_micros(1_500);
/// A request refused with 503 is re-sent at most this many times.
const MAX_RETRIES: u32 = 5;
/// `Retry-After` is obeyed up to this long (a bad header must not stall a run).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Latencies are recorded in microseconds up to one minute.
const MAX_MICROS: u64 = 60_000_000;
/// Error messages kept for the report.
const ERROR_SAMPLES: usize = 5;

/// One request of a workload, encoded for the wire.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The bytes to write.
    pub bytes: Cow<'a, [u8]>,
}

/// How a workload judges an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Done; `events` items were accepted (1 for a read).
    Ok {
        /// Items the peer took (events for ingest, 1 for a read).
        accepted: u64,
        /// Items the peer refused while answering success.
        rejected: u64,
    },
    /// The peer is saturated: re-send the same request after this long.
    RetryAfter(Duration),
    /// A failed request.
    Error(String),
}

/// What the generator sends on each connection, and how it reads the answers.
pub trait Workload {
    /// Request number `k` of connection `conn`; `rng` is the connection's own seeded generator.
    fn request(&self, conn: usize, k: u64, rng: &mut Xoshiro256PlusPlus) -> Request<'_>;
    /// Whether `reply` is a success.
    fn judge(&self, reply: &Reply) -> Verdict;
}

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Requests per second over all connections.
    pub rate: f64,
    /// Length of the schedule.
    pub duration: Duration,
    /// Persistent connections, each with `rate / connections` requests per second.
    pub connections: usize,
    /// Seeds each connection's generator (`seed + connection index`).
    pub seed: u64,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Successful requests, microseconds from intended send time to the end of the answer.
    pub latency: Histogram<u64>,
    /// How late the generator released each send, microseconds: its own share of `latency`
    /// (a connection still waiting for its previous answer is the server's share, not counted).
    pub lateness: Histogram<u64>,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed (bad status, IO error, timeout, or still refused after retries).
    pub errors: u64,
    /// Requests due before the end that were not sent by the end of the drain grace.
    pub unsent: u64,
    /// Items accepted over all successful requests.
    pub accepted: u64,
    /// Items refused inside successful answers.
    pub rejected: u64,
    /// 503 answers seen (each followed by a re-send, or by giving up after [`MAX_RETRIES`]).
    pub unavailable: u64,
    /// Accepted items per second of completion time.
    pub accepted_per_second: Vec<u64>,
    /// From the start of the schedule to the last answer.
    pub wall: Duration,
    /// A few error messages, for the report.
    pub error_samples: Vec<String>,
    /// CPU the generator's process used during the run, in cores (1.0 = one core busy).
    pub generator_cores: f64,
    /// CPU the whole machine used during the run, in cores.
    pub machine_cores: f64,
    /// Of `machine_cores`, the time the hypervisor ran something else on our CPUs.
    pub steal_cores: f64,
}

impl LoadResult {
    fn new(secs: usize) -> anyhow::Result<Self> {
        Ok(Self {
            latency: histogram()?,
            lateness: histogram()?,
            ok: 0,
            errors: 0,
            unsent: 0,
            accepted: 0,
            rejected: 0,
            unavailable: 0,
            accepted_per_second: vec![0; secs + 1],
            wall: Duration::ZERO,
            error_samples: Vec::new(),
            generator_cores: 0.0,
            machine_cores: 0.0,
            steal_cores: 0.0,
        })
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latency
            .add(&other.latency)
            .context("failed to merge latencies")?;
        self.lateness
            .add(&other.lateness)
            .context("failed to merge lateness")?;
        self.ok += other.ok;
        self.errors += other.errors;
        self.unsent += other.unsent;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.unavailable += other.unavailable;
        if self.accepted_per_second.len() < other.accepted_per_second.len() {
            self.accepted_per_second
                .resize(other.accepted_per_second.len(), 0);
        }
        for (a, b) in self
            .accepted_per_second
            .iter_mut()
            .zip(&other.accepted_per_second)
        {
            *a += b;
        }
        self.wall = self.wall.max(other.wall);
        for e in &other.error_samples {
            if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(e) {
                self.error_samples.push(e.clone());
            }
        }
        Ok(())
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&message) {
            self.error_samples.push(message);
        }
    }

    /// Successful requests per second of wall time.
    #[must_use]
    pub fn achieved_rate(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Accepted items per second of wall time.
    #[must_use]
    pub fn accepted_rate(&self) -> f64 {
        self.accepted as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Latency quantile `q` in milliseconds.
    #[must_use]
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Largest latency in milliseconds.
    #[must_use]
    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).context("failed to make a histogram")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
#[must_use]
pub fn cpu_secs(pid: u32) -> Option<f64> {
    // Linux reports these in clock ticks, 100 per second on every architecture we run on
    // (reading `CLK_TCK` would need libc).
    const TICKS_PER_SEC: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields that follow it do not. utime and stime are
    // fields 14 and 15, the 12th and 13th after the name.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// The intended send time of send number `j` over all connections.
fn intended(start: Instant, rate: f64, j: u64) -> Instant {
    start + Duration::from_secs_f64(j as f64 / rate)
}

/// Busy CPU time of the whole machine so far (user, system, interrupts, steal) and, within it,
/// the time the hypervisor gave the machine's CPUs to others (steal), from `/proc/stat`.
#[must_use]
pub fn machine_busy_secs() -> Option<(f64, f64)> {
    const TICKS_PER_SEC: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal …: everything but idle and iowait.
    let busy: f64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    let steal = fields.get(7).copied().unwrap_or(0.0);
    Some((busy / TICKS_PER_SEC, steal / TICKS_PER_SEC))
}

/// Releases the sends at their intended times: send `j` goes to connection `j % connections`.
///
/// tokio's timer has millisecond resolution and rounds deadlines up, which would make sends up
/// to 1 ms late and charge that to the server; so this task sleeps on the timer only until
/// [`SPIN_WINDOW`] before a send and yields in a loop for the rest. At the rates measured here
/// the sends are less than that apart, so the generator's thread never sleeps: it keeps one core
/// busy, and answers are read the moment they arrive (tokio polls its IO driver before resuming
/// a task that yielded). A pacer thread that sleeps between sends was tried: every request then
/// needed extra cross-CPU wake-ups, which on this VM added about 0.2 ms to Redis's median.
async fn pace(
    start: Instant,
    rate: f64,
    total: u64,
    gates: Vec<Rc<Semaphore>>,
    mut lateness: Histogram<u64>,
) -> Histogram<u64> {
    let n = gates.len() as u64;
    for j in 0..total {
        let t = intended(start, rate, j);
        if let Some(early) = t.checked_sub(SPIN_WINDOW)
            && early > Instant::now()
        {
            tokio::time::sleep_until(tokio::time::Instant::from_std(early)).await;
        }
        while Instant::now() < t {
            tokio::task::yield_now().await;
        }
        lateness.saturating_record(micros(t.elapsed()));
        if let Some(gate) = usize::try_from(j % n).ok().and_then(|i| gates.get(i)) {
            gate.add_permits(1);
        }
    }
    lateness
}

/// Runs `plan` against `addr`: connects every connection first (connecting is not measured),
/// then drives them on their schedules and merges what they measured. Must run inside a
/// [`tokio::task::LocalSet`].
///
/// # Errors
/// When a connection cannot be made before the start.
pub async fn run<W: Workload + 'static>(
    addr: SocketAddr,
    protocol: Protocol,
    workload: Rc<W>,
    plan: LoadPlan,
) -> anyhow::Result<LoadResult> {
    let connections = plan.connections.max(1);
    let rate = plan.rate.max(1e-3);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(
            Conn::connect(addr, protocol)
                .await
                .with_context(|| format!("failed to connect to {addr}"))?,
        );
    }
    // Sends are evenly spaced at 1 / rate over all connections; connection i makes sends i,
    // i + n, i + 2n…, so each connection's own sends are evenly spaced at n / rate.
    let total = (plan.duration.as_secs_f64() * rate).ceil() as u64;
    let gates: Vec<Rc<Semaphore>> = (0..connections)
        .map(|_| Rc::new(Semaphore::new(0)))
        .collect();
    let cpu_before = cpu_secs(std::process::id());
    let machine_before = machine_busy_secs();
    // A short lead so that every task is spawned and waiting before the first send.
    let start = Instant::now() + Duration::from_millis(20);
    let secs = usize::try_from(plan.duration.as_secs()).unwrap_or(0) + 1;
    let mut tasks = Vec::with_capacity(connections);
    for (i, conn) in conns.into_iter().enumerate() {
        let n = connections as u64;
        let sends = total.saturating_sub(i as u64).div_ceil(n);
        let rng = Xoshiro256PlusPlus::seed_from_u64(plan.seed.wrapping_add(i as u64));
        let result = LoadResult::new(secs + DRAIN_GRACE.as_secs() as usize)?;
        let sched = Schedule {
            start,
            rate,
            end: start + plan.duration,
            index: i,
            connections: n,
            sends,
            gate: gates[i].clone(),
        };
        tasks.push(tokio::task::spawn_local(drive(
            conn,
            addr,
            protocol,
            workload.clone(),
            sched,
            rng,
            result,
        )));
    }
    let pacer = tokio::task::spawn_local(pace(start, rate, total, gates, histogram()?));
    let mut merged = LoadResult::new(secs)?;
    for t in tasks {
        let r = t.await.context("a connection's task failed")?;
        merged.merge(&r)?;
    }
    // Every task has had its last send released, so the pacer has finished.
    merged.lateness = pacer.await.context("the pacer failed")?;
    let wall = merged.wall.as_secs_f64().max(1e-9);
    if let (Some(a), Some(b)) = (cpu_before, cpu_secs(std::process::id())) {
        merged.generator_cores = (b - a) / wall;
    }
    if let (Some(a), Some(b)) = (machine_before, machine_busy_secs()) {
        merged.machine_cores = (b.0 - a.0) / wall;
        merged.steal_cores = (b.1 - a.1) / wall;
    }
    Ok(merged)
}

/// One connection's share of the schedule.
struct Schedule {
    start: Instant,
    rate: f64,
    end: Instant,
    index: usize,
    connections: u64,
    /// Sends this connection makes.
    sends: u64,
    /// One permit per send released by the pacer.
    gate: Rc<Semaphore>,
}

async fn drive<W: Workload>(
    conn: Conn,
    addr: SocketAddr,
    protocol: Protocol,
    workload: Rc<W>,
    sched: Schedule,
    mut rng: Xoshiro256PlusPlus,
    mut result: LoadResult,
) -> LoadResult {
    let mut conn = Some(conn);
    for k in 0..sched.sends {
        if Instant::now() >= sched.end + DRAIN_GRACE {
            // Behind schedule at the end: what is left was never sent.
            result.unsent += sched.sends - k;
            break;
        }
        let intended = intended(
            sched.start,
            sched.rate,
            k * sched.connections + sched.index as u64,
        );
        match sched.gate.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let request = workload.request(sched.index, k, &mut rng);
        let verdict = send_with_retries(&mut conn, addr, protocol, &request, &*workload).await;
        let done = Instant::now();
        match verdict {
            Ok((accepted, rejected, refusals)) => {
                result.unavailable += refusals;
                result.ok += 1;
                result.accepted += accepted;
                result.rejected += rejected;
                result
                    .latency
                    .saturating_record(micros(done.saturating_duration_since(intended)));
                let second = (done - sched.start).as_secs() as usize;
                if let Some(slot) = result.accepted_per_second.get_mut(second) {
                    *slot += accepted;
                }
            }
            Err((message, refusals)) => {
                result.unavailable += refusals;
                result.error(message);
            }
        }
        result.wall = result.wall.max(done - sched.start);
    }
    result
}

/// Sends `request`, re-sending it after a 503's `Retry-After` (bounded), and replacing the
/// connection after an IO error or timeout. Returns the accepted and refused items and the number
/// of 503s, or an error message and the number of 503s.
async fn send_with_retries<W: Workload>(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    protocol: Protocol,
    request: &Request<'_>,
    workload: &W,
) -> Result<(u64, u64, u64), (String, u64)> {
    let mut refusals = 0;
    loop {
        let c = match conn {
            Some(c) => c,
            None => match Conn::connect(addr, protocol).await {
                Ok(c) => conn.insert(c),
                Err(e) => return Err((format!("connect: {e}"), refusals)),
            },
        };
        let reply = match tokio::time::timeout(REQUEST_TIMEOUT, c.round_trip(&request.bytes)).await
        {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                *conn = None;
                return Err((format!("io: {e}"), refusals));
            }
            Err(_) => {
                *conn = None;
                return Err((format!("timeout after {REQUEST_TIMEOUT:?}"), refusals));
            }
        };
        if matches!(&reply, Reply::Http(r) if r.close) {
            *conn = None;
        }
        match workload.judge(&reply) {
            Verdict::Ok { accepted, rejected } => return Ok((accepted, rejected, refusals)),
            Verdict::Error(message) => return Err((message, refusals)),
            Verdict::RetryAfter(wait) => {
                refusals += 1;
                if refusals > u64::from(MAX_RETRIES) {
                    return Err((format!("still 503 after {MAX_RETRIES} re-sends"), refusals));
                }
                tokio::time::sleep(wait.min(MAX_RETRY_AFTER)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    struct Echo;
    impl Workload for Echo {
        fn request(&self, _: usize, _: u64, _: &mut Xoshiro256PlusPlus) -> Request<'_> {
            Request {
                bytes: Cow::Borrowed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            }
        }
        fn judge(&self, reply: &Reply) -> Verdict {
            match reply {
                Reply::Http(r) if r.status == 200 => Verdict::Ok {
                    accepted: 1,
                    rejected: 0,
                },
                _ => Verdict::Error("bad".into()),
            }
        }
    }

    #[test]
    fn the_generator_sends_on_schedule_against_a_keep_alive_server() {
        // Arrange: a server answering every request on every connection at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let result = local.block_on(&rt, async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::task::spawn_local(async move {
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    tokio::task::spawn_local(async move {
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            let answers = buf[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
                            for _ in 0..answers {
                                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                    .await
                                    .unwrap();
                            }
                        }
                    });
                }
            });

            // Act
            run(
                addr,
                Protocol::Http,
                Rc::new(Echo),
                LoadPlan {
                    rate: 2_000.0,
                    duration: Duration::from_millis(500),
                    connections: 4,
                    seed: 1,
                },
            )
            .await
            .unwrap()
        });

        // Assert: exactly the scheduled requests, all answered, none late by a timer tick.
        assert_eq!(result.ok, 1_000);
        assert_eq!((result.errors, result.unsent), (0, 0));
        assert!(
            result.achieved_rate() > 1_900.0,
            "{}",
            result.achieved_rate()
        );
        assert!(result.lateness.value_at_quantile(0.5) < 500);
    }
}
