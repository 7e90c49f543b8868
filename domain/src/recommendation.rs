//! Per-customer recommendations as the website reads them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, ProductId};

/// Why an item was recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Often viewed, carted or bought together with something the customer looked at.
    AlsoViewed,
    /// Same article type, colour or gender as something the customer looked at.
    Similar,
    /// Rising in the customer's segment right now.
    Trending,
    /// Popular in the customer's segment (no history to go on).
    Popular,
    /// The customer looked at it recently and may come back to it.
    SeenBefore,
}

impl Reason {
    /// The short label stored with the item.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AlsoViewed => "also_viewed",
            Self::Similar => "similar",
            Self::Trending => "trending",
            Self::Popular => "popular",
            Self::SeenBefore => "seen_before",
        }
    }
}

/// One recommended product.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecommendedItem {
    /// The product.
    pub product_id: ProductId,
    /// Relative score, higher is better.
    pub score: f32,
    /// Why.
    pub reason: Reason,
}

/// The latest recommendations of one customer; small (well under 1 KB) by design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// The customer.
    pub customer_id: CustomerId,
    /// Best first.
    pub items: Vec<RecommendedItem>,
    /// The model that scored them.
    pub model_version: String,
    /// When they were computed.
    pub updated_at: DateTime<Utc>,
}
