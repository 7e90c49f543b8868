//! SQL over the local lake with DataFusion: every catalogued table is registered as a listing
//! table over its Hive-style directory (partition keys become columns, and filters on them prune
//! directories). The same engine reads the history the trainer learns from.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use fashion_domain::event::EventType;
use fashion_domain::history::{PurchaseRecord, TrainingEvent, session_hash};
use fashion_domain::ids::{CustomerId, OrderId, ProductId};
use fashion_domain::lake::{all_tables, tables};
use fashion_domain::ports::{
    HistorySource, LakeError, QueryEngine, QueryParam, QueryResult, TableCatalog,
};
use futures::stream::{self, BoxStream, StreamExt};
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

/// The dates a `[from, to)` window touches, as `dt` partition values (for pruning).
fn dt_bounds(from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    let day = chrono::Duration::days(1);
    let lo = if from.checked_sub_signed(day).is_none() {
        "0000-01-01".to_owned()
    } else {
        from.format("%Y-%m-%d").to_string()
    };
    let hi = if to.checked_add_signed(day).is_none() {
        "9999-12-31".to_owned()
    } else {
        to.format("%Y-%m-%d").to_string()
    };
    (lo, hi)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[async_trait]
impl HistorySource for DataFusionEngine {
    fn interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
        let this = self.clone();
        stream::once(async move {
            if this.catalog.table(tables::CLICKSTREAM).await?.is_none() {
                return Ok(Vec::new());
            }
            let (lo, hi) = dt_bounds(from, to);
            let sql = "SELECT event_id, user_id, session_id, product_id, event_type, \
                       CAST(occurred_at AS BIGINT) AS at FROM clickstream \
                       WHERE product_id IS NOT NULL AND event_type <> 'page_view' AND dt >= $1 AND dt <= $2 \
                       AND CAST(occurred_at AS BIGINT) >= $3 AND CAST(occurred_at AS BIGINT) < $4";
            let batches = this
                .batches(
                    sql,
                    &[
                        QueryParam::Text(lo),
                        QueryParam::Text(hi),
                        QueryParam::Int(micros(from)),
                        QueryParam::Int(micros(to)),
                    ],
                )
                .await?;
            let mut seen: HashSet<String> = HashSet::new();
            let mut out = Vec::new();
            for b in &batches {
                let ids = b.column(0).as_string::<i32>();
                let users = b.column(1).as_primitive::<Int64Type>();
                let sessions = b.column(2).as_string::<i32>();
                let products = b.column(3).as_primitive::<Int64Type>();
                let kinds = b.column(4).as_string::<i32>();
                let ats = b.column(5).as_primitive::<Int64Type>();
                for r in 0..b.num_rows() {
                    if !seen.insert(ids.value(r).to_owned()) {
                        continue;
                    }
                    let (Ok(customer), Ok(product), Some(kind), Some(at)) = (
                        CustomerId::from_i64(users.value(r)),
                        ProductId::from_i64(products.value(r)),
                        EventType::parse(kinds.value(r)),
                        DateTime::from_timestamp_micros(ats.value(r)),
                    ) else {
                        continue;
                    };
                    out.push(TrainingEvent {
                        customer,
                        session: session_hash(sessions.value(r)),
                        product,
                        kind,
                        at,
                    });
                }
            }
            Ok(out)
        })
        .boxed()
    }

    fn purchases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
        let this = self.clone();
        stream::once(async move {
            if this.catalog.table(tables::ORDER_ITEMS).await?.is_none() {
                return Ok(Vec::new());
            }
            let sql = "SELECT customer_id, order_id, product_id, CAST(ordered_at AS BIGINT) AS at FROM order_items \
                       WHERE CAST(ordered_at AS BIGINT) >= $1 AND CAST(ordered_at AS BIGINT) < $2";
            let batches = this.batches(sql, &[QueryParam::Int(micros(from)), QueryParam::Int(micros(to))]).await?;
            let mut out = Vec::new();
            for b in &batches {
                let customers = b.column(0).as_primitive::<Int64Type>();
                let orders = b.column(1).as_primitive::<Int64Type>();
                let products = b.column(2).as_primitive::<Int64Type>();
                let ats = b.column(3).as_primitive::<Int64Type>();
                for r in 0..b.num_rows() {
                    if let (Ok(customer), Ok(order), Ok(product), Some(at)) = (
                        CustomerId::from_i64(customers.value(r)),
                        OrderId::from_i64(orders.value(r)),
                        ProductId::from_i64(products.value(r)),
                        DateTime::from_timestamp_micros(ats.value(r)),
                    ) {
                        out.push(PurchaseRecord { customer, order, product, at });
                    }
                }
            }
            Ok(out)
        })
        .boxed()
    }
}
