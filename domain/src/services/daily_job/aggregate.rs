//! The daily aggregates, built order by order as clean orders stream past: `daily_sales` per
//! product and buyers' city, and `customer_daily` per customer.
//!
//! Aggregates count sales: a cancelled order is published in `orders` but adds nothing here
//! ([`OrderStatus::is_sale`](crate::order::OrderStatus::is_sale)). The state kept is one entry per
//! (product, city), one per buying customer and one per distinct (product, customer) pair — the
//! distinct-customer counts are exact — never the orders themselves.

use std::collections::{HashMap, HashSet};

use super::clean::ReferenceData;
use super::index::FxBuild;
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

/// Accumulates the day's aggregates.
#[derive(Debug, Default)]
pub(crate) struct SalesAggregator {
    /// (product position, city position) → totals.
    sales: HashMap<(u32, u32), SalesAcc, FxBuild>,
    /// (product position, customer id) pairs seen, for distinct customers.
    buyers: HashSet<(u32, u64), FxBuild>,
    /// Customer position → totals.
    customers: HashMap<u32, CustomerAcc, FxBuild>,
    /// Products already counted for the current order.
    in_order: Vec<u32>,
}

impl SalesAggregator {
    /// Adds a clean order and its lines.
    pub(crate) fn add(&mut self, refs: &ReferenceData, order: &Order, lines: &[OrderLine]) {
        if !order.status.is_sale() {
            return;
        }
        let customer = order.customer_id.get();
        // Clean orders reference known customers and products; the lookups cannot miss.
        let Some(customer_pos) = refs.customer_pos(order.customer_id.as_i64()) else {
            return;
        };
        let city = refs.city_of(customer_pos).unwrap_or(0);
        let c = self.customers.entry(customer_pos).or_default();
        c.orders += 1;
        c.units += order.units;
        c.revenue += order.total.get();
        self.in_order.clear();
        for line in lines {
            let Some(product) = refs.product_pos(i64::from(line.product_id.get())) else {
                continue;
            };
            let acc = self.sales.entry((product, city)).or_default();
            acc.units += i64::from(line.quantity);
            acc.revenue += line.line_total.get();
            if !self.in_order.contains(&product) {
                self.in_order.push(product);
                acc.orders += 1;
                if self.buyers.insert((product, customer)) {
                    acc.customers += 1;
                }
            }
        }
    }

    /// The aggregates, sorted by product then city, and by customer: the same input always gives
    /// the same rows in the same order.
    pub(crate) fn finish(self, refs: &ReferenceData) -> (Vec<DailySales>, Vec<CustomerDay>) {
        let mut sales: Vec<DailySales> = self
            .sales
            .into_iter()
            .filter_map(|((product, city), acc)| {
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
            .into_iter()
            .filter_map(|(pos, acc)| {
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
            total: ls.iter().map(|l| l.line_total).sum(),
            currency: "USD".into(),
        };
        (o, ls)
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
        let mut agg = SalesAggregator::default();

        // Act
        for (o, ls) in &orders {
            agg.add(&refs, o, ls);
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
    fn aggregates_do_not_depend_on_how_orders_are_chunked() {
        let refs = refs();
        let orders = [
            order(1, 10, OrderStatus::Paid, &[(1, 1, 1000), (2, 1, 100)]),
            order(2, 11, OrderStatus::Paid, &[(2, 2, 100)]),
            order(3, 12, OrderStatus::Returned, &[(3, 1, 50)]),
        ];
        let mut forward = SalesAggregator::default();
        let mut backward = SalesAggregator::default();
        for (o, ls) in &orders {
            forward.add(&refs, o, ls);
        }
        for (o, ls) in orders.iter().rev() {
            backward.add(&refs, o, ls);
        }
        assert_eq!(forward.finish(&refs), backward.finish(&refs));
    }
}
