//! Cleaning one extracted order: exact duplicate lines are dropped (and counted), rows that break a
//! rule go to quarantine with the rule and a detail, and the rest become clean [`Order`]s and
//! [`OrderLine`]s.
//!
//! An order is published whole or not at all. When a line breaks a rule, the line is quarantined
//! with its rule, and the order and its other lines are held back with
//! [`QuarantineRule::RejectedLine`]. When the order row itself breaks a rule, its lines are held
//! back with the order's rule. A row that breaks several rules is filed under the first one in
//! the order below, and its detail names them all:
//!
//! - order: missing key, unknown customer, unknown status, timestamp outside the day, total
//!   mismatch;
//! - line: missing key, unknown product, non-positive quantity, negative price.
//!
//! Two lines with the same `line_no` but different content are not duplicates: both are kept, as
//! the store recorded them. An order with no lines is clean when its total is zero.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::index::IdIndex;
use crate::calendar::StoreDay;
use crate::customer::Customer;
use crate::ids::{CustomerId, OrderId};
use crate::lake::tables;
use crate::money::Cents;
use crate::order::{Order, OrderItemRow, OrderLine, OrderRow, OrderStatus, StoredOrder};
use crate::product::Product;
use crate::sales::{QuarantineRule, QuarantinedRow};

use super::RowCounts;

/// Orders with more lines than this look for duplicates with a hash set instead of a scan.
const SCAN_LIMIT: usize = 32;

/// The products and customers an extraction is checked against, with fast lookups by stored id.
#[derive(Debug)]
pub(crate) struct ReferenceData {
    products: Vec<Product>,
    customers: Vec<Customer>,
    product_index: IdIndex,
    customer_index: IdIndex,
    /// Per customer (by position), the position of their city in `cities`.
    customer_city: Vec<u32>,
    cities: Vec<String>,
}

impl ReferenceData {
    /// Indexes the snapshots.
    pub(crate) fn new(products: Vec<Product>, customers: Vec<Customer>) -> Self {
        let product_ids: Vec<i64> = products.iter().map(|p| i64::from(p.id.get())).collect();
        let customer_ids: Vec<i64> = customers.iter().map(|c| c.id.as_i64()).collect();
        let mut cities: Vec<String> = Vec::new();
        let mut city_pos: HashMap<&str, u32> = HashMap::new();
        let mut customer_city = Vec::with_capacity(customers.len());
        for c in &customers {
            let pos = *city_pos.entry(c.city.as_str()).or_insert_with(|| {
                cities.push(c.city.clone());
                u32::try_from(cities.len().saturating_sub(1)).unwrap_or(u32::MAX)
            });
            customer_city.push(pos);
        }
        Self {
            product_index: IdIndex::new(&product_ids),
            customer_index: IdIndex::new(&customer_ids),
            products,
            customers,
            customer_city,
            cities,
        }
    }

    /// The position of the product with stored id `id`.
    pub(crate) fn product_pos(&self, id: i64) -> Option<u32> {
        self.product_index.get(id)
    }

    /// The product at `pos`.
    pub(crate) fn product(&self, pos: u32) -> Option<&Product> {
        self.products.get(pos as usize)
    }

    /// The position of the customer with stored id `id`.
    pub(crate) fn customer_pos(&self, id: i64) -> Option<u32> {
        self.customer_index.get(id)
    }

    /// The customer at `pos`.
    pub(crate) fn customer(&self, pos: u32) -> Option<&Customer> {
        self.customers.get(pos as usize)
    }

    /// The position of the city of the customer at `pos`.
    pub(crate) fn city_of(&self, customer_pos: u32) -> Option<u32> {
        self.customer_city.get(customer_pos as usize).copied()
    }

    /// Number of products.
    pub(crate) fn product_count(&self) -> usize {
        self.products.len()
    }

    /// Number of distinct cities.
    pub(crate) fn city_count(&self) -> usize {
        self.cities.len()
    }

    /// The city at `pos`.
    pub(crate) fn city(&self, pos: u32) -> &str {
        self.cities.get(pos as usize).map_or("", String::as_str)
    }

    /// Gives the snapshots back, for the lake's `products` and `customers` partitions.
    pub(crate) fn into_snapshots(self) -> (Vec<Product>, Vec<Customer>) {
        (self.products, self.customers)
    }
}

/// What cleaning a chunk produced: the rows for the lake, in extraction order.
#[derive(Debug, Default)]
pub(crate) struct CleanBatch {
    /// Clean orders.
    pub(crate) orders: Vec<Order>,
    /// Clean lines.
    pub(crate) lines: Vec<OrderLine>,
    /// Refused order rows.
    pub(crate) quarantined_orders: Vec<QuarantinedRow>,
    /// Refused line rows.
    pub(crate) quarantined_lines: Vec<QuarantinedRow>,
}

/// Running counts of the cleaning, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Rows seen.
    pub(crate) extracted: RowCounts,
    /// Exact duplicate lines dropped.
    pub(crate) duplicates: u64,
    /// Rows refused, by rule.
    pub(crate) quarantined: BTreeMap<QuarantineRule, RowCounts>,
}

/// A broken rule with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    rule: QuarantineRule,
    detail: String,
}

fn violation(rule: QuarantineRule, detail: String) -> Violation {
    Violation { rule, detail }
}

/// An order row that passed its own checks.
#[derive(Debug, Clone, Copy)]
struct GoodOrder {
    order_id: OrderId,
    customer_id: CustomerId,
    status: OrderStatus,
}

/// A line that passed its own checks.
#[derive(Debug, Clone, Copy)]
struct GoodLine {
    line_no: u32,
    product: crate::ids::ProductId,
    quantity: u32,
    unit_price: i64,
    line_total: i64,
}

/// The outcome of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Published: the order is `batch.orders.last()` and its lines the last `lines` of
    /// `batch.lines`.
    Accepted {
        /// Number of its lines.
        lines: usize,
    },
    /// Held back whole.
    Quarantined,
}

/// Checks orders of one store day against the rules.
pub(crate) struct Cleaner<'a> {
    day: StoreDay,
    refs: &'a ReferenceData,
    /// Scratch space reused across orders: the kept (non-duplicate) lines and their checks.
    kept: Vec<usize>,
    checks: Vec<Result<GoodLine, Vec<Violation>>>,
}

fn json<T: Serialize>(row: &T) -> String {
    serde_json::to_string(row).unwrap_or_else(|e| format!("{{\"unserialisable\":\"{e}\"}}"))
}

fn order_key(order_id: i64) -> String {
    format!("order {order_id}")
}

fn line_key(line: &OrderItemRow) -> String {
    format!("order {} line {}", line.order_id, line.line_no)
}

/// Joins several violations into one detail, the first (the filed rule) first.
fn describe(vs: &[Violation]) -> String {
    match vs {
        [one] => one.detail.clone(),
        _ => vs
            .iter()
            .map(|v| format!("{}: {}", v.rule, v.detail))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

impl<'a> Cleaner<'a> {
    /// A cleaner for `day` against `refs`.
    pub(crate) fn new(day: StoreDay, refs: &'a ReferenceData) -> Self {
        Self {
            day,
            refs,
            kept: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// Cleans one order into `batch`, counting into `tally`. Takes the order by value so that a
    /// published order reuses its strings.
    pub(crate) fn clean(
        &mut self,
        stored: StoredOrder,
        batch: &mut CleanBatch,
        tally: &mut Tally,
    ) -> Verdict {
        let row = &stored.order;
        // Row counts: saturating, as no day has 2^64 rows.
        tally.extracted.orders = tally.extracted.orders.saturating_add(1);
        tally.extracted.lines = tally
            .extracted
            .lines
            .saturating_add(stored.items.len() as u64);

        self.keep_distinct_lines(&stored.items);
        let dropped = stored.items.len().saturating_sub(self.kept.len()) as u64;
        tally.duplicates = tally.duplicates.saturating_add(dropped);
        // `kept` holds positions in `stored.items` (see `keep_distinct_lines`), so the `get`s
        // below always succeed and `checks` lines up with `kept`.

        self.checks.clear();
        let mut sum: Option<i64> = Some(0);
        for line in self.kept.iter().filter_map(|&i| stored.items.get(i)) {
            sum = sum.and_then(|s| {
                i64::from(line.quantity)
                    .checked_mul(line.unit_price_cents)
                    .and_then(|t| s.checked_add(t))
            });
            let check = self.check_line(line);
            self.checks.push(check);
        }
        let order_check = self.check_order(row, sum);

        let first_bad_line = self
            .kept
            .iter()
            .zip(&self.checks)
            .find_map(|(&i, c)| Some((stored.items.get(i)?, c.as_ref().err()?)));
        let order_violations = match (order_check, first_bad_line) {
            (Ok(good), None) => return self.accept(stored.order, good, batch),
            (Ok(_), Some(_)) => Vec::new(),
            (Err(vs), _) => vs,
        };

        // Held back whole: the order row, then every kept line.
        let (order_rule, order_detail) = match (order_violations.first(), first_bad_line) {
            (Some(v), _) => (v.rule, describe(&order_violations)),
            (None, Some((line, vs))) => (
                QuarantineRule::RejectedLine,
                match vs.first() {
                    Some(v) => format!(
                        "held back: line {} broke {} ({})",
                        line.line_no, v.rule, v.detail
                    ),
                    None => format!("held back: line {}", line.line_no),
                },
            ),
            // Not reached: a clean order with clean lines returned above.
            (None, None) => (QuarantineRule::RejectedLine, String::from("held back")),
        };
        batch.quarantined_orders.push(QuarantinedRow {
            source_table: tables::ORDERS.to_owned(),
            rule: order_rule,
            record_key: order_key(row.order_id),
            detail: order_detail,
            record: json(row),
        });
        let counts = tally.quarantined.entry(order_rule).or_default();
        counts.orders = counts.orders.saturating_add(1);
        for (&i, check) in self.kept.iter().zip(&self.checks) {
            let Some(line) = stored.items.get(i) else {
                continue;
            };
            let (rule, detail) = match check {
                Err(vs) => (vs.first().map_or(order_rule, |v| v.rule), describe(vs)),
                Ok(_) => (
                    order_rule,
                    format!("held back with order {} ({order_rule})", row.order_id),
                ),
            };
            batch.quarantined_lines.push(QuarantinedRow {
                source_table: tables::ORDER_ITEMS.to_owned(),
                rule,
                record_key: line_key(line),
                detail,
                record: json(line),
            });
            let counts = tally.quarantined.entry(rule).or_default();
            counts.lines = counts.lines.saturating_add(1);
        }
        Verdict::Quarantined
    }

    /// Fills `self.kept` with the positions of the lines that are not exact copies of an earlier
    /// line of the order.
    fn keep_distinct_lines(&mut self, items: &[OrderItemRow]) {
        self.kept.clear();
        if items.len() <= SCAN_LIMIT {
            for (i, line) in items.iter().enumerate() {
                if !self.kept.iter().any(|&k| items.get(k) == Some(line)) {
                    self.kept.push(i);
                }
            }
        } else {
            let mut seen: HashSet<&OrderItemRow> = HashSet::with_capacity(items.len());
            for (i, line) in items.iter().enumerate() {
                if seen.insert(line) {
                    self.kept.push(i);
                }
            }
        }
    }

    fn check_line(&self, line: &OrderItemRow) -> Result<GoodLine, Vec<Violation>> {
        let mut vs = Vec::new();
        let line_no = u32::try_from(line.line_no).ok().filter(|&n| n >= 1);
        if line_no.is_none() {
            vs.push(violation(
                QuarantineRule::MissingKey,
                format!(
                    "line_no {} is not a position (they start at 1)",
                    line.line_no
                ),
            ));
        }
        let product = match line.product_id {
            None => {
                vs.push(violation(
                    QuarantineRule::MissingKey,
                    "product_id is null".to_owned(),
                ));
                None
            }
            Some(id) => {
                let found = self.refs.product_pos(id).and_then(|p| self.refs.product(p));
                if found.is_none() {
                    vs.push(violation(
                        QuarantineRule::UnknownProduct,
                        format!("product {id} is not in the catalog"),
                    ));
                }
                found.map(|p| p.id)
            }
        };
        let quantity = u32::try_from(line.quantity).ok().filter(|&q| q >= 1);
        if quantity.is_none() {
            vs.push(violation(
                QuarantineRule::NonPositiveQuantity,
                format!("quantity {} is not positive", line.quantity),
            ));
        }
        if line.unit_price_cents < 0 {
            vs.push(violation(
                QuarantineRule::NegativePrice,
                format!("unit price {} is negative", Cents(line.unit_price_cents)),
            ));
        }
        if !Cents(line.unit_price_cents).is_storable() {
            vs.push(violation(
                QuarantineRule::AmountOutOfRange,
                format!(
                    "unit price {} is beyond decimal(18,2)",
                    Cents(line.unit_price_cents)
                ),
            ));
        }
        let line_total = quantity.and_then(|q| {
            Cents(line.unit_price_cents)
                .checked_mul(i64::from(q))
                .map(Cents::get)
        });
        if vs.is_empty() && quantity.is_some() && line_total.is_none() {
            vs.push(violation(
                QuarantineRule::AmountOutOfRange,
                format!(
                    "line total {} x {} is beyond decimal(18,2)",
                    line.quantity,
                    Cents(line.unit_price_cents)
                ),
            ));
        }
        match (line_no, product, quantity, line_total) {
            (Some(line_no), Some(product), Some(quantity), Some(line_total)) if vs.is_empty() => {
                Ok(GoodLine {
                    line_no,
                    product,
                    quantity,
                    unit_price: line.unit_price_cents,
                    line_total,
                })
            }
            _ => {
                if vs.is_empty() {
                    vs.push(violation(
                        QuarantineRule::TotalMismatch,
                        "the line total overflows".to_owned(),
                    ));
                }
                Err(vs)
            }
        }
    }

    fn check_order(&self, row: &OrderRow, sum: Option<i64>) -> Result<GoodOrder, Vec<Violation>> {
        let mut vs = Vec::new();
        let order_id = OrderId::from_i64(row.order_id).ok();
        if order_id.is_none() {
            vs.push(violation(
                QuarantineRule::MissingKey,
                format!("order_id {} is not a key", row.order_id),
            ));
        }
        let customer_id = match row.customer_id {
            None => {
                vs.push(violation(
                    QuarantineRule::MissingKey,
                    "customer_id is null".to_owned(),
                ));
                None
            }
            Some(id) => {
                let found = self
                    .refs
                    .customer_pos(id)
                    .and_then(|p| self.refs.customer(p));
                if found.is_none() {
                    vs.push(violation(
                        QuarantineRule::UnknownCustomer,
                        format!("customer {id} is not registered"),
                    ));
                }
                found.map(|c| c.id)
            }
        };
        let status = row.status.parse::<OrderStatus>().ok();
        if status.is_none() {
            vs.push(violation(
                QuarantineRule::UnknownStatus,
                format!("status {:?} is not one the store uses", row.status),
            ));
        }
        if !self.day.contains(row.ordered_at) {
            vs.push(violation(
                QuarantineRule::TimestampOutsideDay,
                format!(
                    "ordered_at {} is outside {} [{}, {}) (recorded_at {})",
                    row.ordered_at.to_rfc3339(),
                    self.day.date,
                    self.day.start.to_rfc3339(),
                    self.day.end.to_rfc3339(),
                    row.recorded_at.to_rfc3339(),
                ),
            ));
        }
        if !Cents(row.total_cents).is_storable() {
            vs.push(violation(
                QuarantineRule::AmountOutOfRange,
                format!("total {} is beyond decimal(18,2)", Cents(row.total_cents)),
            ));
        }
        match sum {
            Some(s) if s == row.total_cents => {}
            Some(s) => vs.push(violation(
                QuarantineRule::TotalMismatch,
                format!(
                    "total {} differs from the sum of its lines {}",
                    Cents(row.total_cents),
                    Cents(s)
                ),
            )),
            None => vs.push(violation(
                QuarantineRule::TotalMismatch,
                "the sum of its lines overflows".to_owned(),
            )),
        }
        match (order_id, customer_id, status) {
            (Some(order_id), Some(customer_id), Some(status)) if vs.is_empty() => Ok(GoodOrder {
                order_id,
                customer_id,
                status,
            }),
            _ => Err(vs),
        }
    }

    /// Takes back the order just accepted (the last of `batch.orders`, with its last `lines`
    /// lines) and quarantines it whole under `rule`: for a check that needs the day's state
    /// (an aggregate it would overflow).
    pub(crate) fn hold_back_accepted(
        batch: &mut CleanBatch,
        tally: &mut Tally,
        lines: usize,
        rule: QuarantineRule,
        detail: &str,
    ) {
        let Some(order) = batch.orders.pop() else {
            return;
        };
        let keep = batch.lines.len().saturating_sub(lines);
        let held: Vec<OrderLine> = batch.lines.split_off(keep);
        let counts = tally.quarantined.entry(rule).or_default();
        counts.orders = counts.orders.saturating_add(1);
        counts.lines = counts
            .lines
            .saturating_add(u64::try_from(held.len()).unwrap_or(u64::MAX));
        batch.quarantined_orders.push(QuarantinedRow {
            source_table: tables::ORDERS.to_owned(),
            rule,
            record_key: format!("order {}", order.order_id),
            detail: detail.to_owned(),
            record: json(&order),
        });
        for line in held {
            batch.quarantined_lines.push(QuarantinedRow {
                source_table: tables::ORDER_ITEMS.to_owned(),
                rule,
                record_key: format!("order {} line {}", line.order_id, line.line_no),
                detail: format!("held back with order {} ({rule})", line.order_id),
                record: json(&line),
            });
        }
    }

    /// Publishes an order whose every check passed.
    fn accept(&self, row: OrderRow, good: GoodOrder, batch: &mut CleanBatch) -> Verdict {
        let GoodOrder {
            order_id,
            customer_id,
            status,
        } = good;
        let mut units = 0i64;
        for line in self.checks.iter().flatten() {
            units = units.saturating_add(i64::from(line.quantity));
            batch.lines.push(OrderLine {
                order_id,
                line_no: line.line_no,
                customer_id,
                product_id: line.product,
                quantity: line.quantity,
                unit_price: Cents(line.unit_price),
                line_total: Cents(line.line_total),
                ordered_at: row.ordered_at,
            });
        }
        batch.orders.push(Order {
            order_id,
            customer_id,
            ordered_at: row.ordered_at,
            status,
            item_count: u32::try_from(self.checks.len()).unwrap_or(u32::MAX),
            units,
            total: Cents(row.total_cents),
            currency: row.currency,
        });
        Verdict::Accepted {
            lines: self.checks.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, NaiveDate, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::calendar::parse_time_zone;
    use crate::ids::ProductId;

    fn day() -> StoreDay {
        let tz = parse_time_zone("Asia/Ho_Chi_Minh").unwrap();
        StoreDay::new(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(), tz)
    }

    fn product(id: u32) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            gender: "Women".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: "Tshirts".into(),
            base_colour: Some("Red".into()),
            season: None,
            year: None,
            usage: None,
            product_display_name: format!("P{id}"),
            price: Some(Cents(1000)),
        }
    }

    fn customer(id: u64) -> Customer {
        Customer {
            id: CustomerId::new(id).unwrap(),
            name: format!("C{id}"),
            email: format!("c{id}@example.com"),
            city: if id.is_multiple_of(2) {
                "Hanoi"
            } else {
                "Da Nang"
            }
            .into(),
            country: "Vietnam".into(),
            segment: "Women".into(),
            signed_up_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn refs() -> ReferenceData {
        ReferenceData::new(
            (1..=5).map(product).collect(),
            (1..=4).map(customer).collect(),
        )
    }

    fn order(id: i64, lines: &[(i64, i32, i64)]) -> StoredOrder {
        let at = day().start + Duration::hours(3);
        let items: Vec<OrderItemRow> = lines
            .iter()
            .zip(1..)
            .map(|(&(p, q, c), n)| OrderItemRow {
                order_id: id,
                line_no: n,
                product_id: Some(p),
                quantity: q,
                unit_price_cents: c,
            })
            .collect();
        StoredOrder {
            order: OrderRow {
                order_id: id,
                customer_id: Some(1),
                ordered_at: at,
                recorded_at: at,
                status: "paid".into(),
                total_cents: items
                    .iter()
                    .map(|i| i64::from(i.quantity) * i.unit_price_cents)
                    .sum(),
                currency: "USD".into(),
            },
            items,
        }
    }

    fn run(orders: &[StoredOrder]) -> (CleanBatch, Tally) {
        let refs = refs();
        let mut cleaner = Cleaner::new(day(), &refs);
        let (mut batch, mut tally) = (CleanBatch::default(), Tally::default());
        for o in orders {
            cleaner.clean(o.clone(), &mut batch, &mut tally);
        }
        (batch, tally)
    }

    /// Breaks one rule in a row.
    type Breaker<T> = Box<dyn Fn(&mut T)>;

    fn rules(rows: &[QuarantinedRow]) -> Vec<(String, QuarantineRule)> {
        rows.iter()
            .map(|r| (r.record_key.clone(), r.rule))
            .collect()
    }

    #[test]
    fn a_clean_order_is_published_with_its_lines_and_totals() {
        // Arrange
        let o = order(7, &[(1, 2, 500), (3, 1, 1250)]);

        // Act
        let (batch, tally) = run(&[o]);

        // Assert
        assert_eq!(batch.orders.len(), 1);
        let published = &batch.orders[0];
        assert_eq!(published.total, Cents(2250));
        assert_eq!(published.units, 3);
        assert_eq!(published.item_count, 2);
        assert_eq!(published.status, OrderStatus::Paid);
        assert_eq!(batch.lines.len(), 2);
        assert_eq!(batch.lines[0].line_total, Cents(1000));
        assert_eq!(batch.lines[1].line_no, 2);
        assert!(batch.quarantined_orders.is_empty() && batch.quarantined_lines.is_empty());
        assert_eq!(
            tally.extracted,
            RowCounts {
                orders: 1,
                lines: 2
            }
        );
    }

    #[test]
    fn exact_duplicate_lines_are_dropped_and_counted_not_quarantined() {
        // Arrange: line 2 stored twice; the total counts it once.
        let mut o = order(7, &[(1, 1, 500), (2, 1, 700)]);
        o.items.push(o.items[1].clone());

        // Act
        let (batch, tally) = run(&[o]);

        // Assert
        assert_eq!(tally.duplicates, 1);
        assert_eq!(batch.lines.len(), 2);
        assert_eq!(batch.orders[0].item_count, 2);
        assert!(batch.quarantined_lines.is_empty());
    }

    #[test]
    fn lines_with_the_same_number_but_other_content_are_not_duplicates() {
        let mut o = order(7, &[(1, 1, 500), (2, 1, 700)]);
        o.items[1].line_no = 1;
        let (batch, tally) = run(&[o]);
        assert_eq!(tally.duplicates, 0);
        assert_eq!(batch.lines.len(), 2);
    }

    #[test]
    fn a_bad_line_holds_back_its_order_and_sibling_lines_as_rejected_line() {
        // Arrange: product 99 is not in the catalog.
        let o = order(7, &[(1, 1, 500), (99, 1, 700), (2, 1, 100)]);

        // Act
        let (batch, tally) = run(&[o]);

        // Assert
        assert!(batch.orders.is_empty() && batch.lines.is_empty());
        assert_eq!(
            rules(&batch.quarantined_orders),
            vec![("order 7".to_owned(), QuarantineRule::RejectedLine)]
        );
        assert_eq!(
            rules(&batch.quarantined_lines),
            vec![
                ("order 7 line 1".to_owned(), QuarantineRule::RejectedLine),
                ("order 7 line 2".to_owned(), QuarantineRule::UnknownProduct),
                ("order 7 line 3".to_owned(), QuarantineRule::RejectedLine),
            ]
        );
        assert!(batch.quarantined_orders[0].detail.contains("line 2"));
        assert!(batch.quarantined_lines[1].detail.contains("99"));
        assert_eq!(
            tally.quarantined[&QuarantineRule::RejectedLine],
            RowCounts {
                orders: 1,
                lines: 2
            }
        );
        assert_eq!(
            tally.quarantined[&QuarantineRule::UnknownProduct],
            RowCounts {
                orders: 0,
                lines: 1
            }
        );
        let record: OrderItemRow =
            serde_json::from_str(&batch.quarantined_lines[1].record).unwrap();
        assert_eq!(
            record.product_id,
            Some(99),
            "the record is the row as extracted"
        );
    }

    #[test]
    fn every_line_rule_is_detected() {
        let cases: Vec<(Breaker<OrderItemRow>, QuarantineRule)> = vec![
            (
                Box::new(|l| l.product_id = None),
                QuarantineRule::MissingKey,
            ),
            (Box::new(|l| l.line_no = 0), QuarantineRule::MissingKey),
            (
                Box::new(|l| l.product_id = Some(42)),
                QuarantineRule::UnknownProduct,
            ),
            (
                Box::new(|l| l.product_id = Some(-1)),
                QuarantineRule::UnknownProduct,
            ),
            (
                Box::new(|l| l.quantity = 0),
                QuarantineRule::NonPositiveQuantity,
            ),
            (
                Box::new(|l| l.quantity = -2),
                QuarantineRule::NonPositiveQuantity,
            ),
            (
                Box::new(|l| l.unit_price_cents = -1),
                QuarantineRule::NegativePrice,
            ),
        ];
        for (break_it, rule) in cases {
            let mut o = order(7, &[(1, 1, 500)]);
            break_it(&mut o.items[0]);
            o.order.total_cents = i64::from(o.items[0].quantity) * o.items[0].unit_price_cents;
            let (batch, _) = run(&[o]);
            assert_eq!(batch.quarantined_lines[0].rule, rule);
            assert_eq!(
                batch.quarantined_orders[0].rule,
                QuarantineRule::RejectedLine
            );
        }
    }

    #[test]
    fn every_order_rule_is_detected_and_its_lines_follow_with_its_rule() {
        let d = day();
        let cases: Vec<(Breaker<OrderRow>, QuarantineRule)> = vec![
            (
                Box::new(|o| o.customer_id = None),
                QuarantineRule::MissingKey,
            ),
            (
                Box::new(|o| o.customer_id = Some(400)),
                QuarantineRule::UnknownCustomer,
            ),
            (
                Box::new(|o| o.status = "on_hold".into()),
                QuarantineRule::UnknownStatus,
            ),
            (
                Box::new(|o| o.total_cents += 1),
                QuarantineRule::TotalMismatch,
            ),
            (
                Box::new(move |o| o.ordered_at = d.start - Duration::seconds(1)),
                QuarantineRule::TimestampOutsideDay,
            ),
            (
                Box::new(move |o| o.ordered_at = d.end),
                QuarantineRule::TimestampOutsideDay,
            ),
        ];
        for (break_it, rule) in cases {
            let mut o = order(7, &[(1, 1, 500), (2, 1, 300)]);
            break_it(&mut o.order);
            let (batch, tally) = run(&[o]);
            assert!(batch.orders.is_empty());
            assert_eq!(batch.quarantined_orders[0].rule, rule);
            assert!(batch.quarantined_lines.iter().all(|l| l.rule == rule));
            assert_eq!(
                tally.quarantined[&rule],
                RowCounts {
                    orders: 1,
                    lines: 2
                }
            );
        }
    }

    #[test]
    fn the_first_rule_is_filed_and_the_detail_names_every_one() {
        let mut o = order(7, &[(1, 1, 500)]);
        o.order.customer_id = None;
        o.order.status = "lost".into();
        let (batch, _) = run(&[o]);
        let q = &batch.quarantined_orders[0];
        assert_eq!(q.rule, QuarantineRule::MissingKey);
        assert!(q.detail.contains("missing_key") && q.detail.contains("unknown_status"));
    }

    #[test]
    fn the_first_and_last_instants_of_the_day_are_inside_it() {
        let d = day();
        let mut first = order(1, &[(1, 1, 500)]);
        first.order.ordered_at = d.start;
        let mut last = order(2, &[(1, 1, 500)]);
        last.order.ordered_at = d.end - Duration::microseconds(1);
        let (batch, _) = run(&[first, last]);
        assert_eq!(batch.orders.len(), 2);
    }

    #[test]
    fn an_order_without_lines_is_clean_only_with_a_zero_total() {
        let mut empty = order(1, &[]);
        let mut charged = order(2, &[]);
        empty.order.total_cents = 0;
        charged.order.total_cents = 100;
        let (batch, _) = run(&[empty, charged]);
        assert_eq!(batch.orders.len(), 1);
        assert_eq!(
            batch.quarantined_orders[0].rule,
            QuarantineRule::TotalMismatch
        );
    }

    #[test]
    fn duplicates_are_found_in_orders_too_long_to_scan() {
        let lines: Vec<(i64, i32, i64)> = (0..40).map(|i| (1 + i % 5, 1, 100 + i)).collect();
        let mut o = order(7, &lines);
        let copies: Vec<OrderItemRow> = o.items[..5].to_vec();
        o.items.extend(copies);
        let (batch, tally) = run(&[o]);
        assert_eq!(tally.duplicates, 5);
        assert_eq!(batch.lines.len(), 40);
    }

    fn arb_line() -> impl Strategy<Value = (Option<i64>, i32, i64, i32)> {
        (
            prop::option::weighted(0.9, -1i64..8),
            -1i32..4,
            prop_oneof![
                8 => -50i64..2_000,
                1 => (i64::MAX / 4)..=i64::MAX,
                1 => i64::MIN..=(i64::MIN / 4),
            ],
            0i32..4,
        )
    }

    prop_compose! {
        fn arb_order(id: i64)(
            customer in prop::option::weighted(0.9, 0i64..6),
            status in prop::sample::select(vec!["paid", "shipped", "cancelled", "on_hold"]),
            offset_h in -2i64..26,
            lines in prop::collection::vec(arb_line(), 0..12),
            dupes in prop::collection::vec(0usize..12, 0..3),
            total_error in prop::sample::select(vec![0i64, 0, 0, 1]),
        ) -> StoredOrder {
            let at = day().start + Duration::hours(offset_h);
            let mut items: Vec<OrderItemRow> = lines
                .iter()
                .map(|&(product_id, quantity, unit_price_cents, line_no)| OrderItemRow {
                    order_id: id, line_no, product_id, quantity, unit_price_cents,
                })
                .collect();
            for d in dupes {
                if let Some(l) = items.get(d).cloned() {
                    items.push(l);
                }
            }
            // Wrapping: with the extreme prices the stored total is whatever a broken source says.
            let total: i64 = items
                .iter()
                .map(|i| i64::from(i.quantity).wrapping_mul(i.unit_price_cents))
                .fold(0, i64::wrapping_add);
            StoredOrder {
                order: OrderRow {
                    order_id: id,
                    customer_id: customer,
                    ordered_at: at,
                    recorded_at: day().start,
                    status: status.to_owned(),
                    total_cents: total + total_error,
                    currency: "USD".into(),
                },
                items,
            }
        }
    }

    fn arb_orders() -> impl Strategy<Value = Vec<StoredOrder>> {
        (0usize..25).prop_flat_map(|n| (1..=n as i64).map(arb_order).collect::<Vec<_>>())
    }

    proptest! {
        /// Issue 14: every input order is published or quarantined exactly once, and so is each
        /// of its distinct lines (an exact copy of an earlier line is dropped, not counted twice).
        #[test]
        fn every_input_row_lands_exactly_once(orders in arb_orders()) {
            let (batch, _) = run(&orders);
            for o in &orders {
                let id = o.order.order_id;
                let published = batch
                    .orders
                    .iter()
                    .filter(|p| i64::try_from(p.order_id.get()).ok() == Some(id))
                    .count();
                let quarantined = batch
                    .quarantined_orders
                    .iter()
                    .filter(|q| q.record_key == order_key(id))
                    .count();
                prop_assert_eq!(published + quarantined, 1, "order {}", id);

                let mut distinct: Vec<&OrderItemRow> = Vec::new();
                for line in &o.items {
                    if !distinct.contains(&line) {
                        distinct.push(line);
                    }
                }
                let prefix = format!("order {id} line ");
                let lines_out = batch
                    .lines
                    .iter()
                    .filter(|l| i64::try_from(l.order_id.get()).ok() == Some(id))
                    .count()
                    + batch
                        .quarantined_lines
                        .iter()
                        .filter(|q| q.record_key.starts_with(&prefix))
                        .count();
                prop_assert_eq!(lines_out, distinct.len(), "lines of order {}", id);
                // A published order's lines are all published: orders are never split.
                if published == 1 {
                    prop_assert!(batch.quarantined_lines.iter().all(|q| !q.record_key.starts_with(&prefix)));
                }
            }
        }

        #[test]
        fn every_extracted_row_is_published_quarantined_or_dropped_as_a_duplicate(
            orders in arb_orders()
        ) {
            let (batch, tally) = run(&orders);
            let q: RowCounts = tally.quarantined.values().fold(RowCounts::default(), |a, c| a + *c);

            prop_assert_eq!(tally.extracted.orders, orders.len() as u64);
            prop_assert_eq!(
                tally.extracted.lines,
                orders.iter().map(|o| o.items.len() as u64).sum::<u64>()
            );
            prop_assert_eq!(tally.extracted.orders, batch.orders.len() as u64 + q.orders);
            prop_assert_eq!(
                tally.extracted.lines,
                batch.lines.len() as u64 + q.lines + tally.duplicates
            );
            prop_assert_eq!(q.orders, batch.quarantined_orders.len() as u64);
            prop_assert_eq!(q.lines, batch.quarantined_lines.len() as u64);
        }

        #[test]
        fn published_orders_obey_every_rule_and_are_whole(orders in arb_orders()) {
            let (batch, _) = run(&orders);
            let refs = refs();
            for o in &batch.orders {
                let lines: Vec<&OrderLine> =
                    batch.lines.iter().filter(|l| l.order_id == o.order_id).collect();
                prop_assert_eq!(lines.len() as u32, o.item_count);
                prop_assert_eq!(Cents::checked_sum(lines.iter().map(|l| l.line_total)), Some(o.total));
                prop_assert!(day().contains(o.ordered_at));
                prop_assert!(refs.customer_pos(o.customer_id.as_i64()).is_some());
                for l in lines {
                    prop_assert!(l.quantity >= 1 && !l.unit_price.is_negative());
                    prop_assert!(refs.product_pos(i64::from(l.product_id.get())).is_some());
                }
                let key = format!("order {}", o.order_id);
                prop_assert!(batch.quarantined_orders.iter().all(|q| q.record_key != key));
            }
        }
    }
}
