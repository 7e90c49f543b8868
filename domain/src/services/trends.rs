//! Trend detection: which article types, colours, article-type-and-colour pairs and products gain
//! share of interest in a recent window compared with the baseline window before it.
//!
//! Shares are Laplace-smoothed, and signals are ranked by a Poisson z-score of the recent count
//! against the count the baseline share predicts, so that a real rise with volume beats a jump
//! from two views to five.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::event::EventType;
use crate::history::{PurchaseRecord, TrainingEvent};
use crate::ids::ProductId;
use crate::product::Product;
use crate::trends::{TrendDimension, TrendSignal, article_type_colour_key};

/// Windows and thresholds of trend detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendParams {
    /// Length of the recent window, ending at `now`.
    pub recent: Duration,
    /// Length of the baseline window, ending where the recent one starts.
    pub baseline: Duration,
    /// Weighted events a key needs in the recent window to be reported.
    pub min_recent: f64,
}

impl Default for TrendParams {
    fn default() -> Self {
        Self {
            recent: Duration::days(1),
            baseline: Duration::days(7),
            min_recent: 5.0,
        }
    }
}

/// The product attributes trend detection groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendAttributes {
    /// Article type.
    pub article_type: String,
    /// Colour.
    pub colour: String,
}

impl TrendAttributes {
    /// The attributes of every product, by id: what [`compute_trends`] groups by.
    #[must_use]
    pub fn of_catalog(products: &[Product]) -> HashMap<ProductId, Self> {
        products
            .iter()
            .map(|p| {
                (
                    p.id,
                    Self {
                        article_type: p.article_type.clone(),
                        colour: p.colour().to_owned(),
                    },
                )
            })
            .collect()
    }
}

/// The last store day with at least half the average day's interactions: the day of the newest
/// event may be only minutes old, and a report of it would compare a few events with a week.
#[must_use]
pub fn last_full_day(events: &[TrainingEvent], tz: chrono_tz::Tz) -> Option<chrono::NaiveDate> {
    let mut per_day: std::collections::BTreeMap<chrono::NaiveDate, usize> =
        std::collections::BTreeMap::new();
    for e in events {
        let n = per_day
            .entry(crate::calendar::StoreDay::containing(e.at, tz).date)
            .or_default();
        *n = n.saturating_add(1);
    }
    let mean = events.len().checked_div(per_day.len()).unwrap_or(0);
    per_day
        .iter()
        .rev()
        .find(|(_, n)| n.saturating_mul(2) >= mean)
        .map(|(d, _)| *d)
}

/// How much an interaction says about interest.
#[must_use]
pub const fn interest_weight(kind: EventType) -> f64 {
    match kind {
        EventType::PageView | EventType::RemoveFromCart => 0.0,
        EventType::ProductView | EventType::Click => 1.0,
        EventType::AddToCart => 3.0,
    }
}

/// Weight of a purchase.
pub const PURCHASE_WEIGHT: f64 = 5.0;

#[derive(Default)]
struct Counts {
    recent: HashMap<(TrendDimension, String), f64>,
    baseline: HashMap<(TrendDimension, String), f64>,
    recent_total: f64,
    baseline_total: f64,
}

impl Counts {
    fn add(&mut self, recent: bool, product: ProductId, a: &TrendAttributes, w: f64) {
        let (map, total) = if recent {
            (&mut self.recent, &mut self.recent_total)
        } else {
            (&mut self.baseline, &mut self.baseline_total)
        };
        *total += w;
        for key in [
            (TrendDimension::ArticleType, a.article_type.clone()),
            (TrendDimension::Colour, a.colour.clone()),
            (
                TrendDimension::ArticleTypeColour,
                article_type_colour_key(&a.article_type, &a.colour),
            ),
            (TrendDimension::Product, product.to_string()),
        ] {
            *map.entry(key).or_default() += w;
        }
    }
}

/// Trend counts accumulated one interaction or purchase at a time, for a history read in
/// chunks: what it holds follows the catalog's keys, not the number of events.
pub struct TrendCounter {
    now: DateTime<Utc>,
    recent_start: DateTime<Utc>,
    baseline_start: DateTime<Utc>,
    min_recent: f64,
    counts: Counts,
}

impl TrendCounter {
    /// Counts for the windows ending at `now`.
    #[must_use]
    pub fn new(now: DateTime<Utc>, params: TrendParams) -> Self {
        let recent_start = now
            .checked_sub_signed(params.recent)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let baseline_start = recent_start
            .checked_sub_signed(params.baseline)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Self {
            now,
            recent_start,
            baseline_start,
            min_recent: params.min_recent,
            counts: Counts::default(),
        }
    }

    fn add(
        &mut self,
        products: &HashMap<ProductId, TrendAttributes>,
        product: ProductId,
        at: DateTime<Utc>,
        w: f64,
    ) {
        if w <= 0.0 || at >= self.now || at < self.baseline_start {
            return;
        }
        if let Some(a) = products.get(&product) {
            self.counts.add(at >= self.recent_start, product, a, w);
        }
    }

    /// Counts an interaction with a product of `products` (others are not counted).
    pub fn interaction(
        &mut self,
        products: &HashMap<ProductId, TrendAttributes>,
        e: &TrainingEvent,
    ) {
        self.add(products, e.product, e.at, interest_weight(e.kind));
    }

    /// Counts a purchased line of a product of `products` (others are not counted).
    pub fn purchase(&mut self, products: &HashMap<ProductId, TrendAttributes>, p: &PurchaseRecord) {
        self.add(products, p.product, p.at, PURCHASE_WEIGHT);
    }

    /// The signals of what was counted, best first.
    #[must_use]
    pub fn signals(&self) -> Vec<TrendSignal> {
        signals(&self.counts, self.min_recent)
    }
}

/// Computes trend signals at `now` from interactions and purchases, best first.
#[must_use]
pub fn compute_trends<'a>(
    events: impl IntoIterator<Item = &'a TrainingEvent>,
    purchases: impl IntoIterator<Item = &'a PurchaseRecord>,
    products: &HashMap<ProductId, TrendAttributes>,
    now: DateTime<Utc>,
    params: TrendParams,
) -> Vec<TrendSignal> {
    let mut counter = TrendCounter::new(now, params);
    for e in events {
        counter.interaction(products, e);
    }
    for p in purchases {
        counter.purchase(products, p);
    }
    counter.signals()
}

fn signals(c: &Counts, min_recent: f64) -> Vec<TrendSignal> {
    if c.recent_total <= 0.0 {
        return Vec::new();
    }
    let distinct: std::collections::HashSet<&(TrendDimension, String)> =
        c.recent.keys().chain(c.baseline.keys()).collect();
    let mut keys_per_dim: HashMap<TrendDimension, f64> = HashMap::new();
    for (dim, _) in distinct {
        *keys_per_dim.entry(*dim).or_default() += 1.0;
    }
    let mut out: Vec<TrendSignal> = c
        .recent
        .iter()
        .filter(|(_, r)| **r >= min_recent)
        .map(|((dim, key), &r)| {
            let b = c.baseline.get(&(*dim, key.clone())).copied().unwrap_or(0.0);
            // Laplace smoothing over the dimension's keys: unseen keys get a small share, not zero.
            let k = keys_per_dim.get(dim).copied().unwrap_or(1.0);
            let recent_share = (r + 1.0) / (c.recent_total + k);
            let baseline_share = (b + 1.0) / (c.baseline_total + k);
            let expected = baseline_share * c.recent_total;
            let z = (r - expected) / (expected + 1.0).sqrt();
            TrendSignal {
                dimension: *dim,
                key: key.clone(),
                recent_share: r / c.recent_total,
                baseline_share: if c.baseline_total > 0.0 {
                    b / c.baseline_total
                } else {
                    0.0
                },
                growth: recent_share / baseline_share,
                score: z,
                recent_events: r,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.dimension.cmp(&b.dimension))
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;

    fn ev(product: u32, at: DateTime<Utc>) -> TrainingEvent {
        TrainingEvent {
            customer: CustomerId::new(1).unwrap(),
            session: 1,
            product: ProductId::new(product).unwrap(),
            kind: EventType::ProductView,
            at,
        }
    }

    #[test]
    fn a_rising_type_and_colour_outranks_steady_ones() {
        // Arrange: products 1-3 are steady, product 4 (Shirts / Red) rises on the last day.
        let now: DateTime<Utc> = "2026-11-08T00:00:00Z".parse().unwrap();
        let attrs = |t: &str, c: &str| TrendAttributes {
            article_type: t.into(),
            colour: c.into(),
        };
        let products: HashMap<ProductId, TrendAttributes> = [
            (ProductId::new(1).unwrap(), attrs("Jeans", "Blue")),
            (ProductId::new(2).unwrap(), attrs("Tshirts", "Black")),
            (ProductId::new(3).unwrap(), attrs("Watches", "Silver")),
            (ProductId::new(4).unwrap(), attrs("Shirts", "Red")),
        ]
        .into();
        let mut events = Vec::new();
        for day in 0..8 {
            let at = now - Duration::days(8 - day) + Duration::hours(12);
            for p in 1..=3 {
                events.extend((0..50).map(|_| ev(p, at)));
            }
            let rising = if day == 7 { 60 } else { 5 };
            events.extend((0..rising).map(|_| ev(4, at)));
        }

        // Act
        let signals = compute_trends(&events, &[], &products, now, TrendParams::default());

        // Assert
        let top = signals
            .iter()
            .find(|s| s.dimension == TrendDimension::ArticleTypeColour)
            .unwrap();
        assert_eq!(top.key, "Shirts / Red");
        assert!(top.growth > 5.0, "{top:?}");
        assert!(
            signals[0].key.contains("Shirts") || signals[0].key == "Red" || signals[0].key == "4",
            "the strongest signal of any dimension is about the rising item: {:?}",
            signals[0]
        );
    }

    #[test]
    fn events_outside_the_windows_and_unknown_products_are_ignored() {
        let now: DateTime<Utc> = "2026-11-08T00:00:00Z".parse().unwrap();
        let products: HashMap<ProductId, TrendAttributes> = HashMap::new();
        let events = vec![
            ev(1, now + Duration::hours(1)),
            ev(2, now - Duration::days(30)),
        ];
        assert!(compute_trends(&events, &[], &products, now, TrendParams::default()).is_empty());
    }
}
