//! Extracting one store day for the daily job: the day's bounds bound once per transaction, its
//! orders and lines streamed with binary `COPY` from one repeatable-read snapshot on two
//! connections, decoded in chunks and sent through a bounded channel.

use anyhow::anyhow;
use chrono::{DateTime, SecondsFormat, Utc};
use fashion_domain::calendar::StoreDay;
use fashion_domain::order::{OrderItemRow, OrderRow, StoredOrder};
use fashion_domain::ports::PurchaseStoreError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, PgConnection, Postgres};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::copy::{self, CopyFeed, Fields};
use super::{EXTRACT_CHUNK, pg_err};

/// The day's filter on `orders o`, reading the bounds `bind_day` binds; each bound is read
/// once, as an init plan, so the planner can use it as an index condition on either instant.
macro_rules! day_filter {
    () => {
        "((o.ordered_at >= (SELECT current_setting('fashion.day_start')::timestamptz) \
           AND o.ordered_at < (SELECT current_setting('fashion.day_end')::timestamptz)) \
          OR (o.recorded_at >= (SELECT current_setting('fashion.day_start')::timestamptz) \
           AND o.recorded_at < (SELECT current_setting('fashion.day_end')::timestamptz)))"
    };
}

/// The day's orders, in id order.
pub(super) const ORDERS_COPY: &str = concat!(
    "COPY (SELECT o.order_id, o.customer_id, o.ordered_at, o.recorded_at, o.status, \
     o.total_cents, o.currency FROM orders o WHERE ",
    day_filter!(),
    " ORDER BY o.order_id) TO STDOUT (FORMAT binary)"
);

/// Where the day's orders lie in id order, and how many there are.
pub(super) const DAY_ID_RANGE: &str = concat!(
    "SELECT min(o.order_id), max(o.order_id), count(*) FROM orders o WHERE ",
    day_filter!()
);

/// Every line of the order-id range bound to `fashion.first_order`/`fashion.last_order`, in
/// (order, line) order: an index range scan, no join.
pub(super) const LINES_IN_RANGE_COPY: &str = "COPY (SELECT i.order_id, i.line_no, i.product_id, i.quantity, \
    i.unit_price_cents FROM order_items i \
    WHERE i.order_id BETWEEN (SELECT current_setting('fashion.first_order')::bigint) \
                         AND (SELECT current_setting('fashion.last_order')::bigint) \
    ORDER BY i.order_id, i.line_no, i.item_id) TO STDOUT (FORMAT binary)";

/// The lines of the day's orders, in (order, line) order, for days whose ids are scattered.
pub(super) const LINES_OF_DAY_COPY: &str = concat!(
    "COPY (SELECT i.order_id, i.line_no, i.product_id, i.quantity, i.unit_price_cents \
     FROM order_items i WHERE i.order_id IN (SELECT o.order_id FROM orders o WHERE ",
    day_filter!(),
    ") ORDER BY i.order_id, i.line_no, i.item_id) TO STDOUT (FORMAT binary)"
);

/// A range scan reads at most this many ids per order of the day (plus [`RANGE_SLACK`]) before
/// the semi-join is cheaper.
const RANGE_FACTOR: i64 = 4;
const RANGE_SLACK: i64 = 10_000;

/// Columns of [`ORDERS_COPY`] and of the lines `COPY`s.
const ORDER_COLUMNS: usize = 7;
const LINE_COLUMNS: usize = 5;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Starts a read-only repeatable-read transaction: orders and their lines come from one snapshot
/// even while the shop writes.
async fn begin(conn: &mut PgConnection) -> Result<(), PurchaseStoreError> {
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *conn)
        .await
        .map_err(|e| pg_err(e, "begin extraction"))?;
    Ok(())
}

/// Binds the day's bounds for `day_filter!`, for the rest of the transaction.
async fn bind_day(conn: &mut PgConnection, day: StoreDay) -> Result<(), PurchaseStoreError> {
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

/// True for what `pg_export_snapshot` returns (`00000003-0000001B-1`): safe inside quotes.
pub(super) fn is_snapshot_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// How the day's lines are selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinesPlan {
    /// The day has no orders.
    Nothing,
    /// [`LINES_IN_RANGE_COPY`].
    Range,
    /// [`LINES_OF_DAY_COPY`].
    SemiJoin,
}

impl LinesPlan {
    pub(super) const fn statement(self) -> Option<&'static str> {
        match self {
            Self::Nothing => None,
            Self::Range => Some(LINES_IN_RANGE_COPY),
            Self::SemiJoin => Some(LINES_OF_DAY_COPY),
        }
    }

    /// A range when it reads few lines of other days, else the semi-join.
    pub(super) fn choose(first: Option<i64>, last: Option<i64>, count: i64) -> Self {
        match (first, last) {
            (Some(first), Some(last)) if count > 0 => {
                let span = last.saturating_sub(first).saturating_add(1);
                if span
                    <= count
                        .saturating_mul(RANGE_FACTOR)
                        .saturating_add(RANGE_SLACK)
                {
                    Self::Range
                } else {
                    Self::SemiJoin
                }
            }
            _ => Self::Nothing,
        }
    }
}

/// Two connections in one snapshot with the day's bounds bound: one for orders, one for lines.
pub(super) struct DayConnections {
    pub(super) orders: PoolConnection<Postgres>,
    pub(super) lines: PoolConnection<Postgres>,
    pub(super) plan: LinesPlan,
}

impl DayConnections {
    pub(super) async fn open(pool: &PgPool, day: StoreDay) -> Result<Self, PurchaseStoreError> {
        let orders = pool.acquire().await.map_err(|e| pg_err(e, "connect"))?;
        let lines = pool.acquire().await.map_err(|e| pg_err(e, "connect"))?;
        let mut conns = Self {
            orders,
            lines,
            plan: LinesPlan::Nothing,
        };
        match conns.set_up(day).await {
            Ok(()) => Ok(conns),
            Err(e) => {
                conns.close_on_drop();
                Err(e)
            }
        }
    }

    pub(super) async fn set_up(&mut self, day: StoreDay) -> Result<(), PurchaseStoreError> {
        begin(&mut self.orders).await?;
        bind_day(&mut self.orders, day).await?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *self.orders)
            .await
            .map_err(|e| pg_err(e, "export the extraction snapshot"))?;
        if !is_snapshot_id(&snapshot) {
            return Err(PurchaseStoreError::Unexpected(anyhow!(
                "unexpected snapshot id {snapshot:?}"
            )));
        }
        begin(&mut self.lines).await?;
        // SET TRANSACTION SNAPSHOT takes no parameters; the id was checked above.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET TRANSACTION SNAPSHOT '{snapshot}'"
        )))
        .execute(&mut *self.lines)
        .await
        .map_err(|e| pg_err(e, "import the extraction snapshot"))?;
        bind_day(&mut self.lines, day).await?;
        let (first, last, count): (Option<i64>, Option<i64>, i64) = sqlx::query_as(DAY_ID_RANGE)
            .fetch_one(&mut *self.lines)
            .await
            .map_err(|e| pg_err(e, "measure the day's order ids"))?;
        self.plan = LinesPlan::choose(first, last, count);
        if let (LinesPlan::Range, Some(first), Some(last)) = (self.plan, first, last) {
            sqlx::query(
                "SELECT set_config('fashion.first_order', $1, true), \
                        set_config('fashion.last_order', $2, true)",
            )
            .bind(first.to_string())
            .bind(last.to_string())
            .execute(&mut *self.lines)
            .await
            .map_err(|e| pg_err(e, "bind the day's order ids"))?;
        }
        Ok(())
    }

    pub(super) async fn commit(&mut self) -> Result<(), PurchaseStoreError> {
        for conn in [&mut self.orders, &mut self.lines] {
            sqlx::raw_sql("COMMIT")
                .execute(&mut **conn)
                .await
                .map_err(|e| pg_err(e, "commit extraction"))?;
        }
        Ok(())
    }

    /// The connections may be mid-`COPY` or mid-transaction: close them instead of handing
    /// connections with a day of unread rows back to the pool.
    pub(super) fn close_on_drop(&mut self) {
        self.orders.close_on_drop();
        self.lines.close_on_drop();
    }
}

fn order_row(f: &Fields<'_, ORDER_COLUMNS>) -> Result<OrderRow, PurchaseStoreError> {
    Ok(OrderRow {
        order_id: copy::int8(f[0], "order_id")?,
        customer_id: copy::opt_int8(f[1], "customer_id")?,
        ordered_at: copy::timestamptz(f[2], "ordered_at")?,
        recorded_at: copy::timestamptz(f[3], "recorded_at")?,
        status: copy::text(f[4], "status")?,
        total_cents: copy::int8(f[5], "total_cents")?,
        currency: copy::text(f[6], "currency")?,
    })
}

fn line_row(f: &Fields<'_, LINE_COLUMNS>) -> Result<OrderItemRow, PurchaseStoreError> {
    Ok(OrderItemRow {
        order_id: copy::int8(f[0], "order_id")?,
        line_no: copy::int4(f[1], "line_no")?,
        product_id: copy::opt_int8(f[2], "product_id")?,
        quantity: copy::int4(f[3], "quantity")?,
        unit_price_cents: copy::int8(f[4], "unit_price_cents")?,
    })
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
pub(super) async fn stream_day(pool: PgPool, day: StoreDay, tx: ChunkSender) {
    let mut conns = match DayConnections::open(&pool, day).await {
        Ok(c) => c,
        Err(e) => {
            // The receiver may be gone already; then nobody is left to tell.
            let _ = tx.send(Err(e)).await;
            return;
        }
    };
    if let Err(stop) = copy_day(&mut conns, &tx).await {
        conns.close_on_drop();
        if let Stop::Failed(e) = stop {
            let _ = tx.send(Err(e)).await;
        }
    }
}

/// Merges the orders stream with the lines stream (both in order-id order) into whole orders.
async fn copy_day(conns: &mut DayConnections, tx: &ChunkSender) -> Result<(), Stop> {
    let plan = conns.plan;
    let mut chunk: Vec<StoredOrder> = Vec::with_capacity(EXTRACT_CHUNK);
    {
        let mut orders: CopyFeed<'_, OrderRow, ORDER_COLUMNS> =
            CopyFeed::start(&mut conns.orders, ORDERS_COPY, order_row, "COPY orders").await?;
        let mut lines: Option<CopyFeed<'_, OrderItemRow, LINE_COLUMNS>> = match plan.statement() {
            Some(statement) => Some(
                CopyFeed::start(&mut conns.lines, statement, line_row, "COPY order lines").await?,
            ),
            None => None,
        };
        while let Some(order) = orders.next().await? {
            let mut items = Vec::new();
            if let Some(lines) = lines.as_mut() {
                while let Some(next) = lines.peek().await?.map(|l| l.order_id) {
                    if next > order.order_id {
                        break;
                    }
                    // Lines of an order before this one belong to an order of another day
                    // that the id range spans.
                    let line = lines.next().await?;
                    if next == order.order_id {
                        items.extend(line);
                    }
                }
            }
            chunk.push(StoredOrder { order, items });
            if chunk.len() >= EXTRACT_CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(EXTRACT_CHUNK));
                tx.send(Ok(full)).await.map_err(|_| Stop::ReceiverGone)?;
            }
        }
        if let Some(lines) = lines.as_mut() {
            // Lines after the last order of the day: none for a range ending at its last id.
            lines.drain().await?;
        }
    }
    conns.commit().await?;
    if !chunk.is_empty() {
        tx.send(Ok(chunk)).await.map_err(|_| Stop::ReceiverGone)?;
    }
    Ok(())
}

/// The state of [`PurchaseSource::extract_day`]'s stream.
pub(super) enum Extraction {
    /// Not started: called outside a runtime, the task starts on first poll.
    Pending(PgPool, StoreDay),
    /// The task is running.
    Running(
        mpsc::Receiver<Result<Vec<StoredOrder>, PurchaseStoreError>>,
        JoinHandle<()>,
    ),
    /// Ended after an error.
    Done,
}
