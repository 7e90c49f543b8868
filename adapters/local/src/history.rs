//! The trainer's history from the lake on local disk, read the way the S3 history reads S3: the
//! partitions a window may hold ([`Window::may_hold`]), their Parquet files decoded through the
//! lake's row codec (`fashion_parquet::read_rows`), rows kept and events deduplicated by the
//! domain's rules. No query engine: the demo, `fashion train` and `fashion eval` need none.
//!
//! Partition directories are found by walking `<table>/<k>=<v>/…` to the table's partition
//! depth; entries whose names start with `.` or `_` (a writer's temporary file) are skipped, as
//! engines skip them. A replace swaps a partition's directory whole, so a file listed just before
//! the swap may be gone when it is opened: that read fails with the file's name and can be
//! rerun, as a query would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::{
    PurchaseRecord, TrainingEvent, Window, clickstream_from, interactions_from, partition_margin,
    purchases_from,
};
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{HistorySource, LakeError, TableCatalog};
use fashion_domain::services::history::latest_day;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::lake::{LocalLake, hidden};

/// Files decoded at once.
const CONCURRENCY: usize = 2;

/// The history of a [`LocalLake`], for the tables its catalog knows.
#[derive(Clone)]
pub struct LocalHistory {
    lake: LocalLake,
    catalog: Arc<dyn TableCatalog>,
}

impl LocalHistory {
    /// The history of `lake`; a table `catalog` does not know has no history yet.
    #[must_use]
    pub fn new(lake: LocalLake, catalog: Arc<dyn TableCatalog>) -> Self {
        Self { lake, catalog }
    }

    /// The rows of every file of the partitions of `table` that may hold the window, one item
    /// per file.
    fn read(
        &self,
        table: &'static str,
        window: Window,
    ) -> BoxStream<'static, Result<TableRows, LakeError>> {
        let this = self.clone();
        stream::once(async move {
            let Some(def) = this.catalog.table(table).await? else {
                return Ok(stream::iter(Vec::new()).boxed());
            };
            let dir = this.lake.table_dir(table);
            let margin = partition_margin(table);
            let files = tokio::task::spawn_blocking(move || {
                data_files(&dir, def.partition_keys.len(), |key| {
                    window.may_hold(key, margin)
                })
                .map(|files| (def, files))
            })
            .await
            .map_err(|e| LakeError::Unexpected(anyhow::anyhow!("listing {table} failed: {e}")))?;
            let (def, files) = files?;
            tracing::debug!(table, files = files.len(), "Reading lake history.");
            Ok::<_, LakeError>(
                stream::iter(files)
                    .map(move |(path, key)| read_file(def.clone(), path, key))
                    .buffered(CONCURRENCY)
                    .boxed(),
            )
        })
        .try_flatten()
        .boxed()
    }
}

fn io_err(e: &std::io::Error, path: &Path) -> LakeError {
    LakeError::Unexpected(anyhow::anyhow!("failed to read {}: {e}", path.display()))
}

/// The visible entries of a directory, sorted by name; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, LakeError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&e, dir)),
    };
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| io_err(&e, dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !hidden(&name) {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The Parquet files under the partition directories of a table (`depth` keys deep) whose keys
/// `keep` accepts, with their partition keys, in path order.
fn data_files(
    table_dir: &Path,
    depth: usize,
    keep: impl Fn(&PartitionKey) -> bool,
) -> Result<Vec<(PathBuf, PartitionKey)>, LakeError> {
    let mut partitions = vec![(String::new(), table_dir.to_path_buf())];
    for _ in 0..depth {
        let mut next = Vec::new();
        for (rel, dir) in partitions {
            for (name, path) in entries(&dir)? {
                if name.contains('=') && path.is_dir() {
                    let rel = if rel.is_empty() {
                        name
                    } else {
                        format!("{rel}/{name}")
                    };
                    next.push((rel, path));
                }
            }
        }
        partitions = next;
    }
    let mut out = Vec::new();
    for (rel, dir) in partitions {
        let Some(key) = PartitionKey::parse(&rel) else {
            continue;
        };
        if !keep(&key) {
            continue;
        }
        for (name, path) in entries(&dir)? {
            if name.ends_with(".parquet") && path.is_file() {
                out.push((path, key.clone()));
            }
        }
    }
    Ok(out)
}

/// Decodes one file on a blocking thread (decoding is CPU work).
async fn read_file(
    def: TableDef,
    path: PathBuf,
    key: PartitionKey,
) -> Result<TableRows, LakeError> {
    let name = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|e| io_err(&e, &path))?;
        let name = path.display().to_string();
        let (rows, skipped) = fashion_parquet::read_rows(&def, &key, &name, file)?;
        if skipped.rows > 0 {
            tracing::warn!(file = %name, rows = skipped.rows, first = ?skipped.first, "Skipped lake rows the domain refuses (invalid ids, types or times).");
        }
        Ok(rows)
    })
    .await
    .map_err(|e| LakeError::Unexpected(anyhow::anyhow!("the decoder of {name} failed: {e}")))?
}

#[async_trait]
impl HistorySource for LocalHistory {
    async fn latest_click_day(&self) -> Result<Option<NaiveDate>, LakeError> {
        if self.catalog.table(tables::CLICKSTREAM).await?.is_none() {
            return Ok(None);
        }
        latest_day(self.catalog.as_ref(), tables::CLICKSTREAM).await
    }

    fn interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
        let window = Window::new(from, to);
        interactions_from(self.read(tables::CLICKSTREAM, window), window)
    }

    fn clickstream(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<ClickEvent>, LakeError>> {
        let window = Window::new(from, to);
        clickstream_from(self.read(tables::CLICKSTREAM, window), window)
    }

    fn purchases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
        let window = Window::new(from, to);
        purchases_from(self.read(tables::ORDER_ITEMS, window), window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_parquet_files_of_kept_partitions_are_listed() {
        let root = tempfile::tempdir().unwrap();
        let t = root.path().join("clickstream");
        for dir in [
            "dt=2026-11-25/hour=09",
            "dt=2026-11-25/hour=10",
            "dt=2026-11-25/.hour=11",
            "not-a-partition/hour=10",
        ] {
            std::fs::create_dir_all(t.join(dir)).unwrap();
        }
        for file in [
            "dt=2026-11-25/hour=09/part-a.parquet",
            "dt=2026-11-25/hour=10/part-b.parquet",
            "dt=2026-11-25/hour=10/.part-c.parquet.tmp",
            "dt=2026-11-25/hour=10/_scratch.parquet",
            "dt=2026-11-25/hour=10/notes.txt",
            "dt=2026-11-25/.hour=11/part-d.parquet",
            "not-a-partition/hour=10/part-e.parquet",
        ] {
            std::fs::write(t.join(file), b"x").unwrap();
        }
        let files = data_files(&t, 2, |k| k.path() != "dt=2026-11-25/hour=09").unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|(p, k)| format!("{} {}", k.path(), p.file_name().unwrap().to_string_lossy()))
            .collect();
        assert_eq!(names, ["dt=2026-11-25/hour=10 part-b.parquet"]);
        assert!(
            data_files(&root.path().join("none"), 2, |_| true)
                .unwrap()
                .is_empty()
        );
    }
}
