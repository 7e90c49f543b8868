//! The lake in memory: partitions of domain rows, a catalog, and a query engine for the small SQL
//! subset tests need (`SELECT * | COUNT(*) FROM t [WHERE c = v] [LIMIT n]`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use fashion_domain::event::ClickEvent;
use fashion_domain::history::{
    PurchaseRecord, SeenIds, TrainingEvent, Window, events_in, interactions_in, purchases_in,
};
use fashion_domain::lake::{Cell, PartitionInfo, PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{
    HistorySource, LakeError, LakeWriter, PartitionWriter, QueryEngine, QueryParam, QueryResult,
    TableCatalog, WriteMode, check_open,
};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

use crate::lock;

#[derive(Default)]
struct State {
    tables: BTreeMap<String, TableDef>,
    /// Committed data: (table, partition) → write id → batches.
    data: BTreeMap<(String, PartitionKey), BTreeMap<String, Vec<TableRows>>>,
    /// What the catalog was told.
    partitions: BTreeMap<(String, PartitionKey), PartitionInfo>,
}

/// Lake writer and table catalog over shared in-memory state.
#[derive(Clone, Default)]
pub struct InMemoryLake {
    state: Arc<Mutex<State>>,
}

impl InMemoryLake {
    /// An empty lake.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A query engine over this lake's catalogued partitions.
    #[must_use]
    pub fn query_engine(&self) -> InMemoryQueryEngine {
        InMemoryQueryEngine { lake: self.clone() }
    }
}

struct MemoryPartitionWriter {
    lake: InMemoryLake,
    table: TableDef,
    key: PartitionKey,
    mode: WriteMode,
    write_id: String,
    pending: Vec<TableRows>,
}

#[async_trait]
impl PartitionWriter for MemoryPartitionWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        if rows.table() != self.table.name {
            return Err(LakeError::Schema {
                message: format!(
                    "rows of {} written to table {}",
                    rows.table(),
                    self.table.name
                ),
            });
        }
        if !rows.is_empty() {
            self.pending.push(rows);
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        let mut st = lock(&self.lake.state);
        let slot = st
            .data
            .entry((self.table.name.clone(), self.key.clone()))
            .or_default();
        if self.mode == WriteMode::Replace {
            slot.clear();
        }
        slot.insert(self.write_id, self.pending);
        let rows = slot.values().flatten().map(TableRows::len).sum::<usize>() as u64;
        let files = slot.values().map(|w| w.len() as u64).sum();
        Ok(PartitionInfo {
            table: self.table.name.clone(),
            location: format!("memory://{}/{}", self.table.name, self.key.path()),
            key: self.key,
            files,
            rows,
            bytes: 0,
        })
    }

    async fn abort(self: Box<Self>) -> Result<(), LakeError> {
        Ok(())
    }
}

#[async_trait]
impl LakeWriter for InMemoryLake {
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        check_open(table, partition, write_id)?;
        Ok(Box::new(MemoryPartitionWriter {
            lake: self.clone(),
            table: table.clone(),
            key: partition.clone(),
            mode,
            write_id: write_id.to_owned(),
            pending: Vec::new(),
        }))
    }
}

#[async_trait]
impl TableCatalog for InMemoryLake {
    async fn ensure_table(&self, table: &TableDef) -> Result<(), LakeError> {
        lock(&self.state)
            .tables
            .insert(table.name.clone(), table.clone());
        Ok(())
    }

    async fn table(&self, name: &str) -> Result<Option<TableDef>, LakeError> {
        Ok(lock(&self.state).tables.get(name).cloned())
    }

    async fn put_partition(&self, partition: &PartitionInfo) -> Result<(), LakeError> {
        let mut st = lock(&self.state);
        if !st.tables.contains_key(&partition.table) {
            return Err(LakeError::NotFound {
                what: format!("table {}", partition.table),
            });
        }
        st.partitions.insert(
            (partition.table.clone(), partition.key.clone()),
            partition.clone(),
        );
        Ok(())
    }

    async fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, LakeError> {
        Ok(lock(&self.state)
            .partitions
            .iter()
            .filter(|((t, _), _)| t == table)
            .map(|(_, p)| p.clone())
            .collect())
    }
}

/// The rows as JSON values in the table's column order, through the lake's one row codec.
fn row_values(rows: &TableRows) -> Vec<Vec<Value>> {
    let mut out = Vec::with_capacity(rows.len());
    let _ = rows.try_for_each_row(|cells| {
        out.push(cells.iter().map(Cell::to_json).collect());
        Ok::<_, std::convert::Infallible>(())
    });
    out
}

/// A query engine for `SELECT * | SELECT COUNT(*) FROM t [WHERE col = value] [LIMIT n]` over
/// catalogued partitions; anything else is refused with [`LakeError::Query`].
#[derive(Clone)]
pub struct InMemoryQueryEngine {
    lake: InMemoryLake,
}

struct Parsed {
    count: bool,
    table: String,
    filter: Option<(String, Value)>,
    limit: Option<usize>,
}

fn unsupported(sql: &str) -> LakeError {
    LakeError::Query {
        message: format!(
            "the in-memory engine runs only `SELECT * | COUNT(*) FROM t [WHERE c = v] [LIMIT n]`, got {sql:?}"
        ),
    }
}

fn parse(sql: &str, params: &[QueryParam]) -> Result<Parsed, LakeError> {
    let toks: Vec<&str> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect();
    let kw = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.eq_ignore_ascii_case(w));
    if !kw(0, "select") || !kw(2, "from") {
        return Err(unsupported(sql));
    }
    let count = match toks.get(1).copied().unwrap_or_default() {
        "*" => false,
        t if t.eq_ignore_ascii_case("count(*)") => true,
        _ => return Err(unsupported(sql)),
    };
    let table = toks.get(3).ok_or_else(|| unsupported(sql))?.to_string();
    let mut i = 4;
    let mut filter = None;
    if kw(i, "where") {
        let (col, eq, val) = match (
            toks.get(i.saturating_add(1)),
            toks.get(i.saturating_add(2)),
            toks.get(i.saturating_add(3)),
        ) {
            (Some(c), Some(e), Some(v)) => (*c, *e, *v),
            _ => return Err(unsupported(sql)),
        };
        if eq != "=" {
            return Err(unsupported(sql));
        }
        let value = if let Some(n) = val.strip_prefix('$') {
            let idx: usize = n.parse().map_err(|_| unsupported(sql))?;
            match params.get(idx.wrapping_sub(1)) {
                Some(QueryParam::Text(s)) => json!(s),
                Some(QueryParam::Int(v)) => json!(v),
                Some(QueryParam::Float(v)) => json!(v),
                None => {
                    return Err(LakeError::Query {
                        message: format!("no value for parameter ${idx}"),
                    });
                }
            }
        } else if let Some(s) = val.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            json!(s)
        } else {
            val.parse::<i64>()
                .map(|v| json!(v))
                .map_err(|_| unsupported(sql))?
        };
        filter = Some((col.to_owned(), value));
        i = i.saturating_add(4);
    }
    let mut limit = None;
    if kw(i, "limit") {
        limit = Some(
            toks.get(i.saturating_add(1))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| unsupported(sql))?,
        );
        i = i.saturating_add(2);
    }
    if i != toks.len() {
        return Err(unsupported(sql));
    }
    Ok(Parsed {
        count,
        table,
        filter,
        limit,
    })
}

#[async_trait]
impl QueryEngine for InMemoryQueryEngine {
    async fn query(&self, sql: &str, params: &[QueryParam]) -> Result<QueryResult, LakeError> {
        let q = parse(sql, params)?;
        let st = lock(&self.lake.state);
        let def = st.tables.get(&q.table).ok_or_else(|| LakeError::Query {
            message: format!("table {} not found", q.table),
        })?;
        let mut columns: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
        columns.extend(def.partition_keys.iter().cloned());
        let filter_idx = match &q.filter {
            Some((c, _)) => {
                Some(
                    columns
                        .iter()
                        .position(|x| x == c)
                        .ok_or_else(|| LakeError::Query {
                            message: format!("column {c} not found in {}", q.table),
                        })?,
                )
            }
            None => None,
        };
        let mut rows = Vec::new();
        for ((table, key), batches) in &st.data {
            // Only catalogued partitions are visible to queries, as with Glue and Athena.
            if table != &q.table || !st.partitions.contains_key(&(table.clone(), key.clone())) {
                continue;
            }
            for b in batches.values().flatten() {
                for mut r in row_values(b) {
                    r.extend(key.values().into_iter().map(Value::String));
                    let keep = match (&q.filter, filter_idx) {
                        (Some((_, v)), Some(i)) => r.get(i).is_some_and(|x| loose_eq(x, v)),
                        _ => true,
                    };
                    if keep {
                        rows.push(r);
                    }
                }
            }
        }
        if q.count {
            return Ok(QueryResult {
                columns: vec!["count".into()],
                rows: vec![vec![json!(rows.len())]],
            });
        }
        if let Some(n) = q.limit {
            rows.truncate(n);
        }
        Ok(QueryResult { columns, rows })
    }
}

/// Compares a stored value with a literal the way SQL would after coercion.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::Number(n)) | (Value::Number(n), Value::String(x)) => {
            x == &n.to_string()
        }
        _ => a == b,
    }
}

impl InMemoryLake {
    fn all_rows(&self, table: &str) -> Vec<TableRows> {
        lock(&self.state)
            .data
            .iter()
            .filter(|((t, _), _)| t == table)
            .flat_map(|(_, writes)| writes.values().flatten().cloned())
            .collect()
    }
}

#[async_trait]
impl HistorySource for InMemoryLake {
    async fn latest_click_day(&self) -> Result<Option<NaiveDate>, LakeError> {
        Ok(lock(&self.state)
            .data
            .keys()
            .filter(|(t, _)| t == tables::CLICKSTREAM)
            .filter_map(|(_, key)| key.date())
            .max())
    }

    fn interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
        let mut seen = SeenIds::new();
        let window = Window::new(from, to);
        let out: Vec<TrainingEvent> = self
            .all_rows(tables::CLICKSTREAM)
            .iter()
            .flat_map(|b| match b {
                TableRows::Clickstream(r) => interactions_in(r, window, &mut seen),
                _ => Vec::new(),
            })
            .collect();
        stream::iter([Ok(out)]).boxed()
    }

    fn clickstream(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<ClickEvent>, LakeError>> {
        let mut seen = SeenIds::new();
        let window = Window::new(from, to);
        let out: Vec<ClickEvent> = self
            .all_rows(tables::CLICKSTREAM)
            .into_iter()
            .flat_map(|b| match b {
                TableRows::Clickstream(r) => events_in(r, window, &mut seen),
                _ => Vec::new(),
            })
            .collect();
        stream::iter([Ok(out)]).boxed()
    }

    fn purchases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
        let window = Window::new(from, to);
        let out: Vec<PurchaseRecord> = self
            .all_rows(tables::ORDER_ITEMS)
            .iter()
            .flat_map(|b| match b {
                TableRows::OrderItems(r) => purchases_in(r, window),
                _ => Vec::new(),
            })
            .collect();
        stream::iter([Ok(out)]).boxed()
    }
}
