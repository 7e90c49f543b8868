//! Contract of the [`HistorySource`] port: the trainer's bulk read of the lake's clickstream and
//! order lines, written here through a [`LakeWriter`] and catalogued in a [`TableCatalog`] as
//! the lake sink and the daily job write them.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use fashion_domain::event::{ClickEvent, EventType};
use fashion_domain::history::{PurchaseRecord, TrainingEvent};
use fashion_domain::ids::OrderId;
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::money::Cents;
use fashion_domain::order::OrderLine;
use fashion_domain::ports::{HistorySource, LakeWriter, TableCatalog, WriteMode};
use futures::TryStreamExt;

use crate::fixtures::{cid, pid, t0, view};

async fn write(
    lake: &dyn LakeWriter,
    catalog: &dyn TableCatalog,
    table: &TableDef,
    key: &PartitionKey,
    (mode, write_id): (WriteMode, &str),
    rows: TableRows,
) {
    let mut w = lake.open(table, key, mode, write_id).await.expect("open");
    w.write(rows).await.expect("write");
    let info = w.commit().await.expect("commit");
    catalog.put_partition(&info).await.expect("put_partition");
}

/// An event of `kind` by `customer` on `product` (dropped for page views), `secs` after [`t0`].
fn event(n: u64, kind: EventType, customer: u64, product: u32, secs: i64) -> ClickEvent {
    let mut e = view(n, customer, product, secs);
    e.event_type = kind;
    if kind == EventType::PageView {
        e.product_id = None;
    }
    e
}

/// Order line `line_no` of `order` for `product`, placed at `at`.
fn line(order: u64, line_no: u32, customer: u64, product: u32, at: DateTime<Utc>) -> OrderLine {
    OrderLine {
        order_id: OrderId::new(order).expect("fixture order ids are positive"),
        line_no,
        customer_id: cid(customer),
        product_id: pid(product),
        quantity: 1,
        unit_price: Cents(1000),
        line_total: Cents(1000),
        ordered_at: at,
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("fixture instants are RFC 3339")
        .with_timezone(&Utc)
}

fn key_of(e: &TrainingEvent) -> (u64, u32, DateTime<Utc>, &'static str, u64) {
    (
        e.customer.get(),
        e.product.get(),
        e.at,
        e.kind.as_str(),
        e.session,
    )
}

async fn interactions(
    history: &dyn HistorySource,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<TrainingEvent> {
    let mut out: Vec<TrainingEvent> = history
        .interactions(from, to)
        .try_concat()
        .await
        .expect("interactions");
    out.sort_by_key(key_of);
    out
}

async fn clickstream(
    history: &dyn HistorySource,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<ClickEvent> {
    let mut out: Vec<ClickEvent> = history
        .clickstream(from, to)
        .try_concat()
        .await
        .expect("clickstream");
    out.sort_by_key(|e| e.event_id);
    out
}

fn expected_clickstream(events: &[&ClickEvent]) -> Vec<ClickEvent> {
    let mut out: Vec<ClickEvent> = events.iter().map(|e| (*e).clone()).collect();
    out.sort_by_key(|e| e.event_id);
    out
}

fn expected_interactions(events: &[&ClickEvent]) -> Vec<TrainingEvent> {
    let mut out: Vec<TrainingEvent> = events
        .iter()
        .map(|e| TrainingEvent::from_event(e).expect("expected events name a product"))
        .collect();
    out.sort_by_key(key_of);
    out
}

async fn purchases(
    history: &dyn HistorySource,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<PurchaseRecord> {
    let mut out: Vec<PurchaseRecord> = history
        .purchases(from, to)
        .try_concat()
        .await
        .expect("purchases");
    out.sort_by_key(|p| (p.order.get(), p.product.get(), p.at));
    out
}

fn expected_purchases(lines: &[&OrderLine]) -> Vec<PurchaseRecord> {
    let mut out: Vec<PurchaseRecord> = lines
        .iter()
        .map(|l| PurchaseRecord {
            customer: l.customer_id,
            order: l.order_id,
            product: l.product_id,
            at: l.ordered_at,
        })
        .collect();
    out.sort_by_key(|p| (p.order.get(), p.product.get(), p.at));
    out
}

/// `interactions(from, to)` returns exactly the product interactions with event time in the
/// half-open window (page views excluded, an event written twice returned once, partitions of
/// other hours and days left out, an event's UTC offset honoured); `clickstream(from, to)` the
/// same window's click events whole, page views included, each once; `purchases(from, to)` returns
/// the order lines of the current version of each partition placed in the window, including
/// lines whose store-local day (their partition) differs from their UTC date.
pub async fn history_source_contract(
    lake: &dyn LakeWriter,
    catalog: &dyn TableCatalog,
    history: &dyn HistorySource,
) {
    // A lake without the tables is an empty history, not an error.
    assert!(
        interactions(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .await
            .is_empty(),
        "a lake without a clickstream table has no interactions"
    );
    assert!(
        purchases(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .await
            .is_empty(),
        "a lake without an order_items table has no purchases"
    );
    assert!(
        clickstream(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .await
            .is_empty(),
        "a lake without a clickstream table has no click events"
    );
    assert_eq!(
        history.latest_click_day().await.expect("latest click day"),
        None,
        "a lake without a clickstream has no last day"
    );

    // Arrange: the clickstream, partitioned by UTC event hour, written by two appends of the
    // lake sink (the second re-sends one event of the first) and a few other partitions.
    let clicks = TableDef::named(tables::CLICKSTREAM).expect("clickstream table");
    let items = TableDef::named(tables::ORDER_ITEMS).expect("order_items table");
    catalog.ensure_table(&clicks).await.expect("ensure_table");
    catalog.ensure_table(&items).await.expect("ensure_table");
    let from = t0(); // 2026-11-25T10:00Z
    let to = t0() + Duration::hours(2);

    let at_from = event(1, EventType::ProductView, 1, 1, 0);
    let click = event(2, EventType::Click, 1, 2, 60);
    let page_view = event(3, EventType::PageView, 1, 1, 90);
    let cart = event(4, EventType::AddToCart, 2, 3, 120);
    let uncart = event(5, EventType::RemoveFromCart, 2, 3, 1_800);
    let next_hour = event(6, EventType::ProductView, 3, 4, 3_600);
    let at_to = event(7, EventType::ProductView, 3, 5, 7_200);
    let last_second = event(8, EventType::Click, 3, 6, 7_199);
    let before = event(9, EventType::ProductView, 4, 7, -1);
    let other_day = event(10, EventType::AddToCart, 4, 8, -5 * 86_400);
    // 18:30 in UTC+7 is 11:30 UTC: the event lies in hour 11 of the window.
    let mut with_offset = event(11, EventType::ProductView, 5, 9, 5_400);
    with_offset.occurred_at = with_offset
        .occurred_at
        .with_timezone(&FixedOffset::east_opt(7 * 3600).expect("offset"));

    let hour = |e: &ClickEvent| PartitionKey::hour_of(e.occurred_utc());
    write(
        lake,
        catalog,
        &clicks,
        &hour(&at_from),
        (WriteMode::Append, "flush-1"),
        TableRows::Clickstream(vec![
            at_from.clone(),
            click.clone(),
            page_view.clone(),
            cart.clone(),
        ]),
    )
    .await;
    write(
        lake,
        catalog,
        &clicks,
        &hour(&at_from),
        (WriteMode::Append, "flush-2"),
        TableRows::Clickstream(vec![cart.clone(), uncart.clone()]),
    )
    .await;
    write(
        lake,
        catalog,
        &clicks,
        &hour(&next_hour),
        (WriteMode::Append, "flush-3"),
        TableRows::Clickstream(vec![
            next_hour.clone(),
            last_second.clone(),
            with_offset.clone(),
        ]),
    )
    .await;
    for (e, id) in [
        (&at_to, "flush-4"),
        (&before, "flush-5"),
        (&other_day, "flush-6"),
    ] {
        write(
            lake,
            catalog,
            &clicks,
            &hour(e),
            (WriteMode::Append, id),
            TableRows::Clickstream(vec![e.clone()]),
        )
        .await;
    }

    // Act + Assert: the window.
    assert_eq!(
        interactions(history, from, to).await,
        expected_interactions(&[
            &at_from,
            &click,
            &cart,
            &uncart,
            &next_hour,
            &last_second,
            &with_offset
        ]),
        "the window [from, to) holds exactly these product interactions, each once"
    );
    assert_eq!(
        interactions(history, from + Duration::hours(1), to).await,
        expected_interactions(&[&next_hour, &last_second, &with_offset]),
        "a window starting on the hour leaves the hour before out"
    );
    assert!(
        interactions(history, from, from).await.is_empty(),
        "an empty window holds nothing"
    );
    assert_eq!(
        interactions(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC).await,
        expected_interactions(&[
            &at_from,
            &click,
            &cart,
            &uncart,
            &next_hour,
            &at_to,
            &last_second,
            &before,
            &other_day,
            &with_offset
        ]),
        "the whole history: every product interaction once, page views never"
    );

    // Act + Assert: the clickstream whole, page views included, `cart` (written twice) once.
    assert_eq!(
        clickstream(history, from, to).await,
        expected_clickstream(&[
            &at_from,
            &click,
            &page_view,
            &cart,
            &uncart,
            &next_hour,
            &last_second,
            &with_offset
        ]),
        "the window [from, to) holds exactly these click events, each once, page views included"
    );
    assert_eq!(
        clickstream(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
            .await
            .len(),
        11,
        "the whole clickstream: eleven events, each once"
    );
    assert_eq!(
        history.latest_click_day().await.expect("latest click day"),
        Some(at_to.occurred_utc().date_naive()),
        "the last day is that of the latest event's partition (an earlier day written later \
         does not count)"
    );

    // Arrange: order lines by store-local day (UTC+7), as the daily job writes them; one day is
    // rewritten, which replaces its lines.
    let day = |d: u32| PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, d).expect("date"));
    let replaced = line(3, 1, 3, 3, utc("2026-11-24T01:00:00Z"));
    let early = line(4, 1, 4, 4, utc("2026-11-24T02:00:00Z"));
    // 03:00 on the 25th in UTC+7, so in partition dt=2026-11-25, but on the 24th in UTC.
    let late_a = line(1, 1, 1, 1, utc("2026-11-24T20:00:00Z"));
    let late_b = line(1, 2, 1, 2, utc("2026-11-24T20:00:00Z"));
    let next_day = line(2, 1, 2, 5, utc("2026-11-25T05:00:00Z"));
    let after = line(5, 1, 5, 6, utc("2026-11-25T18:00:00Z"));
    write(
        lake,
        catalog,
        &items,
        &day(24),
        (WriteMode::Replace, "run-1"),
        TableRows::OrderItems(vec![replaced.clone()]),
    )
    .await;
    write(
        lake,
        catalog,
        &items,
        &day(24),
        (WriteMode::Replace, "run-2"),
        TableRows::OrderItems(vec![early.clone()]),
    )
    .await;
    write(
        lake,
        catalog,
        &items,
        &day(25),
        (WriteMode::Replace, "run-1"),
        TableRows::OrderItems(vec![late_a.clone(), late_b.clone(), next_day.clone()]),
    )
    .await;
    write(
        lake,
        catalog,
        &items,
        &day(26),
        (WriteMode::Replace, "run-1"),
        TableRows::OrderItems(vec![after.clone()]),
    )
    .await;

    // Act + Assert
    assert_eq!(
        purchases(
            history,
            utc("2026-11-24T00:00:00Z"),
            utc("2026-11-24T21:00:00Z")
        )
        .await,
        expected_purchases(&[&early, &late_a, &late_b]),
        "lines placed in the window, from the current version of each day, whatever their partition"
    );
    assert_eq!(
        purchases(
            history,
            utc("2026-11-24T20:00:00Z"),
            utc("2026-11-25T05:00:00Z")
        )
        .await,
        expected_purchases(&[&late_a, &late_b]),
        "the window is half-open: a line at `from` is in, a line at `to` is out"
    );
    assert_eq!(
        purchases(history, DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC).await,
        expected_purchases(&[&early, &late_a, &late_b, &next_day, &after]),
        "the whole history holds every current line and none of a replaced version"
    );
}
