//! The transactional database in memory: customers, products, orders with their lines.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fashion_domain::calendar::StoreDay;
use fashion_domain::customer::Customer;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{PurchaseSource, PurchaseStore, PurchaseStoreError};
use fashion_domain::product::Product;
use futures::stream::{self, BoxStream, StreamExt};

use crate::lock;

/// Orders per chunk of [`PurchaseSource::extract_day`].
const CHUNK: usize = 1024;

#[derive(Default)]
struct Tables {
    customers: BTreeMap<CustomerId, Customer>,
    products: BTreeMap<ProductId, Product>,
    orders: BTreeMap<i64, StoredOrder>,
}

/// Purchases in ordered maps.
#[derive(Default)]
pub struct InMemoryPurchaseStore {
    tables: Mutex<Tables>,
}

impl InMemoryPurchaseStore {
    /// An empty database.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PurchaseStore for InMemoryPurchaseStore {
    async fn put_customers(&self, customers: &[Customer]) -> Result<u64, PurchaseStoreError> {
        let mut t = lock(&self.tables);
        for c in customers {
            t.customers.insert(c.id, c.clone());
        }
        Ok(customers.len() as u64)
    }

    async fn put_products(&self, products: &[Product]) -> Result<u64, PurchaseStoreError> {
        let mut t = lock(&self.tables);
        for p in products {
            t.products.insert(p.id, p.clone());
        }
        Ok(products.len() as u64)
    }

    async fn put_orders(&self, orders: &[StoredOrder]) -> Result<u64, PurchaseStoreError> {
        let mut t = lock(&self.tables);
        for o in orders {
            let mut o = o.clone();
            o.items.sort_by_key(|i| i.line_no);
            t.orders.insert(o.order.order_id, o);
        }
        Ok(orders.len() as u64)
    }
}

#[async_trait]
impl PurchaseSource for InMemoryPurchaseStore {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        let matching: Vec<StoredOrder> = lock(&self.tables)
            .orders
            .values()
            .filter(|o| day.contains(o.order.ordered_at) || day.contains(o.order.recorded_at))
            .cloned()
            .collect();
        let chunks: Vec<Result<Vec<StoredOrder>, PurchaseStoreError>> =
            matching.chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
        stream::iter(chunks).boxed()
    }

    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError> {
        Ok(lock(&self.tables).customers.values().cloned().collect())
    }

    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError> {
        Ok(lock(&self.tables).products.values().cloned().collect())
    }
}
