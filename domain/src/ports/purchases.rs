//! Ports of the transactional database that records purchases.

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::errors::PurchaseStoreError;
use crate::calendar::StoreDay;
use crate::customer::Customer;
use crate::order::StoredOrder;
use crate::product::Product;

/// Writes to the store's database (what the website's checkout does; here the generator and
/// imports).
///
/// # Errors
/// - [`PurchaseStoreError::Constraint`] when a row breaks the schema's constraints.
/// - [`PurchaseStoreError::Unavailable`] when the database cannot be reached.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait PurchaseStore: Send + Sync {
    /// Inserts or replaces customers by id.
    async fn put_customers(&self, customers: &[Customer]) -> Result<u64, PurchaseStoreError>;

    /// Inserts or replaces products by id.
    async fn put_products(&self, products: &[Product]) -> Result<u64, PurchaseStoreError>;

    /// Inserts orders with their lines; an order id already stored is replaced with its lines,
    /// so loading the same orders twice changes nothing.
    async fn put_orders(&self, orders: &[StoredOrder]) -> Result<u64, PurchaseStoreError>;
}

/// What the daily job reads from the database.
///
/// # Errors
/// - [`PurchaseStoreError::Unavailable`] when the database cannot be reached.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait PurchaseSource: Send + Sync {
    /// Streams, in chunks, every order whose `ordered_at` or `recorded_at` falls in `day`, each
    /// with all its stored lines (duplicates included), ordered by order id. Implementations MUST
    /// NOT hold the whole day in memory.
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>>;

    /// Every customer, as of now.
    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError>;

    /// Every product, as of now.
    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError>;
}
