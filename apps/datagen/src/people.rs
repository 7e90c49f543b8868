//! Customers and their personas: which segment they shop, which article types and colours they
//! like, which product groups they return to, and how often they visit.

use chrono::{Duration, TimeZone};
use fake::Fake;
use fake::faker::name::en::{FirstName, LastName};
use fashion_domain::customer::Customer;
use fashion_domain::event::Device;
use fashion_domain::ids::CustomerId;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::world::World;
use crate::{GenConfig, pick_weighted};

/// The city of a customer when [`CITIES`] gives none (it always does: it is a non-empty
/// constant).
const DEFAULT_CITY: &str = "Ho Chi Minh City";

/// Customers signed up at most 900 days before the first simulated day.
const MAX_TENURE_MINUTES: i64 = 900 * 24 * 60;

const CITIES: &[(&str, f64)] = &[
    ("Ho Chi Minh City", 30.0),
    ("Hanoi", 25.0),
    ("Da Nang", 8.0),
    ("Hai Phong", 7.0),
    ("Can Tho", 5.0),
    ("Bien Hoa", 4.0),
    ("Nha Trang", 4.0),
    ("Hue", 3.0),
    ("Vung Tau", 3.0),
    ("Da Lat", 3.0),
    ("Quy Nhon", 2.0),
    ("Buon Ma Thuot", 2.0),
    ("Thai Nguyen", 2.0),
    ("Vinh", 2.0),
];

/// What drives one customer's browsing.
#[derive(Debug, Clone)]
pub struct Persona {
    /// Men or Women: the catalog gender the customer shops.
    pub segment: String,
    /// Preferred article types with weights.
    pub types: Vec<(String, f64)>,
    /// Preferred colours.
    pub colours: Vec<String>,
    /// Product groups the customer keeps coming back to.
    pub groups: Vec<usize>,
    /// Mean sessions per day.
    pub activity: f64,
    /// Usual device.
    pub device: Device,
}

pub fn synthesize(
    config: &GenConfig,
    world: &World,
    rng: &mut Xoshiro256PlusPlus,
) -> (Vec<Customer>, Vec<Persona>) {
    let city_w: Vec<f64> = CITIES.iter().map(|c| c.1).collect();
    let mut customers = Vec::with_capacity(config.users as usize);
    let mut personas = Vec::with_capacity(config.users as usize);
    let start = config
        .time_zone
        .from_local_datetime(&config.start.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    for i in 1..=u64::from(config.users.max(1)) {
        let first: String = FirstName().fake_with_rng(rng);
        let last: String = LastName().fake_with_rng(rng);
        let segment = if rng.random_bool(0.55) {
            "Men"
        } else {
            "Women"
        };
        let types = world.types_of(segment);
        let tw: Vec<f64> = types.iter().map(|t| t.1).collect();
        let mut prefs = Vec::new();
        for w in [0.5, 0.3, 0.2] {
            // A catalog without products for this segment has no types: no preference then.
            let Some((t, _)) = types.get(pick_weighted(rng, &tw)) else {
                continue;
            };
            if !prefs.iter().any(|(x, _): &(String, f64)| x == t) {
                prefs.push((t.clone(), w));
            }
        }
        let colours = (0..2).map(|_| world.random_colour(rng)).collect();
        let groups = (0..2)
            .filter_map(|_| {
                let (t, _) = prefs.get(pick_weighted(
                    rng,
                    &prefs.iter().map(|p| p.1).collect::<Vec<_>>(),
                ))?;
                world.random_group(segment, t, rng)
            })
            .collect();
        // Heavy-tailed visit frequency: most customers visit now and then, a few daily.
        let activity = (0.15 + rng.random::<f64>().powi(3) * 2.0).min(2.5);
        let device = match rng.random_range(0..10) {
            0..=5 => Device::Mobile,
            6..=7 => Device::Desktop,
            8 => Device::App,
            _ => Device::Tablet,
        };
        customers.push(Customer {
            id: CustomerId::new(i).unwrap_or_else(|_| unreachable!("ids start at 1")),
            name: format!("{first} {last}"),
            email: format!(
                "{}.{}.{i}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            )
            .replace(|c: char| c.is_whitespace() || c == '\'', ""),
            city: CITIES
                .get(pick_weighted(rng, &city_w))
                .map_or(DEFAULT_CITY, |c| c.0)
                .to_owned(),
            country: "Vietnam".to_owned(),
            segment: segment.to_owned(),
            signed_up_at: start
                .checked_sub_signed(Duration::minutes(rng.random_range(60..MAX_TENURE_MINUTES)))
                .unwrap_or(start),
        });
        personas.push(Persona {
            segment: segment.to_owned(),
            types: prefs,
            colours,
            groups,
            activity,
            device,
        });
    }
    (customers, personas)
}
