//! Small, deterministic sample data for contract suites and service tests.

use chrono::{DateTime, Duration, Utc};
use fashion_domain::customer::Customer;
use fashion_domain::event::{ClickEvent, Device, EventType};
use fashion_domain::ids::{CustomerId, EventId, ProductId, SessionId};
use fashion_domain::money::Cents;
use fashion_domain::order::{OrderItemRow, OrderRow, StoredOrder};
use fashion_domain::product::Product;
use uuid::Uuid;

/// A fixed instant all fixtures are relative to.
#[must_use]
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Product `id`, article type and colour picked from small lists by `id`.
#[must_use]
pub fn product(id: u32) -> Product {
    const TYPES: [&str; 4] = ["Tshirts", "Jeans", "Casual Shoes", "Handbags"];
    const COLOURS: [&str; 4] = ["Black", "Blue", "Red", "White"];
    let i = id as usize;
    Product {
        id: pid(id),
        gender: if id.is_multiple_of(2) {
            "Women".into()
        } else {
            "Men".into()
        },
        master_category: "Apparel".into(),
        sub_category: "Topwear".into(),
        article_type: TYPES[i % TYPES.len()].into(),
        base_colour: Some(COLOURS[(i / 4) % COLOURS.len()].into()),
        season: Some("Summer".into()),
        year: if id.is_multiple_of(5) {
            None
        } else {
            Some(2012)
        },
        usage: Some("Casual".into()),
        product_display_name: format!("Brand {id}, Comma Name"),
        price: Some(Cents(1000 + i64::from(id))),
    }
}

/// A product id (panics on 0: fixtures only).
#[must_use]
pub fn pid(id: u32) -> ProductId {
    ProductId::new(id).expect("fixture product ids are positive")
}

/// A customer id (panics on 0: fixtures only).
#[must_use]
pub fn cid(id: u64) -> CustomerId {
    CustomerId::new(id).expect("fixture customer ids are positive")
}

/// Customer `id`.
#[must_use]
pub fn customer(id: u64) -> Customer {
    Customer {
        id: cid(id),
        name: format!("Customer {id}"),
        email: format!("customer{id}@example.com"),
        city: if id.is_multiple_of(2) {
            "Hanoi".into()
        } else {
            "Ho Chi Minh City".into()
        },
        country: "Vietnam".into(),
        segment: if id.is_multiple_of(2) {
            "Women".into()
        } else {
            "Men".into()
        },
        signed_up_at: t0() - Duration::days(30),
    }
}

/// A deterministic event id from a number.
#[must_use]
pub fn event_id(n: u64) -> EventId {
    EventId::from_uuid(Uuid::from_u64_pair(0x00c1_1c00, n))
}

/// A product view by `customer` of `product`, `secs` after [`t0`].
#[must_use]
pub fn view(n: u64, customer: u64, product: u32, secs: i64) -> ClickEvent {
    ClickEvent {
        event_id: event_id(n),
        event_type: EventType::ProductView,
        user_id: cid(customer),
        session_id: SessionId::parse(&format!("s-{customer}"))
            .expect("fixture session ids are valid"),
        product_id: Some(pid(product)),
        occurred_at: (t0() + Duration::seconds(secs)).fixed_offset(),
        device: Device::Mobile,
        schema_version: 1,
    }
}

/// An order of `lines` lines (product ids 1..=lines, quantity 1, price 10.00 each), placed at `at`.
#[must_use]
pub fn order(order_id: i64, customer: i64, at: DateTime<Utc>, lines: i32) -> StoredOrder {
    let items: Vec<OrderItemRow> = (1..=lines)
        .map(|l| OrderItemRow {
            order_id,
            line_no: l,
            product_id: Some(i64::from(l)),
            quantity: 1,
            unit_price_cents: 1000,
        })
        .collect();
    StoredOrder {
        order: OrderRow {
            order_id,
            customer_id: Some(customer),
            ordered_at: at,
            recorded_at: at,
            status: "paid".into(),
            total_cents: 1000 * i64::from(lines),
            currency: "USD".into(),
        },
        items,
    }
}
