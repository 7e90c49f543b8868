//! Customers' recent activity in DynamoDB: one item per customer, written only if its version is
//! still the one the writer read, and expiring through DynamoDB's TTL.

use fashion_aws_core::dynamodb as schema;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{SecondsFormat, Utc};
use fashion_domain::activity::UserActivity;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{StoreError, UserActivityStore};

use super::{Item, batch_get, get_n, get_s, n, s};
use crate::error::{AwsFailure, corrupt};
use crate::retry::Backoff;

const VERSION: &str = "version";
const BODY: &str = "body";
const UPDATED_AT: &str = "updated_at";
const WHAT: &str = "user activity";

/// Activity in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (number). Items hold
/// the record as JSON in `body`, its `version` as a number, and [`Self::TTL_ATTRIBUTE`] (epoch
/// seconds) for the table's time-to-live setting, so customers who stop visiting are forgotten.
#[derive(Clone, Debug)]
pub struct DynamoDbUserActivityStore {
    client: Client,
    table: String,
    ttl: Duration,
    backoff: Backoff,
}

impl DynamoDbUserActivityStore {
    /// Partition key attribute: the customer id.
    pub const PARTITION_KEY: &'static str = schema::CUSTOMER_ID;
    /// The attribute the table's TTL setting must name.
    pub const TTL_ATTRIBUTE: &'static str = schema::EXPIRES_AT;

    /// The store in `table`; records expire `ttl` after their last write.
    #[must_use]
    pub fn new(client: Client, table: &str, ttl: Duration, backoff: Backoff) -> Self {
        Self {
            client,
            table: table.to_owned(),
            ttl,
            backoff,
        }
    }

    fn key(customer: CustomerId) -> Item {
        let mut k = Item::new();
        k.insert(Self::PARTITION_KEY.into(), n(customer.get()));
        k
    }
}

fn from_item(item: &Item) -> Result<UserActivity, StoreError> {
    let mut a: UserActivity =
        serde_json::from_str(get_s(item, BODY, WHAT)?).map_err(|e| corrupt(WHAT, e.to_string()))?;
    // The attribute is the truth: the conditional write guards it, not the JSON copy.
    a.version = get_n(item, VERSION, WHAT)?;
    Ok(a)
}

/// The longest a record is kept after its last write (ten years): a longer setting is clamped
/// to it, never turned into "expire now", which would erase the customer's dedupe history.
pub const MAX_TTL: chrono::Duration = chrono::Duration::days(3650);

/// The TTL attribute's value (epoch seconds) for a record written at `now`.
fn expires_at(now: chrono::DateTime<Utc>, ttl: std::time::Duration) -> i64 {
    let ttl = chrono::Duration::from_std(ttl)
        .unwrap_or(MAX_TTL)
        .min(MAX_TTL);
    now.checked_add_signed(ttl)
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
        .timestamp()
}

#[async_trait]
impl UserActivityStore for DynamoDbUserActivityStore {
    #[tracing::instrument(skip_all, fields(table = %self.table, customers = customers.len()), err)]
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        let keys = customers.iter().map(|c| Self::key(*c)).collect();
        batch_get(&self.client, &self.table, keys, &self.backoff)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(table = %self.table, customer = %activity.customer_id, version = activity.version), err)]
    async fn put(&self, activity: &UserActivity) -> Result<(), StoreError> {
        let next = activity.version.saturating_add(1);
        let mut stored = activity.clone();
        stored.version = next;
        let body = serde_json::to_string(&stored).map_err(|e| corrupt(WHAT, e.to_string()))?;
        let now = Utc::now();
        let expires_at = expires_at(now, self.ttl);
        let mut item = Self::key(activity.customer_id);
        item.insert(VERSION.into(), n(next));
        item.insert(BODY.into(), s(body));
        item.insert(Self::TTL_ATTRIBUTE.into(), n(expires_at));
        item.insert(
            UPDATED_AT.into(),
            s(now.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let req = if activity.version == 0 {
            // A record never stored has version 0: only a first write may create it.
            req.condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", Self::PARTITION_KEY)
        } else {
            req.condition_expression("#v = :v")
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":v", n(activity.version))
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("ConditionalCheckFailedException") {
                    Err(StoreError::Conflict {
                        key: activity.customer_id.to_string(),
                        expected: activity.version,
                    })
                } else {
                    Err(f.into_store(&format!("write activity to DynamoDB table {}", self.table)))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14, defect 8: an overflowing TTL is clamped, never "expire now".
    #[test]
    fn an_overflowing_ttl_is_clamped_to_the_longest_not_expired_at_once() {
        let now = Utc::now();
        let day = expires_at(now, std::time::Duration::from_secs(86_400));
        assert_eq!(day, now.timestamp() + 86_400);
        for huge in [
            std::time::Duration::MAX,
            std::time::Duration::from_secs(u64::MAX / 2),
        ] {
            assert_eq!(
                expires_at(now, huge),
                (now + MAX_TTL).timestamp(),
                "{huge:?}"
            );
        }
    }
}
