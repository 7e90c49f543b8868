//! The clickstream: the Kinesis stream the shop's pages publish to, and the Firehose delivery
//! that lands it in the lake as Parquet, with the role Firehose acts with and the function that
//! applies the lake's rules to every batch on the way (valid events partitioned by event hour;
//! invalid ones to the dead-letter table).

use fashion_domain::lake::tables;

use fashion_aws_core::vars;

use super::common::{
    function_arn, glue_table_arns, lake_arn, lake_objects, stream_arn, table_arn, table_name,
};
use super::functions::{function, var};
use super::identity::{execution_role, logs, role_arn, role_policy, service_role};
use crate::config::StreamMode;
use crate::engine::desired::{Builder, tags};
use crate::layout::names;
use crate::providers::aws::firehose::{self, DeliveryStreamProps, ParquetConversion};
use crate::providers::aws::glue;
use crate::providers::aws::iam::allow;
use crate::providers::aws::kinesis::{self, MODE_ON_DEMAND, MODE_PROVISIONED, StreamProps};
use crate::providers::aws::lambda;

/// The stream, the transformation function, Firehose's role and policy, the delivery stream.
pub fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let stream = &cfg.stream;
    b.add(
        kinesis::KIND,
        names::CLICKSTREAM,
        cfg.physical(names::CLICKSTREAM),
        &StreamProps {
            mode: match stream.mode {
                StreamMode::Provisioned => MODE_PROVISIONED.into(),
                StreamMode::OnDemand => MODE_ON_DEMAND.into(),
            },
            shards: (stream.mode == StreamMode::Provisioned).then_some(stream.shards),
            retention_hours: stream.retention_hours,
            encryption: if stream.encrypted { "KMS" } else { "NONE" }.into(),
            tags: tags(cfg),
        },
        &[],
    );
    transform_function(b);
    service_role(
        b,
        names::FIREHOSE,
        "firehose.amazonaws.com",
        "sts:ExternalId",
        "Delivers the clickstream to the lake as Parquet",
    );
    let statements = firehose_statements(b);
    let policy = role_policy(b, names::FIREHOSE, &statements);
    delivery_stream(b, policy);
}

/// The function Firehose hands each batch to: it may only store dead letters and write its logs.
fn transform_function(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    execution_role(
        b,
        names::FIREHOSE_TRANSFORM,
        "Applies the lake's rules to the clickstream on its way to the lake",
    );
    let statements = vec![
        allow(
            "SetAsideDeadLetters",
            &["dynamodb:PutItem"],
            &[table_arn(b, names::DEAD_LETTERS)],
        ),
        logs(b, &cfg.physical(names::FIREHOSE_TRANSFORM)),
    ];
    role_policy(b, names::FIREHOSE_TRANSFORM, &statements);
    let env = vec![var(
        vars::DEAD_LETTERS_TABLE,
        table_name(b, names::DEAD_LETTERS),
    )];
    function(
        b,
        names::FIREHOSE_TRANSFORM,
        &cfg.functions.firehose_transform,
        env,
        None,
    );
}

/// Where Firehose writes the records it could not convert or partition.
fn errors_prefix(b: &Builder<'_>) -> String {
    format!(
        "{}firehose-errors/{}/",
        b.cfg.lake.raw_prefix,
        tables::CLICKSTREAM
    )
}

/// Objects only under the clickstream's table prefix and its error prefix; the bucket-level
/// calls AWS documents for a Firehose S3 destination on the bucket itself.
fn firehose_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let clickstream_prefix = format!("{}{}/", b.cfg.lake.prefix, tables::CLICKSTREAM);
    vec![
        allow(
            "DeliverToLake",
            &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            &[
                lake_objects(b, &clickstream_prefix),
                lake_objects(b, &errors_prefix(b)),
            ],
        ),
        allow(
            "LakeBucket",
            &[
                "s3:GetBucketLocation",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
            ],
            &[lake_arn(b)],
        ),
        allow(
            "ReadClickstream",
            &[
                "kinesis:DescribeStream",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            &[stream_arn(b)],
        ),
        // AWS documents both for a Lambda processor.
        allow(
            "TransformRecords",
            &["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
            &[function_arn(b, names::FIREHOSE_TRANSFORM)],
        ),
        allow(
            "ReadSchema",
            &[
                "glue:GetTable",
                "glue:GetTableVersion",
                "glue:GetTableVersions",
            ],
            &glue_table_arns(b.cfg, &[tables::CLICKSTREAM]),
        ),
    ]
}

/// Firehose lands the clickstream in the lake, once the table it converts with exists and its
/// role may act (`policy`).
fn delivery_stream(b: &mut Builder<'_>, policy: String) {
    let cfg = b.cfg;
    let role = role_arn(b, names::FIREHOSE);
    let after = [
        b.id(glue::TABLE_KIND, tables::CLICKSTREAM),
        b.id(lambda::FUNCTION_KIND, names::FIREHOSE_TRANSFORM),
        policy,
    ];
    let props = DeliveryStreamProps {
        source_stream_arn: stream_arn(b),
        source_role_arn: role.clone(),
        role_arn: role.clone(),
        bucket_arn: lake_arn(b),
        prefix: cfg.clickstream_delivery_prefix(),
        error_prefix: format!(
            "{}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/",
            errors_prefix(b)
        ),
        buffer_interval_secs: cfg.sink.buffer_interval_secs,
        buffer_size_mib: cfg.sink.buffer_size_mib,
        compression: "UNCOMPRESSED".into(),
        processor_arn: Some(function_arn(b, names::FIREHOSE_TRANSFORM)),
        partition_retry_secs: 300,
        conversion: Some(ParquetConversion {
            database: cfg.glue_database(),
            table: tables::CLICKSTREAM.into(),
            region: cfg.region.clone(),
            role_arn: role,
            timestamp_formats: vec![
                "yyyy-MM-dd'T'HH:mm:ssZZ".into(),
                "yyyy-MM-dd'T'HH:mm:ss.SSSSSSZZ".into(),
                "yyyy-MM-dd'T'HH:mm:ss.SSSZZ".into(),
            ],
            compression: "SNAPPY".into(),
        }),
        tags: tags(cfg),
    };
    b.add(
        firehose::KIND,
        names::CLICKSTREAM_TO_LAKE,
        cfg.physical(names::CLICKSTREAM_TO_LAKE),
        &props,
        &after,
    );
}
