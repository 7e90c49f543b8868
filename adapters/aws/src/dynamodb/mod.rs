//! The DynamoDB stores (checkpoints, recommendations, user activity, product catalog, dead
//! letters) and what they share: batch writes and reads that retry unprocessed items with
//! backoff, exact counts, and attribute encoding.

mod activity;
mod catalog;
mod checkpoints;
mod dead_letters;
mod recommendations;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select, WriteRequest};
use fashion_domain::ports::StoreError;

use crate::error::{corrupt, store_err};
use crate::retry::Backoff;

pub use activity::DynamoDbUserActivityStore;
pub use catalog::DynamoDbProductCatalog;
pub use checkpoints::DynamoDbCheckpointStore;
pub use dead_letters::DynamoDbDeadLetterSink;
pub use recommendations::DynamoDbRecommendationStore;

/// An item as the SDK represents it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// Most write requests in one `BatchWriteItem` call.
pub const MAX_ITEMS_PER_BATCH_WRITE: usize = 25;
/// Most keys in one `BatchGetItem` call.
pub const MAX_KEYS_PER_BATCH_GET: usize = 100;

/// Writes `requests` to `table` in batches of 25, re-sending only the unprocessed items, with
/// backoff, until every item is written or the attempts run out.
///
/// The caller must not put two requests for the same key in `requests` (DynamoDB refuses them).
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    backoff: &Backoff,
) -> Result<(), StoreError> {
    for chunk in requests.chunks(MAX_ITEMS_PER_BATCH_WRITE) {
        let mut pending = chunk.to_vec();
        let mut attempt: u32 = 1;
        loop {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| store_err(&e, &format!("batch-write to DynamoDB table {table}")))?;
            let unprocessed = out
                .unprocessed_items()
                .and_then(|m| m.get(table))
                .cloned()
                .unwrap_or_default();
            if unprocessed.is_empty() {
                break;
            }
            if attempt >= backoff.max_attempts {
                return Err(StoreError::Unavailable {
                    message: format!(
                        "{} items for DynamoDB table {table} still unprocessed after {attempt} attempts",
                        unprocessed.len()
                    ),
                });
            }
            tracing::debug!(
                table,
                unprocessed = unprocessed.len(),
                attempt,
                "Re-sending unprocessed DynamoDB items."
            );
            tokio::time::sleep(backoff.delay(attempt)).await;
            attempt = attempt.saturating_add(1);
            pending = unprocessed;
        }
    }
    Ok(())
}

/// Reads the items with `keys` from `table` (strongly consistent), in batches of 100, re-asking
/// for unprocessed keys with backoff. Duplicate keys are asked once; missing items are left out.
pub(crate) async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    backoff: &Backoff,
) -> Result<Vec<Item>, StoreError> {
    let mut seen = HashSet::new();
    let keys: Vec<Item> = keys
        .into_iter()
        .filter(|k| {
            let mut fp: Vec<String> = k.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
            fp.sort();
            seen.insert(fp.join("&"))
        })
        .collect();
    let mut items = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(MAX_KEYS_PER_BATCH_GET) {
        let mut pending = chunk.to_vec();
        let mut attempt: u32 = 1;
        loop {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| {
                    StoreError::Unexpected(
                        anyhow::Error::new(e).context("failed to build BatchGetItem keys"),
                    )
                })?;
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| store_err(&e, &format!("batch-read DynamoDB table {table}")))?;
            if let Some(found) = out.responses().and_then(|m| m.get(table)) {
                items.extend(found.iter().cloned());
            }
            let unprocessed: Vec<Item> = out
                .unprocessed_keys()
                .and_then(|m| m.get(table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if unprocessed.is_empty() {
                break;
            }
            if attempt >= backoff.max_attempts {
                return Err(StoreError::Unavailable {
                    message: format!(
                        "{} keys of DynamoDB table {table} still unprocessed after {attempt} attempts",
                        unprocessed.len()
                    ),
                });
            }
            tokio::time::sleep(backoff.delay(attempt)).await;
            attempt = attempt.saturating_add(1);
            pending = unprocessed;
        }
    }
    Ok(items)
}

/// The exact number of items in `table`: a strongly consistent `Scan` with `Select=COUNT`, page
/// by page.
pub(crate) async fn scan_count(client: &Client, table: &str) -> Result<u64, StoreError> {
    let mut total: u64 = 0;
    let mut start: Option<Item> = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| store_err(&e, &format!("count items of DynamoDB table {table}")))?;
        total = total.saturating_add(u64::try_from(out.count()).unwrap_or(0));
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(total),
        }
    }
}

/// Every item of `table`, page by page (strongly consistent).
pub(crate) async fn scan_all(client: &Client, table: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| store_err(&e, &format!("scan DynamoDB table {table}")))?;
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(items),
        }
    }
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: impl std::fmt::Display + Copy) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A required string attribute of `item`.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str, what: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        other => Err(corrupt(
            what,
            format!("attribute {name} must be a string, got {other:?}"),
        )),
    }
}

/// A required number attribute of `item`.
pub(crate) fn get_n<T: FromStr>(item: &Item, name: &str, what: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| corrupt(what, format!("attribute {name} = {v} is out of range"))),
        other => Err(corrupt(
            what,
            format!("attribute {name} must be a number, got {other:?}"),
        )),
    }
}

/// An optional string attribute (absent or NULL is `None`).
pub(crate) fn opt_s(item: &Item, name: &str, what: &str) -> Result<Option<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_s(item, name, what).map(|v| Some(v.to_owned())),
    }
}

/// An optional number attribute (absent or NULL is `None`).
pub(crate) fn opt_n<T: FromStr>(
    item: &Item,
    name: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, name, what).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_decode_or_report_corruption() {
        let mut item = Item::new();
        item.insert("a".into(), s("x"));
        item.insert("b".into(), n(42));
        item.insert("c".into(), AttributeValue::Null(true));
        assert_eq!(get_s(&item, "a", "t").ok(), Some("x"));
        assert_eq!(get_n::<u32>(&item, "b", "t").ok(), Some(42));
        assert!(matches!(
            get_n::<u32>(&item, "a", "t"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            get_n::<u8>(&item, "missing", "t"),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(opt_s(&item, "c", "t").ok(), Some(None));
        assert_eq!(opt_n::<i64>(&item, "zz", "t").ok(), Some(None));
    }
}
