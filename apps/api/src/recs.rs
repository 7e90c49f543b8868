//! `GET /users/{id}/recommendations` and `GET /products/{id}`: what the website reads.
//!
//! A customer with a stored list gets it; one without (new, or never active) gets the model's
//! cold-start list (trending, then popular), flagged `"source": "fallback"`, never a 404: the
//! website always has something to show.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::ports::{ModelStore, ProductCatalog};
use fashion_domain::product::Product;
use fashion_domain::services::recommender::RecommenderConfig;
use fashion_domain::services::stream_processor::ModelHandle;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;

/// Items returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 10;
/// Most items one answer holds.
pub const MAX_LIMIT: usize = 50;
/// Products kept in the name cache before it is emptied (the catalog of a large store).
const PRODUCT_CACHE_CAPACITY: usize = 200_000;

/// Where a list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationSource {
    /// Computed for this customer by the stream processor from their own activity.
    Personal,
    /// No list is stored for this customer: trending, then popular items, from the latest model.
    Fallback,
}

/// A product as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    /// Product id.
    pub product_id: u32,
    /// Display name.
    pub name: String,
    /// Gender.
    pub gender: String,
    /// Master category.
    pub master_category: String,
    /// Sub category.
    pub sub_category: String,
    /// Article type.
    pub article_type: String,
    /// Colour (`Unknown` when missing).
    pub colour: String,
    /// Season.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<String>,
    /// List price as an exact decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        Self {
            product_id: p.id.get(),
            name: p.product_display_name.clone(),
            gender: p.gender.clone(),
            master_category: p.master_category.clone(),
            sub_category: p.sub_category.clone(),
            article_type: p.article_type.clone(),
            colour: p.colour().to_owned(),
            season: p.season.clone(),
            price: p.price.map(|c| c.to_string()),
        }
    }
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecommendedProduct {
    /// Product id.
    pub product_id: u32,
    /// Relative score, higher is better.
    pub score: f32,
    /// Why: `also_viewed`, `similar`, `trending`, `popular`, `seen_before`.
    pub reason: String,
    /// The product, when the catalog knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductView>,
}

/// A customer's recommendations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecommendationsResponse {
    /// The customer.
    pub customer_id: u64,
    /// `personal` or `fallback`.
    pub source: RecommendationSource,
    /// The model that scored the list (absent when no model is trained yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// When a personal list was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Best first.
    pub items: Vec<RecommendedProduct>,
}

/// Query of `GET /users/{id}/recommendations`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RecsQuery {
    /// Items to return, 1–50 (default 10).
    pub limit: Option<usize>,
}

/// The model used for fallbacks and a cache of product views, both refreshed in the background.
#[derive(Default)]
pub(crate) struct RecsCache {
    model: ModelHandle,
    model_checked: tokio::sync::Mutex<Option<Instant>>,
    products: RwLock<ProductCache>,
}

#[derive(Default)]
struct ProductCache {
    filled_at: Option<Instant>,
    by_id: HashMap<ProductId, Arc<ProductView>>,
}

impl RecsCache {
    /// The current model; loads it on first use, and refreshes it in the background when stale.
    async fn model(
        &self,
        store: &Arc<dyn ModelStore>,
        every: std::time::Duration,
    ) -> Arc<fashion_domain::services::recommender::ModelIndex> {
        let mut checked = self.model_checked.lock().await;
        let stale = checked.is_none_or(|at| at.elapsed() >= every);
        if stale {
            let first = checked.is_none();
            *checked = Some(Instant::now());
            drop(checked);
            if first {
                // The first load falls back to an earlier model when the newest is corrupt.
                if let Err(e) = self.model.load(store.as_ref()).await {
                    tracing::warn!(error.message = %e, "Could not load a model; recommending from the fallbacks.");
                }
            } else {
                // Readers keep the current model while the new one loads.
                let handle = self.model.clone();
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    if let Err(e) = handle.refresh(store.as_ref()).await {
                        tracing::warn!(error.message = %e, "Could not refresh the model; keeping the current one.");
                    }
                });
            }
        }
        self.model.current()
    }

    /// Views of the given products that the catalog knows, fetching the ones not cached.
    async fn products(
        &self,
        catalog: &dyn ProductCatalog,
        ids: &[ProductId],
        every: std::time::Duration,
    ) -> Result<HashMap<ProductId, Arc<ProductView>>, ApiError> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        let stale = |c: &ProductCache| {
            c.filled_at.is_none_or(|at| at.elapsed() >= every)
                || c.by_id.len() > PRODUCT_CACHE_CAPACITY
        };
        // Names and prices change in the catalog: forget everything now and then. Only then is
        // the write lock taken; every read of a warm cache shares the read lock.
        if stale(
            &self
                .products
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ) {
            let mut cache = self
                .products
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if stale(&cache) {
                cache.by_id.clear();
                cache.filled_at = Some(Instant::now());
            }
        }
        {
            let cache = self
                .products
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                match cache.by_id.get(id) {
                    Some(v) => {
                        found.insert(*id, Arc::clone(v));
                    }
                    None => missing.push(*id),
                }
            }
        }
        if !missing.is_empty() {
            let fetched = catalog
                .get_many(&missing)
                .await
                .map_err(|e| store_unavailable("catalog", &e))?;
            let mut cache = self
                .products
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for p in &fetched {
                let view = Arc::new(ProductView::from(p));
                cache.by_id.insert(p.id, Arc::clone(&view));
                found.insert(p.id, view);
            }
        }
        Ok(found)
    }
}

fn store_unavailable(what: &str, e: &fashion_domain::ports::StoreError) -> ApiError {
    if e.is_retryable() {
        ApiError::Unavailable {
            message: format!("the {what} is unavailable: {e}"),
            retry_after_secs: 1,
        }
    } else {
        ApiError::Internal(anyhow::anyhow!("failed to read the {what}: {e}"))
    }
}

/// A customer's recommendations, with product names and reasons.
#[utoipa::path(get, path = "/users/{id}/recommendations", tag = "recommendations",
    params(("id" = String, Path, description = "Customer id (a positive integer)"), RecsQuery),
    responses(
        (status = 200, description = "The stored list, or the cold-start fallback (`source` says which)", body = RecommendationsResponse),
        (status = 400, description = "Malformed customer id or limit", body = crate::error::ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn get_recommendations(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<RecsQuery>,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let started = Instant::now();
    let customer = CustomerId::parse(&id)
        .map_err(|e| ApiError::BadRequest(format!("customer id {id:?}: {e}")))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit}: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let ports = &state.ports;
    let stored = ports
        .recommendations
        .get(customer)
        .await
        .map_err(|e| store_unavailable("recommendation store", &e))?;
    let (source, model_version, updated_at, items) = match stored {
        Some(recs) if !recs.items.is_empty() => (
            RecommendationSource::Personal,
            Some(recs.model_version),
            Some(recs.updated_at),
            recs.items,
        ),
        _ => {
            let model = state
                .recs
                .model(&ports.models, state.config.refresh_every)
                .await;
            let cfg = RecommenderConfig {
                top_n: limit,
                ..RecommenderConfig::default()
            };
            // What the customer bought stays out of their list, as it does of a personal one.
            let bought = ports
                .activity
                .get_many(&[customer])
                .await
                .map_err(|e| store_unavailable("activity store", &e))?
                .into_iter()
                .next()
                .map(|a| a.purchased)
                .unwrap_or_default();
            let items = model.recommend(&[], &bought, ports.clock.now(), &cfg);
            let version = (!model.is_empty()).then(|| model.version().to_owned());
            (RecommendationSource::Fallback, version, None, items)
        }
    };
    let items: Vec<_> = items.into_iter().take(limit).collect();
    let ids: Vec<ProductId> = items.iter().map(|i| i.product_id).collect();
    let products = state
        .recs
        .products(ports.catalog.as_ref(), &ids, state.config.refresh_every)
        .await?;
    let items = items
        .into_iter()
        .map(|i| RecommendedProduct {
            product_id: i.product_id.get(),
            score: i.score,
            reason: i.reason.as_str().to_owned(),
            product: products.get(&i.product_id).map(|p| (**p).clone()),
        })
        .collect();
    state.metrics.recommendation_read(source, started.elapsed());
    Ok(Json(RecommendationsResponse {
        customer_id: customer.get(),
        source,
        model_version,
        updated_at,
        items,
    }))
}

/// One product of the catalog.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Product id (a positive integer)")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 400, description = "Malformed product id", body = crate::error::ErrorBody),
        (status = 404, description = "No such product", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn get_product(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ProductView>, ApiError> {
    let product = ProductId::parse(&id)
        .map_err(|e| ApiError::BadRequest(format!("product id {id:?}: {e}")))?;
    let found = state
        .recs
        .products(
            state.ports.catalog.as_ref(),
            &[product],
            state.config.refresh_every,
        )
        .await?;
    found
        .get(&product)
        .map(|p| Json((**p).clone()))
        .ok_or_else(|| ApiError::NotFound(format!("no product {product}")))
}
