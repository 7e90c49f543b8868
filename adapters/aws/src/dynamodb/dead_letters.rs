//! Dead letters in DynamoDB: one item per [`DeadLetter::key`], created only once (a conditional
//! put), listed oldest first through a global secondary index on the time they were set aside.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use fashion_aws_core::dynamodb as schema;
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ports::{DeadLetterReader, DeadLetterSink, StoreError};
use futures::{StreamExt, TryStreamExt};

use super::{Item, get_s, s, scan_count};
use crate::error::{AwsFailure, corrupt, store_err};

const BODY: &str = "body";
const WHAT: &str = "dead letter";
/// Concurrent conditional puts per `put_many`.
const PUT_CONCURRENCY: usize = 16;
/// The one value of the index's partition key: dead letters are rare, one partition is enough.
const FEED_VALUE: &str = "all";

/// Dead letters in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (string) and a
/// global secondary index [`Self::TIME_INDEX`] with partition key [`Self::INDEX_PARTITION_KEY`]
/// (string) and sort key [`Self::INDEX_SORT_KEY`] (string), projecting all attributes.
///
/// Listing reads the index, which DynamoDB updates asynchronously: a letter stored a moment ago
/// may be missing from a list for that moment (counting reads the table and is exact).
#[derive(Clone, Debug)]
pub struct DynamoDbDeadLetterSink {
    client: Client,
    table: String,
}

impl DynamoDbDeadLetterSink {
    /// Partition key attribute: [`DeadLetter::key`].
    pub const PARTITION_KEY: &'static str = schema::DEAD_LETTER_KEY;
    /// The index that orders dead letters by time.
    pub const TIME_INDEX: &'static str = schema::DEAD_LETTERS_TIME_INDEX;
    /// Partition key attribute of [`Self::TIME_INDEX`] (always the same value).
    pub const INDEX_PARTITION_KEY: &'static str = schema::FEED;
    /// Sort key attribute of [`Self::TIME_INDEX`]: when the letter was set aside, as fixed-width
    /// UTC text with nanoseconds, so text order is time order.
    pub const INDEX_SORT_KEY: &'static str = schema::SET_ASIDE_AT;

    /// The sink in `table`.
    #[must_use]
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    async fn put_one(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        let body = serde_json::to_string(letter).map_err(|e| corrupt(WHAT, e.to_string()))?;
        let mut item = Item::new();
        item.insert(Self::PARTITION_KEY.into(), s(letter.key()));
        item.insert(Self::INDEX_PARTITION_KEY.into(), s(FEED_VALUE));
        item.insert(Self::INDEX_SORT_KEY.into(), s(sortable(&letter.at)));
        item.insert(BODY.into(), s(body));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", Self::PARTITION_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("ConditionalCheckFailedException") {
                    // Already stored (a replayed batch): the first one, with its time, stays.
                    Ok(())
                } else {
                    Err(f.into_store(&format!(
                        "write dead letter to DynamoDB table {}",
                        self.table
                    )))
                }
            }
        }
    }
}

/// Fixed-width UTC text of an instant whose text order is its time order.
fn sortable(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

#[async_trait]
impl DeadLetterSink for DynamoDbDeadLetterSink {
    #[tracing::instrument(skip_all, fields(table = %self.table, letters = letters.len()), err)]
    async fn put_many(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        // A plain loop builds the futures: a closure here trips the `Send` check of async-trait.
        let mut puts = Vec::with_capacity(letters.len());
        for l in letters {
            puts.push(self.put_one(l));
        }
        futures::stream::iter(puts)
            .buffer_unordered(PUT_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl DeadLetterReader for DynamoDbDeadLetterSink {
    #[tracing::instrument(skip_all, fields(table = %self.table), err)]
    async fn count(&self) -> Result<u64, StoreError> {
        scan_count(&self.client, &self.table).await
    }

    #[tracing::instrument(skip_all, fields(table = %self.table, limit = limit), err)]
    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let page_size = i32::try_from(limit.saturating_sub(out.len())).unwrap_or(i32::MAX);
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(Self::TIME_INDEX)
                .key_condition_expression("#f = :f")
                .expression_attribute_names("#f", Self::INDEX_PARTITION_KEY)
                .expression_attribute_values(":f", s(FEED_VALUE))
                .scan_index_forward(true)
                .limit(page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    store_err(
                        &e,
                        &format!("list dead letters of DynamoDB table {}", self.table),
                    )
                })?;
            for item in page.items() {
                let letter: DeadLetter = serde_json::from_str(get_s(item, BODY, WHAT)?)
                    .map_err(|e| corrupt(WHAT, e.to_string()))?;
                out.push(letter);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_times_sort_as_text_in_time_order() {
        let a: DateTime<Utc> = "2026-11-25T10:00:09.5Z".parse().unwrap();
        let b: DateTime<Utc> = "2026-11-25T10:00:10Z".parse().unwrap();
        assert!(sortable(&a) < sortable(&b));
        assert_eq!(sortable(&b), "2026-11-25T10:00:10.000000000Z");
    }
}
