//! History read once: the interactions and order lines of a time range (or of everything the
//! lake holds), and the catalog they refer to. The trend report, the evaluation and the demo's
//! summary start from it; [`latest_day`] finds where a table's days end without reading them.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt as _;

use crate::history::{PurchaseRecord, TrainingEvent};
use crate::ports::{HistorySource, LakeError, ProductCatalog, StoreError, TableCatalog};
use crate::product::Product;

/// The lake's interactions and order lines, with the catalog.
#[derive(Debug, Clone, Default)]
pub struct FullHistory {
    /// Product interactions (page views excluded), deduplicated by event id.
    pub events: Vec<TrainingEvent>,
    /// Clean order lines.
    pub purchases: Vec<PurchaseRecord>,
    /// Every product.
    pub products: Vec<Product>,
}

/// What could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The clickstream.
    #[error("failed to read the clickstream from the lake")]
    Clicks(#[source] LakeError),
    /// The order lines.
    #[error("failed to read order lines from the lake")]
    Orders(#[source] LakeError),
    /// The catalog.
    #[error("failed to read the catalog")]
    Catalog(#[source] StoreError),
}

/// Reads the whole history and the catalog.
///
/// # Errors
/// The first read that fails, named.
pub async fn load_full_history(
    history: &dyn HistorySource,
    catalog: &dyn ProductCatalog,
) -> Result<FullHistory, HistoryError> {
    load_history(
        history,
        catalog,
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    )
    .await
}

/// Reads the interactions and order lines in `[from, to)` and the catalog: the lake's readers
/// open only the partitions that range may hold.
///
/// # Errors
/// The first read that fails, named.
pub async fn load_history(
    history: &dyn HistorySource,
    catalog: &dyn ProductCatalog,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<FullHistory, HistoryError> {
    let events = history
        .interactions(from, to)
        .try_concat()
        .await
        .map_err(HistoryError::Clicks)?;
    let purchases = history
        .purchases(from, to)
        .try_concat()
        .await
        .map_err(HistoryError::Orders)?;
    let products = catalog.list().await.map_err(HistoryError::Catalog)?;
    Ok(FullHistory {
        events,
        purchases,
        products,
    })
}

/// The latest `dt` among the partitions `catalog` holds for `table` (`None` when it has none):
/// read from the catalog, not the data.
///
/// # Errors
/// [`LakeError`] when the catalog cannot be read.
pub async fn latest_day(
    catalog: &dyn TableCatalog,
    table: &str,
) -> Result<Option<NaiveDate>, LakeError> {
    Ok(catalog
        .partitions(table)
        .await?
        .into_iter()
        .filter_map(|p| p.key.date())
        .max())
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use futures::stream::{self, BoxStream, StreamExt as _};

    use super::*;
    use crate::event::EventType;
    use crate::ids::{CustomerId, ProductId};
    use crate::ports::MockProductCatalog;

    /// Interactions in two chunks; order lines fail when `orders_down`.
    struct TwoChunks {
        orders_down: bool,
    }

    fn event(customer: u64) -> TrainingEvent {
        TrainingEvent {
            customer: CustomerId::new(customer).unwrap(),
            session: customer,
            product: ProductId::new(7).unwrap(),
            kind: EventType::Click,
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[async_trait]
    impl HistorySource for TwoChunks {
        fn interactions(
            &self,
            _from: DateTime<Utc>,
            _to: DateTime<Utc>,
        ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
            stream::iter([Ok(vec![event(1)]), Ok(vec![event(2), event(3)])]).boxed()
        }

        fn clickstream(
            &self,
            _from: DateTime<Utc>,
            _to: DateTime<Utc>,
        ) -> BoxStream<'static, Result<Vec<crate::event::ClickEvent>, LakeError>> {
            stream::empty().boxed()
        }

        async fn latest_click_day(&self) -> Result<Option<NaiveDate>, LakeError> {
            Ok(None)
        }

        fn purchases(
            &self,
            _from: DateTime<Utc>,
            _to: DateTime<Utc>,
        ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
            let chunk = if self.orders_down {
                Err(LakeError::Unavailable {
                    message: "down".into(),
                })
            } else {
                Ok(Vec::new())
            };
            stream::iter([chunk]).boxed()
        }
    }

    fn empty_catalog() -> MockProductCatalog {
        let mut catalog = MockProductCatalog::new();
        catalog.expect_list().returning(|| Ok(Vec::new()));
        catalog
    }

    #[tokio::test]
    async fn every_chunk_is_read_once() {
        // Act
        let full = load_full_history(&TwoChunks { orders_down: false }, &empty_catalog())
            .await
            .unwrap();
        // Assert
        let customers: Vec<u64> = full.events.iter().map(|e| e.customer.get()).collect();
        assert_eq!(customers, [1, 2, 3]);
        assert!(full.purchases.is_empty());
    }

    #[tokio::test]
    async fn a_failed_read_is_named() {
        let err = load_full_history(&TwoChunks { orders_down: true }, &empty_catalog())
            .await
            .unwrap_err();
        assert!(matches!(err, HistoryError::Orders(_)), "{err}");
        assert_eq!(err.to_string(), "failed to read order lines from the lake");
    }
}
