//! A synthetic catalog shaped like the Kaggle "Fashion Product Images" dataset: the same genders,
//! categories, article types and colours, in similar proportions, with prices.

use fashion_domain::ids::ProductId;
use fashion_domain::money::Cents;
use fashion_domain::product::Product;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::pick_weighted;

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
        let gender = GENDER_WEIGHT[pick_weighted(rng, &genders)].0;
        let fits: Vec<&ArticleSpec> = ARTICLES.iter().filter(|a| a.3.contains(&gender)).collect();
        let weights: Vec<f64> = fits.iter().map(|a| a.4).collect();
        let (master, sub, article, _, _, (lo, hi)) = *fits[pick_weighted(rng, &weights)];
        let colour = COLOURS[pick_weighted(rng, &colours)].0;
        let brand = BRANDS[rng.random_range(0..BRANDS.len())];
        id += rng.random_range(1..4);
        // About 2% of real names contain a comma, which the file does not quote.
        let name = if rng.random_bool(0.02) {
            format!("{brand} {gender}, {colour} {article}")
        } else {
            format!("{brand} {gender} {colour} {article}")
        };
        let price =
            Cents(rng.random_range(lo..=hi) * 100 + [0, 49, 95, 99][rng.random_range(0..4)]);
        out.push(Product {
            id: ProductId::new(id).unwrap_or_else(|_| unreachable!("ids start above zero")),
            gender: gender.to_owned(),
            master_category: master.to_owned(),
            sub_category: sub.to_owned(),
            article_type: article.to_owned(),
            base_colour: (!rng.random_bool(0.003)).then(|| colour.to_owned()),
            season: (!rng.random_bool(0.005))
                .then(|| SEASONS[pick_weighted(rng, &seasons)].0.to_owned()),
            year: (!rng.random_bool(0.01)).then(|| rng.random_range(2010..=2019)),
            usage: (!rng.random_bool(0.01))
                .then(|| USAGES[pick_weighted(rng, &usages)].0.to_owned()),
            product_display_name: name,
            price: Some(price),
        });
    }
    out
}
