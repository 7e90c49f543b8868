//! The recommendation model artifact the trainer writes and the stream processor loads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::trends::TrendSignal;

/// The product attributes the recommender needs, denormalised into the model so scoring never
/// waits on a catalog lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProduct {
    /// The product.
    pub id: ProductId,
    /// Gender (the customer segment it belongs to).
    pub gender: String,
    /// Master category.
    pub master_category: String,
    /// Article type.
    pub article_type: String,
    /// Colour.
    pub colour: String,
    /// Whether it can be recommended (in stock, listed).
    pub available: bool,
    /// Time-decayed interest, normalised to [0, 1].
    pub popularity: f32,
    /// Trend score, normalised to [0, 1] (0 = not rising).
    pub trend: f32,
}

/// A neighbour of a product in the co-occurrence graph.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The other product.
    pub product_id: ProductId,
    /// Time-decayed, normalised co-occurrence strength.
    pub score: f32,
}

/// A trained model. Plain data: serialisable, versioned, and the same on every stack. Its size
/// follows the catalog, never the customer count: what each customer bought lives in their
/// activity record ([`crate::activity::UserActivity::purchased`]), which the trainer keeps up to
/// date. (Models stored with a `purchased` list still load; the list is ignored.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecModel {
    /// Unique, sortable version (`20261125T000100Z-…`).
    pub version: String,
    /// When training finished.
    pub trained_at: DateTime<Utc>,
    /// Interactions the model was trained on.
    pub trained_on_events: u64,
    /// Every product, with its attributes and scores.
    pub products: Vec<ModelProduct>,
    /// Top-K neighbours per product.
    pub neighbours: Vec<(ProductId, Vec<Neighbour>)>,
    /// Most popular products per segment (gender), best first.
    pub popular_by_segment: Vec<(String, Vec<ProductId>)>,
    /// Fastest-rising products per segment, best first.
    pub trending_by_segment: Vec<(String, Vec<ProductId>)>,
    /// The trend signals computed at training time, best first.
    pub trends: Vec<TrendSignal>,
}
