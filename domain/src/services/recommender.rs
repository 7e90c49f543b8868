//! The recommender: pure scoring of one customer's candidates from a trained model.
//!
//! Candidates come from the customer's recent items (weighted by event type and recency) through
//! item-to-item co-occurrence neighbours; items without co-occurrence history fall back to content
//! similarity (same gender and article type, colour preferred); rising items get a boost; customers
//! with nothing to go on get what is trending, then popular, in their segment. Purchased and
//! unavailable items are filtered out, and the final list is diversified across article types.

use std::collections::HashMap;
use std::sync::Arc;

use crate::fasthash::{FastMap, FastSet};

use chrono::{DateTime, Utc};

use crate::activity::Interaction;
use crate::event::EventType;
use crate::ids::ProductId;
use crate::model::{ModelProduct, Neighbour, RecModel};
use crate::recommendation::{Reason, RecommendedItem};

/// Tunables of scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecommenderConfig {
    /// Items to return.
    pub top_n: usize,
    /// Hours after which an interaction counts half as much.
    pub recency_half_life_hours: f64,
    /// Most items of one article type in a list.
    pub max_per_article_type: usize,
    /// Multiplier range of the trending boost (score × (1 + boost × trend)).
    pub trend_boost: f32,
    /// Weight of content-similar items relative to co-occurrence neighbours.
    pub content_weight: f32,
    /// Slots of every list kept for what is rising in the customer's segment (exploration).
    pub trending_slots: usize,
    /// Weight of an item the customer already engaged with, relative to its neighbours.
    pub revisit_weight: f32,
    /// Most recent items (by decayed weight) used as seeds.
    pub max_seeds: usize,
    /// Neighbours followed from each seed.
    pub neighbours_per_seed: usize,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        Self {
            top_n: 10,
            recency_half_life_hours: 72.0,
            max_per_article_type: 5,
            trend_boost: 0.5,
            content_weight: 0.3,
            trending_slots: 2,
            revisit_weight: 0.5,
            max_seeds: 20,
            neighbours_per_seed: 20,
        }
    }
}

/// How strongly an interaction says "more like this".
#[must_use]
pub const fn event_weight(kind: EventType) -> f32 {
    match kind {
        EventType::PageView => 0.0,
        EventType::ProductView => 1.0,
        EventType::Click => 1.5,
        EventType::AddToCart => 4.0,
        EventType::RemoveFromCart => -2.0,
    }
}

/// Segment used when a customer's segment is unknown.
pub const ALL_SEGMENTS: &str = "all";

/// A model loaded for fast lookups.
#[derive(Debug, Default)]
pub struct ModelIndex {
    version: String,
    products: FastMap<ProductId, ModelProduct>,
    neighbours: FastMap<ProductId, Vec<Neighbour>>,
    /// The most popular items of each product's (gender, article type), precomputed per product.
    similar: FastMap<ProductId, Arc<[ProductId]>>,
    popular: FastMap<String, Vec<ProductId>>,
    trending: FastMap<String, Vec<ProductId>>,
}

/// Most content-similar items kept per (gender, article type).
const SIMILAR_PER_GROUP: usize = 40;

impl ModelIndex {
    /// Indexes a trained model.
    #[must_use]
    pub fn new(model: &RecModel) -> Self {
        let products: FastMap<ProductId, ModelProduct> =
            model.products.iter().map(|p| (p.id, p.clone())).collect();
        let mut groups: HashMap<(&str, &str), Vec<ProductId>> = HashMap::new();
        let mut by_pop: Vec<&ModelProduct> =
            model.products.iter().filter(|p| p.available).collect();
        by_pop.sort_by(|a, b| b.popularity.total_cmp(&a.popularity).then(a.id.cmp(&b.id)));
        for p in by_pop {
            let v = groups.entry((&p.gender, &p.article_type)).or_default();
            if v.len() < SIMILAR_PER_GROUP {
                v.push(p.id);
            }
        }
        let groups: HashMap<(&str, &str), Arc<[ProductId]>> =
            groups.into_iter().map(|(k, v)| (k, Arc::from(v))).collect();
        let similar = model
            .products
            .iter()
            .filter_map(|p| {
                groups
                    .get(&(p.gender.as_str(), p.article_type.as_str()))
                    .map(|g| (p.id, g.clone()))
            })
            .collect();
        Self {
            version: model.version.clone(),
            products,
            neighbours: model.neighbours.iter().cloned().collect(),
            similar,
            popular: model.popular_by_segment.iter().cloned().collect(),
            trending: model.trending_by_segment.iter().cloned().collect(),
        }
    }

    /// The model version.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// True when the index holds no products (no model trained yet).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// A product's attributes, when the model knows it.
    #[must_use]
    pub fn product(&self, id: ProductId) -> Option<&ModelProduct> {
        self.products.get(&id)
    }

    /// The segment (gender) a customer's recent items point to, if any.
    fn segment_of(&self, recent: &[Interaction]) -> Option<&str> {
        // A handful of genders: a small vector beats a hash map.
        let mut votes: Vec<(&str, f32)> = Vec::with_capacity(4);
        for it in recent {
            if let Some(p) = self.products.get(&it.product_id) {
                let w = event_weight(it.event_type).max(0.0);
                match votes.iter_mut().find(|(g, _)| *g == p.gender.as_str()) {
                    Some(v) => v.1 += w,
                    None => votes.push((p.gender.as_str(), w)),
                }
            }
        }
        votes
            .into_iter()
            .filter(|(_, v)| *v > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(g, _)| g)
    }

    /// Scores candidates for a customer from their recent interactions and returns the top items,
    /// best first, leaving out what they `purchased` (their activity record's list).
    #[must_use]
    pub fn recommend(
        &self,
        recent: &[Interaction],
        purchased: &[ProductId],
        now: DateTime<Utc>,
        cfg: &RecommenderConfig,
    ) -> Vec<RecommendedItem> {
        let mut cand: FastMap<ProductId, (f32, Reason)> = FastMap::with_capacity_and_hasher(
            recent
                .len()
                .min(cfg.max_seeds)
                .saturating_mul(cfg.neighbours_per_seed.saturating_add(1))
                .saturating_add(cfg.top_n.saturating_mul(3)),
            Default::default(),
        );
        let bump =
            |cand: &mut FastMap<ProductId, (f32, Reason)>, p: ProductId, s: f32, r: Reason| {
                let e = cand.entry(p).or_insert((0.0, r));
                e.0 += s;
            };
        // Seeds: each product's net weight, decayed by age.
        let mut seeds: FastMap<ProductId, f32> =
            FastMap::with_capacity_and_hasher(recent.len(), Default::default());
        for it in recent {
            let age_h = now.signed_duration_since(it.at).num_seconds().max(0) as f64 / 3600.0;
            let decay = 0.5f64.powf(age_h / cfg.recency_half_life_hours) as f32;
            *seeds.entry(it.product_id).or_default() += event_weight(it.event_type) * decay;
        }
        let mut seed_list: Vec<(ProductId, f32)> =
            seeds.into_iter().filter(|(_, w)| *w > 0.0).collect();
        seed_list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        seed_list.truncate(cfg.max_seeds);
        for &(seed, w) in &seed_list {
            // Customers come back to what they looked at: the item itself is a candidate.
            bump(&mut cand, seed, w * cfg.revisit_weight, Reason::SeenBefore);
            match self.neighbours.get(&seed) {
                Some(ns) if !ns.is_empty() => {
                    for n in ns.iter().take(cfg.neighbours_per_seed) {
                        bump(&mut cand, n.product_id, w * n.score, Reason::AlsoViewed);
                    }
                }
                _ => {
                    // No co-occurrence history: similar items by content.
                    if let Some(p) = self.products.get(&seed)
                        && let Some(sim) = self.similar.get(&seed)
                    {
                        for (rank, q) in sim.iter().enumerate() {
                            if *q == seed {
                                continue;
                            }
                            let colour = self.products.get(q).is_some_and(|x| x.colour == p.colour);
                            let s = cfg.content_weight
                                * w
                                * if colour { 1.5 } else { 1.0 }
                                * (1.0 / (1.0 + rank as f32 * 0.05));
                            bump(&mut cand, *q, s, Reason::Similar);
                        }
                    }
                }
            }
        }
        // Trending boost on every candidate.
        for (p, (s, _)) in &mut cand {
            if let Some(mp) = self.products.get(p) {
                *s *= 1.0 + cfg.trend_boost * mp.trend;
            }
        }
        let keep = |p: &ProductId| {
            !purchased.contains(p) && self.products.get(p).is_some_and(|m| m.available)
        };
        let mut ranked: Vec<(ProductId, f32, Reason)> = cand
            .into_iter()
            .filter(|(p, _)| keep(p))
            .map(|(p, (s, r))| (p, s, r))
            .collect();
        // Only the best few can make the list: select them, then sort just those.
        let by_score = |a: &(ProductId, f32, Reason), b: &(ProductId, f32, Reason)| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
        };
        let keep_n = cfg.top_n.saturating_mul(3);
        if ranked.len() > keep_n {
            if let Some(last) = keep_n.checked_sub(1) {
                ranked.select_nth_unstable_by(last, by_score);
            }
            ranked.truncate(keep_n);
        }
        ranked.sort_by(by_score);

        // Fill up from trending, then popular, in the customer's segment.
        let segment = self.segment_of(recent).unwrap_or(ALL_SEGMENTS);
        let floor = ranked.last().map_or(1.0, |r| r.1);
        let mut seen: FastSet<ProductId> = ranked.iter().map(|r| r.0).collect();
        for (list, reason) in [
            (&self.trending, Reason::Trending),
            (&self.popular, Reason::Popular),
        ] {
            let items = list.get(segment).or_else(|| list.get(ALL_SEGMENTS));
            for (i, p) in items.into_iter().flatten().enumerate() {
                if ranked.len() >= keep_n {
                    break;
                }
                if keep(p) && seen.insert(*p) {
                    ranked.push((*p, floor * 0.5 / (1.0 + i as f32), reason));
                }
            }
        }
        let mut out = self.diversify(ranked, cfg);
        self.reserve_trending(&mut out, segment, cfg, &keep);
        out
    }

    /// Makes sure the list shows the top items rising in the segment, replacing the weakest
    /// personal items if needed.
    fn reserve_trending(
        &self,
        out: &mut Vec<RecommendedItem>,
        segment: &str,
        cfg: &RecommenderConfig,
        keep: &dyn Fn(&ProductId) -> bool,
    ) {
        let Some(list) = self
            .trending
            .get(segment)
            .or_else(|| self.trending.get(ALL_SEGMENTS))
        else {
            return;
        };
        // At most `trending_slots` picks, each once (a model's list may repeat an item).
        let mut picks: Vec<ProductId> = Vec::with_capacity(cfg.trending_slots);
        for p in list {
            if picks.len() >= cfg.trending_slots {
                break;
            }
            if keep(p) && self.products.get(p).is_some_and(|m| m.trend > 0.0) && !picks.contains(p)
            {
                picks.push(*p);
            }
        }
        // Never more picks than the list holds (`trending_slots` may exceed `top_n`).
        let picks: Vec<ProductId> = picks
            .into_iter()
            .filter(|p| !out.iter().any(|r| r.product_id == *p))
            .take(cfg.top_n)
            .collect();
        if picks.is_empty() {
            return;
        }
        // Make room for every pick at once: the weakest personal items give way.
        out.truncate(cfg.top_n.saturating_sub(picks.len()));
        let score = out.last().map_or(0.0, |r| r.score);
        out.extend(picks.into_iter().map(|p| RecommendedItem {
            product_id: p,
            score,
            reason: Reason::Trending,
        }));
    }

    /// Takes the best items while keeping at most `max_per_article_type` of each article type.
    fn diversify(
        &self,
        ranked: Vec<(ProductId, f32, Reason)>,
        cfg: &RecommenderConfig,
    ) -> Vec<RecommendedItem> {
        let mut per_type: FastMap<&str, usize> = FastMap::default();
        let mut out = Vec::with_capacity(cfg.top_n);
        let mut overflow = Vec::new();
        for (p, s, r) in ranked {
            if out.len() >= cfg.top_n {
                break;
            }
            let ty = self
                .products
                .get(&p)
                .map_or("", |m| m.article_type.as_str());
            let n = per_type.entry(ty).or_default();
            if *n < cfg.max_per_article_type {
                *n = n.saturating_add(1);
                out.push(RecommendedItem {
                    product_id: p,
                    score: s,
                    reason: r,
                });
            } else {
                overflow.push(RecommendedItem {
                    product_id: p,
                    score: s,
                    reason: r,
                });
            }
        }
        // Too few distinct types to fill the list: take the best of the rest.
        out.extend(
            overflow
                .into_iter()
                .take(cfg.top_n.saturating_sub(out.len())),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(id: u32, gender: &str, ty: &str, colour: &str, pop: f32, trend: f32) -> ModelProduct {
        ModelProduct {
            id: ProductId::new(id).unwrap(),
            gender: gender.into(),
            master_category: "Apparel".into(),
            article_type: ty.into(),
            colour: colour.into(),
            available: id != 99,
            popularity: pop,
            trend,
        }
    }

    fn pid(n: u32) -> ProductId {
        ProductId::new(n).unwrap()
    }

    fn model() -> RecModel {
        let mut products = vec![
            mp(1, "Men", "Shirts", "Blue", 0.9, 0.0),
            mp(2, "Men", "Shirts", "Red", 0.5, 0.0),
            mp(3, "Men", "Jeans", "Blue", 0.4, 0.0),
            mp(4, "Men", "Shirts", "Blue", 0.3, 0.0),
            mp(5, "Women", "Tops", "Pink", 0.8, 1.0),
            mp(6, "Women", "Tops", "Pink", 0.2, 0.0),
            mp(99, "Men", "Shirts", "Blue", 1.0, 0.0),
        ];
        products.extend((10..30).map(|i| mp(i, "Men", "Watches", "Black", 0.1, 0.0)));
        RecModel {
            version: "v1".into(),
            trained_at: "2026-11-25T00:00:00Z".parse().unwrap(),
            trained_on_events: 100,
            products,
            neighbours: vec![(
                pid(1),
                vec![
                    Neighbour {
                        product_id: pid(3),
                        score: 0.9,
                    },
                    Neighbour {
                        product_id: pid(99),
                        score: 0.95,
                    },
                    Neighbour {
                        product_id: pid(2),
                        score: 0.4,
                    },
                ],
            )],
            popular_by_segment: vec![
                ("Men".into(), vec![pid(1), pid(2), pid(3)]),
                ("Women".into(), vec![pid(5), pid(6)]),
                (ALL_SEGMENTS.into(), vec![pid(1), pid(5)]),
            ],
            trending_by_segment: vec![
                ("Women".into(), vec![pid(5)]),
                (ALL_SEGMENTS.into(), vec![pid(5)]),
            ],
            trends: vec![],
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn seen(p: u32, kind: EventType) -> Interaction {
        Interaction {
            product_id: pid(p),
            event_type: kind,
            at: now() - chrono::Duration::minutes(5),
        }
    }

    #[test]
    fn neighbours_of_recent_items_come_first_and_unavailable_or_purchased_items_never() {
        let idx = ModelIndex::new(&model());
        let recs = idx.recommend(
            &[seen(1, EventType::AddToCart)],
            &[pid(2)],
            now(),
            &RecommenderConfig::default(),
        );
        assert_eq!(recs[0].product_id, pid(3));
        assert_eq!(recs[0].reason, Reason::AlsoViewed);
        assert!(
            recs.iter().all(|r| r.product_id != pid(99)),
            "unavailable item recommended"
        );
        assert!(
            recs.iter().all(|r| r.product_id != pid(2)),
            "purchased item recommended"
        );
    }

    #[test]
    fn items_without_co_occurrence_fall_back_to_similar_content() {
        let idx = ModelIndex::new(&model());
        let recs = idx.recommend(
            &[seen(4, EventType::ProductView)],
            &[],
            now(),
            &RecommenderConfig::default(),
        );
        // The item itself comes back as seen before; the best new item is the similar one.
        assert_eq!(
            (recs[0].product_id, recs[0].reason),
            (pid(4), Reason::SeenBefore)
        );
        assert_eq!(recs[1].reason, Reason::Similar);
        assert_eq!(
            recs[1].product_id,
            pid(1),
            "same gender and type, same colour, most popular"
        );
    }

    #[test]
    fn cold_start_customers_get_trending_then_popular_items() {
        let idx = ModelIndex::new(&model());
        let recs = idx.recommend(&[], &[], now(), &RecommenderConfig::default());
        assert!(!recs.is_empty());
        assert_eq!(recs[0].product_id, pid(5));
        assert_eq!(recs[0].reason, Reason::Trending);
    }

    #[test]
    fn lists_are_diverse_across_article_types_and_capped_at_top_n() {
        let mut m = model();
        m.neighbours = vec![(
            pid(1),
            (10..30)
                .map(|i| Neighbour {
                    product_id: pid(i),
                    score: 1.0,
                })
                .collect(),
        )];
        m.neighbours[0].1.push(Neighbour {
            product_id: pid(3),
            score: 0.01,
        });
        let idx = ModelIndex::new(&m);
        let cfg = RecommenderConfig::default();
        let recs = idx.recommend(&[seen(1, EventType::Click)], &[], now(), &cfg);
        assert_eq!(recs.len(), cfg.top_n);
        let watches = recs
            .iter()
            .filter(|r| idx.product(r.product_id).unwrap().article_type == "Watches")
            .count();
        assert!(
            watches <= cfg.max_per_article_type + (cfg.top_n - 6),
            "{watches}"
        );
        assert!(
            recs.iter().any(|r| r.product_id == pid(3)),
            "a low-scored other type makes the list"
        );
    }

    #[test]
    fn every_reserved_trending_slot_is_kept_in_a_full_list() {
        let mut m = model();
        for i in 30..34 {
            m.products.push(mp(i, "Men", "Jackets", "Olive", 0.1, 0.9));
        }
        m.trending_by_segment = vec![("Men".into(), vec![pid(30), pid(31)])];
        m.neighbours = vec![(
            pid(1),
            (10..30)
                .map(|i| Neighbour {
                    product_id: pid(i),
                    score: 1.0,
                })
                .collect(),
        )];
        let idx = ModelIndex::new(&m);
        let cfg = RecommenderConfig::default();
        let recs = idx.recommend(&[seen(1, EventType::Click)], &[], now(), &cfg);
        assert_eq!(recs.len(), cfg.top_n);
        let trending: Vec<u32> = recs
            .iter()
            .filter(|r| r.reason == Reason::Trending)
            .map(|r| r.product_id.get())
            .collect();
        assert_eq!(trending, vec![30, 31]);
    }

    #[test]
    fn a_removed_item_does_not_seed_recommendations() {
        let idx = ModelIndex::new(&model());
        let recs = idx.recommend(
            &[
                seen(1, EventType::ProductView),
                seen(1, EventType::RemoveFromCart),
            ],
            &[],
            now(),
            &RecommenderConfig::default(),
        );
        assert!(recs.iter().all(|r| r.reason != Reason::AlsoViewed));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const GENDERS: [&str; 3] = ["Men", "Women", "Unisex"];
        const TYPES: [&str; 4] = ["Shirts", "Jeans", "Tops", "Watches"];

        fn arb_product() -> impl Strategy<Value = ModelProduct> {
            (
                1u32..40,
                0usize..3,
                0usize..4,
                any::<bool>(),
                0f32..1e6,
                -1e3f32..1e3,
            )
                .prop_map(|(id, g, t, available, popularity, trend)| ModelProduct {
                    id: pid(id),
                    gender: GENDERS[g].into(),
                    master_category: "Apparel".into(),
                    article_type: TYPES[t].into(),
                    colour: if id % 2 == 0 { "Red" } else { "Blue" }.into(),
                    available,
                    popularity,
                    trend,
                })
        }

        fn arb_ids() -> impl Strategy<Value = Vec<ProductId>> {
            prop::collection::vec((1u32..45).prop_map(pid), 0..12)
        }

        fn arb_model() -> impl Strategy<Value = RecModel> {
            let neighbours = prop::collection::vec(
                (
                    (1u32..45).prop_map(pid),
                    prop::collection::vec(
                        ((1u32..45).prop_map(pid), 0f32..1e6)
                            .prop_map(|(product_id, score)| Neighbour { product_id, score }),
                        0..10,
                    ),
                ),
                0..20,
            );
            let segments = |ids| {
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["Men", "Women", ALL_SEGMENTS]),
                        ids,
                    )
                        .prop_map(|(s, v): (&str, Vec<ProductId>)| (s.to_owned(), v)),
                    0..4,
                )
            };
            (
                prop::collection::vec(arb_product(), 0..40),
                neighbours,
                segments(arb_ids()),
                segments(arb_ids()),
            )
                .prop_map(|(products, neighbours, popular, trending)| RecModel {
                    version: "prop".into(),
                    trained_at: now(),
                    trained_on_events: 0,
                    products,
                    neighbours,
                    popular_by_segment: popular,
                    trending_by_segment: trending,
                    trends: vec![],
                })
        }

        fn arb_recent() -> impl Strategy<Value = Vec<Interaction>> {
            prop::collection::vec(
                (1u32..45, 0usize..5, -3_000i64..3_000_000).prop_map(|(p, k, secs_ago)| {
                    Interaction {
                        product_id: pid(p),
                        event_type: EventType::ALL[k],
                        at: now() - chrono::Duration::seconds(secs_ago),
                    }
                }),
                0..60,
            )
        }

        fn arb_config() -> impl Strategy<Value = RecommenderConfig> {
            (0usize..30, 0usize..5, 0usize..5, 0f32..10.0).prop_map(
                |(top_n, max_per_article_type, trending_slots, trend_boost)| RecommenderConfig {
                    top_n,
                    max_per_article_type,
                    trending_slots,
                    trend_boost,
                    ..RecommenderConfig::default()
                },
            )
        }

        proptest! {
            /// Issue 14: whatever a trained model and a customer's history hold, the list has
            /// finite scores, no item twice, nothing the customer bought, nothing unavailable, and
            /// at most `top_n` items.
            #[test]
            fn lists_are_finite_distinct_unbought_available_and_bounded(
                model in arb_model(),
                bought in arb_ids(),
                recent in arb_recent(),
                cfg in arb_config(),
            ) {
                let index = ModelIndex::new(&model);
                let list = index.recommend(&recent, &bought, now(), &cfg);
                prop_assert!(list.len() <= cfg.top_n, "{} > {}", list.len(), cfg.top_n);
                let mut seen = std::collections::HashSet::new();
                for item in &list {
                    prop_assert!(item.score.is_finite(), "{item:?}");
                    prop_assert!(seen.insert(item.product_id), "{:?} twice", item.product_id);
                    prop_assert!(!bought.contains(&item.product_id), "{:?} was bought", item.product_id);
                    prop_assert!(
                        index.product(item.product_id).is_some_and(|p| p.available),
                        "{:?} is not available", item.product_id
                    );
                }
            }
        }
    }
}
