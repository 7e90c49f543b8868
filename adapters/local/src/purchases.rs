//! The transactional database on SQLite (`store.db`), the embedded default.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fashion_domain::calendar::StoreDay;
use fashion_domain::customer::Customer;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::money::Cents;
use fashion_domain::order::{OrderItemRow, OrderRow, StoredOrder};
use fashion_domain::ports::{PurchaseSource, PurchaseStore, PurchaseStoreError};
use fashion_domain::product::Product;
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::error::is_transient;
use crate::sqlite::open_sqlite;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/store_sqlite_001.sql"))];
const ROWS_PER_STATEMENT: usize = 500;
/// Orders per chunk of an extraction.
pub(crate) const EXTRACT_CHUNK: usize = 2_000;
/// One chunk of a day's extraction: the orders placed or recorded in `[?2, ?3)` with an id
/// above `?1`, at most `?4` of them, with their lines. The ids come from the two time indexes,
/// so a chunk reads the day's index entries, never the older orders (a filter on the primary
/// key would walk every order since the store opened).
const EXTRACT_SQL: &str = "WITH picked AS ( \
         SELECT * FROM orders WHERE order_id IN ( \
             SELECT order_id FROM orders WHERE ordered_at >= ?2 AND ordered_at < ?3 AND order_id > ?1 \
             UNION \
             SELECT order_id FROM orders WHERE recorded_at >= ?2 AND recorded_at < ?3 AND order_id > ?1) \
         ORDER BY order_id LIMIT ?4) \
     SELECT o.order_id, o.customer_id, o.ordered_at, o.recorded_at, o.status, o.total_cents, o.currency, \
            i.line_no, i.product_id, i.quantity, i.unit_price_cents \
     FROM picked o LEFT JOIN order_items i ON i.order_id = o.order_id \
     ORDER BY o.order_id, i.line_no, i.item_id";

pub(crate) fn db_err(e: sqlx::Error, what: &str) -> PurchaseStoreError {
    if is_transient(&e) {
        return PurchaseStoreError::Unavailable {
            message: format!("{what}: {e}"),
        };
    }
    if let sqlx::Error::Database(db) = &e
        && (db.is_unique_violation() || db.is_foreign_key_violation() || db.is_check_violation())
    {
        return PurchaseStoreError::Constraint {
            message: format!("{what}: {}", db.message()),
        };
    }
    PurchaseStoreError::Unexpected(anyhow::Error::new(e).context(format!("failed to {what}")))
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

/// Customers, products and orders in SQLite.
#[derive(Clone)]
pub struct SqlitePurchaseStore {
    pool: SqlitePool,
}

impl SqlitePurchaseStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            pool: open_sqlite(path, MIGRATIONS).await?,
        })
    }
}

#[async_trait]
impl PurchaseStore for SqlitePurchaseStore {
    async fn put_customers(&self, customers: &[Customer]) -> Result<u64, PurchaseStoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| db_err(e, "begin"))?;
        for chunk in customers.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO customers (customer_id, name, email, city, country, segment, signed_up_at) ",
            );
            qb.push_values(chunk, |mut b, c| {
                b.push_bind(c.id.as_i64())
                    .push_bind(c.name.clone())
                    .push_bind(c.email.clone())
                    .push_bind(c.city.clone())
                    .push_bind(c.country.clone())
                    .push_bind(c.segment.clone())
                    .push_bind(micros(c.signed_up_at));
            });
            qb.push(
                " ON CONFLICT(customer_id) DO UPDATE SET name = excluded.name, email = excluded.email, \
                 city = excluded.city, country = excluded.country, segment = excluded.segment, \
                 signed_up_at = excluded.signed_up_at",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, "write customers"))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_err(e, "commit customers"))?;
        Ok(customers.len() as u64)
    }

    async fn put_products(&self, products: &[Product]) -> Result<u64, PurchaseStoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| db_err(e, "begin"))?;
        for chunk in products.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO products (product_id, gender, master_category, sub_category, article_type, \
                 base_colour, season, year, usage, display_name, price_cents) ",
            );
            qb.push_values(chunk, |mut b, p| {
                b.push_bind(p.id.as_i64())
                    .push_bind(p.gender.clone())
                    .push_bind(p.master_category.clone())
                    .push_bind(p.sub_category.clone())
                    .push_bind(p.article_type.clone())
                    .push_bind(p.base_colour.clone())
                    .push_bind(p.season.clone())
                    .push_bind(p.year.map(i64::from))
                    .push_bind(p.usage.clone())
                    .push_bind(p.product_display_name.clone())
                    .push_bind(p.price.map(Cents::get));
            });
            qb.push(
                " ON CONFLICT(product_id) DO UPDATE SET gender = excluded.gender, \
                 master_category = excluded.master_category, sub_category = excluded.sub_category, \
                 article_type = excluded.article_type, base_colour = excluded.base_colour, \
                 season = excluded.season, year = excluded.year, usage = excluded.usage, \
                 display_name = excluded.display_name, price_cents = excluded.price_cents",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, "write products"))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_err(e, "commit products"))?;
        Ok(products.len() as u64)
    }

    async fn put_orders(&self, orders: &[StoredOrder]) -> Result<u64, PurchaseStoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| db_err(e, "begin"))?;
        for chunk in orders.chunks(ROWS_PER_STATEMENT) {
            // Replacing an order replaces its lines: delete, then insert both.
            let mut del: QueryBuilder<Sqlite> =
                QueryBuilder::new("DELETE FROM orders WHERE order_id IN (");
            let mut sep = del.separated(", ");
            for o in chunk {
                sep.push_bind(o.order.order_id);
            }
            del.push(")");
            del.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, "replace orders"))?;
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO orders (order_id, customer_id, ordered_at, recorded_at, status, total_cents, currency) ",
            );
            qb.push_values(chunk, |mut b, o| {
                let r = &o.order;
                b.push_bind(r.order_id)
                    .push_bind(r.customer_id)
                    .push_bind(micros(r.ordered_at))
                    .push_bind(micros(r.recorded_at))
                    .push_bind(r.status.clone())
                    .push_bind(r.total_cents)
                    .push_bind(r.currency.clone());
            });
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| db_err(e, "write orders"))?;
            let items: Vec<&OrderItemRow> = chunk.iter().flat_map(|o| &o.items).collect();
            for lines in items.chunks(ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) ",
                );
                qb.push_values(lines, |mut b, i| {
                    b.push_bind(i.order_id)
                        .push_bind(i.line_no)
                        .push_bind(i.product_id)
                        .push_bind(i.quantity)
                        .push_bind(i.unit_price_cents);
                });
                qb.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| db_err(e, "write order lines"))?;
            }
        }
        tx.commit().await.map_err(|e| db_err(e, "commit orders"))?;
        Ok(orders.len() as u64)
    }
}

fn order_row(r: &SqliteRow) -> OrderRow {
    OrderRow {
        order_id: r.get(0),
        customer_id: r.get(1),
        ordered_at: from_micros(r.get(2)),
        recorded_at: from_micros(r.get(3)),
        status: r.get(4),
        total_cents: r.get(5),
        currency: r.get(6),
    }
}

/// Groups joined (order, line) rows, ordered by order id, into whole orders.
pub(crate) fn group_rows(
    rows: impl IntoIterator<Item = (OrderRow, Option<OrderItemRow>)>,
) -> Vec<StoredOrder> {
    let mut out: Vec<StoredOrder> = Vec::new();
    for (order, item) in rows {
        match out.last_mut() {
            Some(last) if last.order.order_id == order.order_id => last.items.extend(item),
            _ => out.push(StoredOrder {
                order,
                items: item.into_iter().collect(),
            }),
        }
    }
    out
}

impl SqlitePurchaseStore {
    async fn extract_chunk(
        &self,
        day: StoreDay,
        after: i64,
    ) -> Result<Vec<StoredOrder>, PurchaseStoreError> {
        let (start, end) = (micros(day.start), micros(day.end));
        let rows = sqlx::query(EXTRACT_SQL)
            .bind(after)
            .bind(start)
            .bind(end)
            .bind(EXTRACT_CHUNK as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_err(e, "extract orders"))?;
        Ok(group_rows(rows.iter().map(|r| {
            let order = order_row(r);
            let item = r.get::<Option<i64>, _>(7).map(|line| OrderItemRow {
                order_id: order.order_id,
                line_no: i32::try_from(line).unwrap_or(i32::MAX),
                product_id: r.get(8),
                quantity: r.get(9),
                unit_price_cents: r.get(10),
            });
            (order, item)
        })))
    }
}

#[async_trait]
impl PurchaseSource for SqlitePurchaseStore {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        // Keyset pagination: each chunk is one bounded query, so a large day is never held whole.
        let this = self.clone();
        stream::unfold(Some(0i64), move |after| {
            let this = this.clone();
            async move {
                let after = after?;
                match this.extract_chunk(day, after).await {
                    Ok(chunk) if chunk.is_empty() => None,
                    Ok(chunk) => {
                        let next = chunk.last().map(|o| o.order.order_id);
                        Some((Ok(chunk), next))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
        .boxed()
    }

    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, name, email, city, country, segment, signed_up_at FROM customers ORDER BY customer_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_err(e, "read customers"))?;
        rows.iter()
            .map(|r| {
                Ok(Customer {
                    id: CustomerId::from_i64(r.get(0))
                        .map_err(|e| PurchaseStoreError::Unexpected(e.into()))?,
                    name: r.get(1),
                    email: r.get(2),
                    city: r.get(3),
                    country: r.get(4),
                    segment: r.get(5),
                    signed_up_at: from_micros(r.get(6)),
                })
            })
            .collect()
    }

    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError> {
        let rows = sqlx::query(
            "SELECT product_id, gender, master_category, sub_category, article_type, base_colour, season, year, \
             usage, display_name, price_cents FROM products ORDER BY product_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_err(e, "read products"))?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get(0);
                Ok(Product {
                    id: ProductId::from_i64(id)
                        .map_err(|e| PurchaseStoreError::Unexpected(e.into()))?,
                    gender: r.get(1),
                    master_category: r.get(2),
                    sub_category: r.get(3),
                    article_type: r.get(4),
                    base_colour: r.get(5),
                    season: r.get(6),
                    year: r
                        .get::<Option<i64>, _>(7)
                        .and_then(|y| u16::try_from(y).ok()),
                    usage: r.get(8),
                    product_display_name: r.get(9),
                    price: r.get::<Option<i64>, _>(10).map(Cents),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::{EXTRACT_SQL, SqlitePurchaseStore};

    /// A day's extraction must cost the day, not the store's age: SQLite's plan for it may read
    /// the orders table only by key or through the time indexes, never by walking it.
    #[tokio::test]
    async fn a_days_extraction_reads_the_time_indexes_not_every_older_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlitePurchaseStore::open(&dir.path().join("store.db"))
            .await
            .unwrap();
        // A constant prefixed to a constant: nothing from outside reaches the statement.
        let sql = sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {EXTRACT_SQL}"));
        let plan: Vec<String> = sqlx::query(sql)
            .bind(0_i64)
            .bind(0_i64)
            .bind(1_i64)
            .bind(10_i64)
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect();
        let on_orders: Vec<&String> = plan
            .iter()
            .filter(|l| l.contains("orders") && !l.contains("order_items"))
            .collect();
        assert!(
            on_orders.iter().any(|l| l.contains("orders_by_ordered_at"))
                && on_orders
                    .iter()
                    .any(|l| l.contains("orders_by_recorded_at")),
            "{plan:#?}"
        );
        assert!(
            on_orders
                .iter()
                .all(|l| !l.starts_with("SCAN") && !l.contains("rowid>")),
            "the extraction walks the orders table: {plan:#?}"
        );
    }
}
