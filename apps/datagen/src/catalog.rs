//! A synthetic catalog shaped like the Kaggle "Fashion Product Images" dataset: the same genders,
//! categories, article types and colours, in similar proportions, with prices.

use fashion_domain::ids::ProductId;
use fashion_domain::money::Cents;
use fashion_domain::product::Product;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::{pick_uniform, pick_weighted};

/// (masterCategory, subCategory, articleType, genders, weight, price range in whole units)
type ArticleSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    f64,
    (i64, i64),
);

const ARTICLES: &[ArticleSpec] = &[
    (
        "Apparel",
        "Topwear",
        "Tshirts",
        &["Men", "Women", "Boys", "Girls", "Unisex"],
        15.0,
        (8, 45),
    ),
    (
        "Apparel",
        "Topwear",
        "Shirts",
        &["Men", "Women", "Boys"],
        8.0,
        (15, 70),
    ),
    (
        "Apparel",
        "Topwear",
        "Kurtas",
        &["Men", "Women"],
        4.0,
        (15, 60),
    ),
    (
        "Apparel",
        "Topwear",
        "Tops",
        &["Women", "Girls"],
        5.0,
        (10, 50),
    ),
    (
        "Apparel",
        "Topwear",
        "Sweatshirts",
        &["Men", "Women"],
        2.0,
        (20, 80),
    ),
    (
        "Apparel",
        "Topwear",
        "Jackets",
        &["Men", "Women"],
        2.0,
        (40, 160),
    ),
    (
        "Apparel",
        "Topwear",
        "Sweaters",
        &["Men", "Women"],
        1.5,
        (25, 90),
    ),
    (
        "Apparel",
        "Bottomwear",
        "Jeans",
        &["Men", "Women"],
        3.0,
        (30, 110),
    ),
    (
        "Apparel",
        "Bottomwear",
        "Trousers",
        &["Men", "Women"],
        2.0,
        (25, 90),
    ),
    (
        "Apparel",
        "Bottomwear",
        "Shorts",
        &["Men", "Women", "Boys"],
        2.0,
        (12, 40),
    ),
    (
        "Apparel",
        "Bottomwear",
        "Skirts",
        &["Women", "Girls"],
        1.0,
        (15, 60),
    ),
    (
        "Apparel",
        "Bottomwear",
        "Track Pants",
        &["Men", "Women"],
        1.5,
        (15, 55),
    ),
    (
        "Apparel",
        "Dress",
        "Dresses",
        &["Women", "Girls"],
        2.0,
        (25, 120),
    ),
    ("Apparel", "Innerwear", "Briefs", &["Men"], 2.0, (5, 20)),
    (
        "Footwear",
        "Shoes",
        "Casual Shoes",
        &["Men", "Women"],
        6.0,
        (30, 120),
    ),
    (
        "Footwear",
        "Shoes",
        "Sports Shoes",
        &["Men", "Women"],
        5.0,
        (40, 160),
    ),
    (
        "Footwear",
        "Shoes",
        "Formal Shoes",
        &["Men"],
        1.5,
        (50, 180),
    ),
    ("Footwear", "Shoes", "Heels", &["Women"], 3.0, (30, 130)),
    ("Footwear", "Shoes", "Flats", &["Women"], 2.0, (20, 70)),
    (
        "Footwear",
        "Sandal",
        "Sandals",
        &["Men", "Women"],
        2.0,
        (15, 60),
    ),
    (
        "Footwear",
        "Flip Flops",
        "Flip Flops",
        &["Men", "Women", "Unisex"],
        2.0,
        (5, 25),
    ),
    (
        "Accessories",
        "Watches",
        "Watches",
        &["Men", "Women", "Unisex"],
        6.0,
        (40, 400),
    ),
    (
        "Accessories",
        "Bags",
        "Handbags",
        &["Women"],
        4.0,
        (30, 250),
    ),
    (
        "Accessories",
        "Bags",
        "Backpacks",
        &["Men", "Unisex"],
        2.0,
        (25, 110),
    ),
    (
        "Accessories",
        "Wallets",
        "Wallets",
        &["Men", "Women"],
        2.0,
        (15, 70),
    ),
    (
        "Accessories",
        "Belts",
        "Belts",
        &["Men", "Women"],
        2.0,
        (10, 50),
    ),
    (
        "Accessories",
        "Eyewear",
        "Sunglasses",
        &["Men", "Women", "Unisex"],
        2.5,
        (20, 180),
    ),
    (
        "Accessories",
        "Jewellery",
        "Earrings",
        &["Women"],
        1.0,
        (10, 90),
    ),
    (
        "Personal Care",
        "Fragrance",
        "Perfume and Body Mist",
        &["Men", "Women", "Unisex"],
        2.5,
        (20, 120),
    ),
    (
        "Personal Care",
        "Lips",
        "Lipstick",
        &["Women"],
        1.5,
        (8, 35),
    ),
];

const COLOURS: &[(&str, f64)] = &[
    ("Black", 18.0),
    ("White", 12.0),
    ("Blue", 11.0),
    ("Navy Blue", 6.0),
    ("Grey", 6.0),
    ("Brown", 6.0),
    ("Red", 6.0),
    ("Green", 4.0),
    ("Pink", 4.0),
    ("Silver", 3.0),
    ("Purple", 3.0),
    ("Yellow", 2.0),
    ("Beige", 2.0),
    ("Maroon", 2.0),
    ("Olive", 2.0),
    ("Orange", 2.0),
    ("Gold", 2.0),
    ("Multi", 1.0),
    ("Teal", 1.0),
    ("Khaki", 1.0),
    ("Cream", 1.0),
    ("Charcoal", 1.0),
    ("Peach", 1.0),
    ("Lavender", 1.0),
    ("Magenta", 1.0),
];

const GENDER_WEIGHT: &[(&str, f64)] = &[
    ("Men", 50.0),
    ("Women", 42.0),
    ("Unisex", 3.0),
    ("Boys", 3.0),
    ("Girls", 2.0),
];

const SEASONS: &[(&str, f64)] = &[
    ("Summer", 45.0),
    ("Fall", 30.0),
    ("Winter", 15.0),
    ("Spring", 10.0),
];

const USAGES: &[(&str, f64)] = &[
    ("Casual", 77.0),
    ("Sports", 9.0),
    ("Ethnic", 7.0),
    ("Formal", 5.0),
    ("Smart Casual", 1.0),
    ("Party", 1.0),
];

const BRANDS: &[&str] = &[
    "Nike",
    "Puma",
    "Adidas",
    "Reebok",
    "Roadster",
    "Wrangler",
    "Levis",
    "Peter England",
    "Arrow",
    "Fila",
    "Fastrack",
    "Titan",
    "Baggit",
    "Lavie",
    "Catwalk",
    "Carlton London",
    "Jealous 21",
    "Nautica",
    "United Colors of Benetton",
    "Tommy Hilfiger",
    "Lotto",
    "Mango",
    "Vero Moda",
    "Jack & Jones",
    "Allen Solly",
    "Van Heusen",
    "Fossil",
    "Timex",
    "Skechers",
    "Clarks",
];

/// How prices end, in cents: whole, .49, .95 or .99.
const PRICE_ENDINGS: [i64; 4] = [0, 49, 95, 99];

/// Builds `n` products with ids 1..=n (the real file's ids are sparse; ours start at 10001 to
/// look alike and stay unique).
pub fn synthesize(n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<Product> {
    let genders: Vec<f64> = GENDER_WEIGHT.iter().map(|g| g.1).collect();
    let colours: Vec<f64> = COLOURS.iter().map(|c| c.1).collect();
    let seasons: Vec<f64> = SEASONS.iter().map(|s| s.1).collect();
    let usages: Vec<f64> = USAGES.iter().map(|u| u.1).collect();
    let mut out = Vec::with_capacity(n);
    let mut id = 10_000u32;
    while out.len() < n {
        // The tables below are non-empty constants, so no `else` branch is taken; the loop
        // stops rather than panics if one ever were empty.
        let Some(&(gender, _)) = GENDER_WEIGHT.get(pick_weighted(rng, &genders)) else {
            break;
        };
        let fits: Vec<&ArticleSpec> = ARTICLES.iter().filter(|a| a.3.contains(&gender)).collect();
        let weights: Vec<f64> = fits.iter().map(|a| a.4).collect();
        let Some(&&(master, sub, article, _, _, (lo, hi))) = fits.get(pick_weighted(rng, &weights))
        else {
            break;
        };
        let Some(&(colour, _)) = COLOURS.get(pick_weighted(rng, &colours)) else {
            break;
        };
        let Some(&brand) = pick_uniform(rng, BRANDS) else {
            break;
        };
        // Ids run out above `u32::MAX`: the catalog ends there (some 1.4 billion products, far
        // more than fit in memory).
        let Some(next_id) = id.checked_add(rng.random_range(1..4)) else {
            break;
        };
        id = next_id;
        // About 2% of real names contain a comma, which the file does not quote.
        let name = if rng.random_bool(0.02) {
            format!("{brand} {gender}, {colour} {article}")
        } else {
            format!("{brand} {gender} {colour} {article}")
        };
        // Units, then the ending, in this order: the order of draws is part of the seed's output.
        let units = rng.random_range(lo..=hi);
        let ending = PRICE_ENDINGS
            .get(rng.random_range(0..PRICE_ENDINGS.len()))
            .copied()
            .unwrap_or(0);
        // `lo..=hi` are the price ranges of `ARTICLES`, whole units below 1,000, so the cents
        // stay below 100,100 and cannot overflow.
        #[allow(clippy::arithmetic_side_effects)]
        let price = Cents(units * 100 + ending);
        out.push(Product {
            id: ProductId::new(id).unwrap_or_else(|_| unreachable!("ids start above zero")),
            gender: gender.to_owned(),
            master_category: master.to_owned(),
            sub_category: sub.to_owned(),
            article_type: article.to_owned(),
            base_colour: (!rng.random_bool(0.003)).then(|| colour.to_owned()),
            season: (!rng.random_bool(0.005))
                .then(|| {
                    SEASONS
                        .get(pick_weighted(rng, &seasons))
                        .map(|s| s.0.to_owned())
                })
                .flatten(),
            year: (!rng.random_bool(0.01)).then(|| rng.random_range(2010..=2019)),
            usage: (!rng.random_bool(0.01))
                .then(|| {
                    USAGES
                        .get(pick_weighted(rng, &usages))
                        .map(|u| u.0.to_owned())
                })
                .flatten(),
            product_display_name: name,
            price: Some(price),
        });
    }
    out
}
