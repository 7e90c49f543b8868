//! What the stack's components share: ARNs, references to the outputs of each other's resources,
//! and the names both sides of a contract use.

use fashion_domain::lake::tables;

use crate::config::StackConfig;
use crate::engine::desired::Builder;
use crate::layout::names;
use crate::providers::aws::{OUT_ARN, OUT_NAME, account_id, dynamodb, kinesis, lambda, s3};

/// The dead-letter table's index on the time letters were set aside.
pub use fashion_aws_core::dynamodb::DEAD_LETTERS_TIME_INDEX;

/// Where the daily job's package holds RDS's global CA bundle (Lambda unpacks code in
/// `/var/task`).
pub const RDS_CA_BUNDLE_PATH: &str = "/var/task/rds-global-bundle.pem";

/// The lake tables the trainer reads (fashion-aws's `S3HistorySource`).
pub const TRAINER_TABLES: [&str; 2] = [tables::CLICKSTREAM, tables::ORDER_ITEMS];

/// The name of the inline policy every role carries.
pub const POLICY_NAME: &str = "least-privilege";

/// The statement id of the one `Resource: "*"` any policy may hold: the network interfaces a
/// Lambda function in a VPC needs (EC2 cannot scope them to resources).
pub const VPC_NETWORK_INTERFACES_SID: &str = "VpcNetworkInterfaces";

/// `arn:<partition>:<service>:<region>:<account>:<resource>`.
pub fn arn(cfg: &StackConfig, service: &str, resource: &str) -> String {
    format!(
        "arn:{}:{service}:{}:{}:{resource}",
        cfg.partition(),
        cfg.region,
        account_id()
    )
}

/// A Glue catalog ARN (`catalog`, `database/<db>`, `table/<db>/<table>`).
pub fn glue_arn(cfg: &StackConfig, what: &str) -> String {
    arn(cfg, "glue", what)
}

/// The ARNs a Glue call on the lake's `tables` needs: the catalog, the database, each table.
pub fn glue_table_arns(cfg: &StackConfig, tables: &[&str]) -> Vec<String> {
    let database = cfg.glue_database();
    let mut arns = vec![
        glue_arn(cfg, "catalog"),
        glue_arn(cfg, &format!("database/{database}")),
    ];
    arns.extend(
        tables
            .iter()
            .map(|t| glue_arn(cfg, &format!("table/{database}/{t}"))),
    );
    arns
}

/// The log group a function writes to.
pub fn log_group_arn(cfg: &StackConfig, function: &str) -> String {
    arn(cfg, "logs", &format!("log-group:/aws/lambda/{function}:*"))
}

/// The lake bucket's ARN.
pub fn lake_arn(b: &Builder<'_>) -> String {
    b.out(s3::KIND, names::LAKE, OUT_ARN)
}

/// The lake bucket's name.
pub fn lake_bucket_name(b: &Builder<'_>) -> String {
    b.out(s3::KIND, names::LAKE, OUT_NAME)
}

/// The objects under `prefix` of the lake bucket.
pub fn lake_objects(b: &Builder<'_>, prefix: &str) -> String {
    format!("{}/{prefix}*", lake_arn(b))
}

/// The dead-letter bucket's ARN.
pub fn dead_letters_bucket_arn(b: &Builder<'_>) -> String {
    b.out(s3::KIND, names::DEAD_LETTERS, OUT_ARN)
}

/// The clickstream's ARN.
pub fn stream_arn(b: &Builder<'_>) -> String {
    b.out(kinesis::KIND, names::CLICKSTREAM, OUT_ARN)
}

/// A DynamoDB table's ARN.
pub fn table_arn(b: &Builder<'_>, name: &str) -> String {
    b.out(dynamodb::KIND, name, OUT_ARN)
}

/// A DynamoDB table's name.
pub fn table_name(b: &Builder<'_>, name: &str) -> String {
    b.out(dynamodb::KIND, name, OUT_NAME)
}

/// A Lambda function's ARN.
pub fn function_arn(b: &Builder<'_>, name: &str) -> String {
    b.out(lambda::FUNCTION_KIND, name, OUT_ARN)
}
