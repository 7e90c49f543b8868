//! Ports: where unusable records go, with their reason ([`DeadLetterSink`], the write side the
//! pipeline holds), and how an operator inspects them ([`DeadLetterReader`], the read side the
//! dashboard and the dead-letter listing hold).

use async_trait::async_trait;

use super::errors::StoreError;
use crate::dead_letter::DeadLetter;

/// Dead letters, kept durably. `put_many` is idempotent by [`DeadLetter::key`]: the same record
/// refused twice (a replayed batch) is stored once.
///
/// # Errors
/// - [`StoreError::Unavailable`] on throttling or timeout; the caller MUST NOT acknowledge the
///   records until a retry succeeds, or they would be lost.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait DeadLetterSink: Send + Sync {
    /// Stores dead letters.
    async fn put_many(&self, letters: &[DeadLetter]) -> Result<(), StoreError>;
}

/// The stored dead letters, for inspection.
///
/// # Errors
/// - [`StoreError::Unavailable`] on throttling or timeout; reading again later is safe.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait DeadLetterReader: Send + Sync {
    /// How many dead letters are stored.
    async fn count(&self) -> Result<u64, StoreError>;

    /// Up to `limit` stored dead letters, oldest first (by `at`; ties in any order). Stores with
    /// eventually consistent indexes (DynamoDB) may omit letters written a moment ago.
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
}
