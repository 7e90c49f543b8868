//! What the daily job publishes besides clean orders: aggregates and quarantined rows.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, ProductId};
use crate::money::Cents;

/// Sales of one product in one city on one store day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailySales {
    /// The product.
    pub product_id: ProductId,
    /// Its article type.
    pub article_type: String,
    /// Its colour.
    pub colour: String,
    /// Its gender.
    pub gender: String,
    /// Its master category.
    pub master_category: String,
    /// The buyers' city.
    pub city: String,
    /// Units sold.
    pub units: i64,
    /// Revenue (sum of line totals).
    pub revenue: Cents,
    /// Orders containing the product.
    pub orders: i64,
    /// Distinct buying customers.
    pub distinct_customers: i64,
}

/// One customer's totals on one store day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDay {
    /// The customer.
    pub customer_id: CustomerId,
    /// Their city.
    pub city: String,
    /// Orders placed.
    pub orders: i64,
    /// Units bought.
    pub units: i64,
    /// Amount spent.
    pub revenue: Cents,
}

/// The cleaning rules of the daily job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineRule {
    /// A required key (customer or product) is missing.
    MissingKey,
    /// The product is not in the catalog.
    UnknownProduct,
    /// The customer is not registered.
    UnknownCustomer,
    /// Quantity is zero or negative.
    NonPositiveQuantity,
    /// Unit price is negative.
    NegativePrice,
    /// The order total differs from the sum of its lines.
    TotalMismatch,
    /// The order was recorded during the day but placed outside it.
    TimestampOutsideDay,
    /// The status is not one the store uses.
    UnknownStatus,
    /// The order has a rejected line, so the whole order is held back.
    RejectedLine,
    /// An amount (unit price, line total, order total), or the day's aggregate it would add to,
    /// is beyond what the lake's `decimal(18,2)` columns hold.
    AmountOutOfRange,
}

impl QuarantineRule {
    /// Every rule.
    pub const ALL: [Self; 10] = [
        Self::MissingKey,
        Self::UnknownProduct,
        Self::UnknownCustomer,
        Self::NonPositiveQuantity,
        Self::NegativePrice,
        Self::TotalMismatch,
        Self::TimestampOutsideDay,
        Self::UnknownStatus,
        Self::RejectedLine,
        Self::AmountOutOfRange,
    ];

    /// Parses a label written by [`QuarantineRule::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The label used in the quarantine table and in reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingKey => "missing_key",
            Self::UnknownProduct => "unknown_product",
            Self::UnknownCustomer => "unknown_customer",
            Self::NonPositiveQuantity => "non_positive_quantity",
            Self::NegativePrice => "negative_price",
            Self::TotalMismatch => "total_mismatch",
            Self::TimestampOutsideDay => "timestamp_outside_day",
            Self::UnknownStatus => "unknown_status",
            Self::RejectedLine => "rejected_line",
            Self::AmountOutOfRange => "amount_out_of_range",
        }
    }
}

impl fmt::Display for QuarantineRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row the daily job refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// `orders` or `order_items`.
    pub source_table: String,
    /// The rule broken.
    pub rule: QuarantineRule,
    /// The row's key (`order 17`, `order 17 line 2`).
    pub record_key: String,
    /// Detail for a human.
    pub detail: String,
    /// The row as extracted, as JSON.
    pub record: String,
}
