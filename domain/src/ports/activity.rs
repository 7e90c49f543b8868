//! Port: each customer's recent activity, guarded by a version for concurrent writers.

use async_trait::async_trait;

use super::errors::StoreError;
use crate::activity::UserActivity;
use crate::ids::CustomerId;

/// Customers' recent activity. Reads are batched; writes are conditional on the version read.
///
/// # Errors
/// - `put` MUST return [`StoreError::Conflict`] when the stored version is not
///   `activity.version` (a record never stored has version 0), and MUST then leave the stored
///   record unchanged. On success the stored version is `activity.version + 1`.
/// - [`StoreError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait UserActivityStore: Send + Sync {
    /// The stored records of the given customers; customers without one are left out.
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError>;

    /// Stores `activity` if the stored version still equals `activity.version`.
    async fn put(&self, activity: &UserActivity) -> Result<(), StoreError>;
}
