//! AWS resources tests bring up, from the same contracts provisioning declares them with
//! (fashion-aws-core): DynamoDB tables with their key schema, index and TTL, and Glue databases.
//! Feature `aws`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    Projection, ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use fashion_aws_core::dynamodb::{AttributeKind, KeyAttribute, KeySchema, TableSchema};

fn attribute(a: &KeyAttribute) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(a.name)
        .attribute_type(match a.kind {
            AttributeKind::String => ScalarAttributeType::S,
            AttributeKind::Number => ScalarAttributeType::N,
        })
        .build()
        .expect("attribute definition")
}

fn elements(key: &KeySchema) -> Vec<KeySchemaElement> {
    let element = |a: &KeyAttribute, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(a.name)
            .key_type(t)
            .build()
            .expect("key schema element")
    };
    std::iter::once(element(&key.partition, KeyType::Hash))
        .chain(key.sort.as_ref().map(|s| element(s, KeyType::Range)))
        .collect()
}

fn attributes(contract: &TableSchema) -> Vec<AttributeDefinition> {
    let mut keys: Vec<&KeyAttribute> = std::iter::once(&contract.key.partition)
        .chain(contract.key.sort.as_ref())
        .collect();
    if let Some(i) = &contract.index {
        keys.push(&i.key.partition);
        keys.extend(i.key.sort.as_ref());
    }
    let mut defs: Vec<AttributeDefinition> = Vec::new();
    for k in keys {
        if !defs.iter().any(|d| d.attribute_name() == k.name) {
            defs.push(attribute(k));
        }
    }
    defs
}

/// Creates the on-demand table `name` with `contract`'s key, index and TTL attribute, and
/// waits (up to `timeout`, polling `every`) until it and its index are active: real DynamoDB
/// refuses writes to a table still being created.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    contract: &TableSchema,
    every: Duration,
    timeout: Duration,
) {
    let index = contract.index.as_ref().map(|i| {
        GlobalSecondaryIndex::builder()
            .index_name(i.name)
            .set_key_schema(Some(elements(&i.key)))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .expect("index")
    });
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes(contract)))
        .set_key_schema(Some(elements(&contract.key)))
        .set_global_secondary_indexes(index.map(|i| vec![i]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
    wait_until_active(client, name, every, timeout).await;
    if let Some(ttl) = contract.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(ttl)
                    .build()
                    .expect("ttl specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("enable TTL on {name}: {e:?}"));
    }
}

async fn wait_until_active(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    every: Duration,
    timeout: Duration,
) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .expect("describe table");
        let table = out.table();
        let active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active)
            && table.is_some_and(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .all(|i| i.index_status() == Some(&IndexStatus::Active))
            });
        if active {
            return;
        }
        tokio::time::sleep(every).await;
    }
    panic!("table {name} never became active");
}

/// Creates the Glue database `name`.
pub async fn create_glue_database(client: &aws_sdk_glue::Client, name: &str) {
    client
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(name)
                .build()
                .expect("database input"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create Glue database {name}: {e:?}"));
}
