//! The two peers as processes: the API (`fashion serve` over a demo data directory) and Redis,
//! started on loopback ports and stopped by their process ids.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use fashion_bench::load::{Conn, Protocol, Reply, RespReply, resp_command};

use super::{START_TIMEOUT, STOP_TIMEOUT};

/// A server process, stopped by pid when dropped (also when the benchmark fails).
pub(super) struct Server {
    pub(super) name: &'static str,
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
}

impl Server {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn exited(&mut self) -> bool {
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
pub(super) fn prepare_data(fashion: &Path, dir: &Path) -> anyhow::Result<()> {
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
pub(super) fn start_api(fashion: &Path, data_dir: &Path, work: &Path) -> anyhow::Result<Server> {
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
pub(super) async fn start_redis(bin: &Path, work: &Path) -> anyhow::Result<Server> {
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
pub(super) fn version_of(bin: &Path) -> String {
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
