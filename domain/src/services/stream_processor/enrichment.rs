//! Enrichment: product attributes from the catalog, cached for [`CATALOG_CACHE_TTL`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::StreamProcessor;
use crate::event::ProductAttributes;
use crate::fasthash::{FastMap, FastSet};
use crate::ids::ProductId;
use crate::ports::{ProductCatalog, StoreError};

/// Enrichment cache: product attributes and when they were read.
pub(super) type ProductCache = FastMap<ProductId, (Arc<ProductAttributes>, DateTime<Utc>)>;

/// How long enrichment trusts a cached product (the catalog changes rarely; a warm Lambda
/// container or a long-running consumer then reads it once per product and period).
pub const CATALOG_CACHE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Products kept in the enrichment cache; past it, [`make_room`] evicts the expired entries,
/// then the least recently read half.
const CATALOG_CACHE_MAX: usize = 200_000;

impl<A, R, C, D> StreamProcessor<A, R, C, D>
where
    C: ProductCatalog,
{
    /// Product attributes for `ids`: cached ones younger than [`CATALOG_CACHE_TTL`], the rest
    /// read from the catalog in one call and cached. Products the catalog lacks are left out.
    pub(super) async fn enrichment(
        &self,
        ids: &[ProductId],
        now: DateTime<Utc>,
    ) -> Result<FastMap<ProductId, Arc<ProductAttributes>>, StoreError> {
        let mut out: FastMap<ProductId, Arc<ProductAttributes>> = FastMap::default();
        let mut missing = Vec::new();
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                match cache.get(id) {
                    Some((a, at))
                        if *at <= now && now.signed_duration_since(*at) < CATALOG_CACHE_TTL =>
                    {
                        out.insert(*id, a.clone());
                    }
                    _ => missing.push(*id),
                }
            }
        }
        if !missing.is_empty() {
            let products = match self.catalog.get_many(&missing).await {
                Ok(p) => p,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    // A corrupt product must not stall the batch: read one by one and leave out
                    // what cannot be read (those events are dead-lettered as unknown products).
                    tracing::warn!(error.message = %e, "Catalog read failed; reading product by product.");
                    let mut ok = Vec::with_capacity(missing.len());
                    for id in &missing {
                        match self.catalog.get_many(&[*id]).await {
                            Ok(p) => ok.extend(p),
                            Err(e) if e.is_retryable() => return Err(e),
                            Err(e) => {
                                tracing::error!(product = %id, error.message = %e, "A product cannot be read from the catalog.");
                            }
                        }
                    }
                    ok
                }
            };
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            make_room(&mut cache, products.len(), CATALOG_CACHE_MAX, now);
            for p in &products {
                let a = Arc::new(ProductAttributes::from(p));
                cache.insert(p.id, (a.clone(), now));
                out.insert(p.id, a);
            }
        }
        Ok(out)
    }
}

/// Makes room for `incoming` products in a cache of at most `max`: nothing when they fit;
/// otherwise drops the entries past [`CATALOG_CACHE_TTL`] (and any read "after" `now`), and when
/// that is not enough, keeps the most recently read half. A store with more products than `max`
/// then re-reads only its coldest ones, instead of every product after a full clear.
fn make_room(cache: &mut ProductCache, incoming: usize, max: usize, now: DateTime<Utc>) {
    if cache.len().saturating_add(incoming) <= max {
        return;
    }
    cache.retain(|_, (_, at)| *at <= now && now.signed_duration_since(*at) < CATALOG_CACHE_TTL);
    if cache.len().saturating_add(incoming) <= max {
        return;
    }
    let keep = max.saturating_sub(incoming) / 2;
    let mut by_age: Vec<(DateTime<Utc>, ProductId)> =
        cache.iter().map(|(id, (_, at))| (*at, *id)).collect();
    by_age.sort_unstable_by(|a, b| b.cmp(a));
    let kept: FastSet<ProductId> = by_age.into_iter().take(keep).map(|(_, id)| id).collect();
    cache.retain(|id, _| kept.contains(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::Product;

    fn cached(cache: &mut ProductCache, id: u32, at: DateTime<Utc>) {
        let p = Product {
            id: ProductId::new(id).unwrap(),
            gender: "Women".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: "Tshirts".into(),
            base_colour: None,
            season: None,
            year: None,
            usage: None,
            product_display_name: String::new(),
            price: None,
        };
        cache.insert(p.id, (Arc::new(ProductAttributes::from(&p)), at));
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_its_coldest_half_never_everything() {
        // Arrange: 10 entries read a second apart, two of them long ago.
        let now = t(10_000);
        let mut cache = ProductCache::default();
        for id in 1..=8 {
            cached(
                &mut cache,
                id,
                now - chrono::Duration::seconds(i64::from(id)),
            );
        }
        cached(
            &mut cache,
            9,
            now - CATALOG_CACHE_TTL - chrono::Duration::seconds(1),
        );
        cached(&mut cache, 10, now - CATALOG_CACHE_TTL * 2);

        // Act / Assert: room for 2 more in 12: nothing to do.
        make_room(&mut cache, 2, 12, now);
        assert_eq!(cache.len(), 10);
        // Room for 2 in 10: the two expired entries go, the eight fresh ones stay.
        make_room(&mut cache, 2, 10, now);
        assert_eq!(cache.len(), 8);
        assert!(!cache.contains_key(&ProductId::new(9).unwrap()));
        // Room for 4 in 10: the three most recently read of the eight stay.
        make_room(&mut cache, 4, 10, now);
        let mut left: Vec<u32> = cache.keys().map(|id| id.get()).collect();
        left.sort_unstable();
        assert_eq!(left, [1, 2, 3]);
    }
}
