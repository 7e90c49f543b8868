//! Ports: where the stream processor writes each customer's latest recommendations
//! ([`RecommendationStore`]) and where the website reads them ([`RecommendationReader`]).

use async_trait::async_trait;

use super::errors::StoreError;
use crate::ids::CustomerId;
use crate::recommendation::Recommendations;

/// Latest recommendations per customer. `put_many` is an upsert keyed by customer: replaying a
/// batch MUST leave the store unchanged, and the last write for a customer wins.
///
/// # Errors
/// - [`StoreError::Unavailable`] on throttling or timeout, after the adapter's own retries of
///   unprocessed items; callers may retry the whole call, which is idempotent.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait RecommendationStore: Send + Sync {
    /// Stores the recommendations of several customers.
    async fn put_many(&self, recs: &[Recommendations]) -> Result<(), StoreError>;
}

/// The stored recommendations, read by the website and the run summaries.
///
/// # Errors
/// - [`StoreError::Unavailable`] on throttling or timeout; reading again later is safe.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait RecommendationReader: Send + Sync {
    /// The customer's recommendations, `None` if none were ever stored.
    async fn get(&self, customer: CustomerId) -> Result<Option<Recommendations>, StoreError>;

    /// How many customers have recommendations.
    async fn count(&self) -> Result<u64, StoreError>;
}
