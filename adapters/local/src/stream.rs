//! The embedded stream: a durable, sharded log in SQLite (`stream.db`) with per-shard sequence
//! numbers, the role Kinesis plays on AWS. Several processes may publish and read at once; WAL mode
//! lets readers run beside the single writer.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fashion_domain::ports::{
    ClickstreamPublisher, ClickstreamSource, Clock, PublishReport, StreamError,
};
use fashion_domain::stream::{
    OutboundRecord, SequenceNumber, ShardId, StreamRecord, shard_for_key,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::sync::Arc;

use crate::error::stream_err;
use crate::sqlite::open_sqlite;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/stream_001.sql"))];
const ROWS_PER_STATEMENT: usize = 500;

/// A sharded log in SQLite.
#[derive(Clone)]
pub struct SqliteStreamLog {
    pool: SqlitePool,
    shards: usize,
    clock: Arc<dyn Clock>,
}

impl SqliteStreamLog {
    /// Opens the log at `path`, creating it with `shards` shards if new. An existing log keeps
    /// its shard count (re-sharding would break per-key order).
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub async fn open(path: &Path, shards: usize, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let pool = open_sqlite(path, MIGRATIONS).await?;
        // Under the write lock, so two processes opening a fresh stream agree on its shards.
        let mut tx = pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("failed to lock the stream")?;
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shards")
            .fetch_one(&mut *tx)
            .await
            .context("failed to read shards")?;
        if existing == 0 {
            for s in 0..shards.max(1) {
                sqlx::query("INSERT INTO shards (shard, next_seq) VALUES (?, 1)")
                    .bind(s as i64)
                    .execute(&mut *tx)
                    .await
                    .context("failed to create shard")?;
            }
        }
        tx.commit()
            .await
            .context("failed to create the stream's shards")?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shards")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            shards: usize::try_from(n).unwrap_or(1),
            clock,
        })
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards
    }

    /// Records held over all shards.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn record_count(&self) -> Result<u64, StreamError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| stream_err(e, "count records"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The position of the newest record each shard has ever held (`None` for a shard never
    /// written), in shard order: with a consumer's checkpoint, how far behind it is.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn heads(&self) -> Result<Vec<(ShardId, Option<SequenceNumber>)>, StreamError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT shard, next_seq FROM shards ORDER BY shard")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| stream_err(e, "read shard positions"))?;
        Ok(rows
            .into_iter()
            .map(|(shard, next)| {
                // Positions start at 1: `next_seq` 1 means nothing was ever written.
                let head = u64::try_from(next.saturating_sub(1))
                    .ok()
                    .filter(|h| *h > 0);
                (
                    Self::shard_id(usize::try_from(shard).unwrap_or(0)),
                    head.map(SequenceNumber::from_u64),
                )
            })
            .collect())
    }

    /// Deletes the records of `shard` at or before position `upto` that arrived before `cutoff`:
    /// retention for records every consumer has passed.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn trim_consumed(
        &self,
        shard: &ShardId,
        upto: &SequenceNumber,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StreamError> {
        let (Some(idx), Some(upto)) = (
            self.index_of(shard),
            upto.as_u64().and_then(|v| i64::try_from(v).ok()),
        ) else {
            return Ok(0);
        };
        let r = sqlx::query("DELETE FROM records WHERE shard = ? AND seq <= ? AND arrived_at < ?")
            .bind(idx)
            .bind(upto)
            .bind(cutoff.timestamp_micros())
            .execute(&self.pool)
            .await
            .map_err(|e| stream_err(e, "trim records"))?;
        Ok(r.rows_affected())
    }

    /// Deletes records that arrived before `cutoff` (the stream's retention period).
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn trim_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StreamError> {
        let r = sqlx::query("DELETE FROM records WHERE arrived_at < ?")
            .bind(cutoff.timestamp_micros())
            .execute(&self.pool)
            .await
            .map_err(|e| stream_err(e, "trim records"))?;
        Ok(r.rows_affected())
    }

    fn shard_id(i: usize) -> ShardId {
        ShardId(format!("shardId-{i:012}"))
    }

    fn index_of(&self, shard: &ShardId) -> Option<i64> {
        let i: usize = shard.0.strip_prefix("shardId-")?.parse().ok()?;
        (i < self.shards).then_some(i as i64)
    }
}

#[async_trait]
impl ClickstreamPublisher for SqliteStreamLog {
    async fn publish(&self, records: &[OutboundRecord]) -> Result<PublishReport, StreamError> {
        if records.is_empty() {
            return Ok(PublishReport::default());
        }
        let arrived = self.clock.now().timestamp_micros();
        let mut by_shard: BTreeMap<usize, Vec<&OutboundRecord>> = BTreeMap::new();
        for r in records {
            by_shard
                .entry(shard_for_key(&r.partition_key, self.shards))
                .or_default()
                .push(r);
        }
        // IMMEDIATE takes the write lock up front, so two publishers never hand out the same
        // sequence numbers.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| stream_err(e, "begin publish"))?;
        for (shard, recs) in by_shard {
            let next: i64 = sqlx::query_scalar("SELECT next_seq FROM shards WHERE shard = ?")
                .bind(shard as i64)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| stream_err(e, "read shard position"))?;
            let exhausted = || {
                StreamError::Unexpected(anyhow::anyhow!(
                    "shard {shard}: sequence numbers exhausted"
                ))
            };
            let after = i64::try_from(recs.len())
                .ok()
                .and_then(|n| next.checked_add(n))
                .ok_or_else(exhausted)?;
            for (c, chunk) in recs.chunks(ROWS_PER_STATEMENT).enumerate() {
                // Below `after`, which did not overflow.
                let base = next.saturating_add(c.saturating_mul(ROWS_PER_STATEMENT) as i64);
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO records (shard, seq, partition_key, data, arrived_at) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, r)| {
                    b.push_bind(shard as i64)
                        .push_bind(base.saturating_add(i as i64))
                        .push_bind(r.partition_key.as_str())
                        .push_bind(r.data.as_slice())
                        .push_bind(arrived);
                });
                qb.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| stream_err(e, "append records"))?;
            }
            sqlx::query("UPDATE shards SET next_seq = ? WHERE shard = ?")
                .bind(after)
                .bind(shard as i64)
                .execute(&mut *tx)
                .await
                .map_err(|e| stream_err(e, "advance shard position"))?;
        }
        tx.commit()
            .await
            .map_err(|e| stream_err(e, "commit publish"))?;
        Ok(PublishReport {
            accepted: records.len(),
            failed: Vec::new(),
        })
    }
}

#[async_trait]
impl ClickstreamSource for SqliteStreamLog {
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError> {
        Ok((0..self.shards).map(Self::shard_id).collect())
    }

    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError> {
        let idx = self.index_of(shard).ok_or_else(|| StreamError::NotFound {
            what: format!("shard {shard}"),
        })?;
        let after = match after {
            None => 0,
            Some(s) => s
                .as_u64()
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| StreamError::Rejected {
                    message: format!("sequence number {s} is not one of this stream's"),
                })?,
        };
        let rows = sqlx::query(
            "SELECT seq, partition_key, data, arrived_at FROM records WHERE shard = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(idx)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| stream_err(e, "read records"))?;
        Ok(rows
            .into_iter()
            .map(|r| StreamRecord {
                shard_id: shard.clone(),
                sequence_number: SequenceNumber::from_u64(
                    u64::try_from(r.get::<i64, _>(0)).unwrap_or(0),
                ),
                partition_key: r.get(1),
                data: r.get(2),
                arrived_at: DateTime::from_timestamp_micros(r.get(3)).unwrap_or_default(),
            })
            .collect())
    }
}
