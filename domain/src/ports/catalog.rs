//! Port: the product catalog the stream processor enriches events from.

use async_trait::async_trait;

use super::errors::StoreError;
use crate::ids::ProductId;
use crate::product::Product;

/// Products by id. `upsert_many` replaces products with the same id, so importing a file twice
/// changes nothing.
///
/// # Errors
/// - [`StoreError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait ProductCatalog: Send + Sync {
    /// Inserts or replaces products; returns how many were written.
    async fn upsert_many(&self, products: &[Product]) -> Result<u64, StoreError>;

    /// The products with the given ids that exist, in no particular order.
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;

    /// Every product, ordered by id.
    async fn list(&self) -> Result<Vec<Product>, StoreError>;
}
