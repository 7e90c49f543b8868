//! Compact records of past behaviour, what training and evaluation consume by the million, and
//! the rules every lake reader applies to produce them: which partitions a window reads
//! ([`Window::may_hold`]), which rows it keeps ([`interactions_in`], [`events_in`],
//! [`purchases_in`]), and deduplication by event id.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::event::{ClickEvent, EventType};
use crate::ids::{CustomerId, EventId, OrderId, ProductId};
use crate::lake::{PartitionKey, TableRows, tables};
use crate::order::OrderLine;
use crate::ports::LakeError;

/// One product interaction from the clickstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingEvent {
    /// Who.
    pub customer: CustomerId,
    /// The session, hashed.
    pub session: u64,
    /// Which product.
    pub product: ProductId,
    /// What they did.
    pub kind: EventType,
    /// When (event time).
    pub at: DateTime<Utc>,
}

impl TrainingEvent {
    /// The compact form of an event that names a product.
    #[must_use]
    pub fn from_event(e: &ClickEvent) -> Option<Self> {
        Some(Self {
            customer: e.user_id,
            session: session_hash(e.session_id.as_str()),
            product: e.product_id?,
            kind: e.event_type,
            at: e.occurred_utc(),
        })
    }
}

/// A stable 64-bit hash of a session id (FNV-1a), the same in every process.
#[must_use]
pub fn session_hash(session: &str) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    session.hash(&mut h);
    h.finish()
}

/// One purchased product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseRecord {
    /// Who.
    pub customer: CustomerId,
    /// The order (a basket: its lines were bought together).
    pub order: OrderId,
    /// Which product.
    pub product: ProductId,
    /// When the order was placed.
    pub at: DateTime<Utc>,
}

/// How far a store-local day may lie from the UTC date of the same name: no time zone is more
/// than 14 hours from UTC, so one day either side covers every store.
pub const STORE_DAY_MARGIN: Duration = Duration::days(1);

/// The margin a table's `dt` partitions need around a window: clickstream partitions are UTC
/// hours (none), the daily job's tables are store-local days ([`STORE_DAY_MARGIN`]).
#[must_use]
pub fn partition_margin(table: &str) -> Duration {
    if table == tables::CLICKSTREAM {
        Duration::zero()
    } else {
        STORE_DAY_MARGIN
    }
}

/// The half-open window `[from, to)` of a history read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant included.
    pub from: DateTime<Utc>,
    /// First instant excluded.
    pub to: DateTime<Utc>,
}

impl Window {
    /// `[from, to)`.
    #[must_use]
    pub const fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self { from, to }
    }

    /// True when `at` lies in the window.
    #[must_use]
    pub fn contains(self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }

    /// The `dt` bounds of the partitions that may hold instants of the window, each date widened
    /// by `margin`; `None` where the window is unbounded on that side.
    #[must_use]
    pub fn dt_bounds(self, margin: Duration) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let lo = self
            .from
            .checked_sub_signed(margin)
            .filter(|_| self.from > DateTime::<Utc>::MIN_UTC)
            .map(|t| t.date_naive());
        let hi = self
            .to
            .checked_add_signed(margin)
            .filter(|_| self.to < DateTime::<Utc>::MAX_UTC)
            .map(|t| t.date_naive());
        (lo, hi)
    }

    /// True when the partition may hold instants of the window: its UTC `hour`, or its whole
    /// `dt` widened by `margin`, overlaps it. A key that names no date is read, not guessed.
    #[must_use]
    pub fn may_hold(self, key: &PartitionKey, margin: Duration) -> bool {
        partition_span(key, margin).is_none_or(|(start, end)| start < self.to && end > self.from)
    }
}

/// The instants a partition covers: its UTC hour, or its whole date widened by `margin`.
fn partition_span(key: &PartitionKey, margin: Duration) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let get = |name: &str| {
        key.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let date = NaiveDate::parse_from_str(get("dt")?, "%Y-%m-%d").ok()?;
    if let Some(hour) = get("hour") {
        let h: u32 = hour.parse().ok()?;
        let start = date.and_time(NaiveTime::from_hms_opt(h, 0, 0)?).and_utc();
        return Some((start, start.checked_add_signed(Duration::hours(1))?));
    }
    let start = date.and_time(NaiveTime::MIN).and_utc();
    Some((
        start.checked_sub_signed(margin)?,
        start
            .checked_add_signed(Duration::days(1))?
            .checked_add_signed(margin)?,
    ))
}

/// The event ids a history read has already returned, kept per UTC hour of event time. Every
/// copy of an event (a retried write, an at-least-once delivery) carries the same event time,
/// so all copies lie in the same `dt`/`hour` partition; and the lake's readers go partition by
/// partition in time order. So the ids of hours before a chunk's earliest event are dropped: a
/// read holds about an hour of ids, not its window's.
///
/// Two events that share an id but not an event time (a client reusing ids) are both kept.
#[derive(Debug, Default)]
pub struct SeenIds {
    by_hour: BTreeMap<i64, HashSet<EventId>>,
    held: usize,
    peak: usize,
}

impl SeenIds {
    /// Nothing seen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the hours before the earliest event of `chunk`: later chunks hold none of them.
    fn advance<'a>(&mut self, chunk: impl IntoIterator<Item = &'a ClickEvent>) {
        let Some(first) = chunk.into_iter().map(|e| hour_of(e.occurred_utc())).min() else {
            return;
        };
        let kept = self.by_hour.split_off(&first);
        let dropped: usize = self.by_hour.values().map(HashSet::len).sum();
        self.held = self.held.saturating_sub(dropped);
        self.by_hour = kept;
    }

    /// True the first time `event`'s id is seen in its hour.
    fn first_time(&mut self, event: &ClickEvent) -> bool {
        let new = self
            .by_hour
            .entry(hour_of(event.occurred_utc()))
            .or_default()
            .insert(event.event_id);
        if new {
            self.held = self.held.saturating_add(1);
            self.peak = self.peak.max(self.held);
        }
        new
    }

    /// The ids held now.
    #[must_use]
    pub const fn held(&self) -> usize {
        self.held
    }

    /// The most ids held at once.
    #[must_use]
    pub const fn peak(&self) -> usize {
        self.peak
    }
}

/// The UTC hour an instant lies in, counted from the epoch.
fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// The product interactions among `events` that lie in the window (page views are browsing, not
/// interactions), each event id once: `seen` carries the ids already returned, across chunks, as
/// the lake may hold an event twice (a retried write, an at-least-once delivery).
#[must_use]
pub fn interactions_in(
    events: &[ClickEvent],
    window: Window,
    seen: &mut SeenIds,
) -> Vec<TrainingEvent> {
    seen.advance(events);
    events
        .iter()
        .filter(|e| e.event_type != EventType::PageView && window.contains(e.occurred_utc()))
        .filter_map(|e| {
            let t = TrainingEvent::from_event(e)?;
            seen.first_time(e).then_some(t)
        })
        .collect()
}

/// The click events among `events` with event time in the window, page views included, each
/// event id once: `seen` carries the ids already returned, across chunks. This is the lake's
/// contract when read: a retried write or an at-least-once delivery may store an event twice.
#[must_use]
pub fn events_in(events: Vec<ClickEvent>, window: Window, seen: &mut SeenIds) -> Vec<ClickEvent> {
    seen.advance(&events);
    events
        .into_iter()
        .filter(|e| window.contains(e.occurred_utc()) && seen.first_time(e))
        .collect()
}

/// The order lines placed in the window.
#[must_use]
pub fn purchases_in(lines: &[OrderLine], window: Window) -> Vec<PurchaseRecord> {
    lines
        .iter()
        .filter(|l| window.contains(l.ordered_at))
        .map(|l| PurchaseRecord {
            customer: l.customer_id,
            order: l.order_id,
            product: l.product_id,
            at: l.ordered_at,
        })
        .collect()
}

/// A lake reader's stream of `clickstream` rows (one item per file) as the history's
/// interactions: kept by [`interactions_in`], each event id once across the whole stream, empty
/// chunks dropped.
pub fn interactions_from(
    rows: BoxStream<'static, Result<TableRows, LakeError>>,
    window: Window,
) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>> {
    rows.scan(SeenIds::new(), move |seen, rows| {
        let chunk = rows.map(|rows| match rows {
            TableRows::Clickstream(events) => interactions_in(&events, window, seen),
            _ => Vec::new(),
        });
        futures::future::ready(Some(chunk))
    })
    .try_filter(|chunk| futures::future::ready(!chunk.is_empty()))
    .boxed()
}

/// A lake reader's stream of `clickstream` rows (one item per file) as whole click events, kept
/// by [`events_in`], each event id once across the whole stream, empty chunks dropped.
pub fn clickstream_from(
    rows: BoxStream<'static, Result<TableRows, LakeError>>,
    window: Window,
) -> BoxStream<'static, Result<Vec<ClickEvent>, LakeError>> {
    rows.scan(SeenIds::new(), move |seen, rows| {
        let chunk = rows.map(|rows| match rows {
            TableRows::Clickstream(events) => events_in(events, window, seen),
            _ => Vec::new(),
        });
        futures::future::ready(Some(chunk))
    })
    .try_filter(|chunk| futures::future::ready(!chunk.is_empty()))
    .boxed()
}

/// A lake reader's stream of `order_items` rows (one item per file) as the history's purchases,
/// kept by [`purchases_in`], empty chunks dropped.
pub fn purchases_from(
    rows: BoxStream<'static, Result<TableRows, LakeError>>,
    window: Window,
) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>> {
    rows.map_ok(move |rows| match rows {
        TableRows::OrderItems(lines) => purchases_in(&lines, window),
        _ => Vec::new(),
    })
    .try_filter(|chunk| futures::future::ready(!chunk.is_empty()))
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hour(dt: &str, h: &str) -> PartitionKey {
        PartitionKey(vec![
            ("dt".to_owned(), dt.to_owned()),
            ("hour".to_owned(), h.to_owned()),
        ])
    }

    fn day(dt: &str) -> PartitionKey {
        PartitionKey(vec![("dt".to_owned(), dt.to_owned())])
    }

    #[test]
    fn hours_are_kept_only_when_they_overlap_the_half_open_window() {
        let w = Window::new(utc("2026-11-25T10:30:00Z"), utc("2026-11-25T12:00:00Z"));
        let z = partition_margin(tables::CLICKSTREAM);
        assert!(!w.may_hold(&hour("2026-11-25", "09"), z));
        assert!(w.may_hold(&hour("2026-11-25", "10"), z));
        assert!(w.may_hold(&hour("2026-11-25", "11"), z));
        assert!(!w.may_hold(&hour("2026-11-25", "12"), z), "to is excluded");
        assert!(!w.may_hold(&hour("2026-11-24", "11"), z));
        assert!(
            w.may_hold(&hour("not-a-date", "11"), z),
            "a key that names no date is read, not guessed"
        );
    }

    #[test]
    fn store_days_are_kept_a_day_either_side_of_their_utc_date() {
        // A store in UTC+7: its 25 Nov starts at 17:00 UTC on the 24th.
        let w = Window::new(utc("2026-11-24T18:00:00Z"), utc("2026-11-24T20:00:00Z"));
        let m = partition_margin(tables::ORDER_ITEMS);
        assert!(w.may_hold(&day("2026-11-25"), m));
        assert!(w.may_hold(&day("2026-11-23"), m));
        assert!(!w.may_hold(&day("2026-11-27"), m));
        assert!(!w.may_hold(&day("2026-11-21"), m));
    }

    #[test]
    fn dt_bounds_are_open_where_the_window_is_unbounded() {
        let w = Window::new(utc("2026-11-25T00:30:00Z"), utc("2026-11-26T00:00:00Z"));
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(
            w.dt_bounds(Duration::zero()),
            (d("2026-11-25"), d("2026-11-26"))
        );
        let all = Window::new(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(all.dt_bounds(STORE_DAY_MARGIN), (None, None));
    }

    #[test]
    fn interactions_skip_page_views_and_the_outside_and_keep_each_event_once() {
        let at = utc("2026-11-25T10:00:00Z");
        let ev = |id: u128, kind: EventType, product: Option<u32>, minutes: i64| ClickEvent {
            event_id: EventId::from_uuid(uuid::Uuid::from_u128(id)),
            event_type: kind,
            user_id: CustomerId::new(1).unwrap(),
            session_id: crate::ids::SessionId::parse("s").unwrap(),
            product_id: product.map(|p| ProductId::new(p).unwrap()),
            occurred_at: (at + Duration::minutes(minutes)).fixed_offset(),
            device: crate::event::Device::Mobile,
            schema_version: 1,
        };
        let events = [
            ev(1, EventType::ProductView, Some(5), 0),
            ev(1, EventType::ProductView, Some(5), 0),
            ev(2, EventType::PageView, Some(5), 1),
            ev(3, EventType::Click, Some(6), 90),
            ev(4, EventType::AddToCart, Some(7), -1),
            ev(5, EventType::AddToCart, Some(8), 59),
        ];
        let w = Window::new(at, at + Duration::hours(1));
        let mut seen = SeenIds::new();
        let got: Vec<u32> = interactions_in(&events, w, &mut seen)
            .iter()
            .map(|t| t.product.get())
            .collect();
        assert_eq!(got, [5, 8]);
        assert!(
            interactions_in(&events[..1], w, &mut seen).is_empty(),
            "an id seen in an earlier chunk"
        );
    }
    #[test]
    fn a_read_holds_the_ids_of_about_an_hour_and_still_drops_every_copy() {
        let start = utc("2026-11-25T00:00:00Z");
        let ev = |hour: i64, n: u128| ClickEvent {
            event_id: EventId::from_uuid(uuid::Uuid::from_u128(
                u128::try_from(hour).unwrap() * 1000 + n,
            )),
            event_type: EventType::Click,
            user_id: CustomerId::new(1).unwrap(),
            session_id: crate::ids::SessionId::parse("s").unwrap(),
            product_id: Some(ProductId::new(5).unwrap()),
            occurred_at: (start
                + Duration::hours(hour)
                + Duration::seconds(i64::try_from(n).unwrap()))
            .fixed_offset(),
            device: crate::event::Device::Mobile,
            schema_version: 1,
        };
        let w = Window::new(start, start + Duration::days(3));
        let mut seen = SeenIds::new();
        let mut kept = 0;
        for hour in 0..48 {
            // Two files of the hour, the second repeating half the first (a redelivery), and
            // each file holding a copy of its own first event.
            let first: Vec<ClickEvent> = (0..100).chain([0]).map(|n| ev(hour, n)).collect();
            let second: Vec<ClickEvent> = (50..150).map(|n| ev(hour, n)).collect();
            kept += interactions_in(&first, w, &mut seen).len();
            kept += interactions_in(&second, w, &mut seen).len();
        }
        assert_eq!(kept, 48 * 150, "every event once");
        assert!(
            seen.peak() <= 150,
            "ids of one hour at a time, not the read's {}: {}",
            48 * 150,
            seen.peak()
        );
    }
}
