//! Catalog products: the columns of the Kaggle "Fashion Product Images" `styles.csv` plus a price.

use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::money::Cents;

/// One product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// `id`.
    pub id: ProductId,
    /// `gender`: Men, Women, Boys, Girls, Unisex.
    pub gender: String,
    /// `masterCategory`: Apparel, Accessories, Footwear, ...
    pub master_category: String,
    /// `subCategory`: Topwear, Bottomwear, Shoes, ...
    pub sub_category: String,
    /// `articleType`: Tshirts, Shirts, Casual Shoes, ...
    pub article_type: String,
    /// `baseColour`; empty in a few rows of the real file.
    pub base_colour: Option<String>,
    /// `season`: Fall, Summer, Winter, Spring; sometimes empty.
    pub season: Option<String>,
    /// `year`; missing in a few rows of the real file.
    pub year: Option<u16>,
    /// `usage`: Casual, Sports, Formal, Ethnic, ...; sometimes empty.
    pub usage: Option<String>,
    /// `productDisplayName`, commas included.
    pub product_display_name: String,
    /// List price; the original Kaggle file has none.
    pub price: Option<Cents>,
}

impl Product {
    /// The colour, or `"Unknown"` when the catalog has none.
    #[must_use]
    pub fn colour(&self) -> &str {
        self.base_colour.as_deref().unwrap_or(UNKNOWN)
    }
}

/// The label used where an optional attribute is missing.
pub const UNKNOWN: &str = "Unknown";
