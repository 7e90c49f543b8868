//! A seeded, deterministic generator of a fashion store's data: a catalog in the `styles.csv`
//! format, customers with persona affinities, browsing sessions with realistic funnels
//! (views ≫ clicks ≫ carts ≫ purchases), co-viewed product groups, orders, a few planted trends
//! written out as ground truth, and, on request, dirty data of every kind the pipeline must catch.
//!
//! The same seed and configuration always give the same data. Days are independent (each has its
//! own random stream), so a caller can generate and feed them one at a time.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod catalog;
mod day;
mod dirty;
mod people;
mod record;
mod world;

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use chrono_tz::Tz;
use fashion_domain::customer::Customer;
use fashion_domain::order::StoredOrder;
use fashion_domain::product::Product;
use fashion_domain::trends::PlantedTrend;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

pub(crate) use people::Persona;
pub use record::GeneratedEvent;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// First simulated day (store-local).
    pub start: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Number of customers.
    pub users: u32,
    /// Number of products.
    pub products: u32,
    /// The store's time zone: sessions follow its daily rhythm and events carry its offset.
    pub time_zone: Tz,
    /// Share of records made dirty (0 for none); each dirty kind gets an equal slice.
    pub dirty_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            days: 7,
            users: 1_000,
            products: 3_000,
            time_zone: Tz::UTC,
            dirty_rate: 0.0,
        }
    }
}

/// The kinds of dirty click records the generator can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirtyEvent {
    /// The same record sent twice (a retried HTTP call).
    Duplicate,
    /// Truncated JSON.
    Malformed,
    /// A product view without `product_id`.
    MissingProduct,
    /// `user_id` that is not a positive integer.
    BadUserId,
    /// A schema version this pipeline does not read.
    UnsupportedSchema,
    /// An event time days after its arrival.
    FutureTimestamp,
}

impl DirtyEvent {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Duplicate,
        Self::Malformed,
        Self::MissingProduct,
        Self::BadUserId,
        Self::UnsupportedSchema,
        Self::FutureTimestamp,
    ];
}

/// The kinds of dirty order rows the generator can make; each maps to a quarantine rule of the
/// daily job, except exact duplicate lines, which the job drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirtyOrder {
    /// A line stored twice, identically.
    DuplicateLine,
    /// The order has no customer (account deleted).
    MissingCustomer,
    /// A line has no product (product deleted).
    MissingProduct,
    /// The customer id is not registered.
    UnknownCustomer,
    /// A line's product is not in the catalog.
    UnknownProduct,
    /// A line with zero or negative quantity.
    NonPositiveQuantity,
    /// A line with a negative unit price.
    NegativePrice,
    /// The order total differs from its lines.
    TotalMismatch,
    /// Recorded today, placed days ago (a late sync).
    LateRecorded,
    /// A status the store does not use.
    UnknownStatus,
}

impl DirtyOrder {
    /// Every kind.
    pub const ALL: [Self; 10] = [
        Self::DuplicateLine,
        Self::MissingCustomer,
        Self::MissingProduct,
        Self::UnknownCustomer,
        Self::UnknownProduct,
        Self::NonPositiveQuantity,
        Self::NegativePrice,
        Self::TotalMismatch,
        Self::LateRecorded,
        Self::UnknownStatus,
    ];
}

/// One generated day.
#[derive(Debug, Clone, Default)]
pub struct DayData {
    /// The store-local date.
    pub date: NaiveDate,
    /// Click records in the order the website sends them (event time, dirty ones included).
    pub events: Vec<GeneratedEvent>,
    /// Orders recorded this day, dirty ones included.
    pub orders: Vec<StoredOrder>,
    /// What was made dirty, by kind.
    pub dirty_events: BTreeMap<DirtyEvent, u64>,
    /// Dirty orders by kind.
    pub dirty_orders: BTreeMap<DirtyOrder, u64>,
}

/// What the generator knows to be true, written next to the data so tests and the demo can check
/// what the pipeline found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The configuration that produced the data.
    pub seed: u64,
    /// First day.
    pub start: Option<NaiveDate>,
    /// Number of days.
    pub days: u32,
    /// The planted trends.
    pub planted_trends: Vec<PlantedTrend>,
    /// Click records sent, dirty ones and duplicates included.
    pub events_sent: u64,
    /// Extra copies of records (exact duplicates).
    pub event_duplicates: u64,
    /// Records that break a validation rule, by dirty kind.
    pub invalid_events: BTreeMap<DirtyEvent, u64>,
    /// Orders recorded.
    pub orders: u64,
    /// Dirty orders by kind.
    pub dirty_orders: BTreeMap<DirtyOrder, u64>,
    /// Funnel counts of clean events by type.
    pub events_by_type: BTreeMap<String, u64>,
}

impl GroundTruth {
    /// Adds a generated day to the totals.
    pub fn add_day(&mut self, day: &DayData) {
        // Tallies saturate: each step adds at most one day's records, held in memory, so
        // `u64::MAX` is out of reach, and a tally stuck at the maximum beats a panic or a wrap.
        self.events_sent = self.events_sent.saturating_add(day.events.len() as u64);
        for (k, v) in &day.dirty_events {
            let tally = if *k == DirtyEvent::Duplicate {
                &mut self.event_duplicates
            } else {
                self.invalid_events.entry(*k).or_default()
            };
            *tally = tally.saturating_add(*v);
        }
        self.orders = self.orders.saturating_add(day.orders.len() as u64);
        for (k, v) in &day.dirty_orders {
            let tally = self.dirty_orders.entry(*k).or_default();
            *tally = tally.saturating_add(*v);
        }
        for e in &day.events {
            if let Some(t) = e.event_type {
                let tally = self
                    .events_by_type
                    .entry(t.as_str().to_owned())
                    .or_default();
                *tally = tally.saturating_add(1);
            }
        }
    }

    /// Records that are valid and not duplicates: what the pipeline must process.
    ///
    /// A truth file whose counts do not add up (edited by hand) gives 0 rather than wrapping:
    /// the subtraction saturates at zero.
    #[must_use]
    pub fn valid_events(&self) -> u64 {
        let invalid = self
            .invalid_events
            .values()
            .fold(0u64, |sum, n| sum.saturating_add(*n));
        self.events_sent
            .saturating_sub(self.event_duplicates)
            .saturating_sub(invalid)
    }
}

/// The generator: the static world (catalog, customers, personas, product groups, trends) plus
/// per-day simulation.
pub struct Generator {
    config: GenConfig,
    products: Vec<Product>,
    customers: Vec<Customer>,
    personas: Vec<Persona>,
    world: world::World,
    planted: Vec<PlantedTrend>,
}

/// Picks an index with probability proportional to its weight (all weights ≥ 0, sum > 0).
pub(crate) fn pick_weighted(rng: &mut Xoshiro256PlusPlus, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

/// Picks an item uniformly at random; `None`, with nothing drawn, when `items` is empty (where
/// `random_range(0..0)` would panic).
pub(crate) fn pick_uniform<'a, T>(rng: &mut Xoshiro256PlusPlus, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.random_range(0..items.len()))
}

/// A random stream for one purpose, derived from the seed (SplitMix64 of seed and stream).
pub(crate) fn stream_rng(seed: u64, stream: u64) -> Xoshiro256PlusPlus {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

impl Generator {
    /// Builds the static world for `config`, over a synthetic catalog of `config.products`.
    #[must_use]
    pub fn new(config: GenConfig) -> Self {
        let mut rng = stream_rng(config.seed, 1);
        let products = catalog::synthesize(config.products.max(50) as usize, &mut rng);
        Self::with_catalog(config, products)
    }

    /// Builds the static world for `config` over `products`, an imported catalog (the real
    /// Kaggle `styles.csv`, say) instead of a synthetic one: `config.products` is ignored, the
    /// co-viewed groups are carved from its genders and article types, and the planted trends
    /// are chosen among its article types and colours. Products without a price sell at 19.99.
    /// The catalog should not be empty (`fashion generate --catalog` refuses an empty one).
    #[must_use]
    pub fn with_catalog(mut config: GenConfig, products: Vec<Product>) -> Self {
        config.products = u32::try_from(products.len()).unwrap_or(u32::MAX);
        let mut rng = stream_rng(config.seed, 2);
        let world = world::World::new(&products, &mut rng);
        let planted = world.plant_trends(&config, &mut rng);
        let mut rng = stream_rng(config.seed, 3);
        let (customers, personas) = people::synthesize(&config, &world, &mut rng);
        Self {
            config,
            products,
            customers,
            personas,
            world,
            planted,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &GenConfig {
        &self.config
    }

    /// The catalog.
    #[must_use]
    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// The customers.
    #[must_use]
    pub fn customers(&self) -> &[Customer] {
        &self.customers
    }

    /// The planted trends.
    #[must_use]
    pub fn planted_trends(&self) -> &[PlantedTrend] {
        &self.planted
    }

    /// A ground-truth record with the configuration and planted trends, to which days are added.
    #[must_use]
    pub fn ground_truth(&self) -> GroundTruth {
        GroundTruth {
            seed: self.config.seed,
            start: Some(self.config.start),
            days: self.config.days,
            planted_trends: self.planted.clone(),
            ..GroundTruth::default()
        }
    }

    /// The dates of the run, in order.
    #[must_use]
    pub fn dates(&self) -> Vec<NaiveDate> {
        (0..self.config.days)
            .filter_map(|d| {
                self.config
                    .start
                    .checked_add_days(chrono::Days::new(u64::from(d)))
            })
            .collect()
    }

    /// Simulates day `index` (0-based). Deterministic: the same index always gives the same data.
    #[must_use]
    pub fn day(&self, index: u32) -> DayData {
        let mut rng = stream_rng(self.config.seed, 1_000 + u64::from(index));
        day::simulate(self, index, &mut rng)
    }

    /// Per-customer segment, for tests that check recommendations against personas.
    #[must_use]
    pub fn segments(&self) -> HashMap<u64, String> {
        self.customers
            .iter()
            .map(|c| (c.id.get(), c.segment.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fashion_domain::catalog_csv::{parse_styles, write_styles};
    use fashion_domain::event::{ClickEvent, EventType};

    fn small() -> GenConfig {
        GenConfig {
            users: 300,
            products: 800,
            days: 4,
            ..GenConfig::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data() {
        let a = Generator::new(small());
        let b = Generator::new(small());
        assert_eq!(a.products(), b.products());
        assert_eq!(a.customers(), b.customers());
        let (da, db) = (a.day(2), b.day(2));
        assert_eq!(da.events, db.events);
        assert_eq!(da.orders, db.orders);
        let c = Generator::new(GenConfig { seed: 7, ..small() });
        assert_ne!(a.day(2).events, c.day(2).events);
    }

    #[test]
    fn the_catalog_round_trips_through_the_styles_csv_format() {
        let g = Generator::new(small());
        let parsed = parse_styles(&write_styles(g.products())).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected.first());
        assert_eq!(parsed.products, g.products());
        assert!(
            g.products()
                .iter()
                .any(|p| p.product_display_name.contains(','))
        );
    }

    #[test]
    fn sessions_follow_a_funnel_views_then_clicks_then_carts_then_purchases() {
        let g = Generator::new(small());
        let mut truth = g.ground_truth();
        for d in 0..4 {
            truth.add_day(&g.day(d));
        }
        let n = |t: EventType| truth.events_by_type.get(t.as_str()).copied().unwrap_or(0);
        let (views, clicks, carts) = (
            n(EventType::ProductView),
            n(EventType::Click),
            n(EventType::AddToCart),
        );
        let purchases: u64 = truth.orders;
        assert!(views > 2 * clicks, "views {views} clicks {clicks}");
        assert!(clicks > 3 * carts, "clicks {clicks} carts {carts}");
        assert!(carts > purchases, "carts {carts} purchases {purchases}");
        assert!(purchases > 0);
    }

    #[test]
    fn clean_days_have_only_valid_events_and_consistent_orders() {
        let g = Generator::new(small());
        let day = g.day(1);
        for e in &day.events {
            ClickEvent::parse(&e.data, e.occurred_at).unwrap();
        }
        for o in &day.orders {
            assert!((1..=10).contains(&o.items.len()));
            let sum: i64 = o
                .items
                .iter()
                .map(|i| i64::from(i.quantity) * i.unit_price_cents)
                .sum();
            assert_eq!(sum, o.order.total_cents);
        }
    }

    #[test]
    fn dirty_days_contain_every_dirty_kind_and_count_them() {
        let g = Generator::new(GenConfig {
            dirty_rate: 0.1,
            users: 800,
            ..small()
        });
        let mut truth = g.ground_truth();
        for d in 0..4 {
            truth.add_day(&g.day(d));
        }
        for k in DirtyEvent::ALL {
            if k != DirtyEvent::Duplicate {
                assert!(
                    truth.invalid_events.get(&k).copied().unwrap_or(0) > 0,
                    "{k:?}"
                );
            }
        }
        assert!(truth.event_duplicates > 0);
        for k in DirtyOrder::ALL {
            assert!(
                truth.dirty_orders.get(&k).copied().unwrap_or(0) > 0,
                "{k:?} in {} orders",
                truth.orders
            );
        }
        // Every invalid record really is invalid, and the counts add up.
        let day = g.day(0);
        let invalid = day
            .events
            .iter()
            .filter(|e| ClickEvent::parse(&e.data, e.occurred_at).is_err())
            .count() as u64;
        let expected: u64 = day
            .dirty_events
            .iter()
            .filter(|(k, _)| **k != DirtyEvent::Duplicate)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(invalid, expected);
    }

    #[test]
    fn planted_trends_gain_share_day_over_day() {
        let g = Generator::new(GenConfig { days: 8, ..small() });
        let trend = &g.planted_trends()[0];
        let share = |d: u32| {
            let day = g.day(d);
            let mut hits = 0usize;
            let mut total = 0usize;
            for e in &day.events {
                if let Some(p) = e.product_id {
                    total += 1;
                    let prod = g.products().iter().find(|x| x.id == p).unwrap();
                    if prod.article_type == trend.article_type && prod.colour() == trend.colour {
                        hits += 1;
                    }
                }
            }
            hits as f64 / total as f64
        };
        assert!(share(7) > 2.0 * share(0), "{} vs {}", share(7), share(0));
    }
}
