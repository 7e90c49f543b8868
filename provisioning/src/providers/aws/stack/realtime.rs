//! The real-time path: the DynamoDB tables the stream processor and the API share, and the
//! stream processor itself (role, policy, function, and its mapping on the clickstream).

use fashion_aws_core::dynamodb as schema;
use fashion_aws_core::vars;

use super::common::{
    dead_letters_bucket_arn, lake_arn, lake_objects, stream_arn, table_arn, table_name,
};
use super::functions::{function, models_env, var};
use super::identity::{execution_role, logs, role_policy};
use crate::engine::desired::{Builder, tags};
use crate::layout::{names, prefixes};
use crate::providers::aws::dynamodb::{self, TableProps};
use crate::providers::aws::iam::{allow, allow_listing};
use crate::providers::aws::lambda;
use crate::providers::aws::lambda_mapping::{self, MappingProps};

/// The tables, then the stream processor.
pub fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    state_tables(b);
    execution_role(
        b,
        names::STREAM_PROCESSOR,
        "Validates, enriches and scores the clickstream",
    );
    let statements = stream_processor_statements(b);
    let policy = role_policy(b, names::STREAM_PROCESSOR, &statements);
    let env = stream_processor_env(b);
    function(
        b,
        names::STREAM_PROCESSOR,
        &cfg.functions.stream_processor,
        env,
        None,
    );
    mapping(b, policy);
}

/// The tables with fashion-aws-core's contracts, which fashion-aws's adapters read and write by.
fn state_tables(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    for (name, contract) in [
        (names::RECOMMENDATIONS, &schema::RECOMMENDATIONS),
        (names::USER_ACTIVITY, &schema::USER_ACTIVITY),
        (names::CHECKPOINTS, &schema::CHECKPOINTS),
        (names::PRODUCTS, &schema::PRODUCTS),
        (names::DEAD_LETTERS, &schema::DEAD_LETTERS),
    ] {
        b.add(
            dynamodb::KIND,
            name,
            cfg.physical(name),
            &TableProps::on_demand(contract, tags(cfg)),
            &[],
        );
    }
}

/// Exactly the calls of fashion-aws's stores the stream processor builds; never the
/// checkpoints table (the Lambda's mapping keeps its own position).
fn stream_processor_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let dead_letters = dead_letters_bucket_arn(b);
    vec![
        allow(
            "ReadClickstream",
            &[
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:SubscribeToShard",
            ],
            &[stream_arn(b)],
        ),
        allow(
            "WriteRecommendations",
            &["dynamodb:BatchWriteItem"],
            &[table_arn(b, names::RECOMMENDATIONS)],
        ),
        allow(
            "ReadAndWriteActivity",
            &["dynamodb:BatchGetItem", "dynamodb:PutItem"],
            &[table_arn(b, names::USER_ACTIVITY)],
        ),
        allow(
            "SetAsideDeadLetters",
            &["dynamodb:PutItem"],
            &[table_arn(b, names::DEAD_LETTERS)],
        ),
        allow(
            "ReadCatalog",
            &["dynamodb:BatchGetItem"],
            &[table_arn(b, names::PRODUCTS)],
        ),
        // `LATEST` and the versions it names; listing finds older versions when the newest is
        // corrupt.
        allow(
            "ReadModel",
            &["s3:GetObject"],
            &[lake_objects(b, prefixes::MODELS)],
        ),
        allow_listing(
            "ListModels",
            &lake_arn(b),
            &[format!("{}*", prefixes::MODELS)],
        ),
        // The event-source mapping's on-failure destination writes with this role (AWS
        // documents s3:PutObject and s3:ListBucket).
        allow(
            "DescribeDiscardedBatches",
            &["s3:PutObject"],
            &[format!("{dead_letters}/*")],
        ),
        allow("ListDiscardedBatches", &["s3:ListBucket"], &[dead_letters]),
        logs(b, &b.cfg.physical(names::STREAM_PROCESSOR)),
    ]
}

fn stream_processor_env(b: &Builder<'_>) -> Vec<(String, String)> {
    let mut env = vec![
        var(vars::ACTIVITY_TABLE, table_name(b, names::USER_ACTIVITY)),
        var(
            vars::RECOMMENDATIONS_TABLE,
            table_name(b, names::RECOMMENDATIONS),
        ),
        var(vars::CATALOG_TABLE, table_name(b, names::PRODUCTS)),
        var(vars::DEAD_LETTERS_TABLE, table_name(b, names::DEAD_LETTERS)),
    ];
    env.extend(models_env(b));
    env
}

/// The stream processor reads the clickstream once its function exists and its role may
/// (`policy`); discarded batches are described in the dead-letter bucket.
fn mapping(b: &mut Builder<'_>, policy: String) {
    let cfg = b.cfg;
    let esm = &cfg.stream_processor;
    let function_name = cfg.physical(names::STREAM_PROCESSOR);
    let stream_name = cfg.physical(names::CLICKSTREAM);
    let after = [b.id(lambda::FUNCTION_KIND, names::STREAM_PROCESSOR), policy];
    let props = MappingProps {
        function_name: function_name.clone(),
        stream_name: stream_name.clone(),
        event_source_arn: stream_arn(b),
        starting_position: esm.starting_position.clone(),
        batch_size: esm.batch_size,
        batching_window_secs: esm.batching_window_secs,
        bisect_on_error: true,
        max_retries: esm.max_retries,
        max_record_age_secs: esm.max_record_age_secs,
        parallelization_factor: esm.parallelization_factor,
        report_batch_item_failures: true,
        on_failure_destination: Some(dead_letters_bucket_arn(b)),
        enabled: true,
        tags: tags(cfg),
    };
    b.add(
        lambda_mapping::MAPPING_KIND,
        names::STREAM_PROCESSOR,
        format!("{function_name}/{stream_name}"),
        &props,
        &after,
    );
}
