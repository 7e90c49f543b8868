//! Contract of [`PurchaseStore`] + [`PurchaseSource`] over the same database.

use chrono::{Duration, NaiveDate};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{PurchaseSource, PurchaseStore};
use futures::TryStreamExt;

use crate::fixtures::{customer, order, product};

/// Orders are extracted by store-local day (by `ordered_at` or `recorded_at`), whole, in id order,
/// with duplicate lines kept; loading twice changes nothing.
///
/// `store` and `source` must be views of the same, initially empty, database.
pub async fn purchase_store_contract(store: &dyn PurchaseStore, source: &dyn PurchaseSource) {
    // Arrange: the store is in Ho Chi Minh City (UTC+7); the day is 25 Nov local time.
    let tz = parse_time_zone("Asia/Ho_Chi_Minh").expect("tz");
    let day = StoreDay::new(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"), tz);
    let customers: Vec<_> = (1..=3).map(customer).collect();
    let products: Vec<_> = (1..=4).map(product).collect();
    let first_minute = order(1, 1, day.start, 2);
    let last_minute = order(2, 2, day.end - Duration::seconds(1), 1);
    let next_day = order(3, 1, day.end, 1);
    let day_before = order(4, 3, day.start - Duration::seconds(1), 1);
    let mut late = order(5, 3, day.start - Duration::days(3), 2);
    late.order.recorded_at = day.start + Duration::hours(9);
    let mut with_dupe_line = order(6, 2, day.start + Duration::hours(12), 2);
    with_dupe_line.items.push(with_dupe_line.items[1].clone());
    with_dupe_line.items[2].line_no = 2;
    let mut missing_keys = order(7, 2, day.start + Duration::hours(13), 1);
    missing_keys.order.customer_id = None;
    missing_keys.items[0].product_id = None;
    missing_keys.items[0].quantity = -1;
    missing_keys.items[0].unit_price_cents = -5;
    let orders = vec![
        next_day.clone(),
        first_minute.clone(),
        last_minute.clone(),
        day_before,
        late.clone(),
        with_dupe_line.clone(),
        missing_keys.clone(),
    ];

    // Act
    assert_eq!(
        store
            .put_customers(&customers)
            .await
            .expect("put_customers"),
        3
    );
    assert_eq!(
        store.put_products(&products).await.expect("put_products"),
        4
    );
    store.put_orders(&orders).await.expect("put_orders");
    store.put_orders(&orders).await.expect("put_orders again");
    let extracted: Vec<StoredOrder> = source
        .extract_day(day)
        .try_concat()
        .await
        .expect("extract_day");

    // Assert
    let ids: Vec<i64> = extracted.iter().map(|o| o.order.order_id).collect();
    assert_eq!(
        ids,
        vec![1, 2, 5, 6, 7],
        "the local day's orders, late-recorded ones included, in id order"
    );
    assert_eq!(
        extracted[0], first_minute,
        "orders come back whole and unchanged"
    );
    assert_eq!(extracted[1], last_minute);
    assert_eq!(
        extracted[2], late,
        "an order recorded in the day but placed earlier is extracted"
    );
    assert_eq!(
        extracted[3].items.len(),
        3,
        "duplicate lines are kept for the cleaner to see"
    );
    assert_eq!(extracted[3].items[1], extracted[3].items[2]);
    assert_eq!(
        extracted[4], missing_keys,
        "rows with missing keys and bad amounts are stored as is"
    );

    let mut got_customers = source.customers().await.expect("customers");
    got_customers.sort_by_key(|c| c.id);
    assert_eq!(
        got_customers, customers,
        "loading twice must not duplicate customers"
    );
    let mut got_products = source.products().await.expect("products");
    got_products.sort_by_key(|p| p.id);
    assert_eq!(got_products, products);

    let mut changed = first_minute;
    changed.items.truncate(1);
    changed.order.total_cents = 1000;
    store
        .put_orders(std::slice::from_ref(&changed))
        .await
        .expect("put_orders replace");
    let again: Vec<StoredOrder> = source
        .extract_day(day)
        .try_concat()
        .await
        .expect("extract_day");
    assert_eq!(
        again[0], changed,
        "re-putting an order replaces it and its lines"
    );
}
