//! The daily job: one store day of purchases from the transactional database to clean,
//! aggregated, catalogued lake partitions.
//!
//! For a [`StoreDay`] the job
//! 1. ensures every table it writes in the [`TableCatalog`];
//! 2. reads the products and customers snapshots, the reference for the checks;
//! 3. streams the day's orders from the [`PurchaseSource`] chunk by chunk, cleaning each order
//!    ([`clean`]: exact duplicate lines dropped and counted, rows breaking a rule quarantined with
//!    the rule and a detail) and folding clean orders into the aggregates ([`aggregate`]); clean
//!    and quarantined rows are written to their open partitions as each chunk is done, so only
//!    the aggregates and one chunk are ever in memory;
//! 4. writes `daily_sales`, `customer_daily` and the `products` and `customers` snapshots;
//! 5. commits every partition (all with [`WriteMode::Replace`]), then registers them in the
//!    catalog.
//!
//! Nothing becomes visible before every partition is written: a failure (or crash) up to that
//! point aborts every open write and leaves the previous state of every table as it was. The
//! commits themselves are atomic per partition, not across tables (the lake ports promise no
//! more): a failure between two commits leaves some tables at the new day and some at the old,
//! which the next run of the same day repairs, because a run replaces every partition it writes
//! and the same input always gives the same rows in the same order.

mod aggregate;
mod clean;
mod index;

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use self::aggregate::SalesAggregator;
use self::clean::{CleanBatch, Cleaner, ReferenceData, Tally, Verdict};
use crate::calendar::StoreDay;
use crate::lake::{PartitionInfo, PartitionKey, TableDef, TableRows, tables};
use crate::order::StoredOrder;
use crate::ports::{
    Clock, LakeError, LakeWriter, PartitionWriter, PurchaseSource, PurchaseStoreError, SystemClock,
    TableCatalog, WriteMode,
};
use crate::sales::QuarantineRule;

/// The tables the daily job writes, in commit order: detail first, aggregates and snapshots after.
pub const DAILY_JOB_TABLES: [&str; 7] = [
    tables::ORDERS,
    tables::ORDER_ITEMS,
    tables::QUARANTINE,
    tables::DAILY_SALES,
    tables::CUSTOMER_DAILY,
    tables::PRODUCTS,
    tables::CUSTOMERS,
];

/// Orders and lines counted together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Order rows.
    pub orders: u64,
    /// Order line rows.
    pub lines: u64,
}

impl Add for RowCounts {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            // Row counts: saturating, as no day has 2^64 rows.
            orders: self.orders.saturating_add(rhs.orders),
            lines: self.lines.saturating_add(rhs.lines),
        }
    }
}

impl AddAssign for RowCounts {
    fn add_assign(&mut self, rhs: Self) {
        *self = self.add(rhs);
    }
}

/// What one run of the daily job did; what `fashion etl run --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyJobReport {
    /// The store day.
    pub date: NaiveDate,
    /// Its first instant.
    pub day_start: DateTime<Utc>,
    /// The first instant of the next day.
    pub day_end: DateTime<Utc>,
    /// Rows read from the transactional database (duplicates included).
    pub extracted: RowCounts,
    /// Exact duplicate lines dropped (not quarantined).
    pub duplicate_lines_dropped: u64,
    /// Rows written per table (`quarantine` counts both of its partitions).
    pub written: BTreeMap<String, u64>,
    /// Rows quarantined, per rule.
    pub quarantined: BTreeMap<QuarantineRule, RowCounts>,
    /// The partitions committed and catalogued.
    pub partitions: Vec<PartitionInfo>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

impl DailyJobReport {
    /// Rows written to `table` (0 when none).
    #[must_use]
    pub fn written_to(&self, table: &str) -> u64 {
        self.written.get(table).copied().unwrap_or(0)
    }

    /// Quarantined rows over every rule.
    #[must_use]
    pub fn quarantined_total(&self) -> RowCounts {
        self.quarantined
            .values()
            .fold(RowCounts::default(), |a, c| a.add(*c))
    }

    /// True when every extracted row is accounted for: published, quarantined, or (lines only)
    /// dropped as an exact duplicate.
    #[must_use]
    pub fn is_balanced(&self) -> bool {
        let q = self.quarantined_total();
        // Checked sums: an overflowing one is unbalanced, never wrapped into a match.
        let lines = self
            .written_to(tables::ORDER_ITEMS)
            .checked_add(q.lines)
            .and_then(|n| n.checked_add(self.duplicate_lines_dropped));
        Some(self.extracted.orders) == self.written_to(tables::ORDERS).checked_add(q.orders)
            && Some(self.extracted.lines) == lines
            && Some(self.written_to(tables::QUARANTINE)) == q.orders.checked_add(q.lines)
    }
}

/// Why a run of the daily job failed. Nothing it wrote became visible unless the error says a
/// commit failed.
#[derive(Debug, thiserror::Error)]
pub enum DailyJobError {
    /// The transactional database failed.
    #[error("failed to read purchases from the store's database")]
    Source(#[from] PurchaseStoreError),
    /// Writing a partition failed; every open write was aborted.
    #[error("failed to write partition {partition} of lake table {table}")]
    Write {
        /// The table.
        table: String,
        /// The partition path.
        partition: String,
        /// The lake's error.
        #[source]
        source: LakeError,
    },
    /// Committing a partition failed: partitions committed before it are visible, the others are
    /// not; rerunning the day repairs this.
    #[error(
        "failed to commit partition {partition} of lake table {table} after {committed} other partitions were committed; rerun the day"
    )]
    Commit {
        /// The table.
        table: String,
        /// The partition path.
        partition: String,
        /// Partitions already committed by this run.
        committed: usize,
        /// The lake's error.
        #[source]
        source: LakeError,
    },
    /// The table catalog failed.
    #[error("failed to record table {table} in the table catalog")]
    Catalog {
        /// The table.
        table: String,
        /// The catalog's error.
        #[source]
        source: LakeError,
    },
    /// The lake's table list lacks a table the job writes (a programming error).
    #[error("the lake defines no table named {0}")]
    UnknownTable(String),
}

impl DailyJobError {
    /// True when running the same day again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Source(e) => e.is_retryable(),
            Self::Write { source, .. }
            | Self::Commit { source, .. }
            | Self::Catalog { source, .. } => source.is_retryable(),
            Self::UnknownTable(_) => false,
        }
    }
}

/// The daily job, generic over its ports. Each port is shared (`Arc`), so one adapter may serve
/// as both lake writer and catalog, and `dyn` ports chosen by configuration work as well.
pub struct DailyJob<S: ?Sized, L: ?Sized, C: ?Sized, K = SystemClock> {
    source: Arc<S>,
    lake: Arc<L>,
    catalog: Arc<C>,
    clock: K,
}

impl<S, L, C> DailyJob<S, L, C, SystemClock>
where
    S: PurchaseSource + ?Sized,
    L: LakeWriter + ?Sized,
    C: TableCatalog + ?Sized,
{
    /// A job reading `source` and writing `lake`, catalogued in `catalog`, timed by the system
    /// clock.
    pub const fn new(source: Arc<S>, lake: Arc<L>, catalog: Arc<C>) -> Self {
        Self {
            source,
            lake,
            catalog,
            clock: SystemClock,
        }
    }
}

/// One open partition write and what went into it.
struct OpenPartition {
    table: &'static str,
    key: PartitionKey,
    writer: Box<dyn PartitionWriter>,
    rows: u64,
}

/// Every partition a run writes, so that a failure can abort them all.
#[derive(Default)]
struct Partitions {
    open: Vec<OpenPartition>,
}

/// Positions of the detail partitions in [`Partitions::open`].
const ORDERS_SLOT: usize = 0;
const ITEMS_SLOT: usize = 1;
const QUARANTINED_ORDERS_SLOT: usize = 2;
const QUARANTINED_ITEMS_SLOT: usize = 3;

impl Partitions {
    async fn open<L: LakeWriter + ?Sized>(
        &mut self,
        lake: &L,
        def: &TableDef,
        table: &'static str,
        key: PartitionKey,
        write_id: &str,
    ) -> Result<usize, DailyJobError> {
        let writer = lake
            .open(def, &key, WriteMode::Replace, write_id)
            .await
            .map_err(|source| DailyJobError::Write {
                table: table.to_owned(),
                partition: key.path(),
                source,
            })?;
        self.open.push(OpenPartition {
            table,
            key,
            writer,
            rows: 0,
        });
        Ok(self.open.len().saturating_sub(1))
    }

    async fn write(&mut self, slot: usize, rows: TableRows) -> Result<(), DailyJobError> {
        if rows.is_empty() {
            return Ok(());
        }
        let Some(p) = self.open.get_mut(slot) else {
            return Err(DailyJobError::UnknownTable(rows.table().to_owned()));
        };
        let n = rows.len() as u64;
        p.writer
            .write(rows)
            .await
            .map_err(|source| DailyJobError::Write {
                table: p.table.to_owned(),
                partition: p.key.path(),
                source,
            })?;
        p.rows = p.rows.saturating_add(n);
        Ok(())
    }

    /// Drops every open write; the lake stays as it was.
    async fn abort_all(self) {
        for p in self.open {
            if let Err(e) = p.writer.abort().await {
                // The write never became visible; its leftovers are the lake's to clean.
                warn!(
                    table = p.table,
                    partition = %p.key,
                    error.message = %e,
                    "Failed to abort a partition write."
                );
            }
        }
    }

    /// Commits every write in order; on a failure, aborts the rest.
    async fn commit_all(self) -> Result<Vec<(PartitionInfo, &'static str, u64)>, DailyJobError> {
        let mut done = Vec::with_capacity(self.open.len());
        let mut rest = self.open.into_iter();
        while let Some(p) = rest.next() {
            match p.writer.commit().await {
                Ok(info) => done.push((info, p.table, p.rows)),
                Err(source) => {
                    Partitions {
                        open: rest.collect(),
                    }
                    .abort_all()
                    .await;
                    return Err(DailyJobError::Commit {
                        table: p.table.to_owned(),
                        partition: p.key.path(),
                        committed: done.len(),
                        source,
                    });
                }
            }
        }
        Ok(done)
    }
}

fn table_def(name: &str) -> Result<TableDef, DailyJobError> {
    TableDef::named(name).ok_or_else(|| DailyJobError::UnknownTable(name.to_owned()))
}

impl<S, L, C, K> DailyJob<S, L, C, K>
where
    S: PurchaseSource + ?Sized,
    L: LakeWriter + ?Sized,
    C: TableCatalog + ?Sized,
    K: Clock,
{
    /// The same job timed by `clock`.
    pub fn with_clock<K2: Clock>(self, clock: K2) -> DailyJob<S, L, C, K2> {
        DailyJob {
            source: self.source,
            lake: self.lake,
            catalog: self.catalog,
            clock,
        }
    }

    /// Runs the job for `day`. Running the same day again with the same data gives the same rows.
    ///
    /// # Errors
    /// [`DailyJobError`]; see each variant for what is left visible.
    #[tracing::instrument(skip_all, fields(date = %day.date), err)]
    pub async fn run(&self, day: StoreDay) -> Result<DailyJobReport, DailyJobError> {
        let started_at = self.clock.now();
        let defs: Vec<TableDef> = DAILY_JOB_TABLES
            .into_iter()
            .map(table_def)
            .collect::<Result<_, _>>()?;
        for def in &defs {
            self.catalog
                .ensure_table(def)
                .await
                .map_err(|source| DailyJobError::Catalog {
                    table: def.name.clone(),
                    source,
                })?;
        }
        // The extraction starts first: a source may stream ahead while the snapshots load.
        let chunks = self.source.extract_day(day);
        let (products, customers) =
            futures::try_join!(self.source.products(), self.source.customers())?;
        let refs = ReferenceData::new(products, customers);

        let mut parts = Partitions::default();
        let tally = match self.write_all(day, &defs, refs, chunks, &mut parts).await {
            Ok(t) => t,
            Err(e) => {
                parts.abort_all().await;
                return Err(e);
            }
        };
        let committed = parts.commit_all().await?;

        let mut written: BTreeMap<String, u64> = BTreeMap::new();
        let mut partitions = Vec::with_capacity(committed.len());
        for (info, table, rows) in committed {
            let count = written.entry(table.to_owned()).or_default();
            *count = count.saturating_add(rows);
            self.catalog
                .put_partition(&info)
                .await
                .map_err(|source| DailyJobError::Catalog {
                    table: table.to_owned(),
                    source,
                })?;
            partitions.push(info);
        }
        let finished = self.clock.now();
        let report = DailyJobReport {
            date: day.date,
            day_start: day.start,
            day_end: day.end,
            extracted: tally.extracted,
            duplicate_lines_dropped: tally.duplicates,
            written,
            quarantined: tally.quarantined,
            partitions,
            started_at,
            duration_ms: u64::try_from(
                finished
                    .signed_duration_since(started_at)
                    .num_milliseconds(),
            )
            .unwrap_or(0),
        };
        let q = report.quarantined_total();
        info!(
            orders = report.extracted.orders,
            lines = report.extracted.lines,
            quarantined_orders = q.orders,
            quarantined_lines = q.lines,
            duplicates = report.duplicate_lines_dropped,
            duration_ms = report.duration_ms,
            "Published the store day."
        );
        Ok(report)
    }

    /// Opens and fills every partition of the run; commits nothing.
    async fn write_all(
        &self,
        day: StoreDay,
        defs: &[TableDef],
        refs: ReferenceData,
        mut chunks: BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>>,
        parts: &mut Partitions,
    ) -> Result<Tally, DailyJobError> {
        let def = |name: &str| {
            defs.iter()
                .find(|d| d.name == name)
                .ok_or_else(|| DailyJobError::UnknownTable(name.to_owned()))
        };
        let lake = &*self.lake;
        let dt = PartitionKey::day(day.date);
        // Deterministic, so that a rerun of the day writes files of the same names.
        let write_id = format!("daily-{}", day.date.format("%Y%m%d"));
        let write_id = write_id.as_str();
        // The slots must match the *_SLOT constants.
        parts
            .open(
                lake,
                def(tables::ORDERS)?,
                tables::ORDERS,
                dt.clone(),
                write_id,
            )
            .await?;
        parts
            .open(
                lake,
                def(tables::ORDER_ITEMS)?,
                tables::ORDER_ITEMS,
                dt.clone(),
                write_id,
            )
            .await?;
        for source_table in [tables::ORDERS, tables::ORDER_ITEMS] {
            parts
                .open(
                    lake,
                    def(tables::QUARANTINE)?,
                    tables::QUARANTINE,
                    PartitionKey::quarantine(source_table, day.date),
                    write_id,
                )
                .await?;
        }

        let mut tally = Tally::default();
        let mut sales = SalesAggregator::new(&refs);
        let mut cleaner = Cleaner::new(day, &refs);
        while let Some(chunk) = chunks.try_next().await? {
            let mut batch = CleanBatch::default();
            batch.orders.reserve(chunk.len());
            batch
                .lines
                .reserve(chunk.iter().map(|o| o.items.len()).sum());
            for stored in chunk {
                if let Verdict::Accepted { lines } = cleaner.clean(stored, &mut batch, &mut tally)
                    && let Some(order) = batch.orders.last()
                {
                    let first = batch.lines.len().saturating_sub(lines);
                    let order_lines = batch.lines.get(first..).unwrap_or_default();
                    if let Err(overflow) = sales.add(&refs, order, order_lines) {
                        // Quarantine the order, publish the day.
                        Cleaner::hold_back_accepted(
                            &mut batch,
                            &mut tally,
                            lines,
                            QuarantineRule::AmountOutOfRange,
                            &overflow,
                        );
                    }
                }
            }
            parts
                .write(ORDERS_SLOT, TableRows::Orders(batch.orders))
                .await?;
            parts
                .write(ITEMS_SLOT, TableRows::OrderItems(batch.lines))
                .await?;
            parts
                .write(
                    QUARANTINED_ORDERS_SLOT,
                    TableRows::Quarantine(batch.quarantined_orders),
                )
                .await?;
            parts
                .write(
                    QUARANTINED_ITEMS_SLOT,
                    TableRows::Quarantine(batch.quarantined_lines),
                )
                .await?;
        }
        drop(chunks);

        let (daily_sales, customer_daily) = sales.finish(&refs);
        let (products, customers) = refs.into_snapshots();
        for (table, rows) in [
            (tables::DAILY_SALES, TableRows::DailySales(daily_sales)),
            (
                tables::CUSTOMER_DAILY,
                TableRows::CustomerDaily(customer_daily),
            ),
            (tables::PRODUCTS, TableRows::Products(products)),
            (tables::CUSTOMERS, TableRows::Customers(customers)),
        ] {
            let slot = parts
                .open(lake, def(table)?, table, dt.clone(), write_id)
                .await?;
            parts.write(slot, rows).await?;
        }
        Ok(tally)
    }
}
