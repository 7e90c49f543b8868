//! The daily aggregates, built order by order as clean orders stream past: `daily_sales` per
//! product and buyers' city, and `customer_daily` per customer.
//!
//! Aggregates count sales: a cancelled order is published in `orders` but adds nothing here
//! ([`OrderStatus::is_sale`](crate::order::OrderStatus::is_sale)). The state kept is one entry per
//! (product, city) — an array when catalog × cities is small, a hash map otherwise — one per
//! customer, and one per distinct (product, customer) pair, so that distinct-customer counts are
//! exact; never the orders themselves.

use super::clean::ReferenceData;
use crate::fasthash::{FastMap, FastSet};
use crate::money::Cents;
use crate::order::{Order, OrderLine};
use crate::sales::{CustomerDay, DailySales};

#[derive(Debug, Default, Clone, Copy)]
struct SalesAcc {
    units: i64,
    revenue: i64,
    orders: i64,
    customers: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct CustomerAcc {
    orders: i64,
    units: i64,
    revenue: i64,
}

/// Product × city tables up to this many cells are arrays (32 bytes a cell); larger ones hash.
const DENSE_CELLS: usize = 1 << 20;

/// Totals per (product position, city position).
#[derive(Debug)]
enum SalesTable {
    /// `cells[product * cities + city]`.
    Dense { cells: Vec<SalesAcc>, cities: usize },
    /// Keyed by `product << 32 | city`.
    Sparse(FastMap<u64, SalesAcc>),
}

impl SalesTable {
    fn new(products: usize, cities: usize) -> Self {
        let cities = cities.max(1);
        match products.checked_mul(cities) {
            Some(cells) if cells <= DENSE_CELLS => Self::Dense {
                cells: vec![SalesAcc::default(); cells],
                cities,
            },
            _ => Self::Sparse(FastMap::default()),
        }
    }

    fn set(&mut self, product: u32, city: u32, acc: SalesAcc) {
        match self {
            Self::Dense { cells, cities } => {
                // Positions are below the catalog's and cities' sizes: no saturation in practice.
                let i = (product as usize)
                    .saturating_mul(*cities)
                    .saturating_add(city as usize);
                if i >= cells.len() {
                    cells.resize(i.saturating_add(1), SalesAcc::default());
                }
                if let Some(cell) = cells.get_mut(i) {
                    *cell = acc;
                }
            }
            Self::Sparse(map) => {
                map.insert((u64::from(product) << 32) | u64::from(city), acc);
            }
        }
    }

    /// The totals of a cell, without creating it.
    fn peek(&self, product: u32, city: u32) -> SalesAcc {
        match self {
            Self::Dense { cells, cities } => (product as usize)
                .checked_mul(*cities)
                .and_then(|i| i.checked_add(city as usize))
                .and_then(|i| cells.get(i))
                .copied()
                .unwrap_or_default(),
            Self::Sparse(map) => map
                .get(&((u64::from(product) << 32) | u64::from(city)))
                .copied()
                .unwrap_or_default(),
        }
    }

    /// Every (product, city, totals) with at least one order.
    fn into_entries(self) -> Vec<(u32, u32, SalesAcc)> {
        match self {
            Self::Dense { cells, cities } => cells
                .into_iter()
                .enumerate()
                .filter(|(_, acc)| acc.orders > 0)
                .filter_map(|(i, acc)| {
                    Some((
                        u32::try_from(i.checked_div(cities)?).ok()?,
                        u32::try_from(i.checked_rem(cities)?).ok()?,
                        acc,
                    ))
                })
                .collect(),
            Self::Sparse(map) => map
                .into_iter()
                .filter_map(|(key, acc)| {
                    Some((
                        u32::try_from(key >> 32).ok()?,
                        u32::try_from(key & u64::from(u32::MAX)).ok()?,
                        acc,
                    ))
                })
                .collect(),
        }
    }
}

/// The `buyers` key of a (product, customer) pair of positions.
fn buyer_key(product: u32, customer: u32) -> u64 {
    (u64::from(product) << 32) | u64::from(customer)
}

/// Accumulates the day's aggregates.
#[derive(Debug)]
pub(crate) struct SalesAggregator {
    sales: SalesTable,
    /// `product << 32 | customer` (positions) of every product bought by a customer today, for
    /// exact distinct-customer counts.
    buyers: FastSet<u64>,
    /// Totals by customer position; grown on demand (positions are dense).
    customers: Vec<CustomerAcc>,
    /// Products already counted for the current order.
    in_order: Vec<u32>,
}

impl SalesAggregator {
    /// An empty aggregator sized for `refs`.
    pub(crate) fn new(refs: &ReferenceData) -> Self {
        Self {
            sales: SalesTable::new(refs.product_count(), refs.city_count()),
            buyers: FastSet::default(),
            customers: Vec::new(),
            in_order: Vec::new(),
        }
    }

    /// Adds a clean order and its lines, or adds nothing and says which total would leave the
    /// range of its lake column (`decimal(18,2)` for money, `bigint` for counts).
    ///
    /// # Errors
    /// The detail for the quarantine row, when a total would overflow.
    pub(crate) fn add(
        &mut self,
        refs: &ReferenceData,
        order: &Order,
        lines: &[OrderLine],
    ) -> Result<(), String> {
        if !order.status.is_sale() {
            return Ok(());
        }
        // Clean orders reference known customers and products; the lookups cannot miss.
        let Some(customer) = refs.customer_pos(order.customer_id.as_i64()) else {
            return Ok(());
        };
        let city = refs.city_of(customer).unwrap_or(0);
        let overflow = |what: &str| {
            format!(
                "adding order {} would take the day's {what} beyond its column's range",
                order.order_id
            )
        };
        // Every new total is computed before any is stored, so a refused order adds nothing.
        let slot = customer as usize;
        let old = self.customers.get(slot).copied().unwrap_or_default();
        let customer_acc = CustomerAcc {
            orders: old
                .orders
                .checked_add(1)
                .ok_or_else(|| overflow("orders"))?,
            units: old
                .units
                .checked_add(order.units)
                .ok_or_else(|| overflow("units of a customer"))?,
            revenue: Cents(old.revenue)
                .checked_add(order.total)
                .ok_or_else(|| overflow("revenue of a customer"))?
                .get(),
        };
        self.in_order.clear();
        let mut updates: Vec<(u32, SalesAcc)> = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(product) = refs.product_pos(i64::from(line.product_id.get())) else {
                continue;
            };
            let i = match updates.iter().position(|(p, _)| *p == product) {
                Some(i) => i,
                None => {
                    updates.push((product, self.sales.peek(product, city)));
                    updates.len().saturating_sub(1)
                }
            };
            let Some((_, acc)) = updates.get_mut(i) else {
                continue;
            };
            acc.units = acc
                .units
                .checked_add(i64::from(line.quantity))
                .ok_or_else(|| overflow("units of a product"))?;
            acc.revenue = Cents(acc.revenue)
                .checked_add(line.line_total)
                .ok_or_else(|| overflow("revenue of a product"))?
                .get();
            if !self.in_order.contains(&product) {
                self.in_order.push(product);
                acc.orders = acc
                    .orders
                    .checked_add(1)
                    .ok_or_else(|| overflow("orders of a product"))?;
                if !self.buyers.contains(&buyer_key(product, customer)) {
                    acc.customers = acc
                        .customers
                        .checked_add(1)
                        .ok_or_else(|| overflow("customers of a product"))?;
                }
            }
        }
        if self.customers.len() <= slot {
            self.customers
                .resize(slot.saturating_add(1), CustomerAcc::default());
        }
        if let Some(c) = self.customers.get_mut(slot) {
            *c = customer_acc;
        }
        for (product, acc) in updates {
            self.buyers.insert(buyer_key(product, customer));
            self.sales.set(product, city, acc);
        }
        Ok(())
    }

    /// The aggregates, sorted by product then city, and by customer: the same input always gives
    /// the same rows in the same order.
    pub(crate) fn finish(self, refs: &ReferenceData) -> (Vec<DailySales>, Vec<CustomerDay>) {
        let mut sales: Vec<DailySales> = self
            .sales
            .into_entries()
            .into_iter()
            .filter_map(|(product, city, acc)| {
                let p = refs.product(product)?;
                Some(DailySales {
                    product_id: p.id,
                    article_type: p.article_type.clone(),
                    colour: p.colour().to_owned(),
                    gender: p.gender.clone(),
                    master_category: p.master_category.clone(),
                    city: refs.city(city).to_owned(),
                    units: acc.units,
                    revenue: Cents(acc.revenue),
                    orders: acc.orders,
                    distinct_customers: acc.customers,
                })
            })
            .collect();
        sales.sort_by(|a, b| (a.product_id, &a.city).cmp(&(b.product_id, &b.city)));
        let mut customers: Vec<CustomerDay> = self
            .customers
            .iter()
            .zip(0u32..)
            .filter(|(acc, _)| acc.orders > 0)
            .filter_map(|(acc, pos)| {
                let c = refs.customer(pos)?;
                Some(CustomerDay {
                    customer_id: c.id,
                    city: c.city.clone(),
                    orders: acc.orders,
                    units: acc.units,
                    revenue: Cents(acc.revenue),
                })
            })
            .collect();
        customers.sort_by_key(|c| c.customer_id);
        (sales, customers)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::customer::Customer;
    use crate::ids::{CustomerId, OrderId, ProductId};
    use crate::order::OrderStatus;
    use crate::product::Product;

    fn product(id: u32, article_type: &str) -> Product {
        Product {
            id: ProductId::new(id).unwrap(),
            gender: "Men".into(),
            master_category: "Footwear".into(),
            sub_category: "Shoes".into(),
            article_type: article_type.into(),
            base_colour: (id != 3).then(|| "Black".to_owned()),
            season: None,
            year: None,
            usage: None,
            product_display_name: format!("P{id}"),
            price: None,
        }
    }

    fn customer(id: u64, city: &str) -> Customer {
        Customer {
            id: CustomerId::new(id).unwrap(),
            name: String::new(),
            email: format!("{id}@example.com"),
            city: city.into(),
            country: "Vietnam".into(),
            segment: "Men".into(),
            signed_up_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn sales_key(s: &DailySales) -> (ProductId, String) {
        (s.product_id, s.city.clone())
    }

    fn refs() -> ReferenceData {
        ReferenceData::new(
            vec![
                product(1, "Casual Shoes"),
                product(2, "Socks"),
                product(3, "Belts"),
            ],
            vec![
                customer(10, "Hanoi"),
                customer(11, "Hanoi"),
                customer(12, "Hue"),
            ],
        )
    }

    /// An order of `customer` with lines of (product, quantity, unit price in cents).
    fn order(
        id: u64,
        customer: u64,
        status: OrderStatus,
        lines: &[(u32, u32, i64)],
    ) -> (Order, Vec<OrderLine>) {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let ls: Vec<OrderLine> = lines
            .iter()
            .zip(1..)
            .map(|(&(p, q, c), n)| OrderLine {
                order_id: OrderId::new(id).unwrap(),
                line_no: n,
                customer_id: CustomerId::new(customer).unwrap(),
                product_id: ProductId::new(p).unwrap(),
                quantity: q,
                unit_price: Cents(c),
                line_total: Cents(c * i64::from(q)),
                ordered_at: at,
            })
            .collect();
        let o = Order {
            order_id: OrderId::new(id).unwrap(),
            customer_id: CustomerId::new(customer).unwrap(),
            ordered_at: at,
            status,
            item_count: u32::try_from(ls.len()).unwrap(),
            units: ls.iter().map(|l| i64::from(l.quantity)).sum(),
            total: Cents::checked_sum(ls.iter().map(|l| l.line_total)).unwrap(),
            currency: "USD".into(),
        };
        (o, ls)
    }

    #[test]
    fn an_order_that_would_overflow_a_total_is_refused_and_adds_nothing() {
        // Arrange: two orders of the same product, each within decimal(18,2), whose sum is not.
        let refs = refs();
        let half = Cents::MAX.get() / 2 + 1;
        let (first, first_lines) = order(1, 10, OrderStatus::Paid, &[(1, 1, half)]);
        let (second, second_lines) = order(2, 11, OrderStatus::Paid, &[(1, 1, half), (2, 1, 5)]);
        let mut agg = SalesAggregator::new(&refs);

        // Act
        agg.add(&refs, &first, &first_lines).unwrap();
        let refused = agg.add(&refs, &second, &second_lines);
        let (sales, customers) = agg.finish(&refs);

        // Assert: the second order left no trace, not even its socks line or its customer.
        let detail = refused.unwrap_err();
        assert!(
            detail.contains("order 2") && detail.contains("revenue"),
            "{detail}"
        );
        assert_eq!(sales.len(), 1, "{sales:?}");
        assert_eq!(sales[0].revenue, Cents(half));
        assert_eq!(sales[0].orders, 1);
        assert_eq!(sales[0].distinct_customers, 1);
        assert_eq!(customers.len(), 1);
    }

    #[test]
    fn sales_are_summed_per_product_and_city_with_distinct_orders_and_customers() {
        // Arrange: two Hanoi customers and one in Hue buy product 1; customer 10 twice, once
        // with product 1 on two lines of the same order.
        let refs = refs();
        let orders = [
            order(
                1,
                10,
                OrderStatus::Paid,
                &[(1, 1, 1000), (1, 2, 900), (2, 1, 100)],
            ),
            order(2, 10, OrderStatus::Shipped, &[(1, 1, 1000)]),
            order(3, 11, OrderStatus::Delivered, &[(1, 1, 1000), (3, 1, 50)]),
            order(4, 12, OrderStatus::Paid, &[(1, 3, 1000)]),
            order(5, 12, OrderStatus::Cancelled, &[(1, 5, 1000)]),
        ];
        let mut agg = SalesAggregator::new(&refs);

        // Act
        for (o, ls) in &orders {
            agg.add(&refs, o, ls).unwrap();
        }
        let (sales, customers) = agg.finish(&refs);

        // Assert
        let keys: Vec<_> = sales.iter().map(sales_key).collect();
        assert_eq!(
            keys,
            vec![
                (ProductId::new(1).unwrap(), "Hanoi".to_owned()),
                (ProductId::new(1).unwrap(), "Hue".to_owned()),
                (ProductId::new(2).unwrap(), "Hanoi".to_owned()),
                (ProductId::new(3).unwrap(), "Hanoi".to_owned()),
            ]
        );
        let hanoi = &sales[0];
        assert_eq!(hanoi.units, 5);
        assert_eq!(hanoi.revenue, Cents(1000 + 1800 + 1000 + 1000));
        assert_eq!(hanoi.orders, 3, "order 1 counts once for product 1");
        assert_eq!(hanoi.distinct_customers, 2);
        assert_eq!(hanoi.article_type, "Casual Shoes");
        assert_eq!(
            (hanoi.gender.as_str(), hanoi.master_category.as_str()),
            ("Men", "Footwear")
        );
        let hue = &sales[1];
        assert_eq!(
            (hue.units, hue.orders, hue.distinct_customers),
            (3, 1, 1),
            "cancelled order 5 is not a sale"
        );
        assert_eq!(sales[3].colour, "Unknown", "a product without colour");

        assert_eq!(
            customers
                .iter()
                .map(|c| (c.customer_id.get(), c.orders, c.units, c.revenue))
                .collect::<Vec<_>>(),
            vec![
                (10, 2, 5, Cents(2900 + 1000)),
                (11, 1, 2, Cents(1050)),
                (12, 1, 3, Cents(3000)),
            ]
        );
        assert_eq!(customers[2].city, "Hue");
    }

    #[test]
    fn dense_and_sparse_sales_tables_agree() {
        let mut dense = SalesTable::new(3, 2);
        let mut sparse = SalesTable::new(usize::MAX, 2);
        assert!(matches!(dense, SalesTable::Dense { .. }));
        assert!(matches!(sparse, SalesTable::Sparse(_)));
        for t in [&mut dense, &mut sparse] {
            let bump = |t: &mut SalesTable, p, c, orders, units| {
                let mut acc = t.peek(p, c);
                acc.orders += orders;
                acc.units += units;
                t.set(p, c, acc);
            };
            bump(t, 2, 1, 1, 0);
            bump(t, 0, 0, 2, 0);
            bump(t, 2, 1, 0, 5);
        }
        let sorted = |t: SalesTable| {
            let mut v: Vec<(u32, u32, i64, i64)> = t
                .into_entries()
                .into_iter()
                .map(|(p, c, a)| (p, c, a.orders, a.units))
                .collect();
            v.sort_unstable();
            v
        };
        let expected = vec![(0, 0, 2, 0), (2, 1, 1, 5)];
        assert_eq!(sorted(dense), expected);
        assert_eq!(sorted(sparse), expected);
    }

    #[test]
    fn aggregates_do_not_depend_on_how_orders_are_chunked() {
        let refs = refs();
        let orders = [
            order(1, 10, OrderStatus::Paid, &[(1, 1, 1000), (2, 1, 100)]),
            order(2, 11, OrderStatus::Paid, &[(2, 2, 100)]),
            order(3, 12, OrderStatus::Returned, &[(3, 1, 50)]),
        ];
        let mut forward = SalesAggregator::new(&refs);
        let mut backward = SalesAggregator::new(&refs);
        for (o, ls) in &orders {
            forward.add(&refs, o, ls).unwrap();
        }
        for (o, ls) in orders.iter().rev() {
            backward.add(&refs, o, ls).unwrap();
        }
        assert_eq!(forward.finish(&refs), backward.finish(&refs));
    }

    mod properties {
        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::*;

        /// Per product × city: units, revenue, order ids and customer ids.
        type Expected = (i128, i128, BTreeSet<u64>, BTreeSet<i64>);

        const STATUSES: [OrderStatus; 5] = [
            OrderStatus::Paid,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
            OrderStatus::Returned,
        ];

        /// A line: product, quantity and unit price; now and then a price near `Cents::MAX`
        /// (quantity 1, so that the line itself stays within decimal(18,2), as the cleaner
        /// guarantees).
        fn arb_line() -> impl Strategy<Value = (u32, u32, i64)> {
            prop_oneof![
                8 => (1u32..=3, 1u32..1_000, 0i64..100_000),
                1 => (1u32..=3, Just(1u32), (Cents::MAX.get() / 4)..=Cents::MAX.get()),
            ]
        }

        fn arb_orders() -> impl Strategy<Value = Vec<(Order, Vec<OrderLine>)>> {
            prop::collection::vec(
                (
                    10u64..=12,
                    0usize..5,
                    prop::collection::vec(arb_line(), 1..5),
                ),
                0..40,
            )
            .prop_map(|orders| {
                orders
                    .into_iter()
                    .zip(1u64..)
                    // Clean orders only: the cleaner quarantines a total beyond decimal(18,2).
                    .filter(|((_, _, lines), _)| {
                        let total: i128 = lines
                            .iter()
                            .map(|&(_, q, c)| i128::from(q) * i128::from(c))
                            .sum();
                        total <= i128::from(Cents::MAX.get())
                    })
                    .map(|((c, st, lines), id)| order(id, c, STATUSES[st], &lines))
                    .collect()
            })
        }

        proptest! {
            /// Issue 14: the aggregates are exactly the sums of the sales they took in (units,
            /// revenue, orders, distinct customers, per product × city and per customer); an
            /// order is refused only when taking it would leave decimal(18,2), and a refused
            /// order adds nothing.
            #[test]
            fn aggregates_equal_the_sums_of_their_inputs_and_never_overflow(
                orders in arb_orders()
            ) {
                let refs = refs();
                let mut agg = SalesAggregator::new(&refs);
                let max = i128::from(Cents::MAX.get());
                let city = |c: CustomerId| if c.as_i64() == 12 { "Hue" } else { "Hanoi" };
                // Revenue taken so far per customer and per product × city.
                let mut by_customer: BTreeMap<CustomerId, i128> = BTreeMap::new();
                let mut by_cell: BTreeMap<(ProductId, &str), i128> = BTreeMap::new();
                let mut taken = Vec::new();
                for (o, lines) in &orders {
                    let customer_after =
                        by_customer.get(&o.customer_id).copied().unwrap_or(0) + i128::from(o.total.get());
                    let mut cells_after = by_cell.clone();
                    for l in lines {
                        *cells_after.entry((l.product_id, city(o.customer_id))).or_default() +=
                            i128::from(l.line_total.get());
                    }
                    let would_overflow = customer_after > max || cells_after.values().any(|v| *v > max);
                    match agg.add(&refs, o, lines) {
                        Ok(()) => {
                            prop_assert!(!o.status.is_sale() || !would_overflow, "order {} overflowed", o.order_id);
                            if o.status.is_sale() {
                                by_customer.insert(o.customer_id, customer_after);
                                by_cell = cells_after;
                            }
                            taken.push((o, lines));
                        }
                        Err(detail) => {
                            prop_assert!(o.status.is_sale() && would_overflow, "refused: {detail}");
                            prop_assert!(detail.contains("beyond its column's range"), "{detail}");
                        }
                    }
                }
                let (sales, customers) = agg.finish(&refs);

                // Expected, summed independently in i128 (which cannot overflow here).
                let mut want: BTreeMap<(ProductId, &str), Expected> = BTreeMap::new();
                let mut want_customers: BTreeMap<CustomerId, (i128, i128, i128)> = BTreeMap::new();
                for (o, lines) in taken.iter().filter(|(o, _)| o.status.is_sale()) {
                    let c = want_customers.entry(o.customer_id).or_default();
                    c.0 += 1;
                    c.1 += i128::from(o.units);
                    c.2 += i128::from(o.total.get());
                    for l in lines.iter() {
                        let e = want.entry((l.product_id, city(o.customer_id))).or_default();
                        e.0 += i128::from(l.quantity);
                        e.1 += i128::from(l.line_total.get());
                        e.2.insert(o.order_id.get());
                        e.3.insert(o.customer_id.as_i64());
                    }
                }
                prop_assert_eq!(sales.len(), want.len());
                for s in &sales {
                    let w = &want[&(s.product_id, s.city.as_str())];
                    prop_assert_eq!(i128::from(s.units), w.0);
                    prop_assert_eq!(i128::from(s.revenue.get()), w.1);
                    prop_assert!(s.revenue <= Cents::MAX);
                    prop_assert_eq!(s.orders as usize, w.2.len());
                    prop_assert_eq!(s.distinct_customers as usize, w.3.len());
                }
                prop_assert_eq!(customers.len(), want_customers.len());
                for c in &customers {
                    let w = want_customers[&c.customer_id];
                    prop_assert_eq!((i128::from(c.orders), i128::from(c.units), i128::from(c.revenue.get())), w);
                    prop_assert!(c.revenue <= Cents::MAX);
                }
                // With only small prices nothing is refused.
                let small = orders
                    .iter()
                    .all(|(_, ls)| ls.iter().all(|l| l.unit_price.get() < 100_000));
                if small {
                    prop_assert_eq!(taken.len(), orders.len());
                }
            }
        }
    }
}
