//! The product catalog in DynamoDB: one item per product with its `styles.csv` columns as
//! attributes, written with `BatchWriteItem` and read with `BatchGetItem`.

use fashion_aws_core::dynamodb as schema;
use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use fashion_domain::ids::ProductId;
use fashion_domain::money::Cents;
use fashion_domain::ports::{ProductCatalog, StoreError};
use fashion_domain::product::Product;

use super::{Item, batch_get, batch_write, get_n, get_s, n, opt_n, opt_s, s, scan_all};
use crate::error::corrupt;
use crate::retry::Backoff;

const GENDER: &str = "gender";
const MASTER_CATEGORY: &str = "master_category";
const SUB_CATEGORY: &str = "sub_category";
const ARTICLE_TYPE: &str = "article_type";
const BASE_COLOUR: &str = "base_colour";
const SEASON: &str = "season";
const YEAR: &str = "year";
const USAGE: &str = "usage";
const DISPLAY_NAME: &str = "product_display_name";
const PRICE_CENTS: &str = "price_cents";
const WHAT: &str = "product";

/// Products in a DynamoDB table with partition key [`Self::PARTITION_KEY`] (number). Missing
/// optional columns are absent attributes; the price is in integer cents.
#[derive(Clone, Debug)]
pub struct DynamoDbProductCatalog {
    client: Client,
    table: String,
    backoff: Backoff,
}

impl DynamoDbProductCatalog {
    /// Partition key attribute: the product id.
    pub const PARTITION_KEY: &'static str = schema::PRODUCT_ID;

    /// The catalog in `table`; unprocessed batch items are retried with `backoff`.
    #[must_use]
    pub fn new(client: Client, table: &str, backoff: Backoff) -> Self {
        Self {
            client,
            table: table.to_owned(),
            backoff,
        }
    }
}

fn to_item(p: &Product) -> Item {
    let mut item = Item::new();
    item.insert(DynamoDbProductCatalog::PARTITION_KEY.into(), n(p.id.get()));
    item.insert(GENDER.into(), s(&p.gender));
    item.insert(MASTER_CATEGORY.into(), s(&p.master_category));
    item.insert(SUB_CATEGORY.into(), s(&p.sub_category));
    item.insert(ARTICLE_TYPE.into(), s(&p.article_type));
    if let Some(v) = &p.base_colour {
        item.insert(BASE_COLOUR.into(), s(v));
    }
    if let Some(v) = &p.season {
        item.insert(SEASON.into(), s(v));
    }
    if let Some(v) = p.year {
        item.insert(YEAR.into(), n(v));
    }
    if let Some(v) = &p.usage {
        item.insert(USAGE.into(), s(v));
    }
    item.insert(DISPLAY_NAME.into(), s(&p.product_display_name));
    if let Some(v) = p.price {
        item.insert(PRICE_CENTS.into(), n(v.0));
    }
    item
}

fn from_item(item: &Item) -> Result<Product, StoreError> {
    let id: u32 = get_n(item, DynamoDbProductCatalog::PARTITION_KEY, WHAT)?;
    Ok(Product {
        id: ProductId::new(id).map_err(|e| corrupt(WHAT, e.to_string()))?,
        gender: get_s(item, GENDER, WHAT)?.to_owned(),
        master_category: get_s(item, MASTER_CATEGORY, WHAT)?.to_owned(),
        sub_category: get_s(item, SUB_CATEGORY, WHAT)?.to_owned(),
        article_type: get_s(item, ARTICLE_TYPE, WHAT)?.to_owned(),
        base_colour: opt_s(item, BASE_COLOUR, WHAT)?,
        season: opt_s(item, SEASON, WHAT)?,
        year: opt_n(item, YEAR, WHAT)?,
        usage: opt_s(item, USAGE, WHAT)?,
        product_display_name: get_s(item, DISPLAY_NAME, WHAT)?.to_owned(),
        price: opt_n(item, PRICE_CENTS, WHAT)?.map(Cents),
    })
}

#[async_trait]
impl ProductCatalog for DynamoDbProductCatalog {
    #[tracing::instrument(skip_all, fields(table = %self.table, products = products.len()), err)]
    async fn upsert_many(&self, products: &[Product]) -> Result<u64, StoreError> {
        // One write per id (a batch may not hold two), the last one winning.
        let mut seen = HashSet::new();
        let mut latest: Vec<&Product> = products
            .iter()
            .rev()
            .filter(|p| seen.insert(p.id))
            .collect();
        latest.reverse();
        let requests = latest
            .into_iter()
            .map(|p| {
                PutRequest::builder()
                    .set_item(Some(to_item(p)))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| {
                        StoreError::Unexpected(
                            anyhow::Error::new(e).context("failed to build PutRequest"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        batch_write(&self.client, &self.table, requests, &self.backoff).await?;
        Ok(products.len() as u64)
    }

    #[tracing::instrument(skip_all, fields(table = %self.table, ids = ids.len()), err)]
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let keys = ids
            .iter()
            .map(|id| {
                let mut k = Item::new();
                k.insert(Self::PARTITION_KEY.into(), n(id.get()));
                k
            })
            .collect();
        batch_get(&self.client, &self.table, keys, &self.backoff)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(table = %self.table), err)]
    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        let mut products = scan_all(&self.client, &self.table)
            .await?
            .iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        products.sort_by_key(|p| p.id);
        Ok(products)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_round_trip_with_missing_optional_columns() {
        let p = Product {
            id: ProductId::new(5).unwrap(),
            gender: "Men".into(),
            master_category: "Apparel".into(),
            sub_category: "Topwear".into(),
            article_type: "Tshirts".into(),
            base_colour: None,
            season: Some("Summer".into()),
            year: None,
            usage: Some(String::new()),
            product_display_name: "Brand 5, Comma Name".into(),
            price: Some(Cents(1005)),
        };
        assert_eq!(from_item(&to_item(&p)).unwrap(), p);
    }
}
