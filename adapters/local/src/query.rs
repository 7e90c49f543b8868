//! SQL over the lake with DataFusion: every catalogued table is registered as a listing table
//! over its Hive-style directory (partition keys become columns, and filters on them prune
//! directories), on local disk or in an object store ([`LakeRoot`]: the S3 lake, read through
//! `fashion-aws-sql`'s store). The trainer's history does not go through SQL: see
//! [`crate::LocalHistory`].

use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, RecordBatch, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::object_store::ObjectStore;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, lit};
use datafusion::scalar::ScalarValue;
use fashion_domain::lake::{TableDef, all_tables};
use fashion_domain::ports::{LakeError, QueryEngine, QueryParam, QueryResult, TableCatalog};
use serde_json::Value;

use crate::lake::LocalLake;

mod listing;

use listing::StrictLocalStore;

/// Where the lake's tables live.
#[derive(Clone)]
pub enum LakeRoot {
    /// A [`LocalLake`] on disk.
    Dir(LocalLake),
    /// An object store: tables under `<url><prefix>/<table>/`, delivered ones (Firehose's,
    /// `unextended`) listed by their `dt=`/`hour=` prefixes, the others read from the version
    /// directory the catalog points each partition at.
    Store {
        /// The store's root, e.g. `s3://bucket/`.
        url: String,
        /// The lake's prefix inside the store, without slashes at either end.
        prefix: String,
        /// The store.
        store: Arc<dyn ObjectStore>,
        /// Tables whose objects have no file extension (Firehose names its objects without
        /// one); every other table's files end in `.parquet`.
        unextended: Vec<String>,
    },
}

/// DataFusion over a lake and the tables its catalog knows.
///
/// Each query plans in a new session (the catalog and the partitions' files are listed as they
/// are now), and every session, of this engine and its clones, shares one runtime: its caches of
/// Parquet footers and file statistics, each entry checked against the file's size and
/// modification time, so a repeated query (the dashboard's, the API's) decodes no footer twice and
/// a file rewritten since is read again. DataFusion's cache of directory listings is turned off:
/// it never expires by default, and would hide the files written after a first query.
#[derive(Clone)]
pub struct DataFusionEngine {
    root: LakeRoot,
    catalog: Arc<dyn TableCatalog>,
    runtime: Arc<OnceLock<Arc<RuntimeEnv>>>,
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
        Self::over(LakeRoot::Dir(lake), catalog)
    }

    /// An engine over the lake at `root`, registering the tables `catalog` knows.
    #[must_use]
    pub fn over(root: LakeRoot, catalog: Arc<dyn TableCatalog>) -> Self {
        Self {
            root,
            catalog,
            runtime: Arc::default(),
        }
    }

    /// Where `table`'s files are listed from, and the extension they end in.
    fn location(&self, table: &str) -> Result<(String, &'static str), LakeError> {
        match &self.root {
            LakeRoot::Dir(lake) => {
                let dir = lake.table_dir(table);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    LakeError::Unexpected(anyhow::anyhow!(
                        "failed to create {}: {e}",
                        dir.display()
                    ))
                })?;
                let path = std::path::absolute(&dir).unwrap_or(dir);
                Ok((format!("{}/", path.display()), ".parquet"))
            }
            LakeRoot::Store {
                url,
                prefix,
                unextended,
                ..
            } => {
                let extension = if unextended.iter().any(|t| t == table) {
                    ""
                } else {
                    ".parquet"
                };
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                Ok((format!("{url}{prefix}{table}/"), extension))
            }
        }
    }

    /// The runtime every session of this engine shares, made on first use.
    fn runtime(&self) -> Result<Arc<RuntimeEnv>, LakeError> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime.clone());
        }
        let made = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(query_err)?;
        // Local files are listed through their directory handles (see `listing`).
        made.register_object_store(
            ObjectStoreUrl::local_filesystem().as_ref(),
            Arc::new(StrictLocalStore::default()),
        );
        Ok(self.runtime.get_or_init(|| made).clone())
    }

    /// A session with every catalogued table registered.
    ///
    /// # Errors
    /// [`LakeError`] when the catalog cannot be read or a table cannot be registered.
    pub async fn context(&self) -> Result<SessionContext, LakeError> {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, self.runtime()?);
        if let LakeRoot::Store { url, store, .. } = &self.root {
            let root = ObjectStoreUrl::parse(url).map_err(query_err)?;
            ctx.register_object_store(root.as_ref(), store.clone());
        }
        for known in all_tables() {
            let Some(def) = self.catalog.table(&known.name).await? else {
                continue;
            };
            if let LakeRoot::Store { unextended, .. } = &self.root
                && !unextended.contains(&def.name)
            {
                self.register_versions(&ctx, &def).await?;
                continue;
            }
            let (location, extension) = self.location(&def.name)?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(extension)
                .with_table_partition_cols(
                    def.partition_keys
                        .iter()
                        .map(|k| (k.clone(), DataType::Utf8))
                        .collect(),
                );
            ctx.register_listing_table(
                def.name.as_str(),
                location,
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

    /// Registers a table of an object-store lake whose partitions are version directories
    /// (the S3 lake writer's): exactly the versions the catalog points at, each partition's
    /// keys as constant columns, one union over them (never a leftover version directory of an
    /// interrupted commit). Planning grows with the number of partitions; whether a filter on
    /// the keys skips other partitions' files is left to DataFusion's optimizer and not
    /// measured here.
    async fn register_versions(
        &self,
        ctx: &SessionContext,
        def: &TableDef,
    ) -> Result<(), LakeError> {
        let register = |e: &dyn std::fmt::Display| {
            LakeError::Unexpected(anyhow::anyhow!(
                "failed to register table {}: {e}",
                def.name
            ))
        };
        let data = fashion_parquet::arrow_schema(def);
        let mut union: Option<DataFrame> = None;
        for p in self.catalog.partitions(&def.name).await? {
            let location = if p.location.ends_with('/') {
                p.location.clone()
            } else {
                format!("{}/", p.location)
            };
            let url = ListingTableUrl::parse(&location).map_err(|e| register(&e))?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(data.clone());
            let table = ListingTable::try_new(config).map_err(|e| register(&e))?;
            let mut df = ctx.read_table(Arc::new(table)).map_err(|e| register(&e))?;
            for (key, value) in &p.key.0 {
                df = df
                    .with_column(key, lit(value.clone()))
                    .map_err(|e| register(&e))?;
            }
            union = Some(match union {
                None => df,
                Some(u) => u.union(df).map_err(|e| register(&e))?,
            });
        }
        let provider: Arc<dyn TableProvider> = match union {
            Some(df) => df.into_view(),
            None => {
                let mut fields: Vec<Field> =
                    data.fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.extend(
                    def.partition_keys
                        .iter()
                        .map(|k| Field::new(k, DataType::Utf8, false)),
                );
                Arc::new(
                    MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])
                        .map_err(|e| register(&e))?,
                )
            }
        };
        ctx.register_table(def.name.as_str(), provider)
            .map_err(|e| register(&e))?;
        Ok(())
    }

    /// Runs SQL and returns Arrow batches    /// Runs SQL and returns Arrow batches (for callers that convert columns themselves).
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
