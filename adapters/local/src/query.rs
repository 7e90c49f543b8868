//! SQL over the local lake with DataFusion: every catalogued table is registered as a listing
//! table over its Hive-style directory (partition keys become columns, and filters on them prune
//! directories). The trainer's history does not go through SQL: see [`crate::LocalHistory`].

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use fashion_domain::lake::all_tables;
use fashion_domain::ports::{LakeError, QueryEngine, QueryParam, QueryResult, TableCatalog};
use serde_json::Value;

use crate::lake::LocalLake;

/// DataFusion over a [`LocalLake`] and the tables its catalog knows.
#[derive(Clone)]
pub struct DataFusionEngine {
    lake: LocalLake,
    catalog: Arc<dyn TableCatalog>,
}

fn query_err(e: impl std::fmt::Display) -> LakeError {
    LakeError::Query {
        message: e.to_string(),
    }
}

impl DataFusionEngine {
    /// An engine over `lake`, registering the tables `catalog` knows.
    #[must_use]
    pub fn new(lake: LocalLake, catalog: Arc<dyn TableCatalog>) -> Self {
        Self { lake, catalog }
    }

    /// A session with every catalogued table registered.
    ///
    /// # Errors
    /// [`LakeError`] when the catalog cannot be read or a table cannot be registered.
    pub async fn context(&self) -> Result<SessionContext, LakeError> {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        for known in all_tables() {
            let Some(def) = self.catalog.table(&known.name).await? else {
                continue;
            };
            let dir = self.lake.table_dir(&def.name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                LakeError::Unexpected(anyhow::anyhow!("failed to create {}: {e}", dir.display()))
            })?;
            let path = std::path::absolute(&dir).unwrap_or(dir);
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(
                    def.partition_keys
                        .iter()
                        .map(|k| (k.clone(), DataType::Utf8))
                        .collect(),
                );
            ctx.register_listing_table(
                def.name.as_str(),
                format!("{}/", path.display()),
                options,
                Some(fashion_parquet::arrow_schema(&def)),
                None,
            )
            .await
            .map_err(|e| {
                LakeError::Unexpected(anyhow::anyhow!(
                    "failed to register table {}: {e}",
                    def.name
                ))
            })?;
        }
        Ok(ctx)
    }

    /// Runs SQL and returns Arrow batches (for callers that convert columns themselves).
    ///
    /// # Errors
    /// [`LakeError::Query`] for SQL the engine refuses or that fails.
    pub async fn batches(
        &self,
        sql: &str,
        params: &[QueryParam],
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let ctx = self.context().await?;
        let mut df = read_only(&ctx, sql).await?;
        if !params.is_empty() {
            let values: Vec<ScalarValue> = params
                .iter()
                .map(|p| match p {
                    QueryParam::Text(s) => ScalarValue::Utf8(Some(s.clone())),
                    QueryParam::Int(i) => ScalarValue::Int64(Some(*i)),
                    QueryParam::Float(f) => ScalarValue::Float64(Some(*f)),
                })
                .collect();
            df = df.with_param_values(values).map_err(query_err)?;
        }
        df.collect().await.map_err(query_err)
    }
}

/// Plans `sql` as a query only: DDL (`CREATE EXTERNAL TABLE`, which could read any path), DML
/// (`COPY … TO`, `INSERT`, which could write any path) and statements (`SET`) are refused.
async fn read_only(ctx: &SessionContext, sql: &str) -> Result<DataFrame, LakeError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(sql, options).await.map_err(query_err)
}

/// One cell as JSON: integers as numbers, money (decimals) as exact strings, instants as RFC 3339.
fn cell(col: &ArrayRef, row: usize, fmt: &ArrayFormatter<'_>) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let s = fmt.value(row).to_string();
            s.parse::<i64>()
                .map(Value::from)
                .or_else(|_| s.parse::<u64>().map(Value::from))
                .unwrap_or(Value::String(s))
        }
        DataType::Float32 | DataType::Float64 => fmt
            .value(row)
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or(Value::Null),
        DataType::Boolean => col
            .as_any()
            .downcast_ref::<BooleanArray>()
            .map_or(Value::Null, |b| Value::Bool(b.value(row))),
        DataType::Decimal128(_, _) => col
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .map_or(Value::Null, |d| Value::String(d.value_as_string(row))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => col
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .and_then(|t| DateTime::from_timestamp_micros(t.value(row)))
            .map_or(Value::Null, |t| {
                Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }),
        _ => Value::String(fmt.value(row).to_string()),
    }
}

/// Converts batches to the port's result shape.
///
/// # Errors
/// [`LakeError::Query`] for column types that cannot be displayed.
pub fn to_result(batches: &[RecordBatch]) -> Result<QueryResult, LakeError> {
    let Some(first) = batches.first() else {
        return Ok(QueryResult::default());
    };
    let columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let opts = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_err)?;
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| cell(c, r, f))
                    .collect(),
            );
        }
    }
    Ok(QueryResult { columns, rows })
}

#[async_trait]
impl QueryEngine for DataFusionEngine {
    async fn query(&self, sql: &str, params: &[QueryParam]) -> Result<QueryResult, LakeError> {
        let batches = self.batches(sql, params).await?;
        let mut res = to_result(&batches)?;
        if res.columns.is_empty() {
            // No rows: still report the columns.
            let ctx = self.context().await?;
            if let Ok(df) = read_only(&ctx, sql).await {
                res.columns = df
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
            }
        }
        Ok(res)
    }
}
