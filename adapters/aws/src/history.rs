//! The trainer's history from the S3 lake: the catalogued partitions of `clickstream` and
//! `order_items` are found in Glue (each partition's location is its current version directory,
//! see [`crate::lake`]), their Parquet objects listed and downloaded from S3, decoded with the
//! Arrow reader, and streamed as [`TrainingEvent`] and [`PurchaseRecord`] chunks, one chunk per
//! file.
//!
//! Partitions outside the window are pruned twice: Glue returns only the `dt` range the window
//! touches (a partition expression), and the clickstream's `hour` narrows it further. Clickstream
//! partitions are UTC event hours; `order_items` partitions are store-local days, which may start
//! up to 14 hours either side of the UTC date, so a day of margin is kept on both ends. Rows are
//! then filtered exactly by event time.
//!
//! Objects are read whole (a lake file is at most [`crate::lake::DEFAULT_MAX_FILE_BYTES`] by
//! default); a few are downloaded and decoded at once ([`DEFAULT_CONCURRENCY`]). Files whose names
//! start with `_` or `.` (the version manifest) are skipped, as Hive and Athena skip them.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use fashion_domain::event::EventType;
use fashion_domain::history::{PurchaseRecord, TrainingEvent, session_hash};
use fashion_domain::ids::{CustomerId, OrderId, ProductId};
use fashion_domain::lake::{PartitionKey, tables};
use fashion_domain::ports::{HistorySource, LakeError};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::lake_err;
use crate::glue::GlueTableCatalog;

/// Objects downloaded and decoded at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Rows per decoded record batch.
const READ_BATCH_ROWS: usize = 8_192;
/// How far a store-local day may lie from the UTC date of the same name: no time zone is more
/// than 14 hours from UTC, so one day either side covers every store.
const STORE_DAY_MARGIN: Duration = Duration::days(1);
/// The partition key of dates.
const DT: &str = "dt";
/// The partition key of UTC hours.
const HOUR: &str = "hour";

/// Columns read from `clickstream`.
mod click_columns {
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TYPE: &str = "event_type";
    pub const USER_ID: &str = "user_id";
    pub const SESSION_ID: &str = "session_id";
    pub const PRODUCT_ID: &str = "product_id";
    pub const OCCURRED_AT: &str = "occurred_at";
    pub const ALL: [&str; 6] = [
        EVENT_ID,
        EVENT_TYPE,
        USER_ID,
        SESSION_ID,
        PRODUCT_ID,
        OCCURRED_AT,
    ];
}

/// Columns read from `order_items`.
mod item_columns {
    pub const ORDER_ID: &str = "order_id";
    pub const CUSTOMER_ID: &str = "customer_id";
    pub const PRODUCT_ID: &str = "product_id";
    pub const ORDERED_AT: &str = "ordered_at";
    pub const ALL: [&str; 4] = [ORDER_ID, CUSTOMER_ID, PRODUCT_ID, ORDERED_AT];
}

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
}

impl DataFile {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A deduplication key: the event id as a number when it is a UUID (always, for events that
/// passed validation), as text otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum EventKey {
    Uuid(u128),
    Text(String),
}

impl EventKey {
    fn of(id: &str) -> Self {
        uuid::Uuid::parse_str(id)
            .map_or_else(|_| Self::Text(id.to_owned()), |u| Self::Uuid(u.as_u128()))
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
        let locations: Vec<String> = parts
            .into_iter()
            .filter(|p| keep(&p.key))
            .map(|p| p.location)
            .collect();
        let s3 = self.s3.clone();
        stream::iter(locations)
            .map(|location| list_data_files(s3.clone(), location))
            .buffered(self.concurrency)
            .try_concat()
            .await
    }
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

/// The `dt` bounds of the partitions that may hold instants of `[from, to)`, each date widened
/// by `margin`; `None` where the window is unbounded on that side.
fn dt_bounds(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    margin: Duration,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let lo = from
        .checked_sub_signed(margin)
        .filter(|_| from > DateTime::<Utc>::MIN_UTC)
        .map(|t| t.date_naive());
    let hi = to
        .checked_add_signed(margin)
        .filter(|_| to < DateTime::<Utc>::MAX_UTC)
        .map(|t| t.date_naive());
    (lo, hi)
}

/// The instants a partition covers: its UTC hour, or its whole date (widened by `margin` for
/// store-local days). `None` when the key does not name a date (the partition is then read).
fn partition_span(key: &PartitionKey, margin: Duration) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let get = |name: &str| {
        key.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let date = NaiveDate::parse_from_str(get(DT)?, "%Y-%m-%d").ok()?;
    if let Some(hour) = get(HOUR) {
        let h: u32 = hour.parse().ok()?;
        let start = date.and_time(NaiveTime::from_hms_opt(h, 0, 0)?).and_utc();
        return Some((start, start.checked_add_signed(Duration::hours(1))?));
    }
    let start = date.and_time(NaiveTime::MIN).and_utc();
    Some((
        start.checked_sub_signed(margin)?,
        start
            .checked_add_signed(Duration::days(1))?
            .checked_add_signed(margin)?,
    ))
}

/// True when the partition may hold instants of `[from, to)`.
fn overlaps(key: &PartitionKey, from: DateTime<Utc>, to: DateTime<Utc>, margin: Duration) -> bool {
    partition_span(key, margin).is_none_or(|(start, end)| start < to && end > from)
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
async fn list_data_files(s3: Client, location: String) -> Result<Vec<DataFile>, LakeError> {
    let (bucket, prefix) = split_location(&location)?;
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
            .map_err(|e| lake_err(&e, &format!("list {location}")))?;
        out.extend(page.contents().iter().filter_map(|o| {
            let key = o.key()?;
            is_data_object(&prefix, key, o.size()).then(|| DataFile {
                bucket: bucket.clone(),
                key: key.to_owned(),
            })
        }));
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// How to turn one table's record batches into rows of `T`: the columns to read, and a
/// function of a batch and the window.
struct Decoder<T> {
    columns: &'static [&'static str],
    decode: fn(&DataFile, &RecordBatch, Window) -> Result<Vec<T>, LakeError>,
    window: Window,
}

impl<T> Clone for Decoder<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Decoder<T> {}

/// The half-open window `[from, to)`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Window {
    fn contains(self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// Downloads an object and decodes it on a blocking thread (decoding is CPU work).
async fn read_file<T: Send + 'static>(
    s3: Client,
    file: DataFile,
    decoder: Decoder<T>,
) -> Result<Vec<T>, LakeError> {
    let out = s3
        .get_object()
        .bucket(&file.bucket)
        .key(&file.key)
        .send()
        .await
        .map_err(|e| lake_err(&e, &format!("read {}", file.url())))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| LakeError::Unavailable {
            message: format!("read {}: {e}", file.url()),
        })?
        .into_bytes();
    let url = file.url();
    tokio::task::spawn_blocking(move || decode_file(&file, bytes, decoder))
        .await
        .map_err(|e| LakeError::Unexpected(anyhow::anyhow!("the decoder of {url} failed: {e}")))?
}

/// Decodes one Parquet file, reading only the decoder's columns.
fn decode_file<T>(
    file: &DataFile,
    bytes: bytes::Bytes,
    decoder: Decoder<T>,
) -> Result<Vec<T>, LakeError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        LakeError::Unexpected(anyhow::anyhow!("failed to decode {}: {e}", file.url()))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(&e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), decoder.columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(&e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        rows.extend((decoder.decode)(file, &batch, decoder.window)?);
    }
    Ok(rows)
}

/// A column of the batch as `ty` (files written by other engines may use other widths or
/// units: Int32 ids, nanosecond timestamps, string views).
fn column(
    file: &DataFile,
    batch: &RecordBatch,
    name: &str,
    ty: &DataType,
) -> Result<ArrayRef, LakeError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| LakeError::Schema {
            message: format!("{} has no column {name}", file.url()),
        })?;
    if col.data_type() == ty {
        return Ok(Arc::clone(col));
    }
    cast(col, ty).map_err(|e| LakeError::Schema {
        message: format!("column {name} of {}: {e}", file.url()),
    })
}

/// A timestamp column in microseconds. The stored values count from the Unix epoch in UTC
/// whatever the time zone annotation (or its absence, as in INT96 files Hive-style writers
/// produce), so only the unit is converted and the annotation kept.
fn micros_column(file: &DataFile, batch: &RecordBatch, name: &str) -> Result<ArrayRef, LakeError> {
    let ty = match batch.column_by_name(name).map(|c| c.data_type()) {
        Some(DataType::Timestamp(_, tz)) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        Some(other) => {
            return Err(LakeError::Schema {
                message: format!(
                    "column {name} of {} is {other}, not a timestamp",
                    file.url()
                ),
            });
        }
        None => DataType::Null,
    };
    column(file, batch, name, &ty)
}

/// Logs the rows of a file that could not be read as history (they would have been refused
/// before reaching the lake; a file written by another tool may hold them).
fn report_skipped(file: &DataFile, skipped: usize) {
    if skipped > 0 {
        tracing::warn!(file = %file.url(), rows = skipped, "Skipped lake rows with missing or invalid ids, types or times.");
    }
}

/// Product interactions of a clickstream batch in the window, with their dedup keys.
fn decode_clicks(
    file: &DataFile,
    batch: &RecordBatch,
    window: Window,
) -> Result<Vec<(EventKey, TrainingEvent)>, LakeError> {
    use click_columns::{EVENT_ID, EVENT_TYPE, OCCURRED_AT, PRODUCT_ID, SESSION_ID, USER_ID};
    let ids = column(file, batch, EVENT_ID, &DataType::Utf8)?;
    let kinds = column(file, batch, EVENT_TYPE, &DataType::Utf8)?;
    let users = column(file, batch, USER_ID, &DataType::Int64)?;
    let sessions = column(file, batch, SESSION_ID, &DataType::Utf8)?;
    let products = column(file, batch, PRODUCT_ID, &DataType::Int64)?;
    let ats = micros_column(file, batch, OCCURRED_AT)?;
    let (ids, kinds, sessions) = (
        ids.as_string::<i32>(),
        kinds.as_string::<i32>(),
        sessions.as_string::<i32>(),
    );
    let (users, products) = (
        users.as_primitive::<Int64Type>(),
        products.as_primitive::<Int64Type>(),
    );
    let ats = ats.as_primitive::<TimestampMicrosecondType>();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut skipped: usize = 0;
    for r in 0..batch.num_rows() {
        // Page views name no product: not an interaction.
        if kinds.is_valid(r) && kinds.value(r) == EventType::PageView.as_str() {
            continue;
        }
        let at = ats
            .is_valid(r)
            .then(|| DateTime::from_timestamp_micros(ats.value(r)))
            .flatten();
        if at.is_some_and(|at| !window.contains(at)) {
            continue;
        }
        let parsed = (
            ids.is_valid(r).then(|| ids.value(r)),
            kinds
                .is_valid(r)
                .then(|| EventType::parse(kinds.value(r)))
                .flatten(),
            users
                .is_valid(r)
                .then(|| CustomerId::from_i64(users.value(r)).ok())
                .flatten(),
            sessions.is_valid(r).then(|| sessions.value(r)),
            products
                .is_valid(r)
                .then(|| ProductId::from_i64(products.value(r)).ok())
                .flatten(),
            at,
        );
        let (Some(id), Some(kind), Some(customer), Some(session), Some(product), Some(at)) = parsed
        else {
            skipped = skipped.saturating_add(1);
            continue;
        };
        out.push((
            EventKey::of(id),
            TrainingEvent {
                customer,
                session: session_hash(session),
                product,
                kind,
                at,
            },
        ));
    }
    report_skipped(file, skipped);
    Ok(out)
}

/// Order lines of an `order_items` batch placed in the window.
fn decode_items(
    file: &DataFile,
    batch: &RecordBatch,
    window: Window,
) -> Result<Vec<PurchaseRecord>, LakeError> {
    use item_columns::{CUSTOMER_ID, ORDER_ID, ORDERED_AT, PRODUCT_ID};
    let orders = column(file, batch, ORDER_ID, &DataType::Int64)?;
    let customers = column(file, batch, CUSTOMER_ID, &DataType::Int64)?;
    let products = column(file, batch, PRODUCT_ID, &DataType::Int64)?;
    let ats = micros_column(file, batch, ORDERED_AT)?;
    let (orders, customers, products) = (
        orders.as_primitive::<Int64Type>(),
        customers.as_primitive::<Int64Type>(),
        products.as_primitive::<Int64Type>(),
    );
    let ats = ats.as_primitive::<TimestampMicrosecondType>();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut skipped: usize = 0;
    for r in 0..batch.num_rows() {
        let at = ats
            .is_valid(r)
            .then(|| DateTime::from_timestamp_micros(ats.value(r)))
            .flatten();
        if at.is_some_and(|at| !window.contains(at)) {
            continue;
        }
        let parsed = (
            orders
                .is_valid(r)
                .then(|| OrderId::from_i64(orders.value(r)).ok())
                .flatten(),
            customers
                .is_valid(r)
                .then(|| CustomerId::from_i64(customers.value(r)).ok())
                .flatten(),
            products
                .is_valid(r)
                .then(|| ProductId::from_i64(products.value(r)).ok())
                .flatten(),
            at,
        );
        let (Some(order), Some(customer), Some(product), Some(at)) = parsed else {
            skipped = skipped.saturating_add(1);
            continue;
        };
        out.push(PurchaseRecord {
            customer,
            order,
            product,
            at,
        });
    }
    report_skipped(file, skipped);
    Ok(out)
}

impl S3HistorySource {
    /// Every file of the partitions of `table` that may hold the window, decoded, a few at once.
    fn read<T: Send + 'static>(
        &self,
        table: &'static str,
        margin: Duration,
        decoder: Decoder<T>,
    ) -> BoxStream<'static, Result<Vec<T>, LakeError>> {
        let this = self.clone();
        let Window { from, to } = decoder.window;
        stream::once(async move {
            let files = this
                .files(table, dt_bounds(from, to, margin), |key| {
                    overlaps(key, from, to, margin)
                })
                .await?;
            tracing::debug!(table, files = files.len(), "Reading lake history.");
            let s3 = this.s3.clone();
            Ok::<_, LakeError>(
                stream::iter(files)
                    .map(move |f| read_file(s3.clone(), f, decoder))
                    .buffered(this.concurrency),
            )
        })
        .try_flatten()
        .boxed()
    }
}

#[async_trait]
impl HistorySource for S3HistorySource {
    fn interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
        let decoder = Decoder {
            columns: &click_columns::ALL,
            decode: decode_clicks,
            window: Window { from, to },
        };
        // Clickstream partitions are UTC hours: no margin.
        self.read(tables::CLICKSTREAM, Duration::zero(), decoder)
            .scan(HashSet::new(), |seen: &mut HashSet<EventKey>, chunk| {
                let chunk = chunk.map(|rows| {
                    rows.into_iter()
                        .filter_map(|(key, e)| seen.insert(key).then_some(e))
                        .collect::<Vec<_>>()
                });
                futures::future::ready(Some(chunk))
            })
            .try_filter(|chunk| futures::future::ready(!chunk.is_empty()))
            .boxed()
    }

    fn purchases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
        let decoder = Decoder {
            columns: &item_columns::ALL,
            decode: decode_items,
            window: Window { from, to },
        };
        self.read(tables::ORDER_ITEMS, STORE_DAY_MARGIN, decoder)
            .try_filter(|chunk| futures::future::ready(!chunk.is_empty()))
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hour(dt: &str, h: &str) -> PartitionKey {
        PartitionKey(vec![
            (DT.to_owned(), dt.to_owned()),
            (HOUR.to_owned(), h.to_owned()),
        ])
    }

    fn day(dt: &str) -> PartitionKey {
        PartitionKey(vec![(DT.to_owned(), dt.to_owned())])
    }

    #[test]
    fn hours_are_kept_only_when_they_overlap_the_half_open_window() {
        let (from, to) = (utc("2026-11-25T10:30:00Z"), utc("2026-11-25T12:00:00Z"));
        let z = Duration::zero();
        assert!(!overlaps(&hour("2026-11-25", "09"), from, to, z));
        assert!(overlaps(&hour("2026-11-25", "10"), from, to, z));
        assert!(overlaps(&hour("2026-11-25", "11"), from, to, z));
        assert!(
            !overlaps(&hour("2026-11-25", "12"), from, to, z),
            "to is excluded"
        );
        assert!(!overlaps(&hour("2026-11-24", "11"), from, to, z));
        assert!(
            overlaps(&hour("not-a-date", "11"), from, to, z),
            "a key that names no date is read, not guessed"
        );
    }

    #[test]
    fn store_days_are_kept_a_day_either_side_of_their_utc_date() {
        // A store in UTC+7: its 25 Nov starts at 17:00 UTC on the 24th.
        let (from, to) = (utc("2026-11-24T18:00:00Z"), utc("2026-11-24T20:00:00Z"));
        let m = STORE_DAY_MARGIN;
        assert!(overlaps(&day("2026-11-25"), from, to, m));
        assert!(overlaps(&day("2026-11-23"), from, to, m));
        assert!(!overlaps(&day("2026-11-27"), from, to, m));
        assert!(!overlaps(&day("2026-11-21"), from, to, m));
    }

    #[test]
    fn the_glue_expression_bounds_dt_only_where_the_window_is_bounded() {
        let (lo, hi) = dt_bounds(
            utc("2026-11-25T00:30:00Z"),
            utc("2026-11-26T00:00:00Z"),
            Duration::zero(),
        );
        assert_eq!(
            dt_expression(lo, hi).as_deref(),
            Some("dt >= '2026-11-25' AND dt <= '2026-11-26'")
        );
        let (lo, hi) = dt_bounds(
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            STORE_DAY_MARGIN,
        );
        assert_eq!(
            dt_expression(lo, hi),
            None,
            "the whole history has no bounds"
        );
        let (lo, hi) = dt_bounds(
            utc("2026-11-25T00:30:00Z"),
            DateTime::<Utc>::MAX_UTC,
            STORE_DAY_MARGIN,
        );
        assert_eq!(dt_expression(lo, hi).as_deref(), Some("dt >= '2026-11-24'"));
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

    #[test]
    fn event_ids_dedupe_as_uuids_whatever_their_spelling() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            EventKey::of(&id.to_string()),
            EventKey::of(&id.to_string().to_uppercase())
        );
        assert_eq!(EventKey::of("x"), EventKey::Text("x".to_owned()));
    }
}
