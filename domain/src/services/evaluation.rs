//! Offline evaluation on a time-ordered hold-out: train on everything before a cut-off, then for
//! each customer with history ask for 10 recommendations and check whether the first product the
//! customer engaged with after the cut-off is among them (HR@10) and how high (NDCG@10). The same
//! is measured for a time-decayed popularity baseline and for random picks. Trend detection is
//! scored against the generator's planted trends (precision@k).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::recommender::{ALL_SEGMENTS, ModelIndex, RecommenderConfig};
use super::trainer::{TrainerParams, build_model};
use super::trends::{TrendAttributes, compute_trends};
use crate::activity::{Interaction, MAX_RECENT_INTERACTIONS, UserActivity};
use crate::event::EventType;
use crate::history::{PurchaseRecord, TrainingEvent};
use crate::ids::{CustomerId, ProductId};
use crate::product::Product;
use crate::trends::{PlantedTrend, TrendDimension};

/// Settings of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalParams {
    /// The hold-out: the last part of the history, after the cut-off.
    pub holdout: Duration,
    /// List length (the 10 of HR@10).
    pub k: usize,
    /// Seed of the random baseline.
    pub seed: u64,
    /// Training settings.
    pub trainer: TrainerParams,
    /// Scoring settings.
    pub recommender: RecommenderConfig,
}

impl Default for EvalParams {
    fn default() -> Self {
        Self {
            holdout: Duration::days(1),
            k: 10,
            seed: 42,
            trainer: TrainerParams::default(),
            recommender: RecommenderConfig::default(),
        }
    }
}

/// The figures of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The cut-off between training and hold-out.
    pub cutoff: Option<DateTime<Utc>>,
    /// Interactions before the cut-off.
    pub training_events: u64,
    /// Customers with history and a hold-out interaction.
    pub customers_evaluated: u64,
    /// Share of customers whose next product is in our top 10.
    pub hr_at_10: f64,
    /// Normalised discounted cumulative gain of our lists.
    pub ndcg_at_10: f64,
    /// HR@10 of the time-decayed popularity baseline.
    pub popularity_hr_at_10: f64,
    /// NDCG@10 of the popularity baseline.
    pub popularity_ndcg_at_10: f64,
    /// HR@10 of random picks.
    pub random_hr_at_10: f64,
    /// Ours over popularity.
    pub lift_over_popularity: f64,
    /// Share of planted trends among the top `k` article-type-and-colour signals (k = planted).
    pub planted_trend_precision: f64,
    /// The planted trends' keys.
    pub planted_trends: Vec<String>,
    /// The top article-type-and-colour signals at the end of the history.
    pub top_trends: Vec<String>,
}

/// A deterministic xorshift generator for the random baseline (the domain has no `rand`).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn gain(list: &[ProductId], target: ProductId) -> (f64, f64) {
    match list.iter().position(|p| *p == target) {
        Some(rank) => (1.0, 1.0 / ((rank as f64) + 2.0).log2()),
        None => (0.0, 0.0),
    }
}

/// Runs the evaluation over a history.
#[must_use]
pub fn evaluate(
    products: &[Product],
    events: &[TrainingEvent],
    purchases: &[PurchaseRecord],
    planted: &[PlantedTrend],
    params: &EvalParams,
) -> EvalReport {
    let planted_keys: Vec<String> = planted.iter().map(PlantedTrend::key).collect();
    let Some(end) = events.iter().map(|e| e.at).max() else {
        return EvalReport {
            cutoff: None,
            training_events: 0,
            customers_evaluated: 0,
            hr_at_10: 0.0,
            ndcg_at_10: 0.0,
            popularity_hr_at_10: 0.0,
            popularity_ndcg_at_10: 0.0,
            random_hr_at_10: 0.0,
            lift_over_popularity: 0.0,
            planted_trend_precision: 0.0,
            planted_trends: planted_keys,
            top_trends: Vec::new(),
        };
    };
    let end = end.checked_add_signed(Duration::seconds(1)).unwrap_or(end);
    let cutoff = end
        .checked_sub_signed(params.holdout)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let train: Vec<TrainingEvent> = events.iter().filter(|e| e.at < cutoff).copied().collect();
    let model = build_model(products, &train, purchases, cutoff, &params.trainer);
    let index = ModelIndex::new(&model);
    let popular: Vec<ProductId> = model
        .popular_by_segment
        .iter()
        .find(|(s, _)| s == ALL_SEGMENTS)
        .map(|(_, v)| v.iter().take(params.k).copied().collect())
        .unwrap_or_default();

    // Per customer: history before the cut-off (time order) and the first engagement after it.
    let mut sorted: Vec<&TrainingEvent> = events
        .iter()
        .filter(|e| e.kind != EventType::RemoveFromCart)
        .collect();
    sorted.sort_by_key(|e| (e.at, e.customer, e.product));
    let mut history: BTreeMap<CustomerId, Vec<Interaction>> = BTreeMap::new();
    let mut target: HashMap<CustomerId, ProductId> = HashMap::new();
    for e in sorted {
        if e.at < cutoff {
            history.entry(e.customer).or_default().push(Interaction {
                product_id: e.product,
                event_type: e.kind,
                at: e.at,
            });
        } else {
            target.entry(e.customer).or_insert(e.product);
        }
    }
    // What each customer bought before the cut-off, as their activity record keeps it.
    let mut bought: HashMap<CustomerId, UserActivity> = HashMap::new();
    let mut before: Vec<&PurchaseRecord> = purchases.iter().filter(|p| p.at < cutoff).collect();
    before.sort_by_key(|p| (p.at, p.customer, p.product));
    for p in before {
        bought
            .entry(p.customer)
            .or_insert_with(|| UserActivity::new(p.customer))
            .remember_purchases([p.product]);
    }
    let all_ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
    let mut rng = XorShift(params.seed | 1);
    let (mut n, mut hr, mut ndcg, mut phr, mut pndcg, mut rhr) = (0u64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (customer, mut hist) in history {
        let Some(&t) = target.get(&customer) else {
            continue;
        };
        let start = hist.len().saturating_sub(MAX_RECENT_INTERACTIONS);
        hist.drain(..start);
        let ours: Vec<ProductId> = index
            .recommend(
                &hist,
                bought
                    .get(&customer)
                    .map_or(&[], |a| a.purchased.as_slice()),
                cutoff,
                &params.recommender,
            )
            .iter()
            .map(|r| r.product_id)
            .collect();
        let (h, g) = gain(&ours, t);
        let (ph, pg) = gain(&popular, t);
        let mut random = HashSet::new();
        while random.len() < params.k.min(all_ids.len()) {
            let pick = rng.next().checked_rem(all_ids.len() as u64).unwrap_or(0);
            if let Some(&id) = usize::try_from(pick).ok().and_then(|i| all_ids.get(i)) {
                random.insert(id);
            }
        }
        n = n.saturating_add(1);
        hr += h;
        ndcg += g;
        phr += ph;
        pndcg += pg;
        rhr += f64::from(u8::from(random.contains(&t)));
    }
    let avg = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };

    // Trends at the end of the history, against the planted ones.
    let attrs: HashMap<ProductId, TrendAttributes> = TrendAttributes::of_catalog(products);
    let trends = compute_trends(events, purchases, &attrs, end, params.trainer.trends);
    let top_trends: Vec<String> = trends
        .iter()
        .filter(|s| s.dimension == TrendDimension::ArticleTypeColour)
        .take(planted_keys.len().max(5))
        .map(|s| s.key.clone())
        .collect();
    let k = planted_keys.len();
    let found = top_trends
        .iter()
        .take(k)
        .filter(|t| planted_keys.contains(t))
        .count();
    EvalReport {
        cutoff: Some(cutoff),
        training_events: train.len() as u64,
        customers_evaluated: n,
        hr_at_10: avg(hr),
        ndcg_at_10: avg(ndcg),
        popularity_hr_at_10: avg(phr),
        popularity_ndcg_at_10: avg(pndcg),
        random_hr_at_10: avg(rhr),
        lift_over_popularity: if phr > 0.0 { hr / phr } else { 0.0 },
        planted_trend_precision: if k == 0 { 0.0 } else { found as f64 / k as f64 },
        planted_trends: planted_keys,
        top_trends,
    }
}
