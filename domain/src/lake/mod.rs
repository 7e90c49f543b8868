//! The data lake's tables: their names, schemas, partitions and the rows written to them.
//!
//! Schemas are described in domain terms ([`ColumnType`]); the Parquet adapters map them to Arrow
//! and the Glue adapter to Hive types, so every engine sees the same table.

use std::fmt;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::Customer;
use crate::event::ClickEvent;
use crate::order::{Order, OrderLine};
use crate::product::Product;
use crate::sales::{CustomerDay, DailySales, QuarantinedRow};

mod codec;
pub use codec::{Cell, CellError, RowDecoder};

/// Table names, used everywhere instead of string literals.
pub mod tables {
    /// Raw click events, partitioned by event date and hour.
    pub const CLICKSTREAM: &str = "clickstream";
    /// Clean orders, one partition per store day.
    pub const ORDERS: &str = "orders";
    /// Clean order lines.
    pub const ORDER_ITEMS: &str = "order_items";
    /// Sales per product and city per day.
    pub const DAILY_SALES: &str = "daily_sales";
    /// Per-customer daily totals.
    pub const CUSTOMER_DAILY: &str = "customer_daily";
    /// Rows the daily job refused, with the rule they broke.
    pub const QUARANTINE: &str = "quarantine";
    /// Catalog snapshot as of each daily run.
    pub const PRODUCTS: &str = "products";
    /// Customer snapshot (no personal data) as of each daily run.
    pub const CUSTOMERS: &str = "customers";
}

/// The type of a column, as every engine of the lake must read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float (scores only, never money).
    Float64,
    /// UTF-8 text.
    Utf8,
    /// Instant in UTC, microsecond precision.
    TimestampMicros,
    /// Money: decimal(18, 2), stored as cents.
    Money,
}

impl ColumnType {
    /// The Hive / Glue / Athena type name.
    #[must_use]
    pub const fn hive_name(self) -> &'static str {
        match self {
            Self::Int32 => "int",
            Self::Int64 => "bigint",
            Self::Float64 => "double",
            Self::Utf8 => "string",
            Self::TimestampMicros => "timestamp",
            Self::Money => "decimal(18,2)",
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// Name (snake case).
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

fn col(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        nullable: false,
    }
}

fn opt(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        nullable: true,
    }
}

/// A lake table: data columns plus string partition keys (Hive style, `key=value` directories).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TableDef {
    /// Table name (see [`tables`]).
    pub name: String,
    /// Data columns, in file order.
    pub columns: Vec<Column>,
    /// Partition keys, outermost first; always strings.
    pub partition_keys: Vec<String>,
    /// One line for the catalog.
    pub description: String,
}

impl TableDef {
    /// The definition of a known table.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        all_tables().into_iter().find(|t| t.name == name)
    }
}

/// Every table of the lake.
#[must_use]
pub fn all_tables() -> Vec<TableDef> {
    use ColumnType::{Int32, Int64, Money, TimestampMicros, Utf8};
    let def = |name: &str, columns: Vec<Column>, keys: &[&str], description: &str| TableDef {
        name: name.to_owned(),
        columns,
        partition_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        description: description.to_owned(),
    };
    vec![
        def(
            tables::CLICKSTREAM,
            vec![
                col("event_id", Utf8),
                col("event_type", Utf8),
                col("user_id", Int64),
                col("session_id", Utf8),
                opt("product_id", Int64),
                col("occurred_at", TimestampMicros),
                col("utc_offset_minutes", Int32),
                col("device", Utf8),
                col("schema_version", Int32),
            ],
            &["dt", "hour"],
            "Website click events, partitioned by event date and hour (UTC)",
        ),
        def(
            tables::ORDERS,
            vec![
                col("order_id", Int64),
                col("customer_id", Int64),
                col("ordered_at", TimestampMicros),
                col("status", Utf8),
                col("item_count", Int32),
                col("units", Int64),
                col("total", Money),
                col("currency", Utf8),
            ],
            &["dt"],
            "Clean orders, one partition per store-local day",
        ),
        def(
            tables::ORDER_ITEMS,
            vec![
                col("order_id", Int64),
                col("line_no", Int32),
                col("customer_id", Int64),
                col("product_id", Int64),
                col("quantity", Int32),
                col("unit_price", Money),
                col("line_total", Money),
                col("ordered_at", TimestampMicros),
            ],
            &["dt"],
            "Clean order lines, one partition per store-local day",
        ),
        def(
            tables::DAILY_SALES,
            vec![
                col("product_id", Int64),
                col("article_type", Utf8),
                col("colour", Utf8),
                col("gender", Utf8),
                col("master_category", Utf8),
                col("city", Utf8),
                col("units", Int64),
                col("revenue", Money),
                col("orders", Int64),
                col("distinct_customers", Int64),
            ],
            &["dt"],
            "Units, revenue, orders and customers per product and city per store day",
        ),
        def(
            tables::CUSTOMER_DAILY,
            vec![
                col("customer_id", Int64),
                col("city", Utf8),
                col("orders", Int64),
                col("units", Int64),
                col("revenue", Money),
            ],
            &["dt"],
            "Per-customer totals per store day",
        ),
        def(
            tables::QUARANTINE,
            vec![
                col("rule", Utf8),
                col("record_key", Utf8),
                col("detail", Utf8),
                col("record", Utf8),
            ],
            &["source_table", "dt"],
            "Rows refused by the daily job, with the rule they broke",
        ),
        def(
            tables::PRODUCTS,
            vec![
                col("product_id", Int64),
                col("gender", Utf8),
                col("master_category", Utf8),
                col("sub_category", Utf8),
                col("article_type", Utf8),
                opt("base_colour", Utf8),
                opt("season", Utf8),
                opt("year", Int32),
                opt("usage", Utf8),
                col("product_display_name", Utf8),
                opt("price", Money),
            ],
            &["dt"],
            "Catalog snapshot as of each daily run",
        ),
        def(
            tables::CUSTOMERS,
            vec![
                col("customer_id", Int64),
                col("city", Utf8),
                col("country", Utf8),
                col("segment", Utf8),
                col("signed_up_at", TimestampMicros),
            ],
            &["dt"],
            "Customer snapshot without personal data, as of each daily run",
        ),
    ]
}

/// The partition of a table a set of rows belongs to: ordered `key=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionKey(pub Vec<(String, String)>);

impl PartitionKey {
    /// `dt=YYYY-MM-DD`.
    #[must_use]
    pub fn day(date: NaiveDate) -> Self {
        Self(vec![("dt".to_owned(), date.format("%Y-%m-%d").to_string())])
    }

    /// `dt=YYYY-MM-DD/hour=HH` of an instant, in UTC.
    #[must_use]
    pub fn hour_of(at: DateTime<Utc>) -> Self {
        Self(vec![
            ("dt".to_owned(), at.format("%Y-%m-%d").to_string()),
            ("hour".to_owned(), format!("{:02}", at.hour())),
        ])
    }

    /// `source_table=T/dt=YYYY-MM-DD` for the quarantine table.
    #[must_use]
    pub fn quarantine(source_table: &str, date: NaiveDate) -> Self {
        Self(vec![
            ("source_table".to_owned(), source_table.to_owned()),
            ("dt".to_owned(), date.format("%Y-%m-%d").to_string()),
        ])
    }

    /// The `dt` it names, if any.
    #[must_use]
    pub fn date(&self) -> Option<NaiveDate> {
        self.0
            .iter()
            .find(|(k, _)| k == "dt")
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The relative path, `k1=v1/k2=v2`.
    #[must_use]
    pub fn path(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The values, in key order.
    #[must_use]
    pub fn values(&self) -> Vec<String> {
        self.0.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Parses `k1=v1/k2=v2`.
    #[must_use]
    pub fn parse(path: &str) -> Option<Self> {
        let parts: Option<Vec<(String, String)>> = path
            .trim_matches('/')
            .split('/')
            .map(|seg| {
                seg.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        parts.filter(|p| !p.is_empty()).map(Self)
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// What a committed partition holds, as the table catalog records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// The table.
    pub table: String,
    /// The partition.
    pub key: PartitionKey,
    /// Where its files live (a directory or an object-store prefix URL).
    pub location: String,
    /// Number of data files.
    pub files: u64,
    /// Number of rows.
    pub rows: u64,
    /// Total size of the files.
    pub bytes: u64,
}

/// Rows for one table, in the table's domain type.
#[derive(Debug, Clone, PartialEq)]
pub enum TableRows {
    /// `clickstream`.
    Clickstream(Vec<ClickEvent>),
    /// `orders`.
    Orders(Vec<Order>),
    /// `order_items`.
    OrderItems(Vec<OrderLine>),
    /// `daily_sales`.
    DailySales(Vec<DailySales>),
    /// `customer_daily`.
    CustomerDaily(Vec<CustomerDay>),
    /// `quarantine`.
    Quarantine(Vec<QuarantinedRow>),
    /// `products`.
    Products(Vec<Product>),
    /// `customers`.
    Customers(Vec<Customer>),
}

impl TableRows {
    /// The table these rows belong to.
    #[must_use]
    pub const fn table(&self) -> &'static str {
        match self {
            Self::Clickstream(_) => tables::CLICKSTREAM,
            Self::Orders(_) => tables::ORDERS,
            Self::OrderItems(_) => tables::ORDER_ITEMS,
            Self::DailySales(_) => tables::DAILY_SALES,
            Self::CustomerDaily(_) => tables::CUSTOMER_DAILY,
            Self::Quarantine(_) => tables::QUARANTINE,
            Self::Products(_) => tables::PRODUCTS,
            Self::Customers(_) => tables::CUSTOMERS,
        }
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Clickstream(r) => r.len(),
            Self::Orders(r) => r.len(),
            Self::OrderItems(r) => r.len(),
            Self::DailySales(r) => r.len(),
            Self::CustomerDaily(r) => r.len(),
            Self::Quarantine(r) => r.len(),
            Self::Products(r) => r.len(),
            Self::Customers(r) => r.len(),
        }
    }

    /// True when there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_render_and_parse_hive_paths() {
        let at: DateTime<Utc> = "2026-11-25T07:30:00Z".parse().unwrap();
        let k = PartitionKey::hour_of(at);
        assert_eq!(k.path(), "dt=2026-11-25/hour=07");
        assert_eq!(PartitionKey::parse("dt=2026-11-25/hour=07/"), Some(k));
        assert_eq!(PartitionKey::parse("nope"), None);
    }

    #[test]
    fn every_table_has_a_unique_name_and_string_partition_keys() {
        let all = all_tables();
        let mut names: Vec<_> = all.iter().map(|t| t.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(|t| !t.partition_keys.is_empty()));
        assert!(TableDef::named(tables::ORDERS).is_some());
    }
}
