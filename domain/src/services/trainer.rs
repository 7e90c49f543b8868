//! The trainer: from clickstream and purchase history to a versioned model artifact with
//! time-decayed item-to-item neighbours (session co-views, co-carts, co-purchases), popularity and
//! trend scores per product, per-segment popular and trending lists, and customers' purchases.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use super::recommender::ALL_SEGMENTS;
use super::trends::{TrendAttributes, TrendParams, compute_trends, interest_weight};
use crate::history::{PurchaseRecord, TrainingEvent};
use crate::ids::{CustomerId, ProductId};
use crate::model::{ModelProduct, Neighbour, RecModel};
use crate::ports::{HistorySource, LakeError, ModelStore, ProductCatalog, StoreError};
use crate::product::Product;
use crate::trends::{TrendDimension, TrendSignal, article_type_colour_key};

/// Tunables of training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerParams {
    /// Neighbours kept per product.
    pub top_k: usize,
    /// Days after which an interaction counts half as much.
    pub half_life_days: f64,
    /// History read, ending at training time.
    pub lookback: Duration,
    /// Distinct products of one session considered for pairs (the most engaged ones).
    pub max_session_items: usize,
    /// Items kept in each segment's popular and trending lists.
    pub segment_list_len: usize,
    /// Trend windows.
    pub trends: TrendParams,
}

impl Default for TrainerParams {
    fn default() -> Self {
        Self {
            top_k: 50,
            half_life_days: 7.0,
            lookback: Duration::days(90),
            max_session_items: 30,
            segment_list_len: 100,
            trends: TrendParams::default(),
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// The new model's version.
    pub version: String,
    /// Interactions read.
    pub interactions: u64,
    /// Purchased lines read.
    pub purchases: u64,
    /// Products in the model.
    pub products: usize,
    /// Products with at least one neighbour.
    pub products_with_neighbours: usize,
    /// The strongest trend signals.
    pub top_trends: Vec<TrendSignal>,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The history could not be read.
    #[error("failed to read history: {0}")]
    History(#[from] LakeError),
    /// The catalog or model store failed.
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
}

impl TrainError {
    /// True when running again later may succeed.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::History(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
        }
    }
}

/// Trains and stores models.
pub struct Trainer<H, C, M> {
    history: H,
    catalog: C,
    models: M,
    params: TrainerParams,
}

impl<H: HistorySource, C: ProductCatalog, M: ModelStore> Trainer<H, C, M> {
    /// A trainer over the given ports.
    pub const fn new(history: H, catalog: C, models: M, params: TrainerParams) -> Self {
        Self {
            history,
            catalog,
            models,
            params,
        }
    }

    /// Trains on the history up to `now`, stores the model and returns it with a report.
    ///
    /// # Errors
    /// [`TrainError`] when the history, catalog or model store fails.
    #[tracing::instrument(skip_all, fields(now = %now), err)]
    pub async fn train(&self, now: DateTime<Utc>) -> Result<(RecModel, TrainReport), TrainError> {
        let from = now
            .checked_sub_signed(self.params.lookback)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let events: Vec<TrainingEvent> = self.history.interactions(from, now).try_concat().await?;
        let purchases: Vec<PurchaseRecord> = self.history.purchases(from, now).try_concat().await?;
        let products = self.catalog.list().await?;
        let model = build_model(&products, &events, &purchases, now, &self.params);
        self.models.put(&model).await?;
        let report = TrainReport {
            version: model.version.clone(),
            interactions: events.len() as u64,
            purchases: purchases.len() as u64,
            products: model.products.len(),
            products_with_neighbours: model
                .neighbours
                .iter()
                .filter(|(_, n)| !n.is_empty())
                .count(),
            top_trends: model.trends.iter().take(10).cloned().collect(),
        };
        tracing::info!(version = %report.version, interactions = report.interactions, "Trained model.");
        Ok((model, report))
    }
}

fn decay(now: DateTime<Utc>, at: DateTime<Utc>, half_life_days: f64) -> f32 {
    let age_days = now.signed_duration_since(at).num_seconds().max(0) as f64 / 86_400.0;
    0.5f64.powf(age_days / half_life_days) as f32
}

/// Adds every pair of a basket's products to the co-occurrence counts, once per unordered pair
/// (the smaller id first): the map is the largest thing training holds, and both directions of a
/// pair have the same weight.
fn add_pairs(
    co: &mut HashMap<(ProductId, ProductId), f32>,
    items: &mut Vec<(ProductId, f32)>,
    max_items: usize,
    d: f32,
) {
    if items.len() < 2 {
        return;
    }
    items.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    items.truncate(max_items);
    for (i, &(a, wa)) in items.iter().enumerate() {
        for &(b, wb) in items.iter().skip(i.saturating_add(1)) {
            let w = d * (wa * wb).sqrt();
            *co.entry((a.min(b), a.max(b))).or_default() += w;
        }
    }
}

/// Builds a model from history. Pure and deterministic: the same inputs give the same model,
/// version included.
#[must_use]
pub fn build_model(
    products: &[Product],
    events: &[TrainingEvent],
    purchases: &[PurchaseRecord],
    now: DateTime<Utc>,
    params: &TrainerParams,
) -> RecModel {
    let hl = params.half_life_days;
    // Popularity and per-session engagement.
    let mut pop: HashMap<ProductId, f32> = HashMap::new();
    let mut sessions: BTreeMap<u64, (DateTime<Utc>, HashMap<ProductId, f32>)> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at < now) {
        let w = interest_weight(e.kind) as f32;
        if w <= 0.0 {
            continue;
        }
        *pop.entry(e.product).or_default() += w * decay(now, e.at, hl);
        let s = sessions.entry(e.session).or_insert((e.at, HashMap::new()));
        s.0 = s.0.max(e.at);
        let slot = s.1.entry(e.product).or_default();
        *slot = slot.max(w);
    }
    let mut baskets: BTreeMap<u64, (DateTime<Utc>, HashMap<ProductId, f32>)> = BTreeMap::new();
    let mut purchased: BTreeMap<CustomerId, Vec<ProductId>> = BTreeMap::new();
    for p in purchases.iter().filter(|p| p.at < now) {
        *pop.entry(p.product).or_default() +=
            super::trends::PURCHASE_WEIGHT as f32 * decay(now, p.at, hl);
        let b = baskets
            .entry(p.order.get())
            .or_insert((p.at, HashMap::new()));
        b.1.insert(p.product, super::trends::PURCHASE_WEIGHT as f32);
        purchased.entry(p.customer).or_default().push(p.product);
    }

    // Co-occurrence: sessions and baskets.
    let mut co: HashMap<(ProductId, ProductId), f32> = HashMap::new();
    for (at, items) in sessions.values().chain(baskets.values()) {
        let mut v: Vec<(ProductId, f32)> = items.iter().map(|(p, w)| (*p, *w)).collect();
        add_pairs(
            &mut co,
            &mut v,
            params.max_session_items,
            decay(now, *at, hl),
        );
    }
    // Cosine-style normalisation by each item's own weight, so blockbusters don't neighbour
    // everything.
    let mut per_item: HashMap<ProductId, Vec<Neighbour>> = HashMap::new();
    for ((a, b), w) in co {
        let norm = (pop.get(&a).copied().unwrap_or(1.0) * pop.get(&b).copied().unwrap_or(1.0))
            .sqrt()
            .max(1e-6);
        let score = w / norm;
        per_item.entry(a).or_default().push(Neighbour {
            product_id: b,
            score,
        });
        per_item.entry(b).or_default().push(Neighbour {
            product_id: a,
            score,
        });
    }
    let mut neighbours: Vec<(ProductId, Vec<Neighbour>)> = per_item
        .into_iter()
        .map(|(p, mut ns)| {
            ns.sort_by(|x, y| {
                y.score
                    .total_cmp(&x.score)
                    .then(x.product_id.cmp(&y.product_id))
            });
            ns.truncate(params.top_k);
            let top = ns.first().map_or(1.0, |n| n.score).max(1e-6);
            for n in &mut ns {
                n.score /= top;
            }
            (p, ns)
        })
        .collect();
    neighbours.sort_by_key(|(p, _)| *p);

    // Trends.
    let attrs: HashMap<ProductId, TrendAttributes> = TrendAttributes::of_catalog(products);
    let trends = compute_trends(events, purchases, &attrs, now, params.trends);
    let trend_of = |dim: TrendDimension| -> HashMap<String, f32> {
        let max = trends
            .iter()
            .filter(|s| s.dimension == dim)
            .map(|s| s.score)
            .fold(0.0, f64::max);
        trends
            .iter()
            .filter(|s| s.dimension == dim && s.score > 0.0 && max > 0.0)
            .map(|s| (s.key.clone(), (s.score / max) as f32))
            .collect()
    };
    let product_trend = trend_of(TrendDimension::Product);
    let combo_trend = trend_of(TrendDimension::ArticleTypeColour);

    let max_pop = pop.values().copied().fold(0.0f32, f32::max).max(1e-6);
    let model_products: Vec<ModelProduct> = products
        .iter()
        .map(|p| {
            let colour = p.colour().to_owned();
            let t1 = product_trend.get(&p.id.to_string()).copied().unwrap_or(0.0);
            let t2 = combo_trend
                .get(&article_type_colour_key(&p.article_type, &colour))
                .copied()
                .unwrap_or(0.0);
            ModelProduct {
                id: p.id,
                gender: p.gender.clone(),
                master_category: p.master_category.clone(),
                article_type: p.article_type.clone(),
                // Every listed product can be sold; stock levels are not in the catalog.
                available: true,
                colour,
                popularity: pop.get(&p.id).copied().unwrap_or(0.0) / max_pop,
                trend: t1.max(t2),
            }
        })
        .collect();

    // Segment lists: a segment is a catalog gender; unisex items belong to every segment.
    let mut segments: Vec<String> = model_products.iter().map(|p| p.gender.clone()).collect();
    segments.sort();
    segments.dedup();
    segments.push(ALL_SEGMENTS.to_owned());
    let list = |seg: &str, key: &dyn Fn(&ModelProduct) -> f32| -> Vec<ProductId> {
        let mut v: Vec<&ModelProduct> = model_products
            .iter()
            .filter(|p| p.available && key(p) > 0.0)
            .filter(|p| seg == ALL_SEGMENTS || p.gender == seg || p.gender == "Unisex")
            .collect();
        v.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.id.cmp(&b.id)));
        v.into_iter()
            .take(params.segment_list_len)
            .map(|p| p.id)
            .collect()
    };
    let popular_by_segment = segments
        .iter()
        .map(|s| (s.clone(), list(s, &|p| p.popularity)))
        .collect();
    let trending_by_segment = segments
        .iter()
        .map(|s| (s.clone(), list(s, &|p| p.trend * (0.2 + p.popularity))))
        .collect();

    let purchased = purchased
        .into_iter()
        .map(|(c, mut ps)| {
            ps.sort();
            ps.dedup();
            (c, ps)
        })
        .collect();
    let mut model = RecModel {
        version: String::new(),
        trained_at: now,
        trained_on_events: events.len() as u64,
        products: model_products,
        neighbours,
        popular_by_segment,
        trending_by_segment,
        purchased,
        trends,
    };
    // Deterministic version: training time plus a digest of the model's content, so the same
    // inputs give the same version and different content never shares one.
    let digest = content_digest(&model);
    model.version = format!("{}-{digest:016x}", now.format("%Y%m%dT%H%M%SZ"));
    model
}

/// FNV-1a over the model's JSON (the version field empty).
fn content_digest(model: &RecModel) -> u64 {
    let bytes = serde_json::to_vec(model).unwrap_or_default();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;
    use crate::ids::OrderId;

    #[test]
    fn co_occurrence_holds_each_unordered_pair_once() {
        let mut co = HashMap::new();
        let mut basket: Vec<(ProductId, f32)> = (1..=5)
            .rev()
            .map(|i| (ProductId::new(i).unwrap(), 1.0))
            .collect();
        add_pairs(&mut co, &mut basket, 30, 1.0);
        assert_eq!(co.len(), 10, "5 products make 10 pairs");
        assert!(co.keys().all(|(a, b)| a < b));
        add_pairs(&mut co, &mut basket, 30, 0.5);
        assert_eq!(co.len(), 10);
        assert!(co.values().all(|w| (*w - 1.5).abs() < 1e-6));
    }

    fn product(id: u32, ty: &str, colour: &str) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            gender: "Men".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: ty.into(),
            base_colour: Some(colour.into()),
            season: None,
            year: None,
            usage: None,
            product_display_name: format!("P{id}"),
            price: Some(crate::money::Cents(1000)),
        }
    }

    fn ev(
        session: u64,
        customer: u64,
        product: u32,
        kind: EventType,
        at: DateTime<Utc>,
    ) -> TrainingEvent {
        TrainingEvent {
            customer: CustomerId::new(customer).unwrap(),
            session,
            product: ProductId::new(product).unwrap(),
            kind,
            at,
        }
    }

    #[test]
    fn products_viewed_in_the_same_sessions_become_neighbours_and_training_is_deterministic() {
        // Arrange
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let products: Vec<Product> = (1..=6).map(|i| product(i, "Shirts", "Blue")).collect();
        let mut events = Vec::new();
        for s in 0..20u64 {
            let at = now - Duration::hours(i64::try_from(s).unwrap() + 1);
            events.push(ev(s, s + 1, 1, EventType::ProductView, at));
            events.push(ev(s, s + 1, 2, EventType::ProductView, at));
            if s % 4 == 0 {
                events.push(ev(s, s + 1, 3, EventType::ProductView, at));
            }
            events.push(ev(1000 + s, s + 1, 4, EventType::ProductView, at));
            events.push(ev(1000 + s, s + 1, 5, EventType::AddToCart, at));
        }
        let purchases = vec![PurchaseRecord {
            customer: CustomerId::new(1).unwrap(),
            order: OrderId::new(9).unwrap(),
            product: ProductId::new(6).unwrap(),
            at: now - Duration::hours(2),
        }];

        // Act
        let m = build_model(
            &products,
            &events,
            &purchases,
            now,
            &TrainerParams::default(),
        );
        let again = build_model(
            &products,
            &events,
            &purchases,
            now,
            &TrainerParams::default(),
        );

        // Assert
        assert_eq!(m, again);
        let n1 = &m.neighbours.iter().find(|(p, _)| p.get() == 1).unwrap().1;
        assert_eq!(n1[0].product_id.get(), 2, "{n1:?}");
        assert!((n1[0].score - 1.0).abs() < 1e-6);
        let n4 = &m.neighbours.iter().find(|(p, _)| p.get() == 4).unwrap().1;
        assert_eq!(n4.len(), 1);
        assert_eq!(n4[0].product_id.get(), 5);
        assert_eq!(
            m.purchased,
            vec![(
                CustomerId::new(1).unwrap(),
                vec![ProductId::new(6).unwrap()]
            )]
        );
        assert_eq!(
            m.popular_by_segment
                .iter()
                .find(|(s, _)| s == "Men")
                .unwrap()
                .1[0]
                .get(),
            5,
            "carts weigh more"
        );
    }

    #[test]
    fn events_at_or_after_training_time_are_not_learned() {
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let products: Vec<Product> = (1..=2).map(|i| product(i, "Shirts", "Blue")).collect();
        let events = vec![
            ev(1, 1, 1, EventType::Click, now),
            ev(1, 1, 2, EventType::Click, now),
        ];
        let m = build_model(&products, &events, &[], now, &TrainerParams::default());
        assert!(m.neighbours.is_empty());
    }
}
