//! DynamoDB tables (`aws:dynamodb:table`): key schema (replaced when it changes), on-demand
//! billing, encryption with the AWS-managed KMS key, time to live and tags.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    SseSpecification, SseStatus, SseType, TableDescription, TableStatus, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use fashion_aws_core::dynamodb as schema;
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if,
    seen_tags, tag_changes, wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, observed_as, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:dynamodb:table";
/// Table creation and updates finish within this.
pub const DYNAMODB_ACTIVE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Table deletion finishes within this.
pub const DYNAMODB_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `billing_mode` of an on-demand table.
pub const PAY_PER_REQUEST: &str = "PAY_PER_REQUEST";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// One key attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttribute {
    /// Attribute name.
    pub name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalIndex {
    /// Index name.
    pub name: String,
    /// Its key, hash key first.
    pub key: Vec<KeyAttribute>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
}

/// The key attributes of a contract's key, hash key first.
fn key_of(key: &schema::KeySchema) -> Vec<KeyAttribute> {
    let attribute = |a: &schema::KeyAttribute, key_type: &str| KeyAttribute {
        name: a.name.to_owned(),
        attribute_type: a.kind.code().to_owned(),
        key_type: key_type.to_owned(),
    };
    std::iter::once(attribute(&key.partition, "HASH"))
        .chain(key.sort.as_ref().map(|s| attribute(s, "RANGE")))
        .collect()
}

/// Desired (and observed) settings of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProps {
    /// Key schema, hash key first.
    pub key: Vec<KeyAttribute>,
    /// Global secondary indexes, by name.
    pub indexes: Vec<GlobalIndex>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// `KMS` (AWS-managed key) or `None` (DynamoDB's own key, which AWS does not report).
    pub sse: Option<String>,
    /// Attribute holding the expiry time (epoch seconds), if items expire.
    pub ttl_attribute: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl TableProps {
    /// An on-demand, KMS-encrypted table with the key, index and TTL attribute of `contract`.
    #[must_use]
    pub fn on_demand(contract: &schema::TableSchema, tags: BTreeMap<String, String>) -> Self {
        Self {
            key: key_of(&contract.key),
            indexes: contract
                .index
                .iter()
                .map(|i| GlobalIndex {
                    name: i.name.to_owned(),
                    key: key_of(&i.key),
                    projection: "ALL".into(),
                })
                .collect(),
            billing_mode: PAY_PER_REQUEST.into(),
            sse: Some("KMS".into()),
            ttl_attribute: contract.ttl_attribute.map(str::to_owned),
            tags,
        }
    }
}

/// The DynamoDB table kind.
#[derive(Debug, Default)]
pub struct DynamoDbTable;

impl DynamoDbTable {
    async fn wait_active(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        wait_until(name, "ACTIVE", DYNAMODB_ACTIVE_TIMEOUT, || async {
            let out = d
                .describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(aws_err("read DynamoDB table", name))?;
            // An index being built or removed keeps the table busy for index changes.
            Ok(out.table().is_some_and(|t| {
                t.table_status() == Some(&TableStatus::Active)
                    && t.global_secondary_indexes()
                        .iter()
                        .all(|i| i.index_status() == Some(&IndexStatus::Active))
            }))
        })
        .await
    }

    /// Removes indexes that are gone or changed, then creates the missing ones: DynamoDB takes
    /// one index change per call and the table must be ACTIVE in between.
    async fn set_indexes(
        &self,
        cx: &Cx,
        name: &str,
        table_key: &[KeyAttribute],
        want: &[GlobalIndex],
        seen: &[GlobalIndex],
    ) -> Result<(), ProvisionError> {
        // Every key attribute of the table and its indexes: moto replaces the table's
        // definitions with the list given (AWS accepts the full list as well).
        let mut all_keys = table_key.to_vec();
        all_keys.extend(want.iter().flat_map(|i| i.key.clone()));
        let d = &clients(cx)?.dynamodb;
        for old in seen.iter().filter(|s| !want.contains(s)) {
            d.update_table()
                .table_name(name)
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder()
                        .delete(
                            DeleteGlobalSecondaryIndexAction::builder()
                                .index_name(&old.name)
                                .build()?,
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(aws_err("delete an index of DynamoDB table", name))?;
            self.wait_active(cx, name).await?;
        }
        for new in want.iter().filter(|w| !seen.contains(w)) {
            d.update_table()
                .table_name(name)
                .set_attribute_definitions(Some(attribute_definitions(&all_keys)?))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder()
                        .create(
                            CreateGlobalSecondaryIndexAction::builder()
                                .index_name(&new.name)
                                .set_key_schema(Some(key_schema(&new.key)?))
                                .projection(projection(&new.projection))
                                .build()?,
                        )
                        .build(),
                )
                .send()
                .await
                .map_err(aws_err("add an index to DynamoDB table", name))?;
            self.wait_active(cx, name).await?;
        }
        Ok(())
    }

    async fn wait_gone(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        wait_until(name, "deleted", DYNAMODB_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                d.describe_table()
                    .table_name(name)
                    .send()
                    .await
                    .map_err(aws_err("read DynamoDB table", name)),
                NOT_FOUND,
            )?
            .is_none())
        })
        .await
    }

    async fn outputs(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        self.read(cx, spec)
            .await?
            .map(|o| o.outputs)
            .ok_or_else(|| ProvisionError::invalid(&spec.id, "table vanished right after apply"))
    }

    async fn set_ttl(
        &self,
        cx: &Cx,
        name: &str,
        want: Option<&str>,
        seen: Option<&str>,
    ) -> Result<(), ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        if let Some(old) = seen.filter(|o| Some(*o) != want) {
            d.update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(false)
                        .attribute_name(old)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_err("turn off time to live of DynamoDB table", name))?;
        }
        if let Some(new) = want.filter(|n| Some(*n) != seen) {
            d.update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(new)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_err("turn on time to live of DynamoDB table", name))?;
        }
        Ok(())
    }

    async fn set_tags(
        &self,
        cx: &Cx,
        arn: &str,
        want: &BTreeMap<String, String>,
        seen: &BTreeMap<String, String>,
    ) -> Result<(), ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        let (add, remove) = tag_changes(want, seen);
        if !remove.is_empty() {
            d.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(aws_err("untag DynamoDB table", arn))?;
        }
        if !add.is_empty() {
            let tags = add
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()?;
            d.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(aws_err("tag DynamoDB table", arn))?;
        }
        Ok(())
    }
}

fn sse_spec(sse: Option<&str>) -> SseSpecification {
    match sse {
        Some(t) => SseSpecification::builder()
            .enabled(true)
            .sse_type(SseType::from(t))
            .build(),
        None => SseSpecification::builder().enabled(false).build(),
    }
}

fn key_schema(key: &[KeyAttribute]) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    key.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(ProvisionError::from)
}

fn attribute_definitions(key: &[KeyAttribute]) -> Result<Vec<AttributeDefinition>, ProvisionError> {
    let mut seen = std::collections::BTreeSet::new();
    key.iter()
        .filter(|k| seen.insert(k.name.clone()))
        .map(|k| {
            AttributeDefinition::builder()
                .attribute_name(&k.name)
                .attribute_type(ScalarAttributeType::from(k.attribute_type.as_str()))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(ProvisionError::from)
}

fn projection(kind: &str) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .build()
}

/// A key schema as declared: hash key first, attribute types from the table's definitions.
fn observed_key(t: &TableDescription, schema: &[KeySchemaElement]) -> Vec<KeyAttribute> {
    let types: BTreeMap<&str, &str> = t
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let mut key: Vec<KeyAttribute> = schema
        .iter()
        .map(|k| KeyAttribute {
            name: k.attribute_name().to_owned(),
            attribute_type: types
                .get(k.attribute_name())
                .copied()
                .unwrap_or_default()
                .to_owned(),
            key_type: k.key_type().as_str().to_owned(),
        })
        .collect();
    key.sort_by_key(|k| k.key_type != "HASH");
    key
}

#[async_trait]
impl ResourceKind for DynamoDbTable {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "DynamoDB table"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        let name = &spec.physical_name;
        let out = absent_if(
            d.describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(aws_err("read DynamoDB table", name)),
            NOT_FOUND,
        )?;
        let Some(t) = out.as_ref().and_then(|o| o.table()) else {
            return Ok(None);
        };
        if t.table_status() == Some(&TableStatus::Deleting) {
            return Ok(None);
        }
        let arn = t.table_arn().unwrap_or_default().to_owned();
        let key = observed_key(t, t.key_schema());
        let mut indexes: Vec<GlobalIndex> = t
            .global_secondary_indexes()
            .iter()
            .filter(|i| i.index_status() != Some(&IndexStatus::Deleting))
            .map(|i| GlobalIndex {
                name: i.index_name().unwrap_or_default().to_owned(),
                key: observed_key(t, i.key_schema()),
                projection: i
                    .projection()
                    .and_then(|p| p.projection_type())
                    .map_or("ALL", ProjectionType::as_str)
                    .to_owned(),
            })
            .collect();
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let ttl = d
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(aws_err("read the time to live of DynamoDB table", name))?;
        let ttl_attribute = ttl.time_to_live_description().and_then(|t| {
            matches!(
                t.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
            .then(|| t.attribute_name().map(str::to_owned))
            .flatten()
        });
        let tags = d
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(aws_err("read the tags of DynamoDB table", name))?;
        let seen = TableProps {
            key,
            indexes,
            billing_mode: t
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map_or("PROVISIONED", BillingMode::as_str)
                .to_owned(),
            sse: t.sse_description().and_then(|s| {
                matches!(s.status(), Some(SseStatus::Enabled | SseStatus::Enabling))
                    .then(|| s.sse_type().map(|t| t.as_str().to_owned()))
                    .flatten()
            }),
            ttl_attribute,
            tags: comparable_tags(
                tags.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), arn),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["key"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: TableProps = from_fields(spec)?;
        let d = &clients(cx)?.dynamodb;
        let name = &spec.physical_name;
        // A table still being deleted (after a replace) blocks its name until it is gone.
        self.wait_gone(cx, name).await?;
        let mut all_keys = p.key.clone();
        all_keys.extend(p.indexes.iter().flat_map(|i| i.key.clone()));
        let indexes = p
            .indexes
            .iter()
            .map(|i| {
                GlobalSecondaryIndex::builder()
                    .index_name(&i.name)
                    .set_key_schema(Some(key_schema(&i.key)?))
                    .projection(projection(&i.projection))
                    .build()
                    .map_err(ProvisionError::from)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tags = p
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        d.create_table()
            .table_name(name)
            .set_key_schema(Some(key_schema(&p.key)?))
            .set_attribute_definitions(Some(attribute_definitions(&all_keys)?))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .billing_mode(BillingMode::from(p.billing_mode.as_str()))
            .sse_specification(sse_spec(p.sse.as_deref()))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(aws_err("create DynamoDB table", name))?;
        self.wait_active(cx, name).await?;
        self.set_ttl(cx, name, p.ttl_attribute.as_deref(), None)
            .await?;
        self.outputs(cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: TableProps = from_fields(spec)?;
        let was: TableProps = observed_as(seen)?;
        let d = &clients(cx)?.dynamodb;
        let name = &spec.physical_name;
        if changes_field(change, "billing_mode") {
            d.update_table()
                .table_name(name)
                .billing_mode(BillingMode::from(p.billing_mode.as_str()))
                .send()
                .await
                .map_err(aws_err("change the billing mode of DynamoDB table", name))?;
            self.wait_active(cx, name).await?;
        }
        if changes_field(change, "sse") {
            d.update_table()
                .table_name(name)
                .sse_specification(sse_spec(p.sse.as_deref()))
                .send()
                .await
                .map_err(aws_err("change the encryption of DynamoDB table", name))?;
            self.wait_active(cx, name).await?;
        }
        if changes_field(change, "indexes") {
            self.set_indexes(cx, name, &p.key, &p.indexes, &was.indexes)
                .await?;
        }
        if changes_field(change, "ttl_attribute") {
            self.set_ttl(
                cx,
                name,
                p.ttl_attribute.as_deref(),
                was.ttl_attribute.as_deref(),
            )
            .await?;
        }
        if changes_field(change, "tags") {
            let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
            self.set_tags(cx, &arn, &p.tags, &seen_tags(seen)).await?;
        }
        self.outputs(cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let d = &clients(cx)?.dynamodb;
        let name = &seen.physical_name;
        gone_if(
            d.delete_table()
                .table_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete DynamoDB table", name)),
            NOT_FOUND,
        )?;
        self.wait_gone(cx, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;
    use serde_json::json;

    #[test]
    fn a_table_is_declared_with_its_contracts_composite_keys_hash_first() {
        // Act
        let checkpoints = TableProps::on_demand(&schema::CHECKPOINTS, BTreeMap::new());
        let dead_letters = TableProps::on_demand(&schema::DEAD_LETTERS, BTreeMap::new());
        // Assert
        let keys = |k: &[KeyAttribute]| {
            k.iter()
                .map(|a| (a.name.clone(), a.attribute_type.clone(), a.key_type.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&checkpoints.key),
            [
                (schema::CONSUMER.into(), "S".into(), "HASH".into()),
                (schema::SHARD.into(), "S".into(), "RANGE".into())
            ]
        );
        assert_eq!(dead_letters.indexes.len(), 1);
        assert_eq!(
            dead_letters.indexes[0].name,
            schema::DEAD_LETTERS_TIME_INDEX
        );
        assert_eq!(
            keys(&dead_letters.indexes[0].key),
            [
                (schema::FEED.into(), "S".into(), "HASH".into()),
                (schema::SET_ASIDE_AT.into(), "S".into(), "RANGE".into())
            ]
        );
        assert_eq!(
            TableProps::on_demand(&schema::USER_ACTIVITY, BTreeMap::new()).ttl_attribute,
            Some(schema::EXPIRES_AT.to_owned())
        );
    }

    fn props() -> TableProps {
        TableProps {
            key: vec![KeyAttribute {
                name: "customer_id".into(),
                attribute_type: "N".into(),
                key_type: "HASH".into(),
            }],
            indexes: vec![],
            billing_mode: PAY_PER_REQUEST.into(),
            sse: Some("KMS".into()),
            ttl_attribute: Some("expires_at".into()),
            tags: BTreeMap::new(),
        }
    }

    fn spec(p: &TableProps) -> ResourceSpec {
        fixtures::declared("aws::aws:dynamodb:table::user_activity", KIND, "t", p)
    }

    fn seen(p: &TableProps) -> Observed {
        fixtures::observed("t", p)
    }

    #[test]
    fn table_diff_is_same_when_nothing_changed() {
        assert_eq!(
            DynamoDbTable.diff(&spec(&props()), &seen(&props())),
            Change::Same
        );
    }

    #[test]
    fn table_diff_updates_a_turned_off_ttl() {
        let mut drifted = props();
        drifted.ttl_attribute = None;
        let Change::Update { fields } = DynamoDbTable.diff(&spec(&props()), &seen(&drifted)) else {
            panic!("expected an update")
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].field, "ttl_attribute");
        assert_eq!(fields[0].to, json!("expires_at"));
    }

    #[test]
    fn table_diff_updates_a_new_index_in_place() {
        let mut indexed = props();
        indexed.indexes = vec![GlobalIndex {
            name: "by_time".into(),
            key: vec![KeyAttribute {
                name: "feed".into(),
                attribute_type: "S".into(),
                key_type: "HASH".into(),
            }],
            projection: "ALL".into(),
        }];
        let Change::Update { fields } = DynamoDbTable.diff(&spec(&indexed), &seen(&props())) else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "indexes");
    }

    #[test]
    fn table_diff_replaces_on_a_new_key_schema() {
        let mut rekeyed = props();
        rekeyed.key[0].attribute_type = "S".into();
        assert_eq!(
            DynamoDbTable.diff(&spec(&rekeyed), &seen(&props())),
            Change::Replace {
                field: "key".into()
            }
        );
    }
}
