//! Fashion trends: which article types, colours and products are rising.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a trend signal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendDimension {
    /// An article type (Tshirts, Jeans, ...).
    ArticleType,
    /// A colour.
    Colour,
    /// An article type in a colour (`Tshirts / Red`): the shape of a planted trend.
    ArticleTypeColour,
    /// A single product.
    Product,
}

impl TrendDimension {
    /// The label used in reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ArticleType => "article_type",
            Self::Colour => "colour",
            Self::ArticleTypeColour => "article_type_colour",
            Self::Product => "product",
        }
    }
}

impl fmt::Display for TrendDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rising (or falling) thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendSignal {
    /// What kind of thing.
    pub dimension: TrendDimension,
    /// Which one (`Tshirts`, `Red`, `Tshirts / Red`, a product id).
    pub key: String,
    /// Its share of weighted interest in the recent window.
    pub recent_share: f64,
    /// Its share in the baseline window before.
    pub baseline_share: f64,
    /// Smoothed ratio of recent to baseline share (1.0 = flat).
    pub growth: f64,
    /// Ranking score: growth damped by volume so tiny counts don't dominate.
    pub score: f64,
    /// Weighted events in the recent window.
    pub recent_events: f64,
}

/// A trend the generator planted: an article type in a colour whose share rises day over day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantedTrend {
    /// Article type.
    pub article_type: String,
    /// Colour.
    pub colour: String,
    /// First day of the rise.
    pub starts: NaiveDate,
    /// Multiplicative daily growth of its interest weight (e.g. 1.35).
    pub daily_growth: f64,
}

impl PlantedTrend {
    /// The key the trend has as an [`TrendDimension::ArticleTypeColour`] signal.
    #[must_use]
    pub fn key(&self) -> String {
        article_type_colour_key(&self.article_type, &self.colour)
    }
}

/// The key of an article-type-and-colour signal.
#[must_use]
pub fn article_type_colour_key(article_type: &str, colour: &str) -> String {
    format!("{article_type} / {colour}")
}
