//! A partition directory's files, rows and bytes at commit time, without reading every footer.
//!
//! Counting rows means reading Parquet footers; doing that for every file at every append makes
//! an hour of minute-by-minute appends cost the square of its files. So each partition keeps
//! `_sizes.json`, a cache of the row count of each file it has seen, keyed by name and checked
//! against the file's size and modification time. A commit lists the directory, takes the rows of
//! the file it just wrote from the writer, those of known files from the cache, and reads the
//! footer only of a file the cache does not know or that changed. The cache is rewritten whole
//! (temporary file, then rename), so a crash leaves the old cache or the new one; a stale or
//! missing cache costs footer reads, never a wrong count. Readers skip it: its name starts with
//! `_` and does not end in `.parquet`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// The cache's name inside a partition directory.
pub(super) const SIZES: &str = "_sizes.json";

/// What the cache remembers of one data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Known {
    rows: u64,
    bytes: u64,
    /// Modification time, nanoseconds since the epoch.
    modified_ns: u64,
}

/// A partition directory's totals, and how many footers were read to get them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct DirStats {
    pub(super) files: u64,
    pub(super) rows: u64,
    pub(super) bytes: u64,
    pub(super) footers_read: u64,
}

fn modified_ns(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn footer_rows(path: &Path) -> std::io::Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(File::open(path)?).map_err(std::io::Error::other)?;
    Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Counts the Parquet files of the partition directory `dir`, their rows and bytes, and updates
/// its cache. `written` names the file this commit wrote and its rows, known without a footer.
pub(super) fn dir_stats(dir: &Path, written: Option<(&str, u64)>) -> std::io::Result<DirStats> {
    let cache: BTreeMap<String, Known> = std::fs::read(dir.join(SIZES))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut seen = BTreeMap::new();
    let mut stats = DirStats::default();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".parquet") || name.starts_with('.') {
            continue;
        }
        let meta = e.metadata()?;
        let (bytes, modified_ns) = (meta.len(), modified_ns(&meta));
        let rows = match (written, cache.get(&name)) {
            (Some((w, rows)), _) if w == name => rows,
            (_, Some(k)) if k.bytes == bytes && k.modified_ns == modified_ns => k.rows,
            _ => {
                stats.footers_read = stats.footers_read.saturating_add(1);
                footer_rows(&e.path())?
            }
        };
        stats.files = stats.files.saturating_add(1);
        stats.rows = stats.rows.saturating_add(rows);
        stats.bytes = stats.bytes.saturating_add(bytes);
        seen.insert(
            name,
            Known {
                rows,
                bytes,
                modified_ns,
            },
        );
    }
    if seen != cache
        && let Err(e) = save(dir, &seen)
    {
        // The counts above are right either way; the next commit reads the footers again.
        tracing::warn!(dir = %dir.display(), error = %e, "could not update the partition's size cache");
    }
    Ok(stats)
}

fn save(dir: &Path, known: &BTreeMap<String, Known>) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{SIZES}.tmp"));
    std::fs::write(
        &tmp,
        serde_json::to_vec(known).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, dir.join(SIZES))
}

#[cfg(test)]
mod tests {
    use super::{DirStats, SIZES, dir_stats};

    fn write_file(dir: &std::path::Path, name: &str, rows: u64) {
        use fashion_domain::lake::{TableRows, all_tables};
        let table = all_tables()
            .into_iter()
            .find(|t| t.name == "clickstream")
            .unwrap();
        let events = (0..rows)
            .map(|n| fashion_tests::fixtures::view(n, 1, 1, 0))
            .collect();
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut w = fashion_parquet::ParquetFileWriter::new(&table, f).unwrap();
        w.write(&TableRows::Clickstream(events)).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn an_append_reads_no_footer_of_the_files_before_it() {
        let dir = tempfile::tempdir().unwrap();
        for i in 1..=5_u64 {
            let name = format!("part-w{i}.parquet");
            write_file(dir.path(), &name, i);
            let s = dir_stats(dir.path(), Some((&name, i))).unwrap();
            assert_eq!((s.files, s.rows, s.footers_read), (i, i * (i + 1) / 2, 0));
        }
        // Without the cache every footer is read, and the counts are the same.
        std::fs::remove_file(dir.path().join(SIZES)).unwrap();
        let s = dir_stats(dir.path(), None).unwrap();
        assert_eq!((s.files, s.rows, s.footers_read), (5, 15, 5));
        // A file rewritten under a known name is read again.
        write_file(dir.path(), "part-w2.parquet", 7);
        let s = dir_stats(dir.path(), None).unwrap();
        assert_eq!((s.rows, s.footers_read), (20, 1));
        assert_eq!(dir_stats(dir.path(), None).unwrap().footers_read, 0);
    }

    #[test]
    fn a_damaged_cache_costs_footer_reads_not_a_wrong_count() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "part-a.parquet", 3);
        std::fs::write(dir.path().join(SIZES), b"{not json").unwrap();
        let s = dir_stats(dir.path(), None).unwrap();
        assert_eq!(
            s,
            DirStats {
                files: 1,
                rows: 3,
                bytes: std::fs::metadata(dir.path().join("part-a.parquet"))
                    .unwrap()
                    .len(),
                footers_read: 1,
            }
        );
    }
}
