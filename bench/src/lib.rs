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

/// Runs `f` `runs` times and returns the median wall time in seconds, with the last result.
pub fn median_secs<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    (
        median,
        last.unwrap_or_else(|| unreachable!("runs is at least one")),
    )
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
