//! The lake on local disk: zstd Parquet under Hive-style directories
//! `<root>/<table>/<k>=<v>/.../part-<write id>.parquet`.
//!
//! Atomicity without a transaction log:
//! - an append writes its file under a hidden temporary name in the partition directory, syncs it,
//!   and renames it to `part-<write id>.parquet` (a retried write id replaces its own file);
//! - a replace builds the whole new partition in `<root>/.staging/<id>/` and swaps it with the live
//!   directory in one `renameat2(RENAME_EXCHANGE)`, so a reader lists the old partition or the new
//!   one, never a mix. The old one is retired, not deleted at once: a reader that opened the live
//!   directory just before the swap may still be listing the old one through that handle, and
//!   emptying it under the reader would show it an empty partition. Its files stay, under their
//!   names in the old directory, and the paths it then opens in the live one fail (a query that
//!   listed the old files just before the swap fails and can be rerun). Retired partitions are
//!   deleted by later replacements once [`RETIRED_GRACE`] has passed, and by `clean_staging` once
//!   their process is gone. A crash before the swap leaves the live partition untouched and only
//!   staging garbage, removed the same way.
//!
//!   A listing must not look the names it read up again by path: after a swap the path names
//!   the other directory. `object_store`'s own local listing did, and dropped the names it no
//!   longer found, so a reader could see the partition empty (the property test
//!   `replace_property` caught it in about 1 run in 12). The query engine lists through the
//!   directory handles instead (`query::listing`).
//!
//! A commit reports the partition's files, rows and bytes; `sizes` keeps the row counts it has
//! already read in the partition's `_sizes.json`, so an append reads no earlier file's footer.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows};
use fashion_domain::ports::{LakeError, LakeWriter, PartitionWriter, WriteMode, check_open};
use fashion_parquet::ParquetFileWriter;

mod sizes;

use sizes::{DirStats, dir_stats};

/// Directory (under the lake root) where replacements are built.
const STAGING: &str = ".staging";
/// Prefix of a replaced partition's directory under [`STAGING`]: `retired-<pid>-<nanoseconds>`.
const RETIRED: &str = "retired-";
/// How long a replaced partition is kept for readers that listed it just before its swap.
pub const RETIRED_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Names the lake's writers give their unfinished work (`.tmp-…`, `.staging`) and bookkeeping
/// (`_sizes.json`): never data, and free to vanish at any time.
pub(crate) fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Nanoseconds since the epoch, now.
fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Moves a replaced partition's staging root aside as retired.
fn retire(lake_root: &Path, staging_root: &Path) -> std::io::Result<()> {
    let name = format!("{RETIRED}{}-{}", std::process::id(), now_nanos());
    std::fs::rename(staging_root, lake_root.join(STAGING).join(name))
}

/// Deletes the partitions retired more than `grace` ago; returns how many.
fn remove_retired(lake_root: &Path, grace: std::time::Duration) -> std::io::Result<usize> {
    let Ok(entries) = std::fs::read_dir(lake_root.join(STAGING)) else {
        return Ok(0);
    };
    let now = now_nanos();
    let mut n = 0_usize;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let retired_at = name
            .strip_prefix(RETIRED)
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|t| t.parse::<u128>().ok());
        if retired_at.is_some_and(|t| now.saturating_sub(t) > grace.as_nanos()) {
            std::fs::remove_dir_all(e.path())?;
            n = n.saturating_add(1);
        }
    }
    Ok(n)
}

fn io_err(e: &std::io::Error, what: impl std::fmt::Display) -> LakeError {
    LakeError::Unexpected(anyhow::anyhow!("failed to {what}: {e}"))
}

/// The lake under a root directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    /// A lake rooted at `root` (created on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a table.
    #[must_use]
    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    /// Removes staging directories left by writers that died before their swap. A directory is
    /// named `<write id>-<pid>-<nonce>`; it is removed only when that process no longer runs (or,
    /// where processes cannot be checked, when it is over a day old), so a live writer's staging
    /// area is never pulled from under it.
    ///
    /// # Errors
    /// When the staging directory cannot be read or cleaned.
    pub fn clean_staging(&self) -> std::io::Result<usize> {
        let dir = self.root.join(STAGING);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(0);
        };
        let mut n = 0_usize;
        for e in entries {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if writer_is_gone(&name, &e.path()) {
                std::fs::remove_dir_all(e.path())?;
                n = n.saturating_add(1);
            }
        }
        Ok(n)
    }
}

/// True when the writer that owns a staging directory has ended.
fn writer_is_gone(name: &str, path: &Path) -> bool {
    let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
    if cfg!(target_os = "linux")
        && let Some(pid) = pid
    {
        return pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
    }
    path.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(86_400))
}

/// Swaps two directories atomically (Linux `renameat2(RENAME_EXCHANGE)`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(std::io::Error::from)
}

/// Elsewhere: two renames, with a brief moment in which the partition is absent (never mixed).
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let tmp = b.with_extension("swap");
    std::fs::rename(b, &tmp)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&tmp, a)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

struct LocalPartitionWriter {
    lake: LocalLake,
    table: TableDef,
    key: PartitionKey,
    mode: WriteMode,
    /// Where the file is being written, and where it goes on commit.
    tmp_file: PathBuf,
    final_file: PathBuf,
    /// For a replace: the staging partition directory and the staging root to remove after.
    staging: Option<(PathBuf, PathBuf)>,
    encoder: Option<Encoder>,
}

/// Rows waiting for the encoder thread, at most this many batches.
const ENCODER_QUEUE: usize = 4;

/// Encodes and compresses a partition's file on a thread of its own, so that this CPU work
/// overlaps with whatever produces the rows (extraction, cleaning) instead of waiting in line.
struct Encoder {
    tx: tokio::sync::mpsc::Sender<TableRows>,
    handle: std::thread::JoinHandle<Result<u64, LakeError>>,
}

impl Encoder {
    fn start(mut writer: ParquetFileWriter<BufWriter<File>>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<TableRows>(ENCODER_QUEUE);
        let handle = std::thread::spawn(move || {
            while let Some(rows) = rx.blocking_recv() {
                writer.write(&rows)?;
            }
            let rows = writer.rows();
            let file = writer
                .finish()?
                .into_inner()
                .map_err(|e| io_err(e.error(), "flush a Parquet file"))?;
            file.sync_all()
                .map_err(|e| io_err(&e, "sync a Parquet file"))?;
            Ok(rows)
        });
        Self { tx, handle }
    }

    /// Waits for the thread and returns the rows it wrote, or its error.
    async fn finish(self) -> Result<u64, LakeError> {
        drop(self.tx);
        let handle = self.handle;
        tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|e| LakeError::Unexpected(anyhow::anyhow!("the encoder task failed: {e}")))?
            .map_err(|_| LakeError::Unexpected(anyhow::anyhow!("the encoder thread panicked")))?
    }
}

impl LocalPartitionWriter {
    fn live_dir(&self) -> PathBuf {
        self.lake.table_dir(&self.table.name).join(self.key.path())
    }

    fn encoder(&mut self) -> Result<&Encoder, LakeError> {
        if self.encoder.is_none() {
            if let Some(parent) = self.tmp_file.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io_err(&e, format!("create {}", parent.display())))?;
            }
            let f = File::create(&self.tmp_file)
                .map_err(|e| io_err(&e, format!("create {}", self.tmp_file.display())))?;
            let writer = ParquetFileWriter::new(&self.table, BufWriter::new(f))?;
            self.encoder = Some(Encoder::start(writer));
        }
        self.encoder
            .as_ref()
            .ok_or_else(|| LakeError::Unexpected(anyhow::anyhow!("encoder vanished")))
    }

    fn commit_sync(self, rows_written: u64) -> Result<PartitionInfo, LakeError> {
        let live = self.live_dir();
        match self.mode {
            WriteMode::Append => {
                if rows_written > 0 {
                    std::fs::rename(&self.tmp_file, &self.final_file).map_err(|e| {
                        io_err(&e, format!("publish {}", self.final_file.display()))
                    })?;
                    sync_dir(&live).map_err(|e| io_err(&e, "sync the partition directory"))?;
                }
            }
            WriteMode::Replace => {
                let (staging, staging_root) = self.staging.clone().ok_or_else(|| {
                    LakeError::Unexpected(anyhow::anyhow!("no staging directory"))
                })?;
                if rows_written > 0 {
                    std::fs::rename(&self.tmp_file, &self.final_file)
                        .map_err(|e| io_err(&e, "name the staged file"))?;
                } else {
                    std::fs::create_dir_all(&staging)
                        .map_err(|e| io_err(&e, "create an empty staged partition"))?;
                }
                sync_dir(&staging).map_err(|e| io_err(&e, "sync the staged partition"))?;
                if let Some(parent) = live.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| io_err(&e, "create the table directory"))?;
                }
                if live.exists() {
                    exchange(&staging, &live)
                        .map_err(|e| io_err(&e, format!("swap in {}", live.display())))?;
                    // `staging` now holds the previous partition: retired, not deleted (see the
                    // module's documentation).
                    retire(self.lake.root(), &staging_root)
                        .map_err(|e| io_err(&e, "retire the previous partition"))?;
                } else {
                    std::fs::rename(&staging, &live)
                        .map_err(|e| io_err(&e, format!("publish {}", live.display())))?;
                    let _ = std::fs::remove_dir_all(&staging_root);
                }
                if let Some(parent) = live.parent() {
                    sync_dir(parent).map_err(|e| io_err(&e, "sync the table directory"))?;
                }
                remove_retired(self.lake.root(), RETIRED_GRACE)
                    .map_err(|e| io_err(&e, "remove retired partitions"))?;
            }
        }
        let written = self
            .final_file
            .file_name()
            .map(|n| (n.to_string_lossy().into_owned(), rows_written))
            .filter(|_| rows_written > 0);
        let stats = if live.exists() {
            dir_stats(&live, written.as_ref().map(|(n, r)| (n.as_str(), *r)))
                .map_err(|e| io_err(&e, "read partition sizes"))?
        } else {
            DirStats::default()
        };
        Ok(PartitionInfo {
            table: self.table.name,
            key: self.key,
            location: live.display().to_string(),
            files: stats.files,
            rows: stats.rows,
            bytes: stats.bytes,
        })
    }
}

#[async_trait]
impl PartitionWriter for LocalPartitionWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        if rows.table() != self.table.name {
            return Err(LakeError::Schema {
                message: format!(
                    "rows of {} written to table {}",
                    rows.table(),
                    self.table.name
                ),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.encoder()?.tx.clone();
        if tx.send(rows).await.is_err() {
            // The encoder stopped on an error: report it.
            let encoder = self.encoder.take();
            return match encoder {
                Some(e) => e
                    .finish()
                    .await
                    .and(Err(LakeError::Unexpected(anyhow::anyhow!(
                        "the encoder stopped"
                    )))),
                None => Err(LakeError::Unexpected(anyhow::anyhow!(
                    "the encoder stopped"
                ))),
            };
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        let rows = match self.encoder.take() {
            Some(e) => e.finish().await?,
            None => 0,
        };
        self.commit_sync(rows)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), LakeError> {
        if let Some(e) = self.encoder.take() {
            let _ = e.finish().await;
        }
        let _ = std::fs::remove_file(&self.tmp_file);
        if let Some((_, root)) = &self.staging {
            let _ = std::fs::remove_dir_all(root);
        }
        Ok(())
    }
}

#[async_trait]
impl LakeWriter for LocalLake {
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        check_open(table, partition, write_id)?;
        let live = self.table_dir(&table.name).join(partition.path());
        let file_name = format!("part-{write_id}.parquet");
        let (tmp_file, final_file, staging) = match mode {
            WriteMode::Append => (
                live.join(format!(".{file_name}.tmp")),
                live.join(&file_name),
                None,
            ),
            WriteMode::Replace => {
                let nonce = format!("{write_id}-{}-{}", std::process::id(), unique_suffix());
                let root = self.root.join(STAGING).join(nonce);
                let staging = root.join(partition.path());
                (
                    staging.join(format!(".{file_name}.tmp")),
                    staging.join(&file_name),
                    Some((staging, root)),
                )
            }
        };
        Ok(Box::new(LocalPartitionWriter {
            lake: self.clone(),
            table: table.clone(),
            key: partition.clone(),
            mode,
            tmp_file,
            final_file,
            staging,
            encoder: None,
        }))
    }
}

/// A process-unique suffix for staging directories.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{t:x}{:x}", N.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use fashion_domain::lake::tables;
    use fashion_tests::fixtures::product;

    async fn replace(lake: &LocalLake, key: &PartitionKey, run: &str, ids: std::ops::Range<u32>) {
        let table = TableDef::named(tables::PRODUCTS).unwrap();
        let mut w = lake
            .open(&table, key, WriteMode::Replace, run)
            .await
            .unwrap();
        w.write(TableRows::Products(ids.map(product).collect()))
            .await
            .unwrap();
        w.commit().await.unwrap();
    }

    /// A reader that opened the live partition just before a replacement swapped it keeps
    /// listing the old files through its handle: the old partition is retired, not emptied
    /// under it (it used to be deleted at once, and such a reader saw an empty partition).
    #[tokio::test]
    async fn a_reader_listing_during_a_replace_sees_the_old_files_not_an_empty_partition() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path().join("lake"));
        let key = PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        replace(&lake, &key, "run-1", 1..4).await;
        let live = lake.table_dir(tables::PRODUCTS).join(key.path());

        // Act: the reader's handle is opened, then the partition is replaced, then it lists.
        let handle = std::fs::read_dir(&live).unwrap();
        replace(&lake, &key, "run-2", 10..12).await;
        let listed: Vec<String> = handle
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".parquet"))
            .collect();

        // Assert
        assert_eq!(listed, ["part-run-1.parquet"]);
        assert!(live.join("part-run-2.parquet").is_file());
        assert!(!live.join("part-run-1.parquet").exists());
        // Retired partitions go once their grace has passed.
        assert_eq!(
            remove_retired(lake.root(), std::time::Duration::ZERO).unwrap(),
            1
        );
        assert_eq!(
            remove_retired(lake.root(), std::time::Duration::ZERO).unwrap(),
            0
        );
    }
}
