//! The trainer: from clickstream and purchase history to a versioned model artifact with
//! time-decayed item-to-item neighbours (session co-views, co-carts, co-purchases), popularity and
//! trend scores per product, and per-segment popular and trending lists; and customers' recent
//! purchases, kept in their activity records ([`remember_purchases`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Serialize;

use super::recommender::ALL_SEGMENTS;
use super::trends::{TrendAttributes, TrendCounter, TrendParams, interest_weight};
use crate::activity::UserActivity;
use crate::history::{PurchaseRecord, TrainingEvent};
use crate::ids::{CustomerId, ProductId};
use crate::model::{ModelProduct, Neighbour, RecModel};
use crate::ports::{
    HistorySource, LakeError, ModelStore, ProductCatalog, StoreError, UserActivityStore,
};
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
    /// The most sessions and orders held open at once while reading: what training holds
    /// beyond the model itself (about a day of sessions, whatever the window).
    pub peak_open_sessions: usize,
    /// Customers with purchases since the previous run (less [`PURCHASE_LATENESS`]).
    pub customers_with_recent_purchases: usize,
    /// Of their activity records, those written (the others held those purchases already).
    pub activity_records_written: u64,
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

/// Trains and stores models, and keeps customers' recent purchases in their activity records
/// (the recommender leaves those out; the model itself carries no per-customer data).
pub struct Trainer<H, C, M, A> {
    history: H,
    catalog: C,
    models: M,
    activity: A,
    params: TrainerParams,
}

/// How far before the previous model's training time a run looks for purchases it has not yet
/// written to activity records: a day's orders reach the lake after the day ends (the daily job
/// runs at 00:01), so lines older than the previous run may be new to the lake. Writing them
/// again changes nothing (and costs no write).
pub const PURCHASE_LATENESS: Duration = Duration::days(2);

/// Attempts to write one activity record before a run of version conflicts fails training.
const CONFLICT_ATTEMPTS: usize = 5;

/// Activity records read per request.
const ACTIVITY_BATCH: usize = 100;

/// Activity records written at once (each customer's once).
const WRITE_CONCURRENCY: usize = 16;

impl<H: HistorySource, C: ProductCatalog, M: ModelStore, A: UserActivityStore> Trainer<H, C, M, A> {
    /// A trainer over the given ports.
    pub const fn new(
        history: H,
        catalog: C,
        models: M,
        activity: A,
        params: TrainerParams,
    ) -> Self {
        Self {
            history,
            catalog,
            models,
            activity,
            params,
        }
    }

    /// Where this run starts looking for purchases new to activity records: the previous
    /// model's training time less [`PURCHASE_LATENESS`], or the window's start.
    async fn purchases_since(
        &self,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let previous = self
            .models
            .latest_version()
            .await?
            .and_then(|v| trained_at_of_version(&v))
            .filter(|t| *t <= now)
            .and_then(|t| t.checked_sub_signed(PURCHASE_LATENESS));
        Ok(previous.map_or(from, |t| t.max(from)))
    }

    /// Trains on the history up to `now`, records the purchases new since the previous run in
    /// customers' activity, stores the model and returns it with a report.
    ///
    /// # Errors
    /// [`TrainError`] when the history, catalog, activity or model store fails. Purchases are
    /// written before the model, so a failed run's are written again by the next.
    #[tracing::instrument(skip_all, fields(now = %now), err)]
    pub async fn train(&self, now: DateTime<Utc>) -> Result<(RecModel, TrainReport), TrainError> {
        let from = now
            .checked_sub_signed(self.params.lookback)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        // The history is folded in chunk by chunk as it is read: training holds the model's
        // parts and the open sessions, never the window's events.
        let products = self.catalog.list().await?;
        let mut builder = ModelBuilder::new(&products, now, &self.params);
        let mut clicks = self.history.interactions(from, now);
        while let Some(chunk) = clicks.try_next().await? {
            builder.add_interactions(&chunk);
        }
        let since = self.purchases_since(from, now).await?;
        let mut bought: BTreeMap<CustomerId, Vec<(DateTime<Utc>, ProductId)>> = BTreeMap::new();
        let mut lines = self.history.purchases(from, now);
        while let Some(chunk) = lines.try_next().await? {
            builder.add_purchases(&chunk);
            for p in chunk.iter().filter(|p| p.at >= since && p.at < now) {
                bought
                    .entry(p.customer)
                    .or_default()
                    .push((p.at, p.product));
            }
        }
        let (interactions, purchases, peak_open) = (
            builder.interactions(),
            builder.purchases(),
            builder.peak_open(),
        );
        let model = builder.finish();
        let customers_with_recent_purchases = bought.len();
        let activity_records_written = remember_purchases(&self.activity, bought).await?;
        self.models.put(&model).await?;
        let report = TrainReport {
            version: model.version.clone(),
            interactions,
            purchases,
            peak_open_sessions: peak_open,
            customers_with_recent_purchases,
            activity_records_written,
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

/// The training time a model version starts with (`20261125T000100Z-…`).
fn trained_at_of_version(version: &str) -> Option<DateTime<Utc>> {
    let stamp = version.get(..16)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Adds each customer's purchased lines to their activity record (creating it when there is
/// none), in time order; writes only the records that change. A version conflict (the stream
/// processor wrote the record meanwhile) re-reads and tries again. Returns the records written.
///
/// # Errors
/// The store's error, or a conflict that persisted over [`CONFLICT_ATTEMPTS`] attempts.
pub async fn remember_purchases(
    store: &(impl UserActivityStore + ?Sized),
    bought: BTreeMap<CustomerId, Vec<(DateTime<Utc>, ProductId)>>,
) -> Result<u64, StoreError> {
    let mut written = 0_u64;
    let customers: Vec<(CustomerId, Vec<ProductId>)> = bought
        .into_iter()
        .map(|(c, mut lines)| {
            lines.sort_unstable();
            (c, lines.into_iter().map(|(_, p)| p).collect())
        })
        .collect();
    for batch in customers.chunks(ACTIVITY_BATCH) {
        let ids: Vec<CustomerId> = batch.iter().map(|(c, _)| *c).collect();
        let mut stored: HashMap<CustomerId, UserActivity> = store
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|a| (a.customer_id, a))
            .collect();
        let writes: Vec<Result<bool, StoreError>> =
            futures::stream::iter(batch.iter().map(|(customer, products)| {
                let activity = stored
                    .remove(customer)
                    .unwrap_or_else(|| UserActivity::new(*customer));
                add_purchases(store, activity, products)
            }))
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        for w in writes {
            if w? {
                written = written.saturating_add(1);
            }
        }
    }
    Ok(written)
}

/// Adds `products` to one customer's record and writes it if it changed (true); on a version
/// conflict re-reads and tries again, up to [`CONFLICT_ATTEMPTS`] writes.
async fn add_purchases(
    store: &(impl UserActivityStore + ?Sized),
    mut activity: UserActivity,
    products: &[ProductId],
) -> Result<bool, StoreError> {
    let customer = activity.customer_id;
    for attempt in 1..=CONFLICT_ATTEMPTS {
        if !activity.remember_purchases(products.iter().copied()) {
            return Ok(false);
        }
        match store.put(&activity).await {
            Ok(()) => return Ok(true),
            Err(StoreError::Conflict { .. }) if attempt < CONFLICT_ATTEMPTS => {
                activity = store
                    .get_many(&[customer])
                    .await?
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| UserActivity::new(customer));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(false)
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

/// How long a session can go without an interaction and still be the same visit: a session id
/// seen again after a longer silence starts a new session. Training reads history in time order
/// and closes the sessions idle for longer, so it holds about a day of sessions at a time, not
/// the window's.
pub const SESSION_IDLE: Duration = Duration::hours(24);

/// How far apart the lines of one order can be read: they share one order time and one store
/// day's partition, which lies within a day of that time's UTC date.
const BASKET_SPAN: Duration = Duration::hours(72);

/// One open session or order: when its newest item happened, and each product's engagement.
#[derive(Debug, Default)]
struct Visit {
    last: Option<DateTime<Utc>>,
    items: HashMap<ProductId, f32>,
}

/// A model built from history read in chunks, in time order (as the lake's readers give them:
/// partition by partition). It holds what the model is made of (per-product popularity, pair
/// counts, trend counts, customers' purchases) and the sessions and orders still open; each
/// chunk's events are folded in and dropped. [`build_model`] is the same over one chunk.
pub struct ModelBuilder<'a> {
    products: &'a [Product],
    now: DateTime<Utc>,
    params: TrainerParams,
    attrs: HashMap<ProductId, TrendAttributes>,
    pop: HashMap<ProductId, f32>,
    sessions: HashMap<u64, Visit>,
    baskets: HashMap<u64, Visit>,
    co: HashMap<(ProductId, ProductId), f32>,
    trends: TrendCounter,
    interactions: u64,
    purchases: u64,
    peak_open: usize,
}

impl<'a> ModelBuilder<'a> {
    /// An empty model of `products` as of `now`.
    #[must_use]
    pub fn new(products: &'a [Product], now: DateTime<Utc>, params: &TrainerParams) -> Self {
        Self {
            products,
            now,
            params: *params,
            attrs: TrendAttributes::of_catalog(products),
            pop: HashMap::new(),
            sessions: HashMap::new(),
            baskets: HashMap::new(),
            co: HashMap::new(),
            trends: TrendCounter::new(now, params.trends),
            interactions: 0,
            purchases: 0,
            peak_open: 0,
        }
    }

    /// Folds in a chunk of interactions. Sessions idle for [`SESSION_IDLE`] before the hour the
    /// chunk starts in are closed first: later chunks hold no earlier hour.
    pub fn add_interactions(&mut self, events: &[TrainingEvent]) {
        if let Some(first) = events.iter().map(|e| e.at).min() {
            // The chunk's partition may start up to an hour before its earliest event.
            if let Some(before) = first
                .checked_sub_signed(Duration::hours(1))
                .and_then(|t| t.checked_sub_signed(SESSION_IDLE))
            {
                self.close_where(Some(before), false);
            }
        }
        let hl = self.params.half_life_days;
        for e in events.iter().filter(|e| e.at < self.now) {
            self.interactions = self.interactions.saturating_add(1);
            self.trends.interaction(&self.attrs, e);
            let w = interest_weight(e.kind) as f32;
            if w <= 0.0 {
                continue;
            }
            *self.pop.entry(e.product).or_default() += w * decay(self.now, e.at, hl);
            let s = self.sessions.entry(e.session).or_default();
            s.last = Some(s.last.map_or(e.at, |l| l.max(e.at)));
            let slot = s.items.entry(e.product).or_default();
            *slot = slot.max(w);
        }
        self.note_open();
    }

    /// Folds in a chunk of purchased lines. Orders placed [`BASKET_SPAN`] before the chunk's
    /// earliest line are closed first.
    pub fn add_purchases(&mut self, lines: &[PurchaseRecord]) {
        if let Some(before) = lines
            .iter()
            .map(|p| p.at)
            .min()
            .and_then(|first| first.checked_sub_signed(BASKET_SPAN))
        {
            self.close_where(Some(before), true);
        }
        let hl = self.params.half_life_days;
        let weight = super::trends::PURCHASE_WEIGHT as f32;
        for p in lines.iter().filter(|p| p.at < self.now) {
            self.purchases = self.purchases.saturating_add(1);
            self.trends.purchase(&self.attrs, p);
            *self.pop.entry(p.product).or_default() += weight * decay(self.now, p.at, hl);
            let b = self.baskets.entry(p.order.get()).or_default();
            b.last = Some(b.last.map_or(p.at, |l| l.max(p.at)));
            b.items.insert(p.product, weight);
        }
        self.note_open();
    }

    fn note_open(&mut self) {
        self.peak_open = self
            .peak_open
            .max(self.sessions.len().saturating_add(self.baskets.len()));
    }

    /// Closes the sessions (or orders) whose newest item is before `before` (all of them when
    /// `None`), in key order so that the pair counts add up the same way every run.
    fn close_where(&mut self, before: Option<DateTime<Utc>>, baskets: bool) {
        let open = if baskets {
            &mut self.baskets
        } else {
            &mut self.sessions
        };
        let mut done: Vec<u64> = open
            .iter()
            .filter(|(_, v)| before.is_none_or(|b| v.last.is_none_or(|l| l < b)))
            .map(|(k, _)| *k)
            .collect();
        done.sort_unstable();
        for key in done {
            if let Some(v) = open.remove(&key) {
                let at = v.last.unwrap_or(self.now);
                let mut items: Vec<(ProductId, f32)> = v.items.into_iter().collect();
                add_pairs(
                    &mut self.co,
                    &mut items,
                    self.params.max_session_items,
                    decay(self.now, at, self.params.half_life_days),
                );
            }
        }
    }

    /// The interactions folded in so far (before training time).
    #[must_use]
    pub const fn interactions(&self) -> u64 {
        self.interactions
    }

    /// The purchased lines folded in so far (before training time).
    #[must_use]
    pub const fn purchases(&self) -> u64 {
        self.purchases
    }

    /// The most sessions and orders held open at once: what building holds beyond the model.
    #[must_use]
    pub const fn peak_open(&self) -> usize {
        self.peak_open
    }

    /// The model of everything folded in.
    #[must_use]
    pub fn finish(mut self) -> RecModel {
        self.close_where(None, false);
        self.close_where(None, true);
        let Self {
            products,
            now,
            params,
            pop,
            co,
            trends,
            interactions,
            ..
        } = self;
        assemble(
            products,
            &pop,
            co,
            &trends.signals(),
            interactions,
            now,
            &params,
        )
    }
}

/// Builds a model from history. Pure and deterministic: the same inputs give the same model,
/// version included. `events` in time order, as the lake's readers give them (see
/// [`ModelBuilder`]).
#[must_use]
pub fn build_model(
    products: &[Product],
    events: &[TrainingEvent],
    purchases: &[PurchaseRecord],
    now: DateTime<Utc>,
    params: &TrainerParams,
) -> RecModel {
    let mut builder = ModelBuilder::new(products, now, params);
    builder.add_interactions(events);
    builder.add_purchases(purchases);
    builder.finish()
}

/// The model from its folded parts.
fn assemble(
    products: &[Product],
    pop: &HashMap<ProductId, f32>,
    co: HashMap<(ProductId, ProductId), f32>,
    trends: &[TrendSignal],
    interactions: u64,
    now: DateTime<Utc>,
    params: &TrainerParams,
) -> RecModel {
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

    let mut model = RecModel {
        version: String::new(),
        trained_at: now,
        trained_on_events: interactions,
        products: model_products,
        neighbours,
        popular_by_segment,
        trending_by_segment,
        trends: trends.to_vec(),
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
    use std::sync::Arc;

    use crate::activity::Interaction;
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

    /// `days` days of `per_day` sessions, each of three products viewed within its hour, in time
    /// order; the session ids never repeat.
    fn visits(now: DateTime<Utc>, days: i64, per_day: u64) -> Vec<TrainingEvent> {
        let mut events = Vec::new();
        for day in 0..days {
            for s in 0..per_day {
                let session = u64::try_from(day).unwrap() * per_day + s;
                let at = now - Duration::days(days - day)
                    + Duration::minutes(i64::try_from(s * 1440 / per_day).unwrap());
                let first = u32::try_from(session % 17).unwrap() + 1;
                for (i, p) in [first, first % 17 + 1, (first + 5) % 17 + 1]
                    .into_iter()
                    .enumerate()
                {
                    let kind = if i == 2 {
                        EventType::AddToCart
                    } else {
                        EventType::ProductView
                    };
                    events.push(ev(
                        session,
                        s + 1,
                        p,
                        kind,
                        at + Duration::minutes(i as i64),
                    ));
                }
            }
        }
        events
    }

    fn by_hour(events: &[TrainingEvent]) -> Vec<Vec<TrainingEvent>> {
        let mut chunks: BTreeMap<i64, Vec<TrainingEvent>> = BTreeMap::new();
        for e in events {
            chunks
                .entry(e.at.timestamp().div_euclid(3600))
                .or_default()
                .push(*e);
        }
        chunks.into_values().collect()
    }

    #[test]
    fn history_read_hour_by_hour_gives_the_model_of_history_read_whole() {
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let products: Vec<Product> = (1..=17).map(|i| product(i, "Shirts", "Blue")).collect();
        let events = visits(now, 10, 40);
        let params = TrainerParams::default();
        let whole = build_model(&products, &events, &[], now, &params);
        let mut builder = ModelBuilder::new(&products, now, &params);
        for chunk in by_hour(&events) {
            builder.add_interactions(&chunk);
        }
        let chunked = builder.finish();

        let scores = |m: &RecModel| -> BTreeMap<(u32, u32), f32> {
            m.neighbours
                .iter()
                .flat_map(|(p, ns)| {
                    ns.iter()
                        .map(move |n| ((p.get(), n.product_id.get()), n.score))
                })
                .collect()
        };
        let (a, b) = (scores(&whole), scores(&chunked));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, x) in &a {
            assert!((x - b[k]).abs() < 1e-5, "{k:?}: {x} vs {}", b[k]);
        }
        assert_eq!(whole.popular_by_segment, chunked.popular_by_segment);
        assert_eq!(whole.trained_on_events, chunked.trained_on_events);
        let keys = |m: &RecModel| m.trends.iter().map(|t| t.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&whole), keys(&chunked));
    }

    /// History in hourly chunks, as the lake's readers give it, and purchased lines (read as
    /// one chunk, within the window asked for).
    struct Hourly(Vec<Vec<TrainingEvent>>, Vec<PurchaseRecord>);

    #[async_trait::async_trait]
    impl HistorySource for Hourly {
        fn interactions(
            &self,
            _from: DateTime<Utc>,
            _to: DateTime<Utc>,
        ) -> futures::stream::BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
            use futures::StreamExt as _;
            futures::stream::iter(self.0.clone().into_iter().map(Ok)).boxed()
        }

        fn clickstream(
            &self,
            _from: DateTime<Utc>,
            _to: DateTime<Utc>,
        ) -> futures::stream::BoxStream<'static, Result<Vec<crate::event::ClickEvent>, LakeError>>
        {
            use futures::StreamExt as _;
            futures::stream::empty().boxed()
        }

        async fn latest_click_day(&self) -> Result<Option<chrono::NaiveDate>, LakeError> {
            Ok(None)
        }

        fn purchases(
            &self,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> futures::stream::BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
            use futures::StreamExt as _;
            let lines: Vec<PurchaseRecord> = self
                .1
                .iter()
                .filter(|p| p.at >= from && p.at < to)
                .copied()
                .collect();
            futures::stream::iter([Ok(lines)]).boxed()
        }
    }

    #[tokio::test]
    async fn training_holds_about_a_day_of_sessions_whatever_the_window() {
        // 60 days of 50 sessions a day, read hour by hour.
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let products: Vec<Product> = (1..=17).map(|i| product(i, "Shirts", "Blue")).collect();
        let events = visits(now, 60, 50);
        let mut catalog = crate::ports::MockProductCatalog::new();
        catalog
            .expect_list()
            .returning(move || Ok(products.clone()));
        let mut models = crate::ports::MockModelStore::new();
        models.expect_put().returning(|_| Ok(()));
        models.expect_latest_version().returning(|| Ok(None));
        let trainer = Trainer::new(
            Hourly(by_hour(&events), vec![]),
            catalog,
            models,
            crate::ports::MockUserActivityStore::new(),
            TrainerParams::default(),
        );

        let (model, report) = trainer.train(now).await.unwrap();

        assert_eq!(report.interactions, events.len() as u64);
        assert!(!model.neighbours.is_empty());
        // A day and an hour of sessions may be open (the idle time), never the window's 3 000.
        assert!(
            report.peak_open_sessions <= 2 * 50 + 5,
            "{} sessions held open at once",
            report.peak_open_sessions
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

    /// Activity records in memory, with versions checked as the stores check them; the first
    /// `conflicts` writes lose a race.
    #[derive(Default)]
    struct Activity {
        records: std::sync::Mutex<HashMap<CustomerId, UserActivity>>,
        conflicts: std::sync::Mutex<u32>,
        puts: std::sync::Mutex<u32>,
    }

    #[async_trait::async_trait]
    impl UserActivityStore for Activity {
        async fn get_many(
            &self,
            customers: &[CustomerId],
        ) -> Result<Vec<UserActivity>, StoreError> {
            let records = self.records.lock().unwrap();
            Ok(customers
                .iter()
                .filter_map(|c| records.get(c).cloned())
                .collect())
        }

        async fn put(&self, a: &UserActivity) -> Result<(), StoreError> {
            *self.puts.lock().unwrap() += 1;
            let mut conflicts = self.conflicts.lock().unwrap();
            let mut records = self.records.lock().unwrap();
            let stored = records.get(&a.customer_id).map_or(0, |r| r.version);
            if *conflicts > 0 || stored != a.version {
                *conflicts = conflicts.saturating_sub(1);
                // The race: someone else wrote meanwhile.
                if let Some(r) = records.get_mut(&a.customer_id) {
                    r.version += 1;
                }
                return Err(StoreError::Conflict {
                    key: a.customer_id.to_string(),
                    expected: a.version,
                });
            }
            records.insert(
                a.customer_id,
                UserActivity {
                    version: stored + 1,
                    ..a.clone()
                },
            );
            Ok(())
        }
    }

    /// Issue 13: the model carries no customer's purchases; the trainer writes each buyer's to
    /// their activity record, only what is new since the previous run, and only records that
    /// change, keeping what the stream processor wrote there.
    #[tokio::test]
    async fn purchases_go_to_buyers_activity_records_once_and_never_into_the_model() {
        // Arrange
        let now: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        let products: Vec<Product> = (1..=17).map(|i| product(i, "Shirts", "Blue")).collect();
        let line = |customer: u64, product: u32, hours_ago: i64| PurchaseRecord {
            customer: CustomerId::new(customer).unwrap(),
            order: OrderId::new(customer * 100 + u64::from(product)).unwrap(),
            product: ProductId::new(product).unwrap(),
            at: now - Duration::hours(hours_ago),
        };
        // Customer 1 bought 3 a month ago and 5 and 4 yesterday; customer 2 bought 6.
        let lines = vec![
            line(1, 3, 24 * 30),
            line(1, 5, 20),
            line(1, 4, 10),
            line(2, 6, 5),
        ];
        let activity = Arc::new(Activity::default());
        let mut clicked = UserActivity::new(CustomerId::new(1).unwrap());
        clicked.push_interaction(Interaction {
            product_id: ProductId::new(7).unwrap(),
            event_type: EventType::Click,
            at: now - Duration::hours(1),
        });
        activity.put(&clicked).await.unwrap();
        *activity.puts.lock().unwrap() = 0;
        *activity.conflicts.lock().unwrap() = 1;
        let trainer = |previous: Option<String>| {
            let mut catalog = crate::ports::MockProductCatalog::new();
            let listed = products.clone();
            catalog.expect_list().returning(move || Ok(listed.clone()));
            let mut models = crate::ports::MockModelStore::new();
            models.expect_put().returning(|_| Ok(()));
            models
                .expect_latest_version()
                .returning(move || Ok(previous.clone()));
            Trainer::new(
                Hourly(by_hour(&visits(now, 3, 20)), lines.clone()),
                catalog,
                models,
                activity.clone(),
                TrainerParams::default(),
            )
        };

        // Act: a first run (no model yet), then one an hour later.
        let (model, first) = trainer(None).train(now).await.unwrap();
        let later = now + Duration::hours(1);
        let (_, second) = trainer(Some(model.version.clone()))
            .train(later)
            .await
            .unwrap();

        // Assert
        let json = serde_json::to_string(&model).unwrap();
        assert!(!json.contains("purchased"), "the model holds no customer");
        assert_eq!(first.customers_with_recent_purchases, 2);
        assert_eq!(first.activity_records_written, 2);
        assert_eq!(
            *activity.puts.lock().unwrap(),
            3,
            "one conflict, retried once"
        );
        let records = activity.records.lock().unwrap().clone();
        let one = &records[&CustomerId::new(1).unwrap()];
        let pid = |i: u32| ProductId::new(i).unwrap();
        assert_eq!(one.purchased, vec![pid(3), pid(5), pid(4)], "oldest first");
        assert_eq!(one.recent.len(), 1, "the processor's interactions are kept");
        assert_eq!(
            records[&CustomerId::new(2).unwrap()].purchased,
            vec![pid(6)]
        );
        // The second run looks back from the first run's time less the lateness, not the window.
        assert_eq!(
            second.customers_with_recent_purchases, 2,
            "yesterday's lines are read again"
        );
        assert_eq!(second.activity_records_written, 0, "and change nothing");
        assert_eq!(
            second.purchases, 4,
            "the model still learns from every line"
        );
    }
}
