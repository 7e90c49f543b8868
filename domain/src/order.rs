//! Orders as the transactional database records them ([`OrderRow`], [`OrderItemRow`]: anything a
//! real database can hold, dirty rows included) and as the lake publishes them after cleaning
//! ([`Order`], [`OrderLine`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, ProductId};
use crate::money::Cents;

/// The life-cycle state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed and paid, not yet shipped.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the customer.
    Delivered,
    /// Cancelled before shipping.
    Cancelled,
    /// Sent back after delivery.
    Returned,
}

impl OrderStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [Self; 5] = [
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Returned,
    ];

    /// The lower-case name stored in databases and files.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
        }
    }

    /// True when the order counts as revenue (not cancelled).
    #[must_use]
    pub const fn is_sale(self) -> bool {
        !matches!(self, Self::Cancelled)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

/// An order row as stored: keys may be missing and amounts may be wrong, because the lake job must
/// not trust its source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderRow {
    /// Primary key.
    pub order_id: i64,
    /// The buying customer; `None` when the account was deleted.
    pub customer_id: Option<i64>,
    /// When the customer placed the order (the business time the daily job partitions by).
    pub ordered_at: DateTime<Utc>,
    /// When the row reached the database; differs from `ordered_at` for late or back-dated rows.
    pub recorded_at: DateTime<Utc>,
    /// Status text (`paid`, `shipped`, ...).
    pub status: String,
    /// The order total the checkout computed.
    pub total_cents: i64,
    /// ISO currency code.
    pub currency: String,
}

/// An order line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderItemRow {
    /// The order.
    pub order_id: i64,
    /// Position in the order, from 1.
    pub line_no: i32,
    /// The product; `None` when the product was deleted from the catalog.
    pub product_id: Option<i64>,
    /// Units bought.
    pub quantity: i32,
    /// Price of one unit.
    pub unit_price_cents: i64,
}

/// An order with its lines as stored, the unit the daily job extracts and cleans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    /// The order row.
    pub order: OrderRow,
    /// Its lines, in `line_no` order (duplicates included, as stored).
    pub items: Vec<OrderItemRow>,
}

/// A clean order, as published in the lake's `orders` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Primary key.
    pub order_id: OrderId,
    /// The buying customer.
    pub customer_id: CustomerId,
    /// When the order was placed.
    pub ordered_at: DateTime<Utc>,
    /// Status.
    pub status: OrderStatus,
    /// Number of lines.
    pub item_count: u32,
    /// Units over all lines.
    pub units: i64,
    /// Order total (equal to the sum of its lines).
    pub total: Cents,
    /// ISO currency code.
    pub currency: String,
}

/// A clean order line, as published in the lake's `order_items` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The order.
    pub order_id: OrderId,
    /// Position in the order.
    pub line_no: u32,
    /// The buying customer (denormalised for analysis).
    pub customer_id: CustomerId,
    /// The product.
    pub product_id: ProductId,
    /// Units, at least 1.
    pub quantity: u32,
    /// Price of one unit.
    pub unit_price: Cents,
    /// `quantity × unit_price`.
    pub line_total: Cents,
    /// When the order was placed.
    pub ordered_at: DateTime<Utc>,
}
