//! The catalog the stream processor enriches with follows the store's product table: the store's
//! order system writes products to the transactional database, and this step copies the ones
//! that are new or changed to the catalog store (DynamoDB on AWS). The daily job runs it after
//! each day, so a product added today is known to the stream processor by tomorrow's first click
//! at the latest (`catalog import` writes both at once for a new store). Products that left the
//! transactional database stay in the catalog: old clicks and orders still name them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::ports::{ProductCatalog, PurchaseSource, PurchaseStoreError, StoreError};
use crate::product::Product;

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogSync {
    /// Products in the transactional database.
    pub in_store: u64,
    /// Of those, already in the catalog as they are.
    pub unchanged: u64,
    /// Written to the catalog (new or changed).
    pub written: u64,
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogSyncError {
    /// The transactional database could not be read.
    #[error("failed to read the store's products: {0}")]
    Source(#[from] PurchaseStoreError),
    /// The catalog could not be read or written.
    #[error("failed to sync the product catalog: {0}")]
    Catalog(#[from] StoreError),
}

impl CatalogSyncError {
    /// True when running again later may succeed.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::Source(e) => e.is_retryable(),
            Self::Catalog(e) => e.is_retryable(),
        }
    }
}

/// Copies the store's new and changed products to `catalog`.
///
/// # Errors
/// [`CatalogSyncError`] when either side fails; what was written before stays written (a rerun
/// writes the rest).
pub async fn sync_catalog(
    source: &(impl PurchaseSource + ?Sized),
    catalog: &(impl ProductCatalog + ?Sized),
) -> Result<CatalogSync, CatalogSyncError> {
    let products = source.products().await?;
    let known: HashMap<ProductId, Product> = catalog
        .list()
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let changed: Vec<Product> = products
        .iter()
        .filter(|p| known.get(&p.id) != Some(*p))
        .cloned()
        .collect();
    if !changed.is_empty() {
        catalog.upsert_many(&changed).await?;
    }
    let report = CatalogSync {
        in_store: products.len() as u64,
        unchanged: products.len().saturating_sub(changed.len()) as u64,
        written: changed.len() as u64,
    };
    tracing::info!(
        in_store = report.in_store,
        written = report.written,
        "Synced the product catalog."
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockProductCatalog, MockPurchaseSource};

    fn product(id: u32, colour: &str) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            gender: "Women".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: "Tshirts".into(),
            base_colour: Some(colour.into()),
            season: None,
            year: None,
            usage: None,
            product_display_name: format!("Tee {id}"),
            price: None,
        }
    }

    #[tokio::test]
    async fn only_new_and_changed_products_are_written_and_none_is_removed() {
        // Arrange: the store has 1 (unchanged), 2 (recoloured) and 3 (new); the catalog also
        // has 4, which left the store.
        let mut source = MockPurchaseSource::new();
        source.expect_products().returning(|| {
            Ok(vec![
                product(1, "Black"),
                product(2, "Red"),
                product(3, "Blue"),
            ])
        });
        let mut catalog = MockProductCatalog::new();
        catalog.expect_list().returning(|| {
            Ok(vec![
                product(1, "Black"),
                product(2, "White"),
                product(4, "Grey"),
            ])
        });
        catalog
            .expect_upsert_many()
            .withf(|written| written == [product(2, "Red"), product(3, "Blue")])
            .times(1)
            .returning(|p| Ok(p.len() as u64));

        // Act
        let report = sync_catalog(&source, &catalog).await.unwrap();

        // Assert
        assert_eq!(
            report,
            CatalogSync {
                in_store: 3,
                unchanged: 1,
                written: 2
            }
        );
    }

    #[tokio::test]
    async fn a_catalog_in_step_is_not_written() {
        let mut source = MockPurchaseSource::new();
        source
            .expect_products()
            .returning(|| Ok(vec![product(1, "Black")]));
        let mut catalog = MockProductCatalog::new();
        catalog
            .expect_list()
            .returning(|| Ok(vec![product(1, "Black")]));
        catalog.expect_upsert_many().never();
        let report = sync_catalog(&source, &catalog).await.unwrap();
        assert_eq!(report.written, 0);
    }
}
