//! The trainer's history from the S3 lake: the catalogued partitions of `clickstream` and
//! `order_items` are found in Glue (each partition's location is its current version directory,
//! see [`crate::lake`]), their Parquet objects listed and downloaded from S3, decoded with the
//! lake's row codec (`fashion_parquet::read_rows`, the same the local history uses), and streamed
//! as [`TrainingEvent`] and [`PurchaseRecord`] chunks, one chunk per file.
//!
//! Partitions outside the window are pruned twice: Glue returns only the `dt` range the window
//! touches (a partition expression), and the clickstream's `hour` narrows it further
//! ([`Window::may_hold`]; store-local days keep a day of margin on both ends). Rows are then
//! filtered exactly by event time, and events deduplicated by id, by the domain's rules.
//!
//! The clickstream on AWS is written by Firehose straight under `dt=…/hour=…/` prefixes, and no
//! partition is registered (the table is projected; see fashion-aws-core's
//! [`DELIVERED_TABLES`](fashion_aws_core::glue::DELIVERED_TABLES)). For such a table the history
//! also lists the window's `dt=` prefixes in S3 and reads the partition of each object from its
//! key: a partition Glue knows is read from its catalogued version directory only (as the S3
//! lake writer left it), any other from every object under its prefix (as Firehose wrote it).
//!
//! Objects are read whole (a lake file is at most [`crate::lake::DEFAULT_MAX_FILE_BYTES`] by
//! default); a few are downloaded and decoded at once ([`DEFAULT_CONCURRENCY`]). Files whose names
//! start with `_` or `.` (the version manifest) are skipped, as Hive and Athena skip them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use chrono::{DateTime, NaiveDate, Utc};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::{
    PurchaseRecord, TrainingEvent, Window, clickstream_from, interactions_from, partition_margin,
    purchases_from,
};
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{HistorySource, LakeError};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use fashion_aws_core::glue::is_delivered;

use crate::error::lake_err;
use crate::glue::GlueTableCatalog;

/// Objects downloaded and decoded at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The partition key of dates.
const DT: &str = "dt";

/// The lake's history read from S3 through the partitions a [`GlueTableCatalog`] records.
#[derive(Clone, Debug)]
pub struct S3HistorySource {
    s3: Client,
    catalog: GlueTableCatalog,
    concurrency: usize,
}

/// One data object of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DataFile {
    bucket: String,
    key: String,
    /// The partition the object belongs to (the quarantine's source table is read from it).
    partition: PartitionKey,
}

impl DataFile {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

impl S3HistorySource {
    /// The history of the lake `catalog` describes (its partitions' locations name the objects).
    #[must_use]
    pub fn new(s3: Client, catalog: GlueTableCatalog) -> Self {
        Self {
            s3,
            catalog,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Downloads and decodes up to `n` objects at once (at least 1).
    #[must_use]
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The data objects of the partitions of `table` that `keep` accepts, among those whose `dt`
    /// lies in `[lo, hi]`.
    async fn files(
        &self,
        table: &str,
        (lo, hi): (Option<NaiveDate>, Option<NaiveDate>),
        keep: impl Fn(&PartitionKey) -> bool,
    ) -> Result<Vec<DataFile>, LakeError> {
        let parts = self
            .catalog
            .partitions_where(table, dt_expression(lo, hi).as_deref())
            .await?;
        if is_delivered(table) {
            let catalogued: HashMap<PartitionKey, String> =
                parts.into_iter().map(|p| (p.key, p.location)).collect();
            return self
                .delivered_files(table, (lo, hi), &catalogued, keep)
                .await;
        }
        let locations: Vec<(String, PartitionKey)> = parts
            .into_iter()
            .filter(|p| keep(&p.key))
            .map(|p| (p.location, p.key))
            .collect();
        let s3 = self.s3.clone();
        stream::iter(locations)
            .map(|(location, key)| list_data_files(s3.clone(), location, key))
            .buffered(self.concurrency)
            .try_concat()
            .await
    }
}

impl S3HistorySource {
    /// The data objects of a delivered table whose `dt` lies in `[lo, hi]` and whose partition
    /// `keep` accepts, listed from S3 one `dt=` prefix at a time (the whole table when the
    /// window is unbounded); a `catalogued` partition only below its location.
    async fn delivered_files(
        &self,
        table: &str,
        (lo, hi): (Option<NaiveDate>, Option<NaiveDate>),
        catalogued: &HashMap<PartitionKey, String>,
        keep: impl Fn(&PartitionKey) -> bool,
    ) -> Result<Vec<DataFile>, LakeError> {
        let (bucket, table_prefix) = split_location(&self.catalog.table_location(table))?;
        let prefixes: Vec<String> = match (lo, hi) {
            (Some(lo), Some(hi)) => lo
                .iter_days()
                .take_while(|d| *d <= hi)
                .map(|d| format!("{table_prefix}{DT}={}/", d.format("%Y-%m-%d")))
                .collect(),
            _ => vec![table_prefix.clone()],
        };
        let s3 = self.s3.clone();
        let listed: Vec<Vec<(String, Option<i64>)>> = stream::iter(prefixes)
            .map(|prefix| list_keys(s3.clone(), bucket.clone(), prefix))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let mut out: Vec<DataFile> = listed
            .into_iter()
            .flatten()
            .filter_map(|(key, size)| {
                let partition = key_partition(&table_prefix, &key)?;
                let dir = match catalogued.get(&partition) {
                    Some(location) => split_location(location).ok()?.1,
                    None => format!("{table_prefix}{}/", partition.path()),
                };
                (keep(&partition) && is_data_object(&dir, &key, size)).then(|| DataFile {
                    bucket: bucket.clone(),
                    key,
                    partition,
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// Every key (and size) under `prefix`.
async fn list_keys(
    s3: Client,
    bucket: String,
    prefix: String,
) -> Result<Vec<(String, Option<i64>)>, LakeError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| lake_err(&e, &format!("list s3://{bucket}/{prefix}")))?;
        out.extend(
            page.contents()
                .iter()
                .filter_map(|o| Some((o.key()?.to_owned(), o.size()))),
        );
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    Ok(out)
}

/// The partition an object's key names below its table's prefix: the leading `k=v` segments
/// (`dt=2026-11-25/hour=09/…`); `None` when there are none.
fn key_partition(table_prefix: &str, key: &str) -> Option<PartitionKey> {
    let rel = key.strip_prefix(table_prefix)?;
    let mut segments: Vec<&str> = rel.split('/').collect();
    segments.pop(); // the object's own name
    let pairs: Vec<(String, String)> = segments
        .iter()
        .map_while(|seg| seg.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (!pairs.is_empty()).then_some(PartitionKey(pairs))
}

/// A Glue partition expression selecting `dt` in `[lo, hi]`; `None` for an unbounded window.
/// The values are dates this module formats, never caller text.
fn dt_expression(lo: Option<NaiveDate>, hi: Option<NaiveDate>) -> Option<String> {
    let lo = lo.map(|d| format!("{DT} >= '{}'", d.format("%Y-%m-%d")));
    let hi = hi.map(|d| format!("{DT} <= '{}'", d.format("%Y-%m-%d")));
    match (lo, hi) {
        (Some(a), Some(b)) => Some(format!("{a} AND {b}")),
        (a, b) => a.or(b),
    }
}

/// `s3://bucket/prefix/` as bucket and prefix (with a trailing `/`).
fn split_location(location: &str) -> Result<(String, String), LakeError> {
    let rest = location.strip_prefix("s3://").ok_or_else(|| {
        LakeError::Unexpected(anyhow::anyhow!(
            "partition location {location:?} is not an s3:// URL"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(LakeError::Unexpected(anyhow::anyhow!(
            "partition location {location:?} names no bucket"
        )));
    }
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_owned(), prefix))
}

/// True for the objects engines read: not a directory marker, and no path segment below the
/// partition's directory starting with `_` or `.`.
fn is_data_object(prefix: &str, key: &str, size: Option<i64>) -> bool {
    let Some(rel) = key.strip_prefix(prefix) else {
        return false;
    };
    !rel.is_empty()
        && !rel.ends_with('/')
        && size != Some(0)
        && rel
            .split('/')
            .all(|seg| !seg.starts_with('_') && !seg.starts_with('.'))
}

/// The data objects under a partition's location.
async fn list_data_files(
    s3: Client,
    location: String,
    partition: PartitionKey,
) -> Result<Vec<DataFile>, LakeError> {
    let (bucket, prefix) = split_location(&location)?;
    let mut out: Vec<DataFile> = list_keys(s3, bucket.clone(), prefix.clone())
        .await?
        .into_iter()
        .filter(|(key, size)| is_data_object(&prefix, key, *size))
        .map(|(key, _)| DataFile {
            bucket: bucket.clone(),
            key,
            partition: partition.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Downloads an object and decodes it, through the lake's row codec, on a blocking thread
/// (decoding is CPU work).
async fn read_file(s3: Client, file: DataFile, def: TableDef) -> Result<TableRows, LakeError> {
    let url = file.url();
    let out = s3
        .get_object()
        .bucket(&file.bucket)
        .key(&file.key)
        .send()
        .await
        .map_err(|e| lake_err(&e, &format!("read {url}")))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| LakeError::Unavailable {
            message: format!("read {url}: {e}"),
        })?
        .into_bytes();
    let name = url.clone();
    tokio::task::spawn_blocking(move || {
        let (rows, skipped) = fashion_parquet::read_rows(&def, &file.partition, &url, bytes)?;
        if skipped.rows > 0 {
            tracing::warn!(file = %url, rows = skipped.rows, first = ?skipped.first, "Skipped lake rows the domain refuses (invalid ids, types or times).");
        }
        Ok(rows)
    })
    .await
    .map_err(|e| LakeError::Unexpected(anyhow::anyhow!("the decoder of {name} failed: {e}")))?
}

impl S3HistorySource {
    /// The rows of every file of the partitions of `table` that may hold the window, decoded a
    /// few at once.
    fn read(
        &self,
        table: &'static str,
        window: Window,
    ) -> BoxStream<'static, Result<TableRows, LakeError>> {
        let this = self.clone();
        let margin = partition_margin(table);
        stream::once(async move {
            let def = TableDef::named(table).ok_or_else(|| LakeError::Schema {
                message: format!("the lake has no table {table}"),
            })?;
            let files = this
                .files(table, window.dt_bounds(margin), |key| {
                    window.may_hold(key, margin)
                })
                .await?;
            tracing::debug!(table, files = files.len(), "Reading lake history.");
            let s3 = this.s3.clone();
            Ok::<_, LakeError>(
                stream::iter(files)
                    .map(move |f| read_file(s3.clone(), f, def.clone()))
                    .buffered(this.concurrency),
            )
        })
        .try_flatten()
        .boxed()
    }
}

#[async_trait]
impl HistorySource for S3HistorySource {
    /// The greatest `dt=` prefix below the clickstream's location (one delimited listing: a
    /// key per day, whatever the partitions hold).
    async fn latest_click_day(&self) -> Result<Option<NaiveDate>, LakeError> {
        let (bucket, table_prefix) =
            split_location(&self.catalog.table_location(tables::CLICKSTREAM))?;
        let mut latest = None;
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&table_prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| lake_err(&e, &format!("list s3://{bucket}/{table_prefix}")))?;
            let days = page.common_prefixes().iter().filter_map(|p| {
                p.prefix()?
                    .strip_prefix(table_prefix.as_str())?
                    .strip_prefix(&format!("{DT}="))?
                    .strip_suffix('/')?
                    .parse::<NaiveDate>()
                    .ok()
            });
            latest = latest.max(days.max());
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        Ok(latest)
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
    use chrono::Duration;
    use fashion_domain::history::STORE_DAY_MARGIN;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_glue_expression_bounds_dt_only_where_the_window_is_bounded() {
        let (lo, hi) = Window::new(utc("2026-11-25T00:30:00Z"), utc("2026-11-26T00:00:00Z"))
            .dt_bounds(Duration::zero());
        assert_eq!(
            dt_expression(lo, hi).as_deref(),
            Some("dt >= '2026-11-25' AND dt <= '2026-11-26'")
        );
        let (lo, hi) = Window::new(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .dt_bounds(STORE_DAY_MARGIN);
        assert_eq!(
            dt_expression(lo, hi),
            None,
            "the whole history has no bounds"
        );
        let (lo, hi) = Window::new(utc("2026-11-25T00:30:00Z"), DateTime::<Utc>::MAX_UTC)
            .dt_bounds(STORE_DAY_MARGIN);
        assert_eq!(dt_expression(lo, hi).as_deref(), Some("dt >= '2026-11-24'"));
    }

    #[test]
    fn a_delivered_objects_partition_is_read_from_its_key() {
        let hour = |dt: &str, h: &str| {
            Some(PartitionKey(vec![
                ("dt".to_owned(), dt.to_owned()),
                ("hour".to_owned(), h.to_owned()),
            ]))
        };
        let p = "lake/clickstream/";
        assert_eq!(
            key_partition(
                p,
                "lake/clickstream/dt=2026-11-25/hour=09/fashion-prod-clickstream-to-lake-1-2026-11-25-09-15-00-ab12"
            ),
            hour("2026-11-25", "09")
        );
        assert_eq!(
            key_partition(
                p,
                "lake/clickstream/dt=2026-11-25/hour=10/v-1/part-a.parquet"
            ),
            hour("2026-11-25", "10"),
            "the S3 lake writer's version directories"
        );
        assert_eq!(key_partition(p, "lake/clickstream/loose.parquet"), None);
        assert_eq!(key_partition(p, "lake/orders/dt=2026-11-25/x"), None);
    }

    #[test]
    fn only_visible_objects_below_the_location_are_data() {
        let p = "lake/clickstream/dt=2026-11-25/hour=10/v-1/";
        assert!(is_data_object(
            p,
            &format!("{p}part-a-00000.parquet"),
            Some(10)
        ));
        assert!(!is_data_object(p, &format!("{p}_manifest.json"), Some(10)));
        assert!(!is_data_object(p, &format!("{p}.part.tmp"), Some(10)));
        assert!(!is_data_object(p, p, Some(0)), "the directory marker");
        assert!(!is_data_object(p, &format!("{p}_tmp/x.parquet"), Some(10)));
        assert!(!is_data_object(p, &format!("{p}empty.parquet"), Some(0)));
        assert!(!is_data_object(p, "lake/other/x.parquet", Some(10)));
    }

    #[test]
    fn locations_split_into_bucket_and_directory_prefix() {
        assert_eq!(
            split_location("s3://b/lake/t/dt=1/v-2/").unwrap(),
            ("b".to_owned(), "lake/t/dt=1/v-2/".to_owned())
        );
        assert_eq!(
            split_location("s3://b/lake/t").unwrap(),
            ("b".to_owned(), "lake/t/".to_owned())
        );
        assert!(split_location("/var/lake/t").is_err());
        assert!(split_location("s3:///x").is_err());
    }
}
