//! Customers' recent activity in DynamoDB: one item per customer, written only if its version is
//! still the one the writer read, and expiring through DynamoDB's TTL.

use fashion_aws_core::dynamodb as schema;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{SecondsFormat, Utc};
use fashion_domain::activity::{UserActivity, codec};
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{StoreError, UserActivityStore};

use super::{Item, batch_get, get_n, get_s, n, s};
use crate::error::{AwsFailure, corrupt};
use crate::retry::Backoff;

const VERSION: &str = "version";
/// The record in its compact binary form (`fashion_domain::activity::codec`).
const STATE: &str = "state";
/// The record as JSON, as items written before the compact form hold it (read, never written).
const BODY: &str = "body";
const UPDATED_AT: &str = "updated_at";
const WHAT: &str = "user activity";

/// Activity in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (number). Items hold
/// the record in its compact binary form in `state` (under 1 KB with the other attributes, so
/// one write unit per update; items written before hold JSON in `body`, still read), its
/// `version` as a number, and [`Self::TTL_ATTRIBUTE`] (epoch seconds) for the table's
/// time-to-live setting, so customers who stop visiting are forgotten.
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
    // The attribute is the truth: the conditional write guards it.
    let version = get_n(item, VERSION, WHAT)?;
    if let Some(state) = item.get(STATE) {
        let bytes = state
            .as_b()
            .map_err(|_| corrupt(WHAT, format!("{STATE} is not binary")))?;
        return codec::decode(bytes.as_ref(), version).map_err(|e| corrupt(WHAT, e.to_string()));
    }
    let mut a: UserActivity =
        serde_json::from_str(get_s(item, BODY, WHAT)?).map_err(|e| corrupt(WHAT, e.to_string()))?;
    a.version = version;
    Ok(a)
}

/// The item that stores `activity` as version `next`, written at `now`.
fn to_item(
    activity: &UserActivity,
    next: u64,
    now: chrono::DateTime<Utc>,
    ttl: Duration,
) -> Result<Item, StoreError> {
    let state = codec::encode(activity).map_err(|e| corrupt(WHAT, e.to_string()))?;
    let mut item = DynamoDbUserActivityStore::key(activity.customer_id);
    item.insert(VERSION.into(), n(next));
    item.insert(STATE.into(), AttributeValue::B(Blob::new(state)));
    item.insert(
        DynamoDbUserActivityStore::TTL_ATTRIBUTE.into(),
        n(expires_at(now, ttl)),
    );
    item.insert(
        UPDATED_AT.into(),
        s(now.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    Ok(item)
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
        let item = to_item(activity, next, Utc::now(), self.ttl)?;
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
    use fashion_domain::activity::{
        Interaction, MAX_PURCHASED, MAX_RECENT_INTERACTIONS, MAX_SEEN_EVENTS,
    };
    use fashion_domain::event::EventType;
    use fashion_domain::ids::{EventId, ProductId};
    use fashion_domain::stream::{SequenceNumber, ShardId};

    /// DynamoDB's size of an item: each attribute's name plus its value (strings and binary by
    /// length; numbers about one byte per two significant digits, plus one).
    fn item_size(item: &Item) -> usize {
        item.iter()
            .map(|(name, v)| {
                name.len()
                    + match v {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::B(b) => b.as_ref().len(),
                        AttributeValue::N(n) => {
                            let digits = n.trim_start_matches(['-', '0']).replace('.', "");
                            digits.len().div_ceil(2) + 1
                        }
                        other => panic!("no size rule here for {other:?}"),
                    }
            })
            .sum()
    }

    /// Issue 13: an update costs one write unit (items up to 1 KB) even for a customer at every
    /// cap (their last purchases included); the record as JSON took up to 44 write units.
    #[test]
    fn a_customer_at_every_cap_is_one_write_unit() {
        let mut a = UserActivity::new(CustomerId::new(9_000_000_000_000).unwrap());
        let start: chrono::DateTime<Utc> = "2026-11-01T08:00:00.123456789Z".parse().unwrap();
        for i in 0..MAX_RECENT_INTERACTIONS {
            let i = u32::try_from(i).unwrap();
            a.push_interaction(Interaction {
                product_id: ProductId::new(60_000 + i).unwrap(),
                event_type: EventType::RemoveFromCart,
                at: start + chrono::Duration::hours(i64::from(i) * 30),
            });
        }
        for _ in 0..MAX_SEEN_EVENTS {
            a.remember(EventId::from_uuid(uuid::Uuid::new_v4()));
        }
        a.advance(
            &ShardId("shardId-000000000123".into()),
            &SequenceNumber("49656710925460612948726418238117592893458306101542584338".into()),
        );
        a.event_count = u64::MAX;
        let bought = u32::try_from(MAX_PURCHASED).unwrap();
        a.remember_purchases((0..bought).map(|i| ProductId::new(2_000_000 + i).unwrap()));
        a.version = u64::MAX - 1;
        let item = to_item(
            &a,
            u64::MAX,
            Utc::now(),
            std::time::Duration::from_secs(86_400 * 30),
        )
        .unwrap();
        let size = item_size(&item);
        assert!(size <= 1024, "{size} bytes");
        assert_eq!(
            from_item(&item).unwrap(),
            UserActivity {
                version: u64::MAX,
                ..a.clone()
            }
        );

        // An item written as JSON before still reads.
        let mut legacy = DynamoDbUserActivityStore::key(a.customer_id);
        legacy.insert(VERSION.into(), n(3));
        legacy.insert(BODY.into(), s(serde_json::to_string(&a).unwrap()));
        assert_eq!(
            from_item(&legacy).unwrap(),
            UserActivity { version: 3, ..a }
        );
    }

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
