//! Stream checkpoints in DynamoDB: one item per consumer and shard, moved only forward by a
//! conditional write.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{SecondsFormat, Utc};
use fashion_aws_core::dynamodb as schema;
use fashion_domain::ports::{CheckpointStore, StreamError};
use fashion_domain::stream::{SequenceNumber, ShardId};

use super::{Item, get_s, n, s};
use crate::error::{AwsFailure, stream_err};

const POSITION: &str = "position";
const POSITION_DIGITS: &str = "position_digits";
const UPDATED_AT: &str = "updated_at";

/// Checkpoints in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (string) and sort
/// key [`Self::SORT_KEY`] (string).
///
/// Kinesis sequence numbers have up to 128 bits, beyond DynamoDB's 38-digit numbers, so a
/// position is stored as its digits without leading zeros plus its digit count; comparing the
/// count, then the digits as text, is numeric order.
#[derive(Clone, Debug)]
pub struct DynamoDbCheckpointStore {
    client: Client,
    table: String,
}

impl DynamoDbCheckpointStore {
    /// Partition key attribute: the consumer's name.
    pub const PARTITION_KEY: &'static str = schema::CONSUMER;
    /// Sort key attribute: the shard id.
    pub const SORT_KEY: &'static str = schema::SHARD;

    /// The store in `table`.
    #[must_use]
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

/// The digits of a sequence number without leading zeros (`"0"` for zero), or `None` when it is
/// not a decimal number.
fn canonical(seq: &SequenceNumber) -> Option<String> {
    if seq.0.is_empty() || !seq.0.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = seq.0.trim_start_matches('0');
    Some(if t.is_empty() { "0".into() } else { t.into() })
}

#[async_trait]
impl CheckpointStore for DynamoDbCheckpointStore {
    #[tracing::instrument(skip_all, fields(table = %self.table, consumer = %consumer, shard = %shard), err)]
    async fn load(
        &self,
        consumer: &str,
        shard: &ShardId,
    ) -> Result<Option<SequenceNumber>, StreamError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(Self::PARTITION_KEY, s(consumer))
            .key(Self::SORT_KEY, s(&shard.0))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                stream_err(
                    &e,
                    &format!("read checkpoint from DynamoDB table {}", self.table),
                )
            })?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        get_s(item, POSITION, "checkpoint")
            .map(|p| Some(SequenceNumber(p.to_owned())))
            .map_err(|e| StreamError::Unexpected(anyhow::Error::new(e)))
    }

    #[tracing::instrument(skip_all, fields(table = %self.table, consumer = %consumer, shard = %shard, position = %position), err)]
    async fn commit(
        &self,
        consumer: &str,
        shard: &ShardId,
        position: &SequenceNumber,
    ) -> Result<(), StreamError> {
        let digits = canonical(position).ok_or_else(|| StreamError::Rejected {
            message: format!("sequence number {position:?} is not a decimal number"),
        })?;
        let mut item = Item::new();
        item.insert(Self::PARTITION_KEY.into(), s(consumer));
        item.insert(Self::SORT_KEY.into(), s(&shard.0));
        item.insert(POSITION.into(), s(&digits));
        item.insert(POSITION_DIGITS.into(), n(digits.len()));
        item.insert(
            UPDATED_AT.into(),
            s(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pos) OR #len < :len OR (#len = :len AND #pos < :pos)",
            )
            .expression_attribute_names("#pos", POSITION)
            .expression_attribute_names("#len", POSITION_DIGITS)
            .expression_attribute_values(":pos", s(&digits))
            .expression_attribute_values(":len", n(digits.len()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("ConditionalCheckFailedException") {
                    // The stored position is at or after this one: positions never move back.
                    Ok(())
                } else {
                    Err(f.into_stream(&format!(
                        "write checkpoint to DynamoDB table {}",
                        self.table
                    )))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_stored_without_leading_zeros_and_must_be_decimal() {
        let q = |v: &str| canonical(&SequenceNumber(v.into()));
        assert_eq!(q("0049"), Some("49".into()));
        assert_eq!(q("000"), Some("0".into()));
        assert_eq!(q("12a"), None);
        assert_eq!(q(""), None);
    }
}
