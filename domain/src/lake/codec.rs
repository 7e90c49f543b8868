//! One codec per lake table, both ways: a table's domain rows as the cells its columns store
//! ([`TableRows::try_for_each_row`]), and stored cells back to domain rows ([`RowDecoder`]).
//!
//! This is the only place that knows which field of which row goes to which column. The column
//! order is [`TableDef::columns`](super::TableDef) (declared beside, in [`all_tables`](super::all_tables));
//! the adapters map cells to their formats without knowing any table: Arrow and Parquet
//! (`fashion-parquet`, used by the local and S3 lakes), JSON (the in-memory lake).
//!
//! Reading back is exact for what the lake stores. Two things live outside the files: the
//! quarantine's source table is a partition key (taken from the partition), and customers carry
//! no personal data in the lake (name and email come back empty).

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};

use super::{ColumnType, PartitionKey, TableRows, tables};
use crate::customer::Customer;
use crate::event::{ClickEvent, Device, EventType, SCHEMA_VERSION};
use crate::ids::{CustomerId, EventId, OrderId, ProductId, SessionId};
use crate::money::Cents;
use crate::order::{Order, OrderLine, OrderStatus};
use crate::product::Product;
use crate::sales::{CustomerDay, DailySales, QuarantineRule, QuarantinedRow};

/// One stored value, of its column's [`ColumnType`], or null.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// No value.
    Null,
    /// [`ColumnType::Int32`].
    Int32(i32),
    /// [`ColumnType::Int64`].
    Int64(i64),
    /// [`ColumnType::Float64`].
    Float64(f64),
    /// [`ColumnType::Utf8`].
    Utf8(Cow<'a, str>),
    /// [`ColumnType::TimestampMicros`].
    Timestamp(DateTime<Utc>),
    /// [`ColumnType::Money`].
    Money(Cents),
}

impl Cell<'_> {
    /// The column type this value belongs to; `None` for null.
    #[must_use]
    pub const fn column_type(&self) -> Option<ColumnType> {
        match self {
            Self::Null => None,
            Self::Int32(_) => Some(ColumnType::Int32),
            Self::Int64(_) => Some(ColumnType::Int64),
            Self::Float64(_) => Some(ColumnType::Float64),
            Self::Utf8(_) => Some(ColumnType::Utf8),
            Self::Timestamp(_) => Some(ColumnType::TimestampMicros),
            Self::Money(_) => Some(ColumnType::Money),
        }
    }
}

impl Cell<'_> {
    /// The value as JSON: numbers as numbers, money as exact decimal text, instants as RFC 3339
    /// in UTC (`Z`, with only the fraction digits they need).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Null => Value::Null,
            Self::Int32(v) => Value::from(*v),
            Self::Int64(v) => Value::from(*v),
            Self::Float64(v) => Value::from(*v),
            Self::Utf8(s) => Value::String(s.to_string()),
            Self::Timestamp(t) => {
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            }
            Self::Money(c) => Value::String(c.to_string()),
        }
    }
}

fn text(s: &str) -> Cell<'_> {
    Cell::Utf8(Cow::Borrowed(s))
}

fn opt_text(s: Option<&str>) -> Cell<'_> {
    s.map_or(Cell::Null, text)
}

/// An unsigned count as a 32-bit column; null when it does not fit (the writer then refuses the
/// row, as the column is not nullable).
fn count32<'a>(n: u32) -> Cell<'a> {
    i32::try_from(n).map_or(Cell::Null, Cell::Int32)
}

impl TableRows {
    /// Each row as a JSON object, one member per data column named as the table declares it,
    /// from the same cells the Parquet writers store ([`Cell::to_json`]): the lake's row as the
    /// Firehose transformation hands it on and Firehose's conversion reads it.
    #[must_use]
    pub fn json_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let columns: Vec<String> = super::TableDef::named(self.table())
            .map(|t| t.columns.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(self.len());
        let _ = self.try_for_each_row(|cells| {
            out.push(
                columns
                    .iter()
                    .zip(cells)
                    .map(|(name, cell)| (name.clone(), cell.to_json()))
                    .collect(),
            );
            Ok::<_, std::convert::Infallible>(())
        });
        out
    }

    /// Calls `f` with each row's cells, in the order of the table's columns.
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn try_for_each_row<E>(
        &self,
        mut f: impl FnMut(&[Cell<'_>]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Self::Clickstream(r) => r.iter().try_for_each(|e| {
                f(&[
                    Cell::Utf8(Cow::Owned(e.event_id.to_string())),
                    text(e.event_type.as_str()),
                    Cell::Int64(e.user_id.as_i64()),
                    text(e.session_id.as_str()),
                    e.product_id
                        .map_or(Cell::Null, |p| Cell::Int64(i64::from(p.get()))),
                    Cell::Timestamp(e.occurred_utc()),
                    Cell::Int32(e.occurred_at.offset().local_minus_utc() / 60),
                    text(e.device.as_str()),
                    Cell::Int32(i32::from(e.schema_version)),
                ])
            }),
            Self::Orders(r) => r.iter().try_for_each(|o| {
                f(&[
                    Cell::Int64(o.order_id.as_i64()),
                    Cell::Int64(o.customer_id.as_i64()),
                    Cell::Timestamp(o.ordered_at),
                    text(o.status.as_str()),
                    count32(o.item_count),
                    Cell::Int64(o.units),
                    Cell::Money(o.total),
                    text(&o.currency),
                ])
            }),
            Self::OrderItems(r) => r.iter().try_for_each(|l| {
                f(&[
                    Cell::Int64(l.order_id.as_i64()),
                    count32(l.line_no),
                    Cell::Int64(l.customer_id.as_i64()),
                    Cell::Int64(i64::from(l.product_id.get())),
                    count32(l.quantity),
                    Cell::Money(l.unit_price),
                    Cell::Money(l.line_total),
                    Cell::Timestamp(l.ordered_at),
                ])
            }),
            Self::DailySales(r) => r.iter().try_for_each(|s| {
                f(&[
                    Cell::Int64(i64::from(s.product_id.get())),
                    text(&s.article_type),
                    text(&s.colour),
                    text(&s.gender),
                    text(&s.master_category),
                    text(&s.city),
                    Cell::Int64(s.units),
                    Cell::Money(s.revenue),
                    Cell::Int64(s.orders),
                    Cell::Int64(s.distinct_customers),
                ])
            }),
            Self::CustomerDaily(r) => r.iter().try_for_each(|c| {
                f(&[
                    Cell::Int64(c.customer_id.as_i64()),
                    text(&c.city),
                    Cell::Int64(c.orders),
                    Cell::Int64(c.units),
                    Cell::Money(c.revenue),
                ])
            }),
            Self::Quarantine(r) => r.iter().try_for_each(|q| {
                f(&[
                    text(q.rule.as_str()),
                    text(&q.record_key),
                    text(&q.detail),
                    text(&q.record),
                ])
            }),
            Self::Products(r) => r.iter().try_for_each(|p| {
                f(&[
                    Cell::Int64(i64::from(p.id.get())),
                    text(&p.gender),
                    text(&p.master_category),
                    text(&p.sub_category),
                    text(&p.article_type),
                    opt_text(p.base_colour.as_deref()),
                    opt_text(p.season.as_deref()),
                    p.year.map_or(Cell::Null, |y| Cell::Int32(i32::from(y))),
                    opt_text(p.usage.as_deref()),
                    text(&p.product_display_name),
                    p.price.map_or(Cell::Null, Cell::Money),
                ])
            }),
            Self::Customers(r) => r.iter().try_for_each(|c| {
                f(&[
                    Cell::Int64(c.id.as_i64()),
                    text(&c.city),
                    text(&c.country),
                    text(&c.segment),
                    Cell::Timestamp(c.signed_up_at),
                ])
            }),
        }
    }

    /// No rows of `table`; `None` for a table the lake does not have.
    #[must_use]
    pub fn empty(table: &str) -> Option<Self> {
        Some(match table {
            tables::CLICKSTREAM => Self::Clickstream(Vec::new()),
            tables::ORDERS => Self::Orders(Vec::new()),
            tables::ORDER_ITEMS => Self::OrderItems(Vec::new()),
            tables::DAILY_SALES => Self::DailySales(Vec::new()),
            tables::CUSTOMER_DAILY => Self::CustomerDaily(Vec::new()),
            tables::QUARANTINE => Self::Quarantine(Vec::new()),
            tables::PRODUCTS => Self::Products(Vec::new()),
            tables::CUSTOMERS => Self::Customers(Vec::new()),
            _ => return None,
        })
    }
}

/// Why a stored row cannot be read back as a domain row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {reason}")]
pub struct CellError {
    /// The column's index in the table's columns.
    pub column: usize,
    /// What is wrong with its value.
    pub reason: String,
}

impl CellError {
    fn new(column: usize, reason: impl fmt::Display) -> Self {
        Self {
            column,
            reason: reason.to_string(),
        }
    }
}

/// Maps a domain error about column `i` to a [`CellError`].
fn at<E: fmt::Display>(i: usize) -> impl Fn(E) -> CellError {
    move |e| CellError::new(i, e)
}

/// The cells of one stored row, read by column index.
struct Row<'r, 'a>(&'r [Cell<'a>]);

impl<'r> Row<'r, '_> {
    fn opt(&self, i: usize) -> Result<Option<&'r Cell<'r>>, CellError> {
        match self.0.get(i) {
            None => Err(CellError::new(i, "missing")),
            Some(Cell::Null) => Ok(None),
            Some(c) => Ok(Some(c)),
        }
    }

    fn some<T>(i: usize, v: Option<T>) -> Result<T, CellError> {
        v.ok_or_else(|| CellError::new(i, "null in a column that requires a value"))
    }

    fn mismatch<T>(i: usize, c: &Cell<'_>) -> Result<T, CellError> {
        Err(CellError::new(
            i,
            format!(
                "a {:?} value where another type was expected",
                c.column_type()
            ),
        ))
    }

    fn opt_int64(&self, i: usize) -> Result<Option<i64>, CellError> {
        match self.opt(i)? {
            None => Ok(None),
            Some(Cell::Int64(v)) => Ok(Some(*v)),
            Some(Cell::Int32(v)) => Ok(Some(i64::from(*v))),
            Some(c) => Self::mismatch(i, c),
        }
    }

    fn int64(&self, i: usize) -> Result<i64, CellError> {
        Self::some(i, self.opt_int64(i)?)
    }

    fn opt_int32(&self, i: usize) -> Result<Option<i32>, CellError> {
        self.opt_int64(i)?
            .map(|v| i32::try_from(v).map_err(at(i)))
            .transpose()
    }

    fn int32(&self, i: usize) -> Result<i32, CellError> {
        Self::some(i, self.opt_int32(i)?)
    }

    fn count(&self, i: usize) -> Result<u32, CellError> {
        u32::try_from(self.int32(i)?).map_err(at(i))
    }

    fn opt_text(&self, i: usize) -> Result<Option<&'r str>, CellError> {
        match self.opt(i)? {
            None => Ok(None),
            Some(Cell::Utf8(s)) => Ok(Some(s.as_ref())),
            Some(c) => Self::mismatch(i, c),
        }
    }

    fn text(&self, i: usize) -> Result<&'r str, CellError> {
        Self::some(i, self.opt_text(i)?)
    }

    fn owned(&self, i: usize) -> Result<String, CellError> {
        self.text(i).map(str::to_owned)
    }

    fn timestamp(&self, i: usize) -> Result<DateTime<Utc>, CellError> {
        match self.opt(i)? {
            Some(Cell::Timestamp(t)) => Ok(*t),
            Some(c) => Self::mismatch(i, c),
            None => Self::some(i, None),
        }
    }

    fn opt_money(&self, i: usize) -> Result<Option<Cents>, CellError> {
        match self.opt(i)? {
            None => Ok(None),
            Some(Cell::Money(m)) => Ok(Some(*m)),
            Some(c) => Self::mismatch(i, c),
        }
    }

    fn money(&self, i: usize) -> Result<Cents, CellError> {
        Self::some(i, self.opt_money(i)?)
    }

    fn product(&self, i: usize) -> Result<ProductId, CellError> {
        ProductId::from_i64(self.int64(i)?).map_err(at(i))
    }

    fn customer(&self, i: usize) -> Result<CustomerId, CellError> {
        CustomerId::from_i64(self.int64(i)?).map_err(at(i))
    }

    fn order(&self, i: usize) -> Result<OrderId, CellError> {
        OrderId::from_i64(self.int64(i)?).map_err(at(i))
    }
}

/// Rebuilds one table's domain rows from stored cells, row by row.
#[derive(Debug)]
pub struct RowDecoder {
    rows: TableRows,
    /// The quarantine's source table, from its partition.
    source_table: String,
}

impl RowDecoder {
    /// A decoder for rows of `table` stored in `partition`; `None` for a table the lake does not
    /// have.
    #[must_use]
    pub fn new(table: &str, partition: &PartitionKey) -> Option<Self> {
        let source_table = partition
            .0
            .iter()
            .find(|(k, _)| k == "source_table")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Some(Self {
            rows: TableRows::empty(table)?,
            source_table,
        })
    }

    /// Decodes one row's cells (in column order) and keeps the row.
    ///
    /// # Errors
    /// [`CellError`] naming the first column whose value the domain refuses (a wrong type, a
    /// null where a value is required, an invalid id or name); the row is not kept.
    pub fn push(&mut self, cells: &[Cell<'_>]) -> Result<(), CellError> {
        let r = Row(cells);
        match &mut self.rows {
            TableRows::Clickstream(out) => out.push(click(&r)?),
            TableRows::Orders(out) => out.push(Order {
                order_id: r.order(0)?,
                customer_id: r.customer(1)?,
                ordered_at: r.timestamp(2)?,
                status: r.text(3)?.parse::<OrderStatus>().map_err(at(3))?,
                item_count: r.count(4)?,
                units: r.int64(5)?,
                total: r.money(6)?,
                currency: r.owned(7)?,
            }),
            TableRows::OrderItems(out) => out.push(OrderLine {
                order_id: r.order(0)?,
                line_no: r.count(1)?,
                customer_id: r.customer(2)?,
                product_id: r.product(3)?,
                quantity: r.count(4)?,
                unit_price: r.money(5)?,
                line_total: r.money(6)?,
                ordered_at: r.timestamp(7)?,
            }),
            TableRows::DailySales(out) => out.push(DailySales {
                product_id: r.product(0)?,
                article_type: r.owned(1)?,
                colour: r.owned(2)?,
                gender: r.owned(3)?,
                master_category: r.owned(4)?,
                city: r.owned(5)?,
                units: r.int64(6)?,
                revenue: r.money(7)?,
                orders: r.int64(8)?,
                distinct_customers: r.int64(9)?,
            }),
            TableRows::CustomerDaily(out) => out.push(CustomerDay {
                customer_id: r.customer(0)?,
                city: r.owned(1)?,
                orders: r.int64(2)?,
                units: r.int64(3)?,
                revenue: r.money(4)?,
            }),
            TableRows::Quarantine(out) => out.push(QuarantinedRow {
                source_table: self.source_table.clone(),
                rule: {
                    let s = r.text(0)?;
                    QuarantineRule::parse(s)
                        .ok_or_else(|| CellError::new(0, format!("unknown rule {s:?}")))?
                },
                record_key: r.owned(1)?,
                detail: r.owned(2)?,
                record: r.owned(3)?,
            }),
            TableRows::Products(out) => out.push(Product {
                id: r.product(0)?,
                gender: r.owned(1)?,
                master_category: r.owned(2)?,
                sub_category: r.owned(3)?,
                article_type: r.owned(4)?,
                base_colour: r.opt_text(5)?.map(str::to_owned),
                season: r.opt_text(6)?.map(str::to_owned),
                year: r
                    .opt_int32(7)?
                    .map(|y| u16::try_from(y).map_err(at(7)))
                    .transpose()?,
                usage: r.opt_text(8)?.map(str::to_owned),
                product_display_name: r.owned(9)?,
                price: r.opt_money(10)?,
            }),
            TableRows::Customers(out) => out.push(Customer {
                id: r.customer(0)?,
                name: String::new(),
                email: String::new(),
                city: r.owned(1)?,
                country: r.owned(2)?,
                segment: r.owned(3)?,
                signed_up_at: r.timestamp(4)?,
            }),
        }
        Ok(())
    }

    /// Rows decoded so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no row was kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows decoded.
    #[must_use]
    pub fn finish(self) -> TableRows {
        self.rows
    }
}

/// A click event from its cells. What describes the event rather than identifies it may be
/// missing from files other writers produced (a delivery stream without the transformation, a
/// hand-made backfill), and reads as: the offset as UTC (the instant is exact either way), the
/// device as [`Device::Other`] (as an unknown device name does), the schema version as the
/// current one (the only one there is).
fn click(r: &Row<'_, '_>) -> Result<ClickEvent, CellError> {
    let minutes = r.opt_int32(6)?.unwrap_or(0);
    let offset = minutes
        .checked_mul(60)
        .and_then(FixedOffset::east_opt)
        .ok_or_else(|| CellError::new(6, format!("offset of {minutes} minutes")))?;
    let kind = r.text(1)?;
    Ok(ClickEvent {
        event_id: EventId::parse(r.text(0)?).map_err(at(0))?,
        event_type: EventType::parse(kind)
            .ok_or_else(|| CellError::new(1, format!("unknown event type {kind:?}")))?,
        user_id: r.customer(2)?,
        session_id: SessionId::parse(r.text(3)?).map_err(at(3))?,
        product_id: r
            .opt_int64(4)?
            .map(|p| ProductId::from_i64(p).map_err(at(4)))
            .transpose()?,
        occurred_at: r.timestamp(5)?.with_timezone(&offset),
        device: r.opt_text(7)?.map_or(Device::Other, Device::parse),
        schema_version: r
            .opt_int32(8)?
            .map_or(Ok(SCHEMA_VERSION), |v| u16::try_from(v).map_err(at(8)))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::{TableDef, all_tables};

    fn sample_rows() -> Vec<TableRows> {
        let at: DateTime<Utc> = "2026-11-25T09:59:58.123456Z".parse().unwrap();
        let click = ClickEvent::parse(
            br#"{"event_id":"6f1c1d2e-9a4b-4f3e-8a57-1b2c3d4e5f60","event_type":"add_to_cart","user_id":42,"session_id":"s-1","product_id":15970,"occurred_at":"2026-11-25T16:59:58.123+07:00","device":"mobile","schema_version":1}"#,
            at,
        )
        .unwrap();
        let page = ClickEvent {
            product_id: None,
            event_type: EventType::PageView,
            occurred_at: at.with_timezone(&FixedOffset::west_opt(5 * 3600).unwrap()),
            ..click.clone()
        };
        vec![
            TableRows::Clickstream(vec![click, page]),
            TableRows::Orders(vec![Order {
                order_id: OrderId::new(7).unwrap(),
                customer_id: CustomerId::new(42).unwrap(),
                ordered_at: at,
                status: OrderStatus::Shipped,
                item_count: 2,
                units: 3,
                total: Cents(12_345),
                currency: "EUR".into(),
            }]),
            TableRows::OrderItems(vec![OrderLine {
                order_id: OrderId::new(7).unwrap(),
                line_no: 1,
                customer_id: CustomerId::new(42).unwrap(),
                product_id: ProductId::new(15970).unwrap(),
                quantity: 2,
                unit_price: Cents(-5),
                line_total: Cents(-10),
                ordered_at: at,
            }]),
            TableRows::DailySales(vec![DailySales {
                product_id: ProductId::new(1).unwrap(),
                article_type: "Tshirts".into(),
                colour: "Navy Blue".into(),
                gender: "Men".into(),
                master_category: "Apparel".into(),
                city: "Lyon".into(),
                units: 4,
                revenue: Cents(i64::MAX),
                orders: 2,
                distinct_customers: 1,
            }]),
            TableRows::CustomerDaily(vec![CustomerDay {
                customer_id: CustomerId::new(42).unwrap(),
                city: "Lyon".into(),
                orders: 1,
                units: 3,
                revenue: Cents(0),
            }]),
            TableRows::Quarantine(vec![QuarantinedRow {
                source_table: "orders".into(),
                rule: QuarantineRule::TotalMismatch,
                record_key: "order 7".into(),
                detail: "total 1.00 != 2.00".into(),
                record: "{\"a\":1}".into(),
            }]),
            TableRows::Products(vec![
                Product {
                    id: ProductId::new(1).unwrap(),
                    gender: "Men".into(),
                    master_category: "Apparel".into(),
                    sub_category: "Topwear".into(),
                    article_type: "Tshirts".into(),
                    base_colour: Some("Navy Blue".into()),
                    season: Some("Fall".into()),
                    year: Some(2011),
                    usage: Some("Casual".into()),
                    product_display_name: "A, with a comma".into(),
                    price: Some(Cents(1999)),
                },
                Product {
                    id: ProductId::new(2).unwrap(),
                    gender: "Women".into(),
                    master_category: "Footwear".into(),
                    sub_category: "Shoes".into(),
                    article_type: "Heels".into(),
                    base_colour: None,
                    season: None,
                    year: None,
                    usage: None,
                    product_display_name: "B".into(),
                    price: None,
                },
            ]),
            TableRows::Customers(vec![Customer {
                id: CustomerId::new(42).unwrap(),
                name: String::new(),
                email: String::new(),
                city: "Lyon".into(),
                country: "FR".into(),
                segment: "Women".into(),
                signed_up_at: at,
            }]),
        ]
    }

    fn cells_of(rows: &TableRows) -> Vec<Vec<Cell<'static>>> {
        let mut out = Vec::new();
        rows.try_for_each_row(|cells| {
            out.push(
                cells
                    .iter()
                    .map(|c| match c {
                        Cell::Utf8(s) => Cell::Utf8(Cow::Owned(s.to_string())),
                        Cell::Null => Cell::Null,
                        Cell::Int32(v) => Cell::Int32(*v),
                        Cell::Int64(v) => Cell::Int64(*v),
                        Cell::Float64(v) => Cell::Float64(*v),
                        Cell::Timestamp(v) => Cell::Timestamp(*v),
                        Cell::Money(v) => Cell::Money(*v),
                    })
                    .collect(),
            );
            Ok::<_, ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn every_table_is_covered_and_each_cell_has_its_columns_type() {
        let samples = sample_rows();
        for def in all_tables() {
            let rows = samples
                .iter()
                .find(|r| r.table() == def.name)
                .unwrap_or_else(|| panic!("no sample rows for {}", def.name));
            for cells in cells_of(rows) {
                assert_eq!(cells.len(), def.columns.len(), "{}", def.name);
                for (cell, col) in cells.iter().zip(&def.columns) {
                    match cell.column_type() {
                        Some(ty) => assert_eq!(ty, col.ty, "{}.{}", def.name, col.name),
                        None => assert!(col.nullable, "{}.{} is not nullable", def.name, col.name),
                    }
                }
            }
        }
    }

    #[test]
    fn rows_come_back_from_their_cells_exactly() {
        for rows in sample_rows() {
            let key = if rows.table() == tables::QUARANTINE {
                PartitionKey::quarantine("orders", chrono::NaiveDate::MIN)
            } else {
                PartitionKey(Vec::new())
            };
            let mut dec = RowDecoder::new(rows.table(), &key).unwrap();
            for cells in cells_of(&rows) {
                dec.push(&cells).unwrap();
            }
            assert_eq!(dec.finish(), rows, "{}", rows.table());
        }
    }

    #[test]
    fn a_refused_value_names_its_column_and_keeps_nothing() {
        let def = TableDef::named(tables::CLICKSTREAM).unwrap();
        let mut cells = cells_of(&sample_rows()[0]).remove(0);
        cells[0] = Cell::Utf8("not-a-uuid".into());
        let mut dec = RowDecoder::new(&def.name, &PartitionKey(Vec::new())).unwrap();
        assert_eq!(dec.push(&cells).unwrap_err().column, 0);
        cells[0] = Cell::Utf8("6f1c1d2e-9a4b-4f3e-8a57-1b2c3d4e5f60".into());
        cells[2] = Cell::Null;
        assert_eq!(dec.push(&cells).unwrap_err().column, 2, "a null customer");
        cells[2] = Cell::Utf8("42".into());
        assert_eq!(dec.push(&cells).unwrap_err().column, 2, "a string customer");
        cells[2] = Cell::Int64(42);
        cells[6] = Cell::Null;
        cells[7] = Cell::Null;
        cells[8] = Cell::Null;
        dec.push(&cells).unwrap();
        assert_eq!(dec.len(), 1, "a null offset, device and version are read");
        let TableRows::Clickstream(read) = &dec.rows else {
            panic!("clicks")
        };
        assert_eq!(read[0].occurred_at.offset().local_minus_utc(), 0);
        assert_eq!(read[0].device, Device::Other);
        assert_eq!(read[0].schema_version, SCHEMA_VERSION);
        cells.pop();
        assert!(dec.push(&cells).is_err(), "a short row");
        assert_eq!(dec.len(), 1);
        assert!(RowDecoder::new("nope", &PartitionKey(Vec::new())).is_none());
    }
}
