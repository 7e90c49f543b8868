//! The S3 side of one lake write: the buffer the Parquet writer fills, multipart uploads, the
//! partition's current manifest, copies and deletes under a prefix.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use fashion_domain::lake::{PartitionKey, TableDef};
use fashion_domain::ports::{LakeError, WriteMode};
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::{MANIFEST, MAX_KEYS_PER_DELETE, Manifest, PARQUET_CONTENT_TYPE};
use crate::error::{AwsFailure, lake_err};
use crate::glue::GlueTableCatalog;

/// The in-memory sink the Parquet writer writes into; full parts are taken out and uploaded.
#[derive(Clone, Default)]
pub(super) struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Takes the first `n` bytes (all when fewer).
    pub(super) fn take(&self, n: usize) -> Vec<u8> {
        let mut b = self.lock();
        let n = n.min(b.len());
        let rest = b.split_off(n);
        std::mem::replace(&mut *b, rest)
    }
}

impl Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The upload of one object: its bytes waiting in `buf`, and the parts already sent.
pub(super) struct Upload {
    pub(super) key: String,
    pub(super) buf: SharedBuf,
    pub(super) upload_id: Option<String>,
    pub(super) parts: Vec<CompletedPart>,
    pub(super) uploaded: u64,
}

/// Where and what one write goes to, and the S3 calls it makes. Kept apart from the Parquet
/// writer (which is `Send` but not `Sync`) so it can be borrowed across awaits.
pub(super) struct Target {
    pub(super) s3: Client,
    pub(super) catalog: GlueTableCatalog,
    pub(super) bucket: String,
    pub(super) table: TableDef,
    pub(super) key: PartitionKey,
    pub(super) mode: WriteMode,
    pub(super) write_id: String,
    pub(super) partition_prefix: String,
    pub(super) version_prefix: String,
    pub(super) commit: String,
    pub(super) part_size: usize,
}

impl Target {
    pub(super) fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Uploads whole parts from the object's buffer; with `last`, also the remainder.
    pub(super) async fn upload_parts(&self, up: &mut Upload, last: bool) -> Result<(), LakeError> {
        while up.buf.len() >= self.part_size || (last && up.buf.len() > 0) {
            let upload_id = match &up.upload_id {
                Some(id) => id.clone(),
                None => {
                    let out = self
                        .s3
                        .create_multipart_upload()
                        .bucket(&self.bucket)
                        .key(&up.key)
                        .content_type(PARQUET_CONTENT_TYPE)
                        .send()
                        .await
                        .map_err(|e| {
                            lake_err(&e, &format!("start upload of {}", self.url(&up.key)))
                        })?;
                    let id = out.upload_id().unwrap_or_default().to_owned();
                    up.upload_id = Some(id.clone());
                    id
                }
            };
            let chunk = up.buf.take(self.part_size);
            let number = i32::try_from(up.parts.len().saturating_add(1)).unwrap_or(i32::MAX);
            let size = chunk.len() as u64;
            let out = Box::pin(
                self.s3
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&up.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk))
                    .send(),
            )
            .await
            .map_err(|e| {
                lake_err(
                    &e,
                    &format!("upload part {number} of {}", self.url(&up.key)),
                )
            })?;
            up.parts.push(
                CompletedPart::builder()
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .part_number(number)
                    .build(),
            );
            up.uploaded = up.uploaded.saturating_add(size);
        }
        Ok(())
    }

    /// Sends what is left of an object: one `PutObject` when it never reached a part's size, else
    /// the last part and the completion of the multipart upload. Either way S3 makes the object
    /// visible whole. Returns its size.
    pub(super) async fn complete(&self, up: &mut Upload) -> Result<u64, LakeError> {
        if up.upload_id.is_none() && up.buf.len() < self.part_size {
            let body = up.buf.take(usize::MAX);
            let size = body.len() as u64;
            Box::pin(
                self.s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&up.key)
                    .content_type(PARQUET_CONTENT_TYPE)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .await
            .map_err(|e| lake_err(&e, &format!("write {}", self.url(&up.key))))?;
            return Ok(size);
        }
        self.upload_parts(up, true).await?;
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&up.key)
            .upload_id(up.upload_id.clone().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(up.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| lake_err(&e, &format!("complete upload of {}", self.url(&up.key))))?;
        Ok(up.uploaded)
    }

    pub(super) async fn abort_upload(&self, up: &Upload) {
        let Some(id) = &up.upload_id else { return };
        if let Err(e) = self
            .s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&up.key)
            .upload_id(id)
            .send()
            .await
        {
            tracing::warn!(key = %up.key, error.message = %AwsFailure::of(&e).message, "Could not abort a multipart upload; a lifecycle rule must clean it up.");
        }
    }

    /// The manifest of the version the catalog points at now (empty when none).
    pub(super) async fn current_manifest(&self) -> Result<(Option<String>, Manifest), LakeError> {
        let Some(location) = self
            .catalog
            .partition_location(&self.table.name, &self.key)
            .await?
        else {
            return Ok((None, Manifest::default()));
        };
        let mine = self.url(&self.partition_prefix);
        let Some(prefix) = location
            .strip_prefix(&format!("s3://{}/", self.bucket))
            .filter(|_| location.starts_with(&mine))
            .map(str::to_owned)
        else {
            if self.mode == WriteMode::Append {
                return Err(LakeError::Unexpected(anyhow::anyhow!(
                    "partition {} of {} is catalogued at {location}, which this writer does not manage; cannot append to it",
                    self.key,
                    self.table.name
                )));
            }
            return Ok((None, Manifest::default()));
        };
        let manifest_key = format!("{prefix}{MANIFEST}");
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&manifest_key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("NoSuchKey") {
                    return Err(LakeError::Unexpected(anyhow::anyhow!(
                        "the catalogued version {location} has no {MANIFEST}"
                    )));
                }
                return Err(f.into_lake(&format!("read {}", self.url(&manifest_key))));
            }
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| LakeError::Unavailable {
                message: format!("read {}: {e}", self.url(&manifest_key)),
            })?;
        let manifest = serde_json::from_slice(&bytes.into_bytes()).map_err(|e| {
            LakeError::Unexpected(anyhow::anyhow!("corrupt {}: {e}", self.url(&manifest_key)))
        })?;
        Ok((Some(prefix), manifest))
    }

    /// Deletes every object under `prefix` (best effort: a leftover is invisible garbage).
    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<(), LakeError> {
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| lake_err(&e, &format!("list {}", self.url(prefix))))?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect();
            for chunk in keys.chunks(MAX_KEYS_PER_DELETE) {
                let objects = chunk
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| LakeError::Unexpected(anyhow::Error::new(e)))?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| LakeError::Unexpected(anyhow::Error::new(e)))?;
                Box::pin(
                    self.s3
                        .delete_objects()
                        .bucket(&self.bucket)
                        .delete(delete)
                        .send(),
                )
                .await
                .map_err(|e| lake_err(&e, &format!("delete under {}", self.url(prefix))))?;
            }
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::SharedBuf;

    #[test]
    fn the_shared_buffer_hands_out_whole_parts_in_order() {
        let mut b = SharedBuf::default();
        b.write_all(b"abcdefg").unwrap();
        assert_eq!(b.take(3), b"abc");
        assert_eq!(b.len(), 4);
        assert_eq!(b.take(usize::MAX), b"defg");
        assert_eq!(b.len(), 0);
    }
}
