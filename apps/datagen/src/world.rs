//! The static world the simulation draws from: products, co-viewed groups, planted trends.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use fashion_domain::ids::ProductId;
use fashion_domain::product::Product;
use fashion_domain::trends::PlantedTrend;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::{GenConfig, pick_uniform, pick_weighted};

pub(crate) struct ProductInfo {
    pub(crate) id: ProductId,
    gender: String,
    pub(crate) article_type: String,
    pub(crate) colour: String,
    pub(crate) price: i64,
    pub(crate) pop: f64,
}

/// The static structure the simulation draws from.
pub struct World {
    pub(crate) products: Vec<ProductInfo>,
    pub(crate) by_gender_type: HashMap<(String, String), Vec<usize>>,
    pub(crate) groups: Vec<Vec<usize>>,
    groups_by_gender_type: HashMap<(String, String), Vec<usize>>,
    types_by_gender: HashMap<String, Vec<(String, f64)>>,
    colours: Vec<(String, f64)>,
    pub(crate) max_product_id: u32,
}

impl World {
    pub fn new(products: &[Product], rng: &mut Xoshiro256PlusPlus) -> Self {
        let mut infos = Vec::with_capacity(products.len());
        let mut by_gender_type: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut colour_count: BTreeMap<String, f64> = BTreeMap::new();
        for (i, p) in products.iter().enumerate() {
            infos.push(ProductInfo {
                id: p.id,
                gender: p.gender.clone(),
                article_type: p.article_type.clone(),
                colour: p.colour().to_owned(),
                price: p.price.map_or(1999, |c| c.get()),
                // Long-tailed popularity: the most viewed products draw about ten times the least.
                pop: 1.0 / (1.0 + rng.random::<f64>() * 12.0).powf(0.8),
            });
            by_gender_type
                .entry((p.gender.clone(), p.article_type.clone()))
                .or_default()
                .push(i);
            *colour_count.entry(p.colour().to_owned()).or_default() += 1.0;
        }
        // Co-viewed groups: similar products people compare in one session, 6 to 12 at a time,
        // carved out of each (gender, article type).
        let mut groups = Vec::new();
        let mut groups_by_gender_type: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut entries: Vec<_> = by_gender_type.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (key, members) in entries {
            let mut members = members.clone();
            // Fisher-Yates with our rng, for determinism.
            for i in (1..members.len()).rev() {
                members.swap(i, rng.random_range(0..=i));
            }
            for chunk in members.chunks(rng.random_range(6..=12)) {
                groups_by_gender_type
                    .entry(key.clone())
                    .or_default()
                    .push(groups.len());
                groups.push(chunk.to_vec());
            }
        }
        let mut types_by_gender: HashMap<String, Vec<(String, f64)>> = HashMap::new();
        let mut gt: Vec<_> = by_gender_type.iter().collect();
        gt.sort_by(|a, b| a.0.cmp(b.0));
        for ((g, t), v) in gt {
            types_by_gender
                .entry(g.clone())
                .or_default()
                .push((t.clone(), v.len() as f64));
        }
        let max_product_id = infos.iter().map(|p| p.id.get()).max().unwrap_or(1);
        Self {
            products: infos,
            by_gender_type,
            groups,
            groups_by_gender_type,
            types_by_gender,
            colours: colour_count.into_iter().collect(),
            max_product_id,
        }
    }

    /// Article types sold for `gender`, weighted by how many products they have.
    pub fn types_of(&self, gender: &str) -> &[(String, f64)] {
        self.types_by_gender.get(gender).map_or(&[], Vec::as_slice)
    }

    pub fn random_colour(&self, rng: &mut Xoshiro256PlusPlus) -> String {
        let w: Vec<f64> = self.colours.iter().map(|c| c.1).collect();
        // Colours come from the catalog, which is never empty; "Unknown" is what a product
        // without a colour shows.
        self.colours
            .get(pick_weighted(rng, &w))
            .map_or_else(|| "Unknown".to_owned(), |c| c.0.clone())
    }

    pub fn random_group(
        &self,
        gender: &str,
        article_type: &str,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<usize> {
        let gs = self
            .groups_by_gender_type
            .get(&(gender.to_owned(), article_type.to_owned()))?;
        gs.get(rng.random_range(0..gs.len().max(1))).copied()
    }

    /// Picks two (article type, colour) pairs with enough products, one per segment, away from
    /// the colours everyone buys anyway, and sets them rising a third of the way in.
    pub fn plant_trends(
        &self,
        config: &GenConfig,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<PlantedTrend> {
        let starts = config
            .start
            .checked_add_days(Days::new(u64::from((config.days / 3).max(1))))
            .unwrap_or(config.start);
        let mut out = Vec::new();
        for (gender, growth) in [("Women", 1.4), ("Men", 1.35)] {
            let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
            for p in &self.products {
                if p.gender == gender
                    && !["Black", "White", "Blue", "Unknown"].contains(&p.colour.as_str())
                {
                    // Bounded by the number of products, so the increment never saturates.
                    let count = counts
                        .entry((p.article_type.clone(), p.colour.clone()))
                        .or_default();
                    *count = count.saturating_add(1);
                }
            }
            let mut candidates: Vec<_> = counts.into_iter().filter(|(_, n)| *n >= 4).collect();
            // Prefer mid-sized combos: big enough to see, small enough to stand out.
            candidates.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
            candidates.truncate(8);
            let Some(((article_type, colour), _)) = pick_uniform(rng, &candidates).cloned() else {
                continue;
            };
            if out
                .iter()
                .any(|t: &PlantedTrend| t.article_type == article_type && t.colour == colour)
            {
                continue;
            }
            out.push(PlantedTrend {
                article_type,
                colour,
                starts,
                daily_growth: growth,
            });
        }
        out
    }
}

/// How strongly a planted trend pulls on `date` (1.0 before it starts).
pub(crate) fn multiplier(t: &PlantedTrend, date: NaiveDate) -> f64 {
    let days = date.signed_duration_since(t.starts).num_days();
    if days < 0 {
        1.0
    } else {
        let exponent = days
            .checked_add(1)
            .and_then(|d| i32::try_from(d).ok())
            .unwrap_or(30);
        t.daily_growth.powi(exponent)
    }
}
