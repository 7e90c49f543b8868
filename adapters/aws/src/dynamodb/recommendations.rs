//! Per-customer recommendations in DynamoDB, one item per customer, written with
//! `BatchWriteItem` (unprocessed items retried) and stored as plain attributes the website can read.

use fashion_aws_core::dynamodb as schema;
use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, SecondsFormat, Utc};
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::ports::{RecommendationReader, RecommendationStore, StoreError};
use fashion_domain::recommendation::{Reason, Recommendations, RecommendedItem};

use super::{Item, batch_write, get_n, get_s, n, s, scan_count};
use crate::error::{corrupt, store_err};
use crate::retry::Backoff;

const ITEMS: &str = "items";
const MODEL_VERSION: &str = "model_version";
const UPDATED_AT: &str = "updated_at";
const PRODUCT_ID: &str = "product_id";
const SCORE: &str = "score";
const REASON: &str = "reason";
const WHAT: &str = "recommendations";

/// Recommendations in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (number).
/// Items: `items` (a list of maps `{product_id, score, reason}`), `model_version`, `updated_at`.
#[derive(Clone, Debug)]
pub struct DynamoDbRecommendationStore {
    client: Client,
    table: String,
    backoff: Backoff,
}

impl DynamoDbRecommendationStore {
    /// Partition key attribute: the customer id.
    pub const PARTITION_KEY: &'static str = schema::CUSTOMER_ID;

    /// The store in `table`; unprocessed batch items are retried with `backoff`.
    #[must_use]
    pub fn new(client: Client, table: &str, backoff: Backoff) -> Self {
        Self {
            client,
            table: table.to_owned(),
            backoff,
        }
    }
}

fn to_item(r: &Recommendations) -> Result<Item, StoreError> {
    let items = r
        .items
        .iter()
        .map(|i| {
            if !i.score.is_finite() {
                return Err(StoreError::Unexpected(anyhow::anyhow!(
                    "score of product {} for customer {} is not a finite number",
                    i.product_id,
                    r.customer_id
                )));
            }
            let mut m = Item::new();
            m.insert(PRODUCT_ID.into(), n(i.product_id.get()));
            // `f32`'s Display is the shortest text that parses back to the same value.
            m.insert(SCORE.into(), n(i.score));
            m.insert(REASON.into(), s(i.reason.as_str()));
            Ok(AttributeValue::M(m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut item = Item::new();
    item.insert(
        DynamoDbRecommendationStore::PARTITION_KEY.into(),
        n(r.customer_id.get()),
    );
    item.insert(ITEMS.into(), AttributeValue::L(items));
    item.insert(MODEL_VERSION.into(), s(&r.model_version));
    item.insert(
        UPDATED_AT.into(),
        s(r.updated_at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    );
    Ok(item)
}

/// The reason stored as its label; parsed through serde so that every variant the domain
/// defines (now or later) is read back, as `as_str` and the serde names agree.
fn parse_reason(text: &str) -> Result<Reason, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| corrupt(WHAT, format!("unknown reason {text:?}")))
}

fn from_item(item: &Item) -> Result<Recommendations, StoreError> {
    let customer: u64 = get_n(item, DynamoDbRecommendationStore::PARTITION_KEY, WHAT)?;
    let customer_id = CustomerId::new(customer).map_err(|e| corrupt(WHAT, e.to_string()))?;
    let Some(AttributeValue::L(list)) = item.get(ITEMS) else {
        return Err(corrupt(WHAT, "attribute items must be a list"));
    };
    let items = list
        .iter()
        .map(|v| {
            let AttributeValue::M(m) = v else {
                return Err(corrupt(WHAT, "every recommended item must be a map"));
            };
            let product: u32 = get_n(m, PRODUCT_ID, WHAT)?;
            Ok(RecommendedItem {
                product_id: ProductId::new(product).map_err(|e| corrupt(WHAT, e.to_string()))?,
                score: get_n(m, SCORE, WHAT)?,
                reason: parse_reason(get_s(m, REASON, WHAT)?)?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let updated_at = DateTime::parse_from_rfc3339(get_s(item, UPDATED_AT, WHAT)?)
        .map_err(|e| corrupt(WHAT, format!("updated_at: {e}")))?
        .with_timezone(&Utc);
    Ok(Recommendations {
        customer_id,
        items,
        model_version: get_s(item, MODEL_VERSION, WHAT)?.to_owned(),
        updated_at,
    })
}

/// The last entry per customer, in order: a batch may not hold two writes of one key, and the
/// last write wins.
fn last_per_customer(recs: &[Recommendations]) -> Vec<&Recommendations> {
    let mut seen = HashSet::new();
    let mut out: Vec<&Recommendations> = recs
        .iter()
        .rev()
        .filter(|r| seen.insert(r.customer_id))
        .collect();
    out.reverse();
    out
}

#[async_trait]
impl RecommendationStore for DynamoDbRecommendationStore {
    #[tracing::instrument(skip_all, fields(table = %self.table, customers = recs.len()), err)]
    async fn put_many(&self, recs: &[Recommendations]) -> Result<(), StoreError> {
        let requests = last_per_customer(recs)
            .into_iter()
            .map(|r| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(r)?))
                    .build()
                    .map_err(|e| {
                        StoreError::Unexpected(
                            anyhow::Error::new(e).context("failed to build PutRequest"),
                        )
                    })?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        batch_write(&self.client, &self.table, requests, &self.backoff).await
    }
}

#[async_trait]
impl RecommendationReader for DynamoDbRecommendationStore {
    #[tracing::instrument(skip_all, fields(table = %self.table, customer = %customer), err)]
    async fn get(&self, customer: CustomerId) -> Result<Option<Recommendations>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(Self::PARTITION_KEY, n(customer.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                store_err(
                    &e,
                    &format!("read recommendations from DynamoDB table {}", self.table),
                )
            })?;
        out.item().map(from_item).transpose()
    }

    #[tracing::instrument(skip_all, fields(table = %self.table), err)]
    async fn count(&self) -> Result<u64, StoreError> {
        scan_count(&self.client, &self.table).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendations_round_trip_through_attributes_exactly() {
        let r = Recommendations {
            customer_id: CustomerId::new(7).unwrap(),
            items: (0..10)
                .map(|i| RecommendedItem {
                    product_id: ProductId::new(100 + i).unwrap(),
                    score: 1.0 / (1.0 + i as f32),
                    reason: [
                        Reason::AlsoViewed,
                        Reason::Similar,
                        Reason::Trending,
                        Reason::Popular,
                        Reason::SeenBefore,
                    ][i as usize % 5],
                })
                .collect(),
            model_version: "v1".into(),
            updated_at: "2026-11-25T10:00:00.123456789Z".parse().unwrap(),
        };
        assert_eq!(from_item(&to_item(&r).unwrap()).unwrap(), r);
    }

    #[test]
    fn a_batch_keeps_only_the_last_write_per_customer() {
        let r = |c: u64, v: &str| Recommendations {
            customer_id: CustomerId::new(c).unwrap(),
            items: Vec::new(),
            model_version: v.into(),
            updated_at: Utc::now(),
        };
        let batch = [r(1, "a"), r(2, "a"), r(1, "b")];
        let kept: Vec<(u64, &str)> = last_per_customer(&batch)
            .iter()
            .map(|x| (x.customer_id.get(), x.model_version.as_str()))
            .collect();
        assert_eq!(kept, vec![(2, "a"), (1, "b")]);
    }
}
