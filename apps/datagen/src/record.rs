//! What the generator produces, shared by the day's simulation and its dirtying: the records
//! the website sends, and an order's total from its lines.

use chrono::{DateTime, Utc};
use fashion_domain::event::EventType;
use fashion_domain::ids::ProductId;
use fashion_domain::order::OrderItemRow;

/// One record the website sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// The customer id as text (the stream's partition key).
    pub partition_key: String,
    /// The JSON bytes, possibly dirty.
    pub data: Vec<u8>,
    /// When it is sent (its event time for clean records).
    pub occurred_at: DateTime<Utc>,
    /// The type of a clean record (`None` for dirty ones).
    pub event_type: Option<EventType>,
    /// The product of a clean record.
    pub product_id: Option<ProductId>,
}

impl GeneratedEvent {
    /// The record as the website publishes it to the stream.
    #[must_use]
    pub fn outbound(&self) -> fashion_domain::stream::OutboundRecord {
        fashion_domain::stream::OutboundRecord {
            partition_key: self.partition_key.clone(),
            data: self.data.clone(),
        }
    }
}

/// The sum of quantity × unit price over `items`, or `None` when it overflows `i64` cents.
pub(crate) fn lines_total(items: &[OrderItemRow]) -> Option<i64> {
    items.iter().try_fold(0i64, |sum, i| {
        sum.checked_add(i64::from(i.quantity).checked_mul(i.unit_price_cents)?)
    })
}
