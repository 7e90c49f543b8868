//! Dirty data on purpose, at the configured rate: events made malformed, duplicated, late or
//! pointing at unknown products, and orders with the faults real stores have (bad quantities,
//! totals that disagree with their lines, unknown customers or products), each kind counted.

use chrono::Duration;
use fashion_domain::order::StoredOrder;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde_json::Value;

use crate::record::{GeneratedEvent, lines_total};
use crate::{DayData, DirtyEvent, DirtyOrder, Generator, pick_uniform};

fn rewrite(data: &[u8], f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        f(obj);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

pub(crate) fn dirty_events(day: &mut DayData, rate: f64, rng: &mut Xoshiro256PlusPlus) {
    // A capacity hint: about 2% of records gain a duplicate.
    let mut out = Vec::with_capacity(day.events.len().saturating_add(day.events.len() / 50));
    for mut e in std::mem::take(&mut day.events) {
        if !rng.random_bool(rate.clamp(0.0, 1.0)) {
            out.push(e);
            continue;
        }
        let Some(&kind) = pick_uniform(rng, &DirtyEvent::ALL) else {
            out.push(e);
            continue;
        };
        // Bounded by the number of records in memory: never saturates.
        let tally = day.dirty_events.entry(kind).or_default();
        *tally = tally.saturating_add(1);
        match kind {
            DirtyEvent::Duplicate => {
                let copy = GeneratedEvent {
                    event_type: None,
                    product_id: None,
                    ..e.clone()
                };
                out.push(e);
                out.push(copy);
                continue;
            }
            DirtyEvent::Malformed => e.data.truncate(e.data.len() / 2),
            DirtyEvent::MissingProduct => {
                e.data = rewrite(&e.data, |o| {
                    o.insert("event_type".into(), Value::from("product_view"));
                    o.remove("product_id");
                });
            }
            DirtyEvent::BadUserId => {
                e.data = rewrite(&e.data, |o| {
                    o.insert("user_id".into(), Value::from("guest"));
                });
            }
            DirtyEvent::UnsupportedSchema => {
                e.data = rewrite(&e.data, |o| {
                    o.insert("schema_version".into(), Value::from(99));
                });
            }
            DirtyEvent::FutureTimestamp => {
                let later = e
                    .occurred_at
                    .checked_add_signed(Duration::days(3))
                    .unwrap_or(e.occurred_at)
                    .to_rfc3339();
                e.data = rewrite(&e.data, |o| {
                    o.insert("occurred_at".into(), Value::from(later));
                });
            }
        }
        e.event_type = None;
        e.product_id = None;
        out.push(e);
    }
    day.events = out;
}

pub(crate) fn dirty_orders(
    day: &mut DayData,
    rate: f64,
    g: &Generator,
    max_product: u32,
    rng: &mut Xoshiro256PlusPlus,
) {
    let users = i64::from(g.config().users);
    // Orders are far fewer than events: dirty them more often so every kind shows up.
    let p = (rate * 3.0).clamp(0.0, 1.0);
    for (n, o) in day.orders.iter_mut().enumerate() {
        if !rng.random_bool(p) {
            continue;
        }
        let Some(&kind) = pick_uniform(rng, &DirtyOrder::ALL) else {
            continue;
        };
        // Bounded by the number of orders in memory: never saturates.
        let tally = day.dirty_orders.entry(kind).or_default();
        *tally = tally.saturating_add(1);
        let n = i64::try_from(n).unwrap_or(0);
        // A total that overflows stays as it was (the order is dirty either way).
        let recompute = |o: &mut StoredOrder| {
            o.order.total_cents = lines_total(&o.items).unwrap_or(o.order.total_cents);
        };
        // Every generated order has at least one line (carts are never empty); one without
        // is left clean of line faults.
        match kind {
            DirtyOrder::DuplicateLine => {
                if let Some(line) = o.items.first().cloned() {
                    o.items.insert(1, line);
                }
            }
            DirtyOrder::MissingCustomer => o.order.customer_id = None,
            DirtyOrder::MissingProduct => {
                if let Some(line) = o.items.first_mut() {
                    line.product_id = None;
                }
            }
            // Unknown ids lie above every real one; saturating at `i64::MAX` keeps them unknown.
            DirtyOrder::UnknownCustomer => {
                o.order.customer_id = Some(users.saturating_add(100_000).saturating_add(n));
            }
            DirtyOrder::UnknownProduct => {
                if let Some(line) = o.items.first_mut() {
                    line.product_id = Some(
                        i64::from(max_product)
                            .saturating_add(1_000)
                            .saturating_add(n),
                    );
                }
            }
            DirtyOrder::NonPositiveQuantity => {
                let quantity = if rng.random_bool(0.5) { 0 } else { -1 };
                if let Some(line) = o.items.first_mut() {
                    line.quantity = quantity;
                }
                recompute(o);
            }
            DirtyOrder::NegativePrice => {
                if let Some(line) = o.items.first_mut() {
                    // Negating a number at least 1 never saturates.
                    line.unit_price_cents = line.unit_price_cents.max(1).saturating_neg();
                }
                recompute(o);
            }
            DirtyOrder::TotalMismatch => {
                // Off by 1 to 499 cents, upwards unless that overflows.
                let off = rng.random_range(1..500);
                let total = o.order.total_cents;
                o.order.total_cents = total
                    .checked_add(off)
                    .or_else(|| total.checked_sub(off))
                    .unwrap_or(total);
            }
            DirtyOrder::LateRecorded => {
                o.order.ordered_at = o
                    .order
                    .ordered_at
                    .checked_sub_signed(Duration::days(3))
                    .unwrap_or(o.order.ordered_at);
            }
            DirtyOrder::UnknownStatus => o.order.status = "on_hold".to_owned(),
        }
    }
}
