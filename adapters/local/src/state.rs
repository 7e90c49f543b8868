//! The embedded key-value stores, in one SQLite database (`state.db`): product catalog,
//! recommendations, user activity, dead letters and stream checkpoints.

use std::path::Path;

use async_trait::async_trait;
use chrono::Utc;
use fashion_domain::activity::UserActivity;
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::lake::{PartitionInfo, TableDef};
use fashion_domain::ports::{
    CheckpointStore, DeadLetterReader, DeadLetterSink, LakeError, ProductCatalog,
    RecommendationReader, RecommendationStore, StoreError, StreamError, TableCatalog,
    UserActivityStore,
};
use fashion_domain::product::Product;
use fashion_domain::recommendation::Recommendations;
use fashion_domain::stream::{SequenceNumber, ShardId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::error::{store_err, stream_err};
use crate::sqlite::open_sqlite;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/state_001.sql")),
    (2, include_str!("../migrations/state_002.sql")),
];

/// SQLite's limit on bound parameters is 32766; stay well below per statement.
const ROWS_PER_STATEMENT: usize = 500;

/// The `state.db` database, from which each store is a cheap view.
#[derive(Clone)]
pub struct StateDb {
    pool: SqlitePool,
}

impl StateDb {
    /// Opens (creating and migrating if needed) `state.db` at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            pool: open_sqlite(path, MIGRATIONS).await?,
        })
    }

    /// The product catalog.
    #[must_use]
    pub fn catalog(&self) -> SqliteProductCatalog {
        SqliteProductCatalog {
            pool: self.pool.clone(),
        }
    }

    /// The recommendation store.
    #[must_use]
    pub fn recommendations(&self) -> SqliteRecommendationStore {
        SqliteRecommendationStore {
            pool: self.pool.clone(),
        }
    }

    /// The user-activity store.
    #[must_use]
    pub fn activity(&self) -> SqliteUserActivityStore {
        SqliteUserActivityStore {
            pool: self.pool.clone(),
        }
    }

    /// The dead-letter store.
    #[must_use]
    pub fn dead_letters(&self) -> SqliteDeadLetterSink {
        SqliteDeadLetterSink {
            pool: self.pool.clone(),
        }
    }

    /// The checkpoint store.
    #[must_use]
    pub fn checkpoints(&self) -> SqliteCheckpointStore {
        SqliteCheckpointStore {
            pool: self.pool.clone(),
        }
    }

    /// The lake's table catalog.
    #[must_use]
    pub fn table_catalog(&self) -> SqliteTableCatalog {
        SqliteTableCatalog {
            pool: self.pool.clone(),
        }
    }
}

fn encode<T: Serialize>(v: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

/// Products as JSON documents keyed by id.
#[derive(Clone)]
pub struct SqliteProductCatalog {
    pool: SqlitePool,
}

#[async_trait]
impl ProductCatalog for SqliteProductCatalog {
    async fn upsert_many(&self, products: &[Product]) -> Result<u64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| store_err(e, "begin catalog write"))?;
        for chunk in products.chunks(ROWS_PER_STATEMENT) {
            let bodies = chunk
                .iter()
                .map(|p| encode(p, "product"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO products (id, body) ");
            qb.push_values(chunk.iter().zip(bodies), |mut b, (p, body)| {
                b.push_bind(p.id.as_i64()).push_bind(body);
            });
            qb.push(" ON CONFLICT(id) DO UPDATE SET body = excluded.body");
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| store_err(e, "upsert products"))?;
        }
        tx.commit()
            .await
            .map_err(|e| store_err(e, "commit catalog write"))?;
        Ok(products.len() as u64)
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT body FROM products WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_i64());
            }
            qb.push(")");
            let rows = qb
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| store_err(e, "read products"))?;
            for r in rows {
                out.push(decode(r.get::<&str, _>(0), "product")?);
            }
        }
        Ok(out)
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let rows = sqlx::query("SELECT body FROM products ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_err(e, "list products"))?;
        rows.iter()
            .map(|r| decode(r.get::<&str, _>(0), "product"))
            .collect()
    }
}

/// Recommendations as JSON documents keyed by customer.
#[derive(Clone)]
pub struct SqliteRecommendationStore {
    pool: SqlitePool,
}

#[async_trait]
impl RecommendationStore for SqliteRecommendationStore {
    async fn put_many(&self, recs: &[Recommendations]) -> Result<(), StoreError> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| store_err(e, "begin recommendations write"))?;
        for chunk in recs.chunks(ROWS_PER_STATEMENT) {
            let bodies = chunk
                .iter()
                .map(|r| encode(r, "recommendations"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO recommendations (customer_id, body, updated_at) ");
            qb.push_values(chunk.iter().zip(bodies), |mut b, (r, body)| {
                b.push_bind(r.customer_id.as_i64())
                    .push_bind(body)
                    .push_bind(r.updated_at.to_rfc3339());
            });
            qb.push(" ON CONFLICT(customer_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at");
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| store_err(e, "write recommendations"))?;
        }
        tx.commit()
            .await
            .map_err(|e| store_err(e, "commit recommendations"))
    }
}

#[async_trait]
impl RecommendationReader for SqliteRecommendationStore {
    async fn get(&self, customer: CustomerId) -> Result<Option<Recommendations>, StoreError> {
        let row = sqlx::query("SELECT body FROM recommendations WHERE customer_id = ?")
            .bind(customer.as_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_err(e, "read recommendations"))?;
        row.map(|r| decode(r.get::<&str, _>(0), "recommendations"))
            .transpose()
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM recommendations")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| store_err(e, "count recommendations"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Activity records with an optimistic version column.
#[derive(Clone)]
pub struct SqliteUserActivityStore {
    pool: SqlitePool,
}

#[async_trait]
impl UserActivityStore for SqliteUserActivityStore {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        let mut out = Vec::with_capacity(customers.len());
        for chunk in customers.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT version, body FROM user_activity WHERE customer_id IN (");
            let mut sep = qb.separated(", ");
            for c in chunk {
                sep.push_bind(c.as_i64());
            }
            qb.push(")");
            let rows = qb
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| store_err(e, "read activity"))?;
            for r in rows {
                let mut a: UserActivity = decode(r.get::<&str, _>(1), "user activity")?;
                a.version = u64::try_from(r.get::<i64, _>(0)).unwrap_or(0);
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn put(&self, activity: &UserActivity) -> Result<(), StoreError> {
        let body = encode(activity, "user activity")?;
        let current = i64::try_from(activity.version).unwrap_or(i64::MAX);
        let next = current.saturating_add(1);
        let result = if activity.version == 0 {
            sqlx::query("INSERT INTO user_activity (customer_id, version, body) VALUES (?, 1, ?) ON CONFLICT(customer_id) DO NOTHING")
                .bind(activity.customer_id.as_i64())
                .bind(body)
                .execute(&self.pool)
                .await
        } else {
            sqlx::query("UPDATE user_activity SET version = ?, body = ? WHERE customer_id = ? AND version = ?")
                .bind(next)
                .bind(body)
                .bind(activity.customer_id.as_i64())
                .bind(current)
                .execute(&self.pool)
                .await
        }
        .map_err(|e| store_err(e, "write activity"))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                key: activity.customer_id.to_string(),
                expected: activity.version,
            });
        }
        Ok(())
    }
}

/// Dead letters keyed by their identity, ordered by time.
#[derive(Clone)]
pub struct SqliteDeadLetterSink {
    pool: SqlitePool,
}

#[async_trait]
impl DeadLetterSink for SqliteDeadLetterSink {
    async fn put_many(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        // IMMEDIATE: the sequence read and the insert happen under the write lock, so concurrent
        // writers (processor and sink) queue on the busy timeout instead of failing the upgrade.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| store_err(e, "begin dead-letter write"))?;
        let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM dead_letters")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| store_err(e, "read dead-letter sequence"))?;
        for (i, chunk) in letters.chunks(ROWS_PER_STATEMENT).enumerate() {
            let bodies = chunk
                .iter()
                .map(|l| encode(l, "dead letter"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO dead_letters (key, seq, at, body) ");
            // Sequence numbers of one process's letters: far from i64::MAX; saturating keeps
            // the insert from wrapping into an earlier one.
            let offset = base
                .saturating_add(1)
                .saturating_add(i.saturating_mul(ROWS_PER_STATEMENT) as i64);
            qb.push_values(
                chunk.iter().zip(bodies).enumerate(),
                |mut b, (j, (l, body))| {
                    b.push_bind(l.key())
                        .push_bind(offset.saturating_add(j as i64))
                        .push_bind(l.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                        .push_bind(body);
                },
            );
            qb.push(" ON CONFLICT(key) DO NOTHING");
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| store_err(e, "write dead letters"))?;
        }
        tx.commit()
            .await
            .map_err(|e| store_err(e, "commit dead letters"))
    }
}

#[async_trait]
impl DeadLetterReader for SqliteDeadLetterSink {
    async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| store_err(e, "count dead letters"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query("SELECT body FROM dead_letters ORDER BY at, seq LIMIT ?")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_err(e, "list dead letters"))?;
        rows.iter()
            .map(|r| decode(r.get::<&str, _>(0), "dead letter"))
            .collect()
    }
}

/// Checkpoints per consumer and shard, never moving backwards.
#[derive(Clone)]
pub struct SqliteCheckpointStore {
    pool: SqlitePool,
}

/// Sequence numbers without leading zeros, so that SQL can compare them by length, then text.
fn canonical(seq: &SequenceNumber) -> String {
    let t = seq.0.trim_start_matches('0');
    if t.is_empty() {
        "0".to_owned()
    } else {
        t.to_owned()
    }
}

#[async_trait]
impl CheckpointStore for SqliteCheckpointStore {
    async fn load(
        &self,
        consumer: &str,
        shard: &ShardId,
    ) -> Result<Option<SequenceNumber>, StreamError> {
        let pos: Option<String> =
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE consumer = ? AND shard = ?")
                .bind(consumer)
                .bind(&shard.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| stream_err(e, "read checkpoint"))?;
        Ok(pos.map(SequenceNumber))
    }

    async fn commit(
        &self,
        consumer: &str,
        shard: &ShardId,
        position: &SequenceNumber,
    ) -> Result<(), StreamError> {
        sqlx::query(
            "INSERT INTO checkpoints (consumer, shard, position, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(consumer, shard) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at \
             WHERE length(excluded.position) > length(checkpoints.position) \
                OR (length(excluded.position) = length(checkpoints.position) AND excluded.position > checkpoints.position)",
        )
        .bind(consumer)
        .bind(&shard.0)
        .bind(canonical(position))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| stream_err(e, "write checkpoint"))?;
        Ok(())
    }
}

/// The lake's catalog: table definitions and partitions.
#[derive(Clone)]
pub struct SqliteTableCatalog {
    pool: SqlitePool,
}

fn lake_err(e: &StoreError) -> LakeError {
    match e {
        StoreError::Unavailable { message } => LakeError::Unavailable {
            message: message.clone(),
        },
        other => LakeError::Unexpected(anyhow::anyhow!("catalog: {other}")),
    }
}

#[async_trait]
impl TableCatalog for SqliteTableCatalog {
    async fn ensure_table(&self, table: &TableDef) -> Result<(), LakeError> {
        let def = encode(table, "table definition").map_err(|e| lake_err(&e))?;
        sqlx::query(
            "INSERT INTO lake_tables (name, definition, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at \
             WHERE lake_tables.definition <> excluded.definition",
        )
        .bind(&table.name)
        .bind(def)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| lake_err(&store_err(e, "ensure table")))?;
        Ok(())
    }

    async fn table(&self, name: &str) -> Result<Option<TableDef>, LakeError> {
        let def: Option<String> =
            sqlx::query_scalar("SELECT definition FROM lake_tables WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| lake_err(&store_err(e, "read table")))?;
        def.map(|d| decode(&d, "table definition").map_err(|e| lake_err(&e)))
            .transpose()
    }

    async fn put_partition(&self, partition: &PartitionInfo) -> Result<(), LakeError> {
        if self.table(&partition.table).await?.is_none() {
            return Err(LakeError::NotFound {
                what: format!("table {}", partition.table),
            });
        }
        let body = encode(partition, "partition").map_err(|e| lake_err(&e))?;
        sqlx::query(
            "INSERT INTO lake_partitions (table_name, partition_key, body, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(table_name, partition_key) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&partition.table)
        .bind(partition.key.path())
        .bind(body)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|e| lake_err(&store_err(e, "record partition")))?;
        Ok(())
    }

    async fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, LakeError> {
        let rows = sqlx::query(
            "SELECT body FROM lake_partitions WHERE table_name = ? ORDER BY partition_key",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| lake_err(&store_err(e, "list partitions")))?;
        rows.iter()
            .map(|r| decode(r.get::<&str, _>(0), "partition").map_err(|e| lake_err(&e)))
            .collect()
    }
}
