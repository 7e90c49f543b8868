//! The transactional database on PostgreSQL (RDS on AWS, a local server otherwise): customers,
//! products and orders, written with array-bound statements and extracted for the daily job with
//! streamed binary `COPY`s.
//!
//! Extraction reads two `COPY … TO STDOUT (FORMAT binary)` streams on two connections that share
//! one repeatable-read snapshot (exported by the first, imported by the second): the day's orders
//! in id order, and the lines of the order-id range those orders span, in the same order. A
//! task of its own merges them into whole orders (lines of orders outside the day are skipped)
//! and hands chunks of [`EXTRACT_CHUNK`] orders to the caller through a channel of
//! [`CHANNEL_DEPTH`] chunks. When the caller is slower than the database, the channel fills, the
//! task stops reading, and TCP back-pressure pauses the server: at most a few chunks are ever in
//! memory, however large the day. Two plain streams instead of one joined query let the server
//! skip the join (the id range is an index range) and work on both on two cores; when the day's
//! ids are too scattered for a range to be cheap, the lines are selected by a semi-join instead.
//!
//! `COPY` takes no bind parameters, so the day's bounds are bound to `set_config` in the same
//! transaction and the (constant) `COPY` statements read them with `current_setting`: no value is
//! ever spliced into SQL text. The one exception is the snapshot id, which PostgreSQL generates
//! and `SET TRANSACTION SNAPSHOT` cannot take as a parameter; it is checked to be hexadecimal
//! digits and dashes before use.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod copy;
mod extract;
mod tls;

pub use tls::{ServerTls, connect_options, verifies_server};

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use fashion_domain::calendar::StoreDay;
use fashion_domain::customer::Customer;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::money::Cents;
use fashion_domain::order::{OrderItemRow, StoredOrder};
use fashion_domain::ports::{PurchaseSource, PurchaseStore, PurchaseStoreError};
use fashion_domain::product::Product;
use futures::TryStreamExt;
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tokio::sync::mpsc;

use self::extract::{DayConnections, Extraction, ORDERS_COPY, stream_day};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/store_postgres_001.sql"))];

/// Any constant works as long as nothing else in the database takes the same advisory lock.
const MIGRATION_LOCK: i64 = 0x00fa_5410_0001;

/// Orders per write statement (their lines go in one more statement).
const ORDERS_PER_STATEMENT: usize = 10_000;

/// Orders per chunk handed to the caller of [`PurchaseSource::extract_day`].
pub const EXTRACT_CHUNK: usize = 4_096;

/// Chunks decoded ahead of the caller; the memory bound of an extraction.
pub const CHANNEL_DEPTH: usize = 4;

/// SQLSTATE codes that go away by retrying: serialization failure, deadlock, too many
/// connections, server shutting down or starting up.
const TRANSIENT_SQLSTATES: &[&str] = &["40001", "40P01", "53300", "57P01", "57P02", "57P03"];

/// The port's error for a database error: retryable when the server or the connection may
/// recover (serialization failure, deadlock, too many connections, shutdown, a lost connection,
/// a pool that timed out), a constraint error when the data broke a rule, unexpected otherwise.
fn pg_err(e: sqlx::Error, what: &str) -> PurchaseStoreError {
    match &e {
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| TRANSIENT_SQLSTATES.contains(&c.as_ref())) =>
        {
            PurchaseStoreError::Unavailable {
                message: format!("{what}: {}", db.message()),
            }
        }
        sqlx::Error::Database(db)
            if db.is_unique_violation()
                || db.is_foreign_key_violation()
                || db.is_check_violation() =>
        {
            PurchaseStoreError::Constraint {
                message: format!("{what}: {}", db.message()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => PurchaseStoreError::Unavailable {
            message: format!("{what}: {e}"),
        },
        _ => PurchaseStoreError::Unexpected(
            anyhow::Error::new(e).context(format!("failed to {what}")),
        ),
    }
}

/// What a plain `COPY` of a day's extraction query delivered: the floor the daily job's
/// extraction is measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyFloor {
    /// `CopyData` messages received (one per row, plus the binary header and trailer).
    pub messages: u64,
    /// Bytes received.
    pub bytes: u64,
}

impl CopyFloor {
    /// Both counts added.
    ///
    /// # Errors
    /// [`PurchaseStoreError::Unexpected`] naming the count that overflows `u64`.
    fn plus(self, other: Self) -> Result<Self, PurchaseStoreError> {
        let overflow = |what: &str| {
            PurchaseStoreError::Unexpected(anyhow!("the COPY floor's {what} count overflows u64"))
        };
        Ok(Self {
            messages: self
                .messages
                .checked_add(other.messages)
                .ok_or_else(|| overflow("message"))?,
            bytes: self
                .bytes
                .checked_add(other.bytes)
                .ok_or_else(|| overflow("byte"))?,
        })
    }
}

/// Customers, products and orders in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresPurchaseStore {
    pool: PgPool,
}

impl PostgresPurchaseStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the schema.
    ///
    /// # Errors
    /// When the URL is invalid, the server cannot be reached or a migration fails.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        Self::connect_with(options).await
    }

    /// Connects to `url` as `user` with `password` (credentials kept out of the URL, for
    /// example read from a secrets store at start-up), and migrates the schema.
    ///
    /// # Errors
    /// When the URL is invalid, the server cannot be reached or refuses the credentials, or a
    /// migration fails.
    pub async fn connect_as(url: &str, user: &str, password: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("invalid PostgreSQL URL")?
            .username(user)
            .password(password);
        Self::connect_with(options).await
    }

    /// Connects with explicit options (for example a `search_path` selecting a schema) and
    /// migrates the schema.
    ///
    /// # Errors
    /// When the server cannot be reached or a migration fails.
    pub async fn connect_with(options: PgConnectOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .context("failed to connect to PostgreSQL")?;
        migrate(&pool)
            .await
            .context("failed to migrate the PostgreSQL store schema")?;
        Ok(Self { pool })
    }

    /// Connects to `url` with the store's tables in `schema` (created when missing) instead of
    /// the default `search_path`, and migrates it: one database can then hold several stores,
    /// for example one per test.
    ///
    /// # Errors
    /// When `schema` is not a plain identifier (ASCII letters, digits and `_`, not starting
    /// with a digit, at most 63 bytes), the URL is invalid, the server cannot be reached, the
    /// schema cannot be created or a migration fails.
    pub async fn connect_in_schema(url: &str, schema: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            is_plain_identifier(schema),
            "{schema:?} is not a plain schema name (ASCII letters, digits and _, at most 63 bytes)"
        );
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        let mut admin = PgConnection::connect_with(&options)
            .await
            .context("failed to connect to PostgreSQL")?;
        // An identifier cannot be bound; this one was checked above.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("failed to create schema {schema}"))?;
        admin
            .close()
            .await
            .context("failed to close the connection")?;
        Self::connect_with(options.options([("search_path", schema)])).await
    }

    /// The connection pool, for tools that load or inspect the database directly.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs the extraction's `COPY`s for `day` exactly as [`PurchaseSource::extract_day`] does
    /// (same snapshot set-up, same statements, both streams at once) but only counts what
    /// arrives: the floor a benchmark compares the whole daily job against.
    ///
    /// # Errors
    /// [`PurchaseStoreError`] when the database fails.
    pub async fn copy_floor(&self, day: StoreDay) -> Result<CopyFloor, PurchaseStoreError> {
        let mut conns = DayConnections::open(&self.pool, day).await?;
        let result = async {
            let plan = conns.plan;
            let (orders, lines) = futures::join!(
                count_copy(&mut conns.orders, Some(ORDERS_COPY)),
                count_copy(&mut conns.lines, plan.statement())
            );
            let (orders, lines) = (orders?, lines?);
            conns.commit().await?;
            orders.plus(lines)
        }
        .await;
        if result.is_err() {
            conns.close_on_drop();
        }
        result
    }
}

/// Reads a `COPY` to its end, counting messages and bytes.
async fn count_copy(
    conn: &mut PgConnection,
    statement: Option<&'static str>,
) -> Result<CopyFloor, PurchaseStoreError> {
    let mut floor = CopyFloor::default();
    let Some(statement) = statement else {
        return Ok(floor);
    };
    let mut rows = conn
        .copy_out_raw(statement)
        .await
        .map_err(|e| pg_err(e, "start COPY"))?;
    while let Some(bytes) = rows.try_next().await.map_err(|e| pg_err(e, "COPY"))? {
        floor = floor.plus(CopyFloor {
            messages: 1,
            bytes: bytes.len() as u64,
        })?;
    }
    Ok(floor)
}

async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Concurrent starts wait here instead of racing to create the same tables.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    for (version, sql) in MIGRATIONS {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}

/// Keeps the last occurrence of each key, in first-occurrence order: a batch that names the same
/// row twice behaves like two consecutive calls.
fn last_by_key<T, K: std::hash::Hash + Eq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut slot: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match slot.get(&key(item)) {
            // `i` was `out.len()` when it was stored, and `out` only grows.
            Some(&i) => {
                if let Some(kept) = out.get_mut(i) {
                    *kept = item;
                }
            }
            None => {
                slot.insert(key(item), out.len());
                out.push(item);
            }
        }
    }
    out
}

#[async_trait]
impl PurchaseStore for PostgresPurchaseStore {
    async fn put_customers(&self, customers: &[Customer]) -> Result<u64, PurchaseStoreError> {
        let rows = last_by_key(customers, |c| c.id);
        let mut tx = self.pool.begin().await.map_err(|e| pg_err(e, "begin"))?;
        for chunk in rows.chunks(ORDERS_PER_STATEMENT) {
            sqlx::query(
                "INSERT INTO customers (customer_id, name, email, city, country, segment, signed_up_at) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                      $6::text[], $7::timestamptz[]) \
                 ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, email = excluded.email, \
                 city = excluded.city, country = excluded.country, segment = excluded.segment, \
                 signed_up_at = excluded.signed_up_at",
            )
            .bind(chunk.iter().map(|c| c.id.as_i64()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.email.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.city.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.country.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.segment.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|c| c.signed_up_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|e| pg_err(e, "write customers"))?;
        }
        tx.commit()
            .await
            .map_err(|e| pg_err(e, "commit customers"))?;
        Ok(customers.len() as u64)
    }

    async fn put_products(&self, products: &[Product]) -> Result<u64, PurchaseStoreError> {
        let rows = last_by_key(products, |p| p.id);
        let mut tx = self.pool.begin().await.map_err(|e| pg_err(e, "begin"))?;
        for chunk in rows.chunks(ORDERS_PER_STATEMENT) {
            sqlx::query(
                "INSERT INTO products (product_id, gender, master_category, sub_category, article_type, \
                 base_colour, season, year, usage, display_name, price_cents) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                      $6::text[], $7::text[], $8::integer[], $9::text[], $10::text[], \
                                      $11::bigint[]) \
                 ON CONFLICT (product_id) DO UPDATE SET gender = excluded.gender, \
                 master_category = excluded.master_category, sub_category = excluded.sub_category, \
                 article_type = excluded.article_type, base_colour = excluded.base_colour, \
                 season = excluded.season, year = excluded.year, usage = excluded.usage, \
                 display_name = excluded.display_name, price_cents = excluded.price_cents",
            )
            .bind(chunk.iter().map(|p| p.id.as_i64()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.gender.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.master_category.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.sub_category.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.article_type.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.base_colour.as_deref()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.season.as_deref()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.year.map(i32::from)).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.usage.as_deref()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.product_display_name.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|p| p.price.map(Cents::get)).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|e| pg_err(e, "write products"))?;
        }
        tx.commit()
            .await
            .map_err(|e| pg_err(e, "commit products"))?;
        Ok(products.len() as u64)
    }

    async fn put_orders(&self, orders: &[StoredOrder]) -> Result<u64, PurchaseStoreError> {
        let rows = last_by_key(orders, |o| o.order.order_id);
        let mut tx = self.pool.begin().await.map_err(|e| pg_err(e, "begin"))?;
        for chunk in rows.chunks(ORDERS_PER_STATEMENT) {
            let ids: Vec<i64> = chunk.iter().map(|o| o.order.order_id).collect();
            // Replacing an order replaces its lines: the delete cascades to them.
            sqlx::query("DELETE FROM orders WHERE order_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await
                .map_err(|e| pg_err(e, "replace orders"))?;
            sqlx::query(
                "INSERT INTO orders (order_id, customer_id, ordered_at, recorded_at, status, total_cents, currency) \
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], \
                                      $5::text[], $6::bigint[], $7::text[])",
            )
            .bind(&ids)
            .bind(chunk.iter().map(|o| o.order.customer_id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.order.ordered_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.order.recorded_at).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.order.status.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.order.total_cents).collect::<Vec<_>>())
            .bind(chunk.iter().map(|o| o.order.currency.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|e| pg_err(e, "write orders"))?;
            let lines: Vec<&OrderItemRow> = chunk.iter().flat_map(|o| &o.items).collect();
            // WITH ORDINALITY … ORDER BY keeps the given line order in item_id, which breaks ties
            // between lines with the same line_no (duplicates) on extraction.
            sqlx::query(
                "INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price_cents) \
                 SELECT order_id, line_no, product_id, quantity, unit_price_cents \
                 FROM UNNEST($1::bigint[], $2::integer[], $3::bigint[], $4::integer[], $5::bigint[]) \
                      WITH ORDINALITY AS l(order_id, line_no, product_id, quantity, unit_price_cents, n) \
                 ORDER BY n",
            )
            .bind(lines.iter().map(|l| l.order_id).collect::<Vec<_>>())
            .bind(lines.iter().map(|l| l.line_no).collect::<Vec<_>>())
            .bind(lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
            .bind(lines.iter().map(|l| l.quantity).collect::<Vec<_>>())
            .bind(lines.iter().map(|l| l.unit_price_cents).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|e| pg_err(e, "write order lines"))?;
        }
        tx.commit().await.map_err(|e| pg_err(e, "commit orders"))?;
        Ok(orders.len() as u64)
    }
}

#[async_trait]
impl PurchaseSource for PostgresPurchaseStore {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        // Started at once when possible, so the server streams while the caller gets ready.
        let start = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
                Extraction::Running(rx, runtime.spawn(stream_day(self.pool.clone(), day, tx)))
            }
            Err(_) => Extraction::Pending(self.pool.clone(), day),
        };
        stream::unfold(start, |state| async move {
            let (mut rx, task) = match state {
                Extraction::Pending(pool, day) => {
                    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
                    (rx, tokio::spawn(stream_day(pool, day, tx)))
                }
                Extraction::Running(rx, task) => (rx, task),
                Extraction::Done => return None,
            };
            match rx.recv().await {
                Some(Ok(chunk)) => Some((Ok(chunk), Extraction::Running(rx, task))),
                Some(Err(e)) => Some((Err(e), Extraction::Done)),
                // The channel closes when the task ends: a panic must not pass for the end
                // of the day.
                None => match task.await {
                    Ok(()) => None,
                    Err(e) => Some((
                        Err(PurchaseStoreError::Unexpected(anyhow!(
                            "the extraction task failed: {e}"
                        ))),
                        Extraction::Done,
                    )),
                },
            }
        })
        .boxed()
    }

    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError> {
        let rows = sqlx::query(
            "SELECT customer_id, name, email, city, country, segment, signed_up_at \
             FROM customers ORDER BY customer_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| pg_err(e, "read customers"))?;
        rows.iter().map(customer_from_row).collect()
    }

    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError> {
        let rows = sqlx::query(
            "SELECT product_id, gender, master_category, sub_category, article_type, base_colour, \
             season, year, usage, display_name, price_cents FROM products ORDER BY product_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| pg_err(e, "read products"))?;
        rows.iter().map(product_from_row).collect()
    }
}

fn unexpected(e: impl Into<anyhow::Error>, what: &str) -> PurchaseStoreError {
    PurchaseStoreError::Unexpected(e.into().context(format!("failed to {what}")))
}

fn customer_from_row(r: &PgRow) -> Result<Customer, PurchaseStoreError> {
    let what = "read customers";
    Ok(Customer {
        id: CustomerId::from_i64(r.try_get(0).map_err(|e| pg_err(e, what))?)
            .map_err(|e| unexpected(e, what))?,
        name: r.try_get(1).map_err(|e| pg_err(e, what))?,
        email: r.try_get(2).map_err(|e| pg_err(e, what))?,
        city: r.try_get(3).map_err(|e| pg_err(e, what))?,
        country: r.try_get(4).map_err(|e| pg_err(e, what))?,
        segment: r.try_get(5).map_err(|e| pg_err(e, what))?,
        signed_up_at: r.try_get(6).map_err(|e| pg_err(e, what))?,
    })
}

fn product_from_row(r: &PgRow) -> Result<Product, PurchaseStoreError> {
    let what = "read products";
    let year: Option<i32> = r.try_get(7).map_err(|e| pg_err(e, what))?;
    Ok(Product {
        id: ProductId::from_i64(r.try_get(0).map_err(|e| pg_err(e, what))?)
            .map_err(|e| unexpected(e, what))?,
        gender: r.try_get(1).map_err(|e| pg_err(e, what))?,
        master_category: r.try_get(2).map_err(|e| pg_err(e, what))?,
        sub_category: r.try_get(3).map_err(|e| pg_err(e, what))?,
        article_type: r.try_get(4).map_err(|e| pg_err(e, what))?,
        base_colour: r.try_get(5).map_err(|e| pg_err(e, what))?,
        season: r.try_get(6).map_err(|e| pg_err(e, what))?,
        year: year.and_then(|y| u16::try_from(y).ok()),
        usage: r.try_get(8).map_err(|e| pg_err(e, what))?,
        product_display_name: r.try_get(9).map_err(|e| pg_err(e, what))?,
        price: r
            .try_get::<Option<i64>, _>(10)
            .map_err(|e| pg_err(e, what))?
            .map(Cents),
    })
}

/// Whether `name` can be spliced into SQL as a quoted identifier without escaping.
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{
        DAY_ID_RANGE, LINES_IN_RANGE_COPY, LINES_OF_DAY_COPY, LinesPlan, is_snapshot_id,
    };

    #[test]
    fn a_batch_naming_a_row_twice_keeps_the_last_version() {
        let rows = [(1, "a"), (2, "b"), (1, "c")];
        let kept = last_by_key(&rows, |r| r.0);
        assert_eq!(kept, vec![&(1, "c"), &(2, "b")]);
    }

    #[test]
    fn lines_are_read_by_id_range_unless_the_ids_are_scattered() {
        assert_eq!(LinesPlan::choose(None, None, 0), LinesPlan::Nothing);
        assert_eq!(
            LinesPlan::choose(Some(1_000), Some(400_000), 300_000),
            LinesPlan::Range
        );
        assert_eq!(
            LinesPlan::choose(Some(1), Some(9_000_000_000), 2),
            LinesPlan::SemiJoin
        );
        assert_eq!(
            LinesPlan::choose(Some(1), Some(i64::MAX), 2),
            LinesPlan::SemiJoin,
            "no overflow"
        );
    }

    #[test]
    fn only_plain_schema_names_are_spliced() {
        assert!(is_plain_identifier("t_0123abcd"));
        assert!(is_plain_identifier("fashion"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a\"; DROP SCHEMA public; --"));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }

    #[test]
    fn only_snapshot_ids_are_spliced() {
        assert!(is_snapshot_id("00000003-0000001B-1"));
        assert!(!is_snapshot_id("1'; DROP TABLE orders; --"));
        assert!(!is_snapshot_id(""));
    }

    #[test]
    fn the_statements_filter_and_order_as_the_merge_expects() {
        assert!(ORDERS_COPY.contains("ORDER BY o.order_id)"));
        assert!(LINES_IN_RANGE_COPY.contains("ORDER BY i.order_id, i.line_no, i.item_id"));
        assert!(LINES_OF_DAY_COPY.contains("ORDER BY i.order_id, i.line_no, i.item_id"));
        assert!(DAY_ID_RANGE.contains("o.recorded_at <"));
    }
}
