//! One simulated day: every customer's sessions, their events, the orders they place, the planted
//! trends' pull, and dirty data when asked for.

use chrono::{DateTime, Days, Duration, Offset, TimeZone, Utc};
use fashion_domain::event::{ClickEvent, Device, EventType, SCHEMA_VERSION};
use fashion_domain::ids::{CustomerId, EventId, ProductId, SessionId};
use fashion_domain::order::{OrderItemRow, OrderRow, OrderStatus, StoredOrder};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use uuid::Uuid;

use crate::dirty::{dirty_events, dirty_orders};
use crate::record::{GeneratedEvent, lines_total};
use crate::world::multiplier;
use crate::{DayData, Generator, pick_uniform, pick_weighted};

/// Sessions start at these local hours with these weights (evening peak).
const HOUR_WEIGHTS: [f64; 24] = [
    1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.0, 3.5, 4.0, 4.0, 5.0, 4.5, 4.0, 4.0, 4.0, 4.5, 5.0,
    6.5, 8.0, 8.0, 6.0, 3.0,
];

fn new_uuid(rng: &mut Xoshiro256PlusPlus) -> Uuid {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

struct Session<'a> {
    generator: &'a Generator,
    rng: &'a mut Xoshiro256PlusPlus,
    customer: CustomerId,
    session: SessionId,
    device: Device,
    at: DateTime<Utc>,
    offset: chrono::FixedOffset,
    events: Vec<GeneratedEvent>,
}

impl Session<'_> {
    fn emit(&mut self, event_type: EventType, product: Option<ProductId>) {
        let ev = ClickEvent {
            event_id: EventId::from_uuid(new_uuid(self.rng)),
            event_type,
            user_id: self.customer,
            session_id: self.session.clone(),
            product_id: product,
            occurred_at: self.at.with_timezone(&self.offset),
            device: self.device,
            schema_version: SCHEMA_VERSION,
        };
        self.events.push(GeneratedEvent {
            partition_key: self.customer.to_string(),
            data: ev.to_json(),
            occurred_at: self.at,
            event_type: Some(event_type),
            product_id: product,
        });
        // The clock stops at chrono's last instant rather than overflowing past it.
        let pause = Duration::seconds(self.rng.random_range(8..120));
        self.at = self.at.checked_add_signed(pause).unwrap_or(self.at);
    }
}

/// Simulates one day of the store.
pub fn simulate(g: &Generator, index: u32, rng: &mut Xoshiro256PlusPlus) -> DayData {
    let cfg = g.config();
    let date = cfg
        .start
        .checked_add_days(Days::new(u64::from(index)))
        .unwrap_or(cfg.start);
    let w = &g.world;
    let tz = cfg.time_zone;
    let mults: Vec<f64> = g.planted.iter().map(|t| multiplier(t, date)).collect();
    let mut events = Vec::new();
    let mut orders = Vec::new();
    let day_end = tz
        .from_local_datetime(
            &date
                .succ_opt()
                .unwrap_or(date)
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
        )
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let mut order_seq = 0u64;
    for (customer, persona) in g.customers.iter().zip(&g.personas) {
        // `activity` is at most 2.5 (see `people`), so this is at most 3 and never saturates.
        let sessions = (persona.activity.floor() as u32)
            .saturating_add(u32::from(rng.random_bool(persona.activity.fract())));
        for s in 0..sessions {
            let hour = pick_weighted(rng, &HOUR_WEIGHTS) as u32;
            let local = date
                .and_hms_opt(hour, rng.random_range(0..60), rng.random_range(0..60))
                .unwrap_or_default();
            let Some(start) = tz.from_local_datetime(&local).earliest() else {
                continue;
            };
            let device = if rng.random_bool(0.8) {
                persona.device
            } else {
                // The first four families; `Other` is not simulated.
                Device::ALL
                    .get(rng.random_range(0..4))
                    .copied()
                    .unwrap_or(persona.device)
            };
            let session = SessionId::parse(&format!(
                "s{}-{index}-{s}-{:08x}",
                customer.id,
                rng.random::<u32>()
            ))
            .unwrap_or_else(|_| unreachable!("generated session ids are short and non-blank"));
            let mut sess = Session {
                generator: g,
                rng,
                customer: customer.id,
                session,
                device,
                at: start.with_timezone(&Utc),
                offset: start.offset().fix(),
                events: Vec::new(),
            };
            let (picked, trending) = choose_products(&mut sess, persona, &mults);
            sess.emit(EventType::PageView, None);
            let mut cart: Vec<usize> = Vec::new();
            for &pi in &picked {
                // `picked` holds indexes into the world's products; skip one that is not.
                let Some(p) = sess.generator.world.products.get(pi) else {
                    continue;
                };
                if sess.rng.random_bool(0.3) {
                    sess.emit(EventType::PageView, None);
                }
                if sess.rng.random_bool(0.35) {
                    sess.emit(EventType::Click, Some(p.id));
                }
                sess.emit(EventType::ProductView, Some(p.id));
                let mut p_cart: f64 = 0.04;
                if persona.types.iter().any(|(t, _)| *t == p.article_type) {
                    p_cart *= 2.0;
                }
                if persona.colours.contains(&p.colour) {
                    p_cart *= 1.5;
                }
                if trending.contains(&pi) {
                    p_cart *= 1.3;
                }
                if sess.rng.random_bool(p_cart.min(0.3)) {
                    sess.emit(EventType::AddToCart, Some(p.id));
                    cart.push(pi);
                }
            }
            if !cart.is_empty() && sess.rng.random_bool(0.15) {
                let gone = cart.remove(sess.rng.random_range(0..cart.len()));
                if let Some(p) = sess.generator.world.products.get(gone) {
                    sess.emit(EventType::RemoveFromCart, Some(p.id));
                }
            }
            cart.dedup();
            if !cart.is_empty() && sess.rng.random_bool(0.45) {
                // One more than the orders pushed so far, which are in memory: never saturates.
                order_seq = order_seq.saturating_add(1);
                let delay = Duration::seconds(sess.rng.random_range(30..300));
                let last = day_end
                    .checked_sub_signed(Duration::seconds(1))
                    .unwrap_or(day_end);
                let at = sess.at.checked_add_signed(delay).unwrap_or(last).min(last);
                orders.extend(make_order(&mut sess, &cart, at, index, order_seq));
            }
            events.append(&mut sess.events);
        }
    }
    events.sort_by_key(|e| e.occurred_at);
    let mut day = DayData {
        date,
        events,
        orders,
        ..DayData::default()
    };
    if cfg.dirty_rate > 0.0 {
        dirty_events(&mut day, cfg.dirty_rate, rng);
        dirty_orders(&mut day, cfg.dirty_rate, g, w.max_product_id, rng);
    }
    day
}

/// The products one session looks at, and which of them are pulled by a planted trend.
fn choose_products(
    sess: &mut Session<'_>,
    persona: &crate::Persona,
    mults: &[f64],
) -> (Vec<usize>, Vec<usize>) {
    let w = &sess.generator.world;
    let rng = &mut *sess.rng;
    // In float, then cast: the count is between 1 and 15.
    let n = (1.0 + (rng.random::<f64>().ln() / 0.8f64.ln()).floor().min(14.0)) as usize;
    let weighted =
        |rng: &mut Xoshiro256PlusPlus, pool: &[usize], colour_bonus: &[String]| -> Option<usize> {
            // An index outside the products (there is none) weighs nothing.
            let ws: Vec<f64> = pool
                .iter()
                .map(|&i| {
                    w.products.get(i).map_or(0.0, |p| {
                        p.pop
                            * if colour_bonus.contains(&p.colour) {
                                3.0
                            } else {
                                1.0
                            }
                    })
                })
                .collect();
            pool.get(pick_weighted(rng, &ws)).copied()
        };
    // A planted trend draws sessions in proportion to how far it has risen.
    for (t, m) in sess.generator.planted.iter().zip(mults) {
        let pool: Vec<usize> = w
            .by_gender_type
            .get(&(persona.segment.clone(), t.article_type.clone()))
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| w.products.get(i).is_some_and(|p| p.colour == t.colour))
                    .collect()
            })
            .unwrap_or_default();
        if !pool.is_empty() && rng.random_bool((0.012 * (m - 1.0)).clamp(0.0, 0.15)) {
            let picked: Vec<usize> = (0..n.max(3))
                .filter_map(|_| weighted(rng, &pool, &[]))
                .collect();
            return (picked.clone(), picked);
        }
    }
    let type_w: Vec<f64> = persona.types.iter().map(|t| t.1).collect();
    let ty = persona
        .types
        .get(pick_weighted(rng, &type_w))
        .map_or("Tshirts", |t| t.0.as_str())
        .to_owned();
    let same_type = w
        .by_gender_type
        .get(&(persona.segment.clone(), ty.clone()))
        .cloned()
        .unwrap_or_default();
    if same_type.is_empty() {
        return (Vec::new(), Vec::new());
    }
    if rng.random_bool(0.75) {
        // Comparing similar products: one co-viewed group, wandering off now and then.
        let group = if !persona.groups.is_empty() && rng.random_bool(0.8) {
            pick_uniform(rng, &persona.groups).copied()
        } else {
            w.random_group(&persona.segment, &ty, rng)
        }
        .unwrap_or(0);
        // Groups are chunks of a non-empty catalog; with no such group (or an empty one) the
        // session falls back to the weighted pick.
        let members = w.groups.get(group).map_or(&[][..], Vec::as_slice);
        let picked = (0..n)
            .filter_map(|_| {
                if rng.random_bool(0.15) {
                    weighted(rng, &same_type, &persona.colours)
                } else {
                    pick_uniform(rng, members)
                        .copied()
                        .or_else(|| weighted(rng, &same_type, &persona.colours))
                }
            })
            .collect();
        return (picked, Vec::new());
    }
    let picked = (0..n)
        .filter_map(|_| weighted(rng, &same_type, &persona.colours))
        .collect();
    (picked, Vec::new())
}

/// The order for a session's cart (its first ten products), or `None` when an id or amount would
/// overflow `i64`, which takes a day index, order count or price far beyond any generated store:
/// that order is then left out.
fn make_order(
    sess: &mut Session<'_>,
    cart: &[usize],
    at: DateTime<Utc>,
    index: u32,
    seq: u64,
) -> Option<StoredOrder> {
    let order_id = i64::from(index)
        .checked_add(1)?
        .checked_mul(1_000_000)?
        .checked_add(i64::try_from(seq).ok()?)?;
    let mut items = Vec::with_capacity(cart.len().min(10));
    for (line_no, &pi) in (1..=10).zip(cart) {
        let p = sess.generator.world.products.get(pi)?;
        let quantity = match sess.rng.random_range(0..100) {
            0..=84 => 1,
            85..=96 => 2,
            _ => 3,
        };
        let discount = sess.rng.random_bool(0.2);
        items.push(OrderItemRow {
            order_id,
            line_no,
            product_id: Some(i64::from(p.id.get())),
            quantity,
            // 10% off, rounded down.
            unit_price_cents: if discount {
                p.price.checked_mul(9)? / 10
            } else {
                p.price
            },
        });
    }
    let total = lines_total(&items)?;
    let status = match sess.rng.random_range(0..100) {
        0..=69 => OrderStatus::Paid,
        70..=84 => OrderStatus::Shipped,
        85..=94 => OrderStatus::Delivered,
        95..=97 => OrderStatus::Cancelled,
        _ => OrderStatus::Returned,
    };
    Some(StoredOrder {
        order: OrderRow {
            order_id,
            customer_id: Some(sess.customer.as_i64()),
            ordered_at: at,
            recorded_at: at,
            status: status.as_str().to_owned(),
            total_cents: total,
            currency: "USD".to_owned(),
        },
        items,
    })
}
