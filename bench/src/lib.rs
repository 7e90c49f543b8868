//! Helpers shared by the benchmark binaries: timing, machine description, an open-loop load
//! generator ([`load`]), and writing a section of `docs/BENCHMARKS.md` between markers so each
//! benchmark owns its part of the file.

pub mod load;

use std::path::{Path, PathBuf};
use std::time::Instant;

/// The repository root (this crate lives in `<root>/bench`).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The spread of a figure over runs: median, lowest and highest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The lowest.
    pub min: f64,
    /// The highest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (at least one).
    #[must_use]
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
        let median = if n % 2 == 1 {
            at(n / 2)
        } else {
            f64::midpoint(at((n / 2).saturating_sub(1)), at(n / 2))
        };
        Self {
            median,
            min: at(0),
            max: at(n.saturating_sub(1)),
        }
    }

    /// A rate `count / x` for each run: the slowest run gives the lowest rate.
    #[must_use]
    pub fn per(self, count: f64) -> Self {
        Self {
            median: count / self.median,
            min: count / self.max,
            max: count / self.min,
        }
    }

    /// `median (min–max)` with `decimals` decimals.
    #[must_use]
    pub fn show(&self, decimals: usize) -> String {
        format!(
            "{:.decimals$} ({:.decimals$}–{:.decimals$})",
            self.median, self.min, self.max
        )
    }
}

/// Runs `f` `warmups` times untimed, then `runs` times timed: the spread of the wall times in
/// seconds, with the last result.
pub fn timed<T>(warmups: usize, runs: usize, mut f: impl FnMut() -> T) -> (Spread, T) {
    for _ in 0..warmups {
        let _ = f();
    }
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    (
        Spread::of(times),
        last.unwrap_or_else(|| unreachable!("runs is at least one")),
    )
}

/// Runs `f` `runs` times and returns the median wall time in seconds, with the last result.
pub fn median_secs<T>(runs: usize, f: impl FnMut() -> T) -> (f64, T) {
    let (spread, last) = timed(0, runs, f);
    (spread.median, last)
}

/// The load averages over 1, 5 and 15 minutes, as `/proc/loadavg` gives them.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The value after the command-line flag `name`, parsed, or `default`.
#[must_use]
pub fn arg(name: &str, default: u32) -> u32 {
    arg_text(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value after the command-line flag `name`, if given.
#[must_use]
pub fn arg_text(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

/// One line describing the machine (CPU model and count), for the figures' context.
#[must_use]
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    format!("{cores} cores, {cpu}")
}

/// Replaces (or appends) the section `name` of `docs/BENCHMARKS.md` with `body`.
///
/// # Errors
/// When the file cannot be read or written.
pub fn write_section(name: &str, body: &str) -> std::io::Result<PathBuf> {
    let path = repo_root().join("docs").join("BENCHMARKS.md");
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nFigures written by the benchmark programs, each next to its peer measured in the same run.\n"
            .to_owned()
    });
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let section = format!("{start}\n{}\n{end}", body.trim_end());
    match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if b > a => text.replace_range(a..b + end.len(), &section),
        _ => {
            text.push('\n');
            text.push_str(&section);
            text.push('\n');
        }
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The commit the benchmark ran at.
#[must_use]
pub fn git_head() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "an unknown commit".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// Runs a peer or harness (`command`, which prints one JSON object on its standard output) and
/// parses what it printed; `what` names it in errors, with its standard error.
///
/// # Errors
/// When it cannot be started, fails, or prints something else.
pub fn peer_output(
    command: &mut std::process::Command,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context as _;
    let out = command
        .output()
        .with_context(|| format!("failed to run {what}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what}'s output"))
}
