//! Compact records of past behaviour, what training and evaluation consume by the million.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{ClickEvent, EventType};
use crate::ids::{CustomerId, OrderId, ProductId};

/// One product interaction from the clickstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingEvent {
    /// Who.
    pub customer: CustomerId,
    /// The session, hashed.
    pub session: u64,
    /// Which product.
    pub product: ProductId,
    /// What they did.
    pub kind: EventType,
    /// When (event time).
    pub at: DateTime<Utc>,
}

impl TrainingEvent {
    /// The compact form of an event that names a product.
    #[must_use]
    pub fn from_event(e: &ClickEvent) -> Option<Self> {
        Some(Self {
            customer: e.user_id,
            session: session_hash(e.session_id.as_str()),
            product: e.product_id?,
            kind: e.event_type,
            at: e.occurred_utc(),
        })
    }
}

/// A stable 64-bit hash of a session id (FNV-1a), the same in every process.
#[must_use]
pub fn session_hash(session: &str) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    session.hash(&mut h);
    h.finish()
}

/// One purchased product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRecord {
    /// Who.
    pub customer: CustomerId,
    /// The order (a basket: its lines were bought together).
    pub order: OrderId,
    /// Which product.
    pub product: ProductId,
    /// When the order was placed.
    pub at: DateTime<Utc>,
}
