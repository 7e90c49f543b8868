//! Ports of the data lake: writing partitions, cataloguing them, and querying them with SQL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::errors::LakeError;
use crate::lake::{PartitionInfo, PartitionKey, TableDef, TableRows};

/// How a committed partition relates to what was there before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteMode {
    /// The commit replaces the whole partition (daily batch reruns).
    Replace,
    /// The commit adds files to the partition (micro-batches of the clickstream).
    Append,
}

/// An open write to one partition. Nothing written is visible to readers before `commit`.
///
/// # Errors
/// - [`LakeError::Schema`] MUST be returned when rows of another table are written.
#[async_trait]
pub trait PartitionWriter: Send {
    /// Buffers or streams rows into the partition's new files.
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError>;

    /// Makes everything written visible at once: for [`WriteMode::Replace`] readers see the old
    /// partition or the new one, never a mix; for [`WriteMode::Append`] they see all of this
    /// write's files or none. A crash before `commit` returns leaves the previous state readable.
    async fn commit(self: Box<Self>) -> Result<PartitionInfo, LakeError>;

    /// Drops everything written; the partition stays as it was.
    async fn abort(self: Box<Self>) -> Result<(), LakeError>;
}

/// Checks what every [`LakeWriter::open`] must refuse: a partition whose keys are not the table's
/// partition keys, in order, a partition value that is empty, `.`/`..` or holds a `/` (values
/// are path segments and object-key segments), or a write id with characters other than
/// letters, digits, `-`, `_` (it names files and object keys).
///
/// # Errors
/// [`LakeError::Schema`] naming what is wrong.
pub fn check_open(
    table: &TableDef,
    partition: &PartitionKey,
    write_id: &str,
) -> Result<(), LakeError> {
    let keys = partition.0.iter().map(|(k, _)| k.as_str());
    if !keys.eq(table.partition_keys.iter().map(String::as_str)) {
        return Err(LakeError::Schema {
            message: format!(
                "partition {partition} does not match keys {:?} of {}",
                table.partition_keys, table.name
            ),
        });
    }
    if partition
        .0
        .iter()
        .any(|(_, v)| v.is_empty() || v == "." || v == ".." || v.contains(['/', '\\']))
    {
        return Err(LakeError::Schema {
            message: format!(
                "partition values of {partition} must be non-empty path segments without '/'"
            ),
        });
    }
    let valid = !write_id.is_empty()
        && write_id.len() <= 200
        && write_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(LakeError::Schema {
            message: format!("invalid write id {write_id:?}"),
        });
    }
    Ok(())
}

/// Writes Parquet partitions under Hive-style paths `<table>/<k>=<v>/...`.
///
/// Every write has a `write_id` that names its files. Committing a write whose `write_id` was
/// already committed to the same partition replaces that write's files instead of adding new ones,
/// so a retried write (same id, same rows) is idempotent.
///
/// # Errors
/// - [`LakeError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait LakeWriter: Send + Sync {
    /// Opens a write to one partition of `table`. `write_id` is made of letters, digits, `-` and
    /// `_`.
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError>;
}

/// The record of tables and their partitions (Glue on AWS).
///
/// Whether a partition's data becomes visible to queries at [`PartitionWriter::commit`] (files
/// on disk, an adapter that registers its own partition) or at `put_partition` depends on the
/// adapter; callers always do both, in that order, and both are idempotent. `partitions` of a table
/// never ensured is empty.
///
/// # Errors
/// - [`LakeError::NotFound`] MUST be returned by `put_partition` for a table never ensured.
/// - [`LakeError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait TableCatalog: Send + Sync {
    /// Creates the table, or updates its schema to `table`; idempotent.
    async fn ensure_table(&self, table: &TableDef) -> Result<(), LakeError>;

    /// The table's definition, `None` if it was never ensured.
    async fn table(&self, name: &str) -> Result<Option<TableDef>, LakeError>;

    /// Records a partition (insert or replace by key); idempotent.
    async fn put_partition(&self, partition: &PartitionInfo) -> Result<(), LakeError>;

    /// The table's partitions, ordered by key.
    async fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, LakeError>;
}

/// A typed query parameter, bound to `$1`, `$2`, ... (never spliced into SQL text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryParam {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
}

/// The rows of a query, as JSON values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Runs SQL over the lake's catalogued tables (DataFusion locally, Athena on AWS).
///
/// # Errors
/// - [`LakeError::Query`] MUST be returned for SQL the engine refuses or that fails.
/// - [`LakeError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait QueryEngine: Send + Sync {
    /// Runs one statement with its parameters and returns all rows.
    async fn query(&self, sql: &str, params: &[QueryParam]) -> Result<QueryResult, LakeError>;
}
