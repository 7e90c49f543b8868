//! A read-only `object_store` over the AWS SDK's S3 client: `get` (whole or a byte range),
//! `head` and listings, what DataFusion's listing tables and Parquet reader ask for. Writes,
//! deletes and copies are refused as not implemented: the lake is written by its own writers.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    Attributes, CopyOptions, Error, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, Result,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

/// The store's name in errors.
const STORE: &str = "S3";

/// Objects of one bucket, read through the SDK.
#[derive(Clone)]
pub struct S3ReadStore {
    s3: Client,
    bucket: String,
}

impl fmt::Debug for S3ReadStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3ReadStore")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for S3ReadStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3ReadStore(s3://{})", self.bucket)
    }
}

impl S3ReadStore {
    /// The objects of `bucket`.
    #[must_use]
    pub fn new(s3: Client, bucket: &str) -> Self {
        Self {
            s3,
            bucket: bucket.to_owned(),
        }
    }
}

/// An SDK error as the store's: a missing object or bucket is `NotFound`.
fn store_err<E>(path: &str, e: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let missing = e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
        || matches!(e.code(), Some("NoSuchKey" | "NotFound" | "NoSuchBucket"));
    let source = Box::new(std::io::Error::other(DisplayErrorContext(e).to_string()));
    if missing {
        Error::NotFound {
            path: path.to_owned(),
            source,
        }
    } else {
        Error::Generic {
            store: STORE,
            source,
        }
    }
}

fn instant(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The HTTP `Range` header of a requested range.
fn range_header(r: &GetRange) -> String {
    match r {
        GetRange::Bounded(r) => format!("bytes={}-{}", r.start, r.end.saturating_sub(1)),
        GetRange::Offset(o) => format!("bytes={o}-"),
        GetRange::Suffix(n) => format!("bytes=-{n}"),
    }
}

/// The range and total size a `Content-Range: bytes a-b/total` header names.
fn content_range(header: &str) -> Option<(Range<u64>, u64)> {
    let (range, total) = header.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total) = (
        a.parse::<u64>().ok()?,
        b.parse::<u64>().ok()?,
        total.parse::<u64>().ok()?,
    );
    Some((a..b.checked_add(1)?, total))
}

fn not_implemented(operation: &str) -> Error {
    Error::NotImplemented {
        operation: operation.to_owned(),
        implementer: "S3ReadStore (read-only)".to_owned(),
    }
}

fn meta_of(
    key: &str,
    size: Option<i64>,
    modified: Option<&aws_smithy_types::DateTime>,
    e_tag: Option<&str>,
) -> Result<ObjectMeta> {
    Ok(ObjectMeta {
        location: Path::parse(key)?,
        last_modified: instant(modified),
        size: size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        e_tag: e_tag.map(str::to_owned),
        version: None,
    })
}

/// `prefix/` for a listing (every key below the prefix), or nothing for the whole bucket.
fn list_prefix(prefix: Option<&Path>) -> Option<String> {
    prefix
        .map(|p| p.as_ref().trim_end_matches('/').to_owned())
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
}

#[async_trait]
impl ObjectStore for S3ReadStore {
    async fn put_opts(
        &self,
        _location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> Result<PutResult> {
        Err(not_implemented("put"))
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(not_implemented("put_multipart"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let key = location.as_ref();
        if options.head {
            let head = self
                .s3
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| store_err(key, &e))?;
            let meta = meta_of(
                key,
                head.content_length(),
                head.last_modified(),
                head.e_tag(),
            )?;
            return Ok(GetResult {
                payload: GetResultPayload::Stream(stream::empty().boxed()),
                range: 0..0,
                meta,
                attributes: Attributes::default(),
            });
        }
        let mut request = self.s3.get_object().bucket(&self.bucket).key(key);
        if let Some(r) = &options.range {
            request = request.range(range_header(r));
        }
        let out = request.send().await.map_err(|e| store_err(key, &e))?;
        let length = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let (range, size) = out
            .content_range()
            .and_then(content_range)
            .unwrap_or((0..length, length));
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: instant(out.last_modified()),
            size,
            e_tag: out.e_tag().map(str::to_owned),
            version: None,
        };
        let body: Bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Error::Generic {
                store: STORE,
                source: Box::new(e),
            })?
            .into_bytes();
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
            meta,
            range,
            attributes: Attributes::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(not_implemented("delete"))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix(list_prefix(prefix))
            .into_paginator()
            .send();
        let bucket = self.bucket.clone();
        stream::unfold(pages, |mut pages| async move {
            pages.next().await.map(|page| (page, pages))
        })
        .map_err(move |e| store_err(&bucket, &e))
        .map_ok(|page| {
            let metas: Vec<Result<ObjectMeta>> = page
                .contents()
                .iter()
                .filter_map(|o| {
                    let key = o.key()?;
                    Some(meta_of(key, o.size(), o.last_modified(), o.e_tag()))
                })
                .collect();
            stream::iter(metas)
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix(list_prefix(prefix))
            .delimiter("/")
            .into_paginator()
            .send();
        let mut out = ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_err(&self.bucket, &e))?;
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.common_prefixes
                        .push(Path::parse(p.trim_end_matches('/'))?);
                }
            }
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.objects
                        .push(meta_of(key, o.size(), o.last_modified(), o.e_tag())?);
                }
            }
        }
        Ok(out)
    }

    async fn copy_opts(&self, _from: &Path, _to: &Path, _options: CopyOptions) -> Result<()> {
        Err(not_implemented("copy"))
    }
}
