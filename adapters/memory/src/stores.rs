//! Key-value style stores in maps: recommendations, activity, catalog, models, dead letters.

use std::collections::BTreeMap;

use fashion_domain::fasthash::FastMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fashion_domain::activity::UserActivity;
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::model::RecModel;
use fashion_domain::ports::{
    DeadLetterReader, DeadLetterSink, ModelStore, ProductCatalog, RecommendationReader,
    RecommendationStore, StoreError, UserActivityStore,
};
use fashion_domain::product::Product;
use fashion_domain::recommendation::Recommendations;

use crate::lock;

/// Recommendations in a map.
#[derive(Default)]
pub struct InMemoryRecommendationStore {
    items: Mutex<FastMap<CustomerId, Recommendations>>,
}

impl InMemoryRecommendationStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RecommendationStore for InMemoryRecommendationStore {
    async fn put_many(&self, recs: &[Recommendations]) -> Result<(), StoreError> {
        let mut items = lock(&self.items);
        for r in recs {
            items.insert(r.customer_id, r.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl RecommendationReader for InMemoryRecommendationStore {
    async fn get(&self, customer: CustomerId) -> Result<Option<Recommendations>, StoreError> {
        Ok(lock(&self.items).get(&customer).cloned())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.items).len() as u64)
    }
}

/// Activity records in a map, with version checks.
#[derive(Default)]
pub struct InMemoryUserActivityStore {
    items: Mutex<FastMap<CustomerId, UserActivity>>,
}

impl InMemoryUserActivityStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl UserActivityStore for InMemoryUserActivityStore {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        let items = lock(&self.items);
        Ok(customers
            .iter()
            .filter_map(|c| items.get(c).cloned())
            .collect())
    }

    async fn put(&self, activity: &UserActivity) -> Result<(), StoreError> {
        let mut items = lock(&self.items);
        let stored = items.get(&activity.customer_id).map_or(0, |a| a.version);
        if stored != activity.version {
            return Err(StoreError::Conflict {
                key: activity.customer_id.to_string(),
                expected: activity.version,
            });
        }
        let mut next = activity.clone();
        next.version = next.version.saturating_add(1);
        items.insert(activity.customer_id, next);
        Ok(())
    }
}

/// Products in an ordered map.
#[derive(Default)]
pub struct InMemoryProductCatalog {
    items: Mutex<BTreeMap<ProductId, Product>>,
}

impl InMemoryProductCatalog {
    /// An empty catalog.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ProductCatalog for InMemoryProductCatalog {
    async fn upsert_many(&self, products: &[Product]) -> Result<u64, StoreError> {
        let mut items = lock(&self.items);
        for p in products {
            items.insert(p.id, p.clone());
        }
        Ok(products.len() as u64)
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let items = lock(&self.items);
        Ok(ids.iter().filter_map(|id| items.get(id).cloned()).collect())
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        Ok(lock(&self.items).values().cloned().collect())
    }
}

/// Models by version.
#[derive(Default)]
pub struct InMemoryModelStore {
    models: Mutex<BTreeMap<String, RecModel>>,
}

impl InMemoryModelStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ModelStore for InMemoryModelStore {
    async fn put(&self, model: &RecModel) -> Result<(), StoreError> {
        lock(&self.models).insert(model.version.clone(), model.clone());
        Ok(())
    }

    async fn latest_version(&self) -> Result<Option<String>, StoreError> {
        Ok(lock(&self.models).keys().next_back().cloned())
    }

    async fn get(&self, version: &str) -> Result<Option<RecModel>, StoreError> {
        Ok(lock(&self.models).get(version).cloned())
    }

    async fn versions(&self) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.models).keys().cloned().collect())
    }
}

/// Dead letters in insertion order, deduplicated by key.
#[derive(Default)]
pub struct InMemoryDeadLetterSink {
    letters: Mutex<(Vec<DeadLetter>, std::collections::HashSet<String>)>,
}

impl InMemoryDeadLetterSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl DeadLetterSink for InMemoryDeadLetterSink {
    async fn put_many(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let mut guard = lock(&self.letters);
        let (list, keys) = &mut *guard;
        for l in letters {
            if keys.insert(l.key()) {
                list.push(l.clone());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DeadLetterReader for InMemoryDeadLetterSink {
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.letters).0.len() as u64)
    }

    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(lock(&self.letters).0.iter().take(limit).cloned().collect())
    }
}
