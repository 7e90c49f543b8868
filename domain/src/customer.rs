//! Store customers (the users table of the transactional database).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Primary key; the clickstream's `user_id`.
    pub id: CustomerId,
    /// Full name.
    pub name: String,
    /// Unique e-mail address.
    pub email: String,
    /// City of the default shipping address.
    pub city: String,
    /// Country of the default shipping address.
    pub country: String,
    /// The catalog gender the customer shops for most (Men, Women, ...), the segment used for
    /// cold-start recommendations.
    pub segment: String,
    /// When the account was created.
    pub signed_up_at: DateTime<Utc>,
}
