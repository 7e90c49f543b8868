//! The lake on S3: Parquet objects (encoded by `fashion-parquet`) under Hive-style keys
//! `<prefix>/<table>/<k>=<v>/.../v-<commit>/part-<write id>-<n>.parquet`, uploaded in parts when
//! large, and made visible all at once by pointing the Glue partition at the new version.
//!
//! Every commit writes a new version directory of the partition: for a replace, this write's
//! files; for an append, the current version's files (copied inside S3, except those of the same
//! write id, which this write replaces) plus this write's files. A `_manifest.json` in the
//! directory lists the files with their write ids, rows and sizes (engines skip files whose names
//! start with `_`). Only after the catalog points at the new version is the old one deleted, so a
//! reader sees the old partition or the new one, never a mix, and a crash at any step leaves the
//! catalogued version whole (at worst an uncatalogued directory is left behind). A catalog update
//! that fails is read back before anything is deleted: Glue may have applied it (a timeout or a
//! 5xx after the write), and then the new version is the partition and stays.
//!
//! One writer at a time per partition: two concurrent commits to the same partition both succeed,
//! and the catalog keeps the last one.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows};
use fashion_domain::ports::{
    LakeError, LakeWriter, PartitionWriter, TableCatalog, WriteMode, check_open,
};
use fashion_parquet::ParquetFileWriter;
use serde::{Deserialize, Serialize};

use crate::error::lake_err;
use crate::glue::GlueTableCatalog;

mod target;

use target::{SharedBuf, Target, Upload};

/// Default size of the parts of a multipart upload.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default size at which a data file is closed and the next one started.
pub const DEFAULT_MAX_FILE_BYTES: usize = 128 * 1024 * 1024;
/// The manifest of a version directory.
pub const MANIFEST: &str = "_manifest.json";
/// Most keys in one `DeleteObjects` call.
const MAX_KEYS_PER_DELETE: usize = 1000;
const PARQUET_CONTENT_TYPE: &str = "application/vnd.apache.parquet";

/// One data file of a version directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileEntry {
    /// The file name inside the version directory.
    name: String,
    /// The write that produced it.
    write_id: String,
    rows: u64,
    bytes: u64,
}

/// What `_manifest.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    commit: String,
    files: Vec<FileEntry>,
}

/// Writes lake partitions to S3 and makes them visible through a [`GlueTableCatalog`], whose
/// bucket and prefix it shares.
#[derive(Clone, Debug)]
pub struct S3LakeWriter {
    s3: Client,
    catalog: GlueTableCatalog,
    part_size: usize,
    max_file_bytes: usize,
}

impl S3LakeWriter {
    /// A writer into the lake of `catalog`.
    #[must_use]
    pub fn new(s3: Client, catalog: GlueTableCatalog) -> Self {
        Self {
            s3,
            catalog,
            part_size: DEFAULT_PART_SIZE,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    /// Files of at least `bytes` bytes are uploaded in parts of `bytes` (at least 5 MiB).
    #[must_use]
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(MIN_PART_SIZE);
        self
    }

    /// A data file is closed, and the next one started, once it reaches `bytes` bytes.
    #[must_use]
    pub fn with_max_file_bytes(mut self, bytes: usize) -> Self {
        self.max_file_bytes = bytes.max(1);
        self
    }
}

#[async_trait]
impl LakeWriter for S3LakeWriter {
    #[tracing::instrument(skip_all, fields(table = %table.name, partition = %partition, write_id = %write_id), err)]
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        check_open(table, partition, write_id)?;
        let commit = format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let lake = self.catalog.lake();
        let partition_prefix = lake.key(&format!("{}/{}/", table.name, partition.path()));
        Ok(Box::new(S3PartitionWriter {
            t: Target {
                s3: self.s3.clone(),
                catalog: self.catalog.clone(),
                bucket: lake.bucket.clone(),
                table: table.clone(),
                key: partition.clone(),
                mode,
                write_id: write_id.to_owned(),
                version_prefix: format!("{partition_prefix}v-{commit}/"),
                partition_prefix,
                commit,
                part_size: self.part_size,
            },
            max_file_bytes: self.max_file_bytes,
            current: None,
            done: Vec::new(),
        }))
    }
}

/// The data file being written.
struct OpenFile {
    name: String,
    writer: ParquetFileWriter<SharedBuf>,
    upload: Upload,
}

struct S3PartitionWriter {
    t: Target,
    max_file_bytes: usize,
    current: Option<OpenFile>,
    /// Files of this write already uploaded.
    done: Vec<FileEntry>,
}

/// Percent-encodes a copy source (`bucket/key`) as S3 requires.
fn encode_copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len().saturating_add(key.len()).saturating_add(1));
    for b in format!("{bucket}/{key}").bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3PartitionWriter {
    fn open_file(&self) -> Result<OpenFile, LakeError> {
        let buf = SharedBuf::default();
        let name = format!("part-{}-{:05}.parquet", self.t.write_id, self.done.len());
        Ok(OpenFile {
            writer: ParquetFileWriter::new(&self.t.table, buf.clone())?,
            upload: Upload {
                key: format!("{}{name}", self.t.version_prefix),
                buf,
                upload_id: None,
                parts: Vec::new(),
                uploaded: 0,
            },
            name,
        })
    }

    /// Closes the data file: writes its footer and completes its upload.
    async fn finish_file(&mut self, file: OpenFile) -> Result<(), LakeError> {
        let OpenFile {
            name,
            writer,
            mut upload,
        } = file;
        let rows = writer.rows();
        let result = match writer.finish() {
            Ok(_) => self.t.complete(&mut upload).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(bytes) => {
                self.done.push(FileEntry {
                    name,
                    write_id: self.t.write_id.clone(),
                    rows,
                    bytes,
                });
                Ok(())
            }
            Err(e) => {
                self.t.abort_upload(&upload).await;
                Err(e)
            }
        }
    }

    /// Everything of the commit up to the catalog update: the last file, the files carried
    /// forward, the manifest. Returns the old version's prefix and the new version's info.
    async fn prepare(&mut self) -> Result<(Option<String>, PartitionInfo), LakeError> {
        if let Some(file) = self.current.take() {
            self.finish_file(file).await?;
        }
        let t = &self.t;
        let (old_prefix, old) = t.current_manifest().await?;
        let mut files = Vec::new();
        if t.mode == WriteMode::Append {
            // A file of the same write id is this write's earlier attempt: replaced, not kept.
            for f in old.files.iter().filter(|f| f.write_id != t.write_id) {
                let src = format!("{}{}", old_prefix.as_deref().unwrap_or_default(), f.name);
                let dst = format!("{}{}", t.version_prefix, f.name);
                Box::pin(
                    t.s3.copy_object()
                        .bucket(&t.bucket)
                        .key(&dst)
                        .copy_source(encode_copy_source(&t.bucket, &src))
                        .send(),
                )
                .await
                .map_err(|e| lake_err(&e, &format!("copy {} forward", t.url(&src))))?;
                files.push(f.clone());
            }
        }
        files.extend(self.done.iter().cloned());
        let manifest = Manifest {
            commit: t.commit.clone(),
            files,
        };
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| LakeError::Unexpected(anyhow::Error::new(e)))?;
        let manifest_key = format!("{}{MANIFEST}", t.version_prefix);
        Box::pin(
            t.s3.put_object()
                .bucket(&t.bucket)
                .key(&manifest_key)
                .content_type("application/json")
                .body(ByteStream::from(body))
                .send(),
        )
        .await
        .map_err(|e| lake_err(&e, &format!("write {}", t.url(&manifest_key))))?;
        let info = PartitionInfo {
            table: t.table.name.clone(),
            key: t.key.clone(),
            location: t.url(&t.version_prefix),
            files: manifest.files.len() as u64,
            rows: manifest.files.iter().map(|f| f.rows).sum(),
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        };
        Ok((old_prefix, info))
    }
}

#[async_trait]
impl PartitionWriter for S3PartitionWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        if rows.table() != self.t.table.name {
            return Err(LakeError::Schema {
                message: format!(
                    "rows of {} written to table {}",
                    rows.table(),
                    self.t.table.name
                ),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut file = match self.current.take() {
            Some(f) => f,
            None => self.open_file()?,
        };
        let written = file.writer.write(&rows);
        let uploaded = match written {
            Ok(()) => self.t.upload_parts(&mut file.upload, false).await,
            Err(e) => Err(e),
        };
        if let Err(e) = uploaded {
            self.t.abort_upload(&file.upload).await;
            return Err(e);
        }
        let size = (file.writer.bytes_in_progress() as u64).saturating_add(file.upload.uploaded);
        if size >= self.max_file_bytes as u64 {
            self.finish_file(file).await
        } else {
            self.current = Some(file);
            Ok(())
        }
    }

    #[tracing::instrument(skip_all, fields(table = %self.t.table.name, partition = %self.t.key, write_id = %self.t.write_id, commit = %self.t.commit), err)]
    async fn commit(mut self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        let (old_prefix, info) = match self.prepare().await {
            Ok(p) => p,
            Err(e) => {
                if let Err(cleanup) = self.t.delete_prefix(&self.t.version_prefix).await {
                    tracing::warn!(error.message = %cleanup, "Could not delete an uncommitted version.");
                }
                return Err(e);
            }
        };
        // The switch: from here on, readers see the new version.
        if let Err(e) = self.t.catalog.put_partition(&info).await {
            // An error does not say the switch did not happen (a timeout or a 5xx after Glue
            // applied it): ask the catalog before deleting anything it may point at.
            match self
                .t
                .catalog
                .partition_location(&self.t.table.name, &self.t.key)
                .await
            {
                Ok(Some(location)) if location == info.location => {
                    tracing::warn!(error.message = %e, "The catalog update reported an error but was applied; the commit stands.");
                }
                Ok(_) => {
                    if let Err(cleanup) = self.t.delete_prefix(&self.t.version_prefix).await {
                        tracing::warn!(error.message = %cleanup, "Could not delete an uncommitted version.");
                    }
                    return Err(e);
                }
                Err(unknown) => {
                    // Unknown outcome: keep the new version (uncatalogued, it is invisible
                    // garbage; catalogued, it is the partition) and let the caller retry.
                    tracing::warn!(error.message = %unknown, "Could not read the catalog back after a failed update; keeping the new version.");
                    return Err(e);
                }
            }
        }
        if let Some(old) = old_prefix.filter(|p| p != &self.t.version_prefix)
            && let Err(e) = self.t.delete_prefix(&old).await
        {
            // Invisible garbage, not data loss: nothing points at the old version any more.
            tracing::warn!(old_version = %old, error.message = %e, "Could not delete a replaced partition version.");
        }
        tracing::info!(
            files = info.files,
            rows = info.rows,
            bytes = info.bytes,
            "Committed lake partition."
        );
        Ok(info)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), LakeError> {
        if let Some(file) = self.current.take() {
            self.t.abort_upload(&file.upload).await;
        }
        self.t.delete_prefix(&self.t.version_prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded_except_path_characters() {
        assert_eq!(
            encode_copy_source("b", "lake/t/dt=2026-11-24/v-1/part-a_b-00000.parquet"),
            "b/lake/t/dt%3D2026-11-24/v-1/part-a_b-00000.parquet"
        );
    }
}
