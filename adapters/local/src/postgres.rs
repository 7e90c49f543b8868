//! The transactional database on PostgreSQL (RDS on AWS, a local server otherwise): customers,
//! products and orders, written with array-bound statements and extracted for the daily job with
//! one streamed binary `COPY`.
//!
//! Extraction runs `COPY (SELECT …) TO STDOUT (FORMAT binary)` inside a read-only repeatable-read
//! transaction on a task of its own. The task decodes rows as they arrive, groups them into whole
//! orders and hands chunks of [`EXTRACT_CHUNK`] orders to the caller through a channel of
//! [`CHANNEL_DEPTH`] chunks: when the caller is slower than the database, the channel fills, the
//! task stops reading, and TCP back-pressure pauses the server. At most a few chunks are ever in
//! memory, however large the day, and decoding overlaps the caller's work on a second core.
//!
//! `COPY` takes no bind parameters, so the day's bounds are bound to `set_config` in the same
//! transaction and the (constant) `COPY` statement reads them with `current_setting`: no value is
//! ever spliced into SQL text.

use std::collections::HashMap;
use std::str::FromStr;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use fashion_domain::calendar::StoreDay;
use fashion_domain::customer::Customer;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::money::Cents;
use fashion_domain::order::{OrderItemRow, OrderRow, StoredOrder};
use fashion_domain::ports::{PurchaseSource, PurchaseStore, PurchaseStoreError};
use fashion_domain::product::Product;
use futures::TryStreamExt;
use futures::stream::{self, BoxStream, StreamExt};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::purchases::db_err;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/store_postgres_001.sql"))];

/// Any constant works as long as nothing else in the database takes the same advisory lock.
const MIGRATION_LOCK: i64 = 0x00fa_5410_0001;

/// Orders per write statement (their lines go in one more statement).
const ORDERS_PER_STATEMENT: usize = 10_000;

/// Orders per chunk handed to the caller of [`PurchaseSource::extract_day`].
pub const EXTRACT_CHUNK: usize = 4_096;

/// Chunks decoded ahead of the caller; the memory bound of an extraction.
pub const CHANNEL_DEPTH: usize = 4;

/// The day's orders and lines, one row per line (an order without lines gives one row of nulls),
/// in the order the contract promises. Bounds come from `begin_day`.
const EXTRACT_COPY: &str = "COPY ( \
    SELECT o.order_id, o.customer_id, o.ordered_at, o.recorded_at, o.status, o.total_cents, \
           o.currency, i.line_no, i.product_id, i.quantity, i.unit_price_cents \
    FROM orders o LEFT JOIN order_items i ON i.order_id = o.order_id \
    WHERE (o.ordered_at >= current_setting('fashion.day_start')::timestamptz \
           AND o.ordered_at < current_setting('fashion.day_end')::timestamptz) \
       OR (o.recorded_at >= current_setting('fashion.day_start')::timestamptz \
           AND o.recorded_at < current_setting('fashion.day_end')::timestamptz) \
    ORDER BY o.order_id, i.line_no, i.item_id \
) TO STDOUT (FORMAT binary)";

/// Columns of [`EXTRACT_COPY`].
const EXTRACT_COLUMNS: usize = 11;

/// SQLSTATE codes that go away by retrying: serialization failure, deadlock, too many
/// connections, server shutting down or starting up.
const TRANSIENT_SQLSTATES: &[&str] = &["40001", "40P01", "53300", "57P01", "57P02", "57P03"];

fn pg_err(e: sqlx::Error, what: &str) -> PurchaseStoreError {
    if let sqlx::Error::Database(db) = &e
        && db
            .code()
            .is_some_and(|c| TRANSIENT_SQLSTATES.contains(&c.as_ref()))
    {
        return PurchaseStoreError::Unavailable {
            message: format!("{what}: {}", db.message()),
        };
    }
    db_err(e, what)
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

    /// The connection pool, for tools that load or inspect the database directly.
    #[must_use]
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs the extraction's `COPY` for `day` exactly as [`PurchaseSource::extract_day`] does
    /// (same transaction, same statement) but only counts what arrives: the floor a benchmark
    /// compares the whole daily job against.
    ///
    /// # Errors
    /// [`PurchaseStoreError`] when the database fails.
    pub async fn copy_floor(&self, day: StoreDay) -> Result<CopyFloor, PurchaseStoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| pg_err(e, "connect"))?;
        let result = async {
            begin_day(&mut conn, day).await?;
            let mut floor = CopyFloor::default();
            {
                let mut rows = conn
                    .copy_out_raw(EXTRACT_COPY)
                    .await
                    .map_err(|e| pg_err(e, "start COPY"))?;
                while let Some(bytes) = rows.try_next().await.map_err(|e| pg_err(e, "COPY"))? {
                    floor.messages += 1;
                    floor.bytes += bytes.len() as u64;
                }
            }
            sqlx::raw_sql("COMMIT")
                .execute(&mut *conn)
                .await
                .map_err(|e| pg_err(e, "commit"))?;
            Ok(floor)
        }
        .await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }
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
            Some(&i) => out[i] = item,
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

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Opens the extraction's transaction on `conn` and binds the day's bounds for [`EXTRACT_COPY`].
async fn begin_day(conn: &mut PgConnection, day: StoreDay) -> Result<(), PurchaseStoreError> {
    // Repeatable read: orders and their lines come from one snapshot even while the shop writes.
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *conn)
        .await
        .map_err(|e| pg_err(e, "begin extraction"))?;
    sqlx::query(
        "SELECT set_config('fashion.day_start', $1, true), set_config('fashion.day_end', $2, true)",
    )
    .bind(rfc3339(day.start))
    .bind(rfc3339(day.end))
    .execute(&mut *conn)
    .await
    .map_err(|e| pg_err(e, "bind the day's bounds"))?;
    Ok(())
}

/// Why the extraction task stopped early.
enum Stop {
    /// The caller dropped the stream.
    ReceiverGone,
    /// The database or the decoder failed.
    Failed(PurchaseStoreError),
}

impl From<PurchaseStoreError> for Stop {
    fn from(e: PurchaseStoreError) -> Self {
        Self::Failed(e)
    }
}

type ChunkSender = mpsc::Sender<Result<Vec<StoredOrder>, PurchaseStoreError>>;

/// The extraction task: streams the day through `tx`, or one error.
async fn stream_day(pool: PgPool, day: StoreDay, tx: ChunkSender) {
    let mut conn: PoolConnection<Postgres> = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            // The receiver may be gone already; then nobody is left to tell.
            let _ = tx.send(Err(pg_err(e, "connect"))).await;
            return;
        }
    };
    match copy_day(&mut conn, day, &tx).await {
        Ok(()) => {}
        Err(stop) => {
            // The connection may be mid-COPY or mid-transaction: close it instead of handing a
            // connection with a day of unread rows back to the pool.
            conn.close_on_drop();
            if let Stop::Failed(e) = stop {
                let _ = tx.send(Err(e)).await;
            }
        }
    }
}

async fn copy_day(conn: &mut PgConnection, day: StoreDay, tx: &ChunkSender) -> Result<(), Stop> {
    begin_day(conn, day).await?;
    let mut decoder = CopyDecoder::default();
    let mut chunk: Vec<StoredOrder> = Vec::with_capacity(EXTRACT_CHUNK);
    {
        let mut rows = conn
            .copy_out_raw(EXTRACT_COPY)
            .await
            .map_err(|e| pg_err(e, "start COPY"))?;
        while let Some(bytes) = rows
            .try_next()
            .await
            .map_err(|e| pg_err(e, "COPY orders"))?
        {
            decoder.feed(&bytes, &mut chunk)?;
            if chunk.len() >= EXTRACT_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(EXTRACT_CHUNK));
                tx.send(Ok(full)).await.map_err(|_| Stop::ReceiverGone)?;
            }
        }
    }
    decoder.finish(&mut chunk)?;
    sqlx::raw_sql("COMMIT")
        .execute(&mut *conn)
        .await
        .map_err(|e| pg_err(e, "commit extraction"))?;
    if !chunk.is_empty() {
        tx.send(Ok(chunk)).await.map_err(|_| Stop::ReceiverGone)?;
    }
    Ok(())
}

/// The state of [`PurchaseSource::extract_day`]'s stream.
enum Extraction {
    /// Not polled yet: the task starts on first poll, inside the caller's runtime.
    Pending(PgPool, StoreDay),
    /// The task is running.
    Running(
        mpsc::Receiver<Result<Vec<StoredOrder>, PurchaseStoreError>>,
        JoinHandle<()>,
    ),
    /// Ended after an error.
    Done,
}

#[async_trait]
impl PurchaseSource for PostgresPurchaseStore {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        stream::unfold(
            Extraction::Pending(self.pool.clone(), day),
            |state| async move {
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
            },
        )
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

/// The binary `COPY` signature, followed by a flags word and a header-extension length.
const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Decodes the rows of [`EXTRACT_COPY`] in binary `COPY` format, whatever way the server splits
/// them into messages, and groups them into whole orders.
#[derive(Default)]
struct CopyDecoder {
    /// Bytes of an incomplete header or row, kept until the next message completes them.
    carry: Vec<u8>,
    header_done: bool,
    trailer_seen: bool,
    /// The order being assembled: its lines may continue in the next row.
    current: Option<StoredOrder>,
}

fn bad_copy(message: impl std::fmt::Display) -> PurchaseStoreError {
    PurchaseStoreError::Unexpected(anyhow!("unexpected binary COPY data: {message}"))
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn int8(field: Option<&[u8]>, name: &str) -> Result<i64, PurchaseStoreError> {
    opt_int8(field, name)?.ok_or_else(|| bad_copy(format!("{name} is null")))
}

fn opt_int8(field: Option<&[u8]>, name: &str) -> Result<Option<i64>, PurchaseStoreError> {
    field
        .map(|b| {
            <[u8; 8]>::try_from(b)
                .map(i64::from_be_bytes)
                .map_err(|_| bad_copy(format!("{name} has {} bytes, not 8", b.len())))
        })
        .transpose()
}

fn int4(field: Option<&[u8]>, name: &str) -> Result<i32, PurchaseStoreError> {
    let b = field.ok_or_else(|| bad_copy(format!("{name} is null")))?;
    <[u8; 4]>::try_from(b)
        .map(i32::from_be_bytes)
        .map_err(|_| bad_copy(format!("{name} has {} bytes, not 4", b.len())))
}

fn timestamptz(field: Option<&[u8]>, name: &str) -> Result<DateTime<Utc>, PurchaseStoreError> {
    let micros = int8(field, name)?;
    micros
        .checked_add(PG_EPOCH_MICROS)
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| bad_copy(format!("{name} {micros} is out of range")))
}

fn text(field: Option<&[u8]>, name: &str) -> Result<String, PurchaseStoreError> {
    let b = field.ok_or_else(|| bad_copy(format!("{name} is null")))?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|e| bad_copy(format!("{name} is not UTF-8: {e}")))
}

impl CopyDecoder {
    /// Decodes one `CopyData` message, pushing every order completed by it onto `out`.
    fn feed(&mut self, data: &[u8], out: &mut Vec<StoredOrder>) -> Result<(), PurchaseStoreError> {
        if self.carry.is_empty() {
            // The usual case: the message holds whole rows and nothing needs copying.
            let used = self.parse(data, out)?;
            self.carry.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(data);
            let used = self.parse(&buf, out)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Checks the stream ended cleanly and pushes the last order.
    fn finish(mut self, out: &mut Vec<StoredOrder>) -> Result<(), PurchaseStoreError> {
        if !self.carry.is_empty() || (self.header_done && !self.trailer_seen) {
            return Err(bad_copy("the stream ended inside a row"));
        }
        out.extend(self.current.take());
        Ok(())
    }

    /// Parses complete rows from `buf`; returns how many bytes were used.
    fn parse(
        &mut self,
        buf: &[u8],
        out: &mut Vec<StoredOrder>,
    ) -> Result<usize, PurchaseStoreError> {
        let mut pos = 0;
        if !self.header_done {
            let fixed = COPY_SIGNATURE.len() + 8;
            if buf.len() < fixed {
                return Ok(0);
            }
            if &buf[..COPY_SIGNATURE.len()] != COPY_SIGNATURE {
                return Err(bad_copy("missing PGCOPY signature"));
            }
            let ext = usize::try_from(be_i32(&buf[fixed - 4..fixed]))
                .map_err(|_| bad_copy("negative header extension length"))?;
            if buf.len() < fixed + ext {
                return Ok(0);
            }
            pos = fixed + ext;
            self.header_done = true;
        }
        let mut fields: [Option<&[u8]>; EXTRACT_COLUMNS] = [None; EXTRACT_COLUMNS];
        loop {
            if self.trailer_seen {
                return if pos == buf.len() {
                    Ok(pos)
                } else {
                    Err(bad_copy("data after the trailer"))
                };
            }
            let Some(count) = buf.get(pos..pos + 2).map(be_i16) else {
                return Ok(pos);
            };
            if count == -1 {
                self.trailer_seen = true;
                pos += 2;
                continue;
            }
            if usize::try_from(count).ok() != Some(EXTRACT_COLUMNS) {
                return Err(bad_copy(format!(
                    "{count} columns, expected {EXTRACT_COLUMNS}"
                )));
            }
            // Find every field of the row first: a row cut by the message boundary waits.
            let mut at = pos + 2;
            for slot in &mut fields {
                let Some(len) = buf.get(at..at + 4).map(be_i32) else {
                    return Ok(pos);
                };
                at += 4;
                if len < 0 {
                    *slot = None;
                } else {
                    let end = at + usize::try_from(len).unwrap_or(usize::MAX - at);
                    let Some(value) = buf.get(at..end) else {
                        return Ok(pos);
                    };
                    *slot = Some(value);
                    at = end;
                }
            }
            self.row(&fields, out)?;
            pos = at;
        }
    }

    /// One joined (order, line) row.
    fn row(
        &mut self,
        f: &[Option<&[u8]>; EXTRACT_COLUMNS],
        out: &mut Vec<StoredOrder>,
    ) -> Result<(), PurchaseStoreError> {
        let order_id = int8(f[0], "order_id")?;
        let same = self
            .current
            .as_ref()
            .is_some_and(|o| o.order.order_id == order_id);
        if !same {
            let order = OrderRow {
                order_id,
                customer_id: opt_int8(f[1], "customer_id")?,
                ordered_at: timestamptz(f[2], "ordered_at")?,
                recorded_at: timestamptz(f[3], "recorded_at")?,
                status: text(f[4], "status")?,
                total_cents: int8(f[5], "total_cents")?,
                currency: text(f[6], "currency")?,
            };
            let done = self.current.replace(StoredOrder {
                order,
                items: Vec::new(),
            });
            out.extend(done);
        }
        // A null line number is the LEFT JOIN's row for an order without lines.
        if f[7].is_some()
            && let Some(current) = self.current.as_mut()
        {
            current.items.push(OrderItemRow {
                order_id,
                line_no: int4(f[7], "line_no")?,
                product_id: opt_int8(f[8], "product_id")?,
                quantity: int4(f[9], "quantity")?,
                unit_price_cents: int8(f[10], "unit_price_cents")?,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }

    fn row(out: &mut Vec<u8>, order_id: i64, line: Option<(i32, Option<i64>)>) {
        out.extend_from_slice(&11i16.to_be_bytes());
        field(out, Some(&order_id.to_be_bytes()));
        field(out, None);
        field(out, Some(&0i64.to_be_bytes()));
        field(out, Some(&86_400_000_000i64.to_be_bytes()));
        field(out, Some(b"paid"));
        field(out, Some(&1000i64.to_be_bytes()));
        field(out, Some(b"USD"));
        match line {
            Some((no, product)) => {
                field(out, Some(&no.to_be_bytes()));
                field(out, product.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
                field(out, Some(&2i32.to_be_bytes()));
                field(out, Some(&500i64.to_be_bytes()));
            }
            None => (0..4).for_each(|_| field(out, None)),
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = COPY_SIGNATURE.to_vec();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        row(&mut b, 7, Some((1, Some(3))));
        row(&mut b, 7, Some((2, None)));
        row(&mut b, 9, None);
        row(&mut b, 12, Some((1, Some(4))));
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn decode(messages: &[&[u8]]) -> Result<Vec<StoredOrder>, PurchaseStoreError> {
        let mut d = CopyDecoder::default();
        let mut out = Vec::new();
        for m in messages {
            d.feed(m, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn the_decoder_groups_rows_into_whole_orders() {
        let orders = decode(&[&sample()]).unwrap();
        assert_eq!(
            orders.iter().map(|o| o.order.order_id).collect::<Vec<_>>(),
            vec![7, 9, 12]
        );
        assert_eq!(orders[0].items.len(), 2);
        assert_eq!(orders[0].items[1].product_id, None);
        assert!(orders[1].items.is_empty(), "an order without lines");
        assert_eq!(orders[0].order.status, "paid");
        assert_eq!(
            orders[0].order.recorded_at,
            "2000-01-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn the_decoder_gives_the_same_orders_however_the_bytes_are_split() {
        let bytes = sample();
        let whole = decode(&[&bytes]).unwrap();
        for cut in [1, 5, 11, 19, 20, 23, 40, bytes.len() - 1] {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(decode(&[a, b]).unwrap(), whole, "split at {cut}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode(&bytewise).unwrap(), whole);
    }

    #[test]
    fn the_decoder_refuses_truncated_streams_and_foreign_layouts() {
        let bytes = sample();
        assert!(decode(&[&bytes[..bytes.len() - 2]]).is_err(), "no trailer");
        assert!(decode(&[&bytes[..bytes.len() - 9]]).is_err(), "cut row");
        let mut other = COPY_SIGNATURE.to_vec();
        other.extend_from_slice(&[0; 8]);
        other.extend_from_slice(&3i16.to_be_bytes());
        assert!(decode(&[&other]).is_err(), "three columns");
        assert!(decode(&[b"NOTCOPY-DATA-AT-ALL"]).is_err());
    }

    #[test]
    fn a_batch_naming_a_row_twice_keeps_the_last_version() {
        let rows = [(1, "a"), (2, "b"), (1, "c")];
        let kept = last_by_key(&rows, |r| r.0);
        assert_eq!(kept, vec![&(1, "c"), &(2, "b")]);
    }
}
