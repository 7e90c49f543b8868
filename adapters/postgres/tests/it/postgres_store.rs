//! The PostgreSQL purchase store against the purchase store contract, on the throwaway cluster of
//! `FASHION_TEST_DATABASE_URL`, plus what the contract cannot see: streaming in chunks, the
//! schema's constraints, and the COPY floor.

use crate::support;

use chrono::{Duration, NaiveDate};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{PurchaseSource, PurchaseStore, PurchaseStoreError};
use fashion_postgres::EXTRACT_CHUNK;
use fashion_tests::contract;
use fashion_tests::fixtures::{customer, order, t0};
use futures::{StreamExt, TryStreamExt};

fn day() -> StoreDay {
    let tz = parse_time_zone("Asia/Ho_Chi_Minh").expect("tz");
    StoreDay::new(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"), tz)
}

#[tokio::test]
async fn postgres_purchases_honour_the_purchase_store_contract() {
    let db = support::fresh_store().await;
    contract::purchase_store_contract(&db, &db).await;
}

#[tokio::test]
async fn a_large_day_arrives_in_bounded_chunks_of_whole_orders_in_id_order() {
    // Arrange: more orders than three chunks, each with a few lines.
    let db = support::fresh_store().await;
    let n = i64::try_from(EXTRACT_CHUNK * 3 + 17).expect("fits");
    let orders: Vec<StoredOrder> = (1..=n)
        .map(|id| {
            order(
                id,
                1,
                day().start + Duration::seconds(id),
                1 + (id % 4) as i32,
            )
        })
        .collect();
    db.put_orders(&orders).await.expect("put_orders");

    // Act
    let chunks: Vec<Vec<StoredOrder>> = db
        .extract_day(day())
        .try_collect()
        .await
        .expect("extract_day");

    // Assert
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= EXTRACT_CHUNK));
    let got: Vec<StoredOrder> = chunks.into_iter().flatten().collect();
    assert_eq!(got, orders, "every order once, whole, in id order");
}

#[tokio::test]
async fn dropping_the_extraction_midway_leaves_the_store_usable() {
    // Arrange
    let db = support::fresh_store().await;
    let n = i64::try_from(EXTRACT_CHUNK * 6).expect("fits");
    let orders: Vec<StoredOrder> = (1..=n)
        .map(|id| order(id, 1, day().start + Duration::seconds(id), 3))
        .collect();
    db.put_orders(&orders).await.expect("put_orders");

    // Act: read one chunk, then give up; then extract again.
    let mut stream = db.extract_day(day());
    let first = stream.next().await.expect("a chunk").expect("ok");
    drop(stream);
    let again: Vec<StoredOrder> = db
        .extract_day(day())
        .try_concat()
        .await
        .expect("extract_day");

    // Assert
    assert_eq!(first.len(), EXTRACT_CHUNK);
    assert_eq!(again.len(), orders.len());
}

#[tokio::test]
async fn an_empty_day_is_an_empty_stream() {
    let db = support::fresh_store().await;
    let chunks: Vec<Vec<StoredOrder>> = db
        .extract_day(day())
        .try_collect()
        .await
        .expect("extract_day");
    assert!(chunks.is_empty());
}

#[tokio::test]
async fn the_schema_refuses_what_a_real_store_refuses() {
    // Arrange
    let db = support::fresh_store().await;
    let mut twin = customer(2);
    twin.email = customer(1).email;

    // Act
    db.put_customers(&[customer(1)])
        .await
        .expect("first customer");
    let duplicate_email = db.put_customers(&[twin]).await;
    let mut bad_currency = order(1, 1, t0(), 1);
    bad_currency.order.currency = "DOLLARS".into();
    let bad_currency = db.put_orders(&[bad_currency]).await;

    // Assert
    assert!(
        matches!(duplicate_email, Err(PurchaseStoreError::Constraint { .. })),
        "e-mails are unique: {duplicate_email:?}"
    );
    assert!(
        matches!(bad_currency, Err(PurchaseStoreError::Constraint { .. })),
        "currencies are three letters: {bad_currency:?}"
    );
}

#[tokio::test]
async fn the_copy_floor_reads_every_order_and_every_line_once() {
    // Arrange
    let db = support::fresh_store().await;
    let orders: Vec<StoredOrder> = (1..=50)
        .map(|id| order(id, 1, day().start + Duration::minutes(id), 3))
        .collect();
    db.put_orders(&orders).await.expect("put_orders");

    // Act
    let floor = db.copy_floor(day()).await.expect("copy_floor");

    // Assert: 50 order rows and 150 line rows, each stream's header and trailer with them or in
    // messages of their own.
    assert!((200..=204).contains(&floor.messages), "{floor:?}");
    assert!(floor.bytes > 50 * 7 * 4 + 150 * 5 * 4, "{floor:?}");
}

#[tokio::test]
async fn orders_with_scattered_ids_are_extracted_whole_and_alone() {
    // Arrange: the day's ids are far apart (a semi-join selects their lines), and orders of
    // other days sit between them.
    let db = support::fresh_store().await;
    let ids = [3, 40_000, 9_000_000_000];
    let mut all: Vec<StoredOrder> = ids
        .iter()
        .map(|&id| order(id, 1, day().start + Duration::hours(1), 2))
        .collect();
    all.push(order(50_000, 1, day().end + Duration::hours(1), 4));
    all.push(order(1, 1, day().start - Duration::hours(1), 4));
    db.put_orders(&all).await.expect("put_orders");

    // Act
    let got: Vec<StoredOrder> = db
        .extract_day(day())
        .try_concat()
        .await
        .expect("extract_day");

    // Assert
    assert_eq!(got, all[..3].to_vec());
}
