//! The batch path: the orders database, the daily job that turns yesterday's orders into lake
//! partitions, and the trainer that learns neighbours and trends from the lake.

use fashion_aws_core::vars;
use fashion_domain::services::daily_job::DAILY_JOB_TABLES;

use super::common::{
    RDS_CA_BUNDLE_PATH, TRAINER_TABLES, glue_table_arns, lake_arn, lake_objects, table_arn,
    table_name,
};
use super::functions::{function, lake_env, models_env, var};
use super::identity::{execution_role, logs, role_policy};
use super::network;
use crate::config::StackName;
use crate::engine::desired::{Builder, tags};
use crate::layout::{names, prefixes};
use crate::providers::aws::iam::{allow, allow_listing};
use crate::providers::aws::rds::{self, DbInstanceProps};

/// The database, the daily job, the trainer.
pub fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    orders_database(b);
    execution_role(
        b,
        names::DAILY_JOB,
        "Turns yesterday's orders into lake partitions",
    );
    let statements = daily_job_statements(b);
    role_policy(b, names::DAILY_JOB, &statements);
    let env = daily_job_env(b);
    function(
        b,
        names::DAILY_JOB,
        &cfg.functions.daily_job,
        env,
        network::function_vpc(cfg),
    );
    execution_role(
        b,
        names::TRAINER,
        "Trains item neighbours and trend scores from the lake",
    );
    let statements = trainer_statements(b);
    role_policy(b, names::TRAINER, &statements);
    let mut env = lake_env(b);
    env.extend(models_env(b));
    env.push(var(
        vars::ACTIVITY_TABLE,
        table_name(b, names::USER_ACTIVITY),
    ));
    function(b, names::TRAINER, &cfg.functions.trainer, env, None);
}

/// The transactional database (RDS PostgreSQL).
fn orders_database(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let db = &cfg.database;
    b.add(
        rds::KIND,
        names::ORDERS_DB,
        cfg.physical(names::ORDERS_DB),
        &DbInstanceProps {
            engine: "postgres".into(),
            engine_version: db.engine_version.clone(),
            instance_class: db.instance_class.clone(),
            allocated_storage_gib: db.allocated_storage_gib,
            storage_type: "gp3".into(),
            storage_encrypted: true,
            publicly_accessible: false,
            manage_master_password: true,
            master_username: db.username.clone(),
            db_name: db.name.clone(),
            backup_retention_days: db.backup_retention_days,
            deletion_protection: db.deletion_protection,
            multi_az: db.multi_az,
            copy_tags_to_snapshot: true,
            auto_minor_version_upgrade: true,
            security_group_ids: network::database_security_groups(cfg),
            subnet_group: network::database_subnet_group(cfg),
            tags: tags(cfg),
        },
        &[],
    );
}

/// Two statements on the lake tables `tables`: `actions` on their objects (`objects_sid`), and
/// listing their prefixes (`listing_sid`).
fn table_statements(
    b: &Builder<'_>,
    tables: &[&str],
    (objects_sid, actions): (&str, &[&str]),
    listing_sid: &str,
) -> [serde_json::Value; 2] {
    let prefixes: Vec<String> = tables
        .iter()
        .map(|t| format!("{}{t}/", b.cfg.lake.prefix))
        .collect();
    let objects: Vec<String> = prefixes.iter().map(|x| lake_objects(b, x)).collect();
    let patterns: Vec<String> = prefixes.iter().map(|x| format!("{x}*")).collect();
    [
        allow(objects_sid, actions, &objects),
        allow_listing(listing_sid, &lake_arn(b), &patterns),
    ]
}

/// The daily job's lake tables (fashion-domain's `DAILY_JOB_TABLES`): the S3LakeWriter puts,
/// copies, reads back (manifests), lists and deletes version directories under each table's
/// prefix; the GlueTableCatalog reads, creates and updates those tables and their partitions.
fn daily_job_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let cfg = b.cfg;
    let [objects, listing] = table_statements(
        b,
        &DAILY_JOB_TABLES,
        (
            "LakeTableObjects",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
        ),
        "LakeTableListing",
    );
    let mut statements = vec![
        objects,
        listing,
        allow(
            "CatalogTablesAndPartitions",
            &[
                "glue:GetTable",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:UpdatePartition",
            ],
            &glue_table_arns(cfg, &DAILY_JOB_TABLES),
        ),
        // The catalog's sync after each day: the catalog read whole, new and changed products
        // written in batches.
        allow(
            "SyncCatalog",
            &["dynamodb:Scan", "dynamodb:BatchWriteItem"],
            &[table_arn(b, names::PRODUCTS)],
        ),
        allow(
            "DatabasePassword",
            &["secretsmanager:GetSecretValue"],
            &[b.out(rds::KIND, names::ORDERS_DB, rds::OUT_SECRET_ARN)],
        ),
        logs(b, &cfg.physical(names::DAILY_JOB)),
    ];
    if network::vpc_access(cfg) {
        statements.push(network::network_interfaces_statement());
    }
    statements
}

fn daily_job_env(b: &Builder<'_>) -> Vec<(String, String)> {
    let mut env = lake_env(b);
    env.extend([
        // The URL names host, port, user and database, never the password: that lives in
        // Secrets Manager (ManageMasterUserPassword), read at run time through the secret's ARN.
        var(
            vars::DATABASE_URL,
            b.out(rds::KIND, names::ORDERS_DB, rds::OUT_URL),
        ),
        var(
            vars::DATABASE_SECRET_ARN,
            b.out(rds::KIND, names::ORDERS_DB, rds::OUT_SECRET_ARN),
        ),
        var(vars::CATALOG_TABLE, table_name(b, names::PRODUCTS)),
    ]);
    if b.cfg.stack == StackName::Aws {
        // fashion-lambda's daily job verifies RDS's certificate (sslmode=verify-full) against
        // this bundle, which the package carries at the root of the function's code.
        env.push(var(vars::DATABASE_CA_BUNDLE, RDS_CA_BUNDLE_PATH.to_owned()));
    }
    env
}

fn trainer_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    // The S3HistorySource reads the catalogued partitions of its two tables.
    let [objects, listing] = table_statements(
        b,
        &TRAINER_TABLES,
        ("ReadHistory", &["s3:GetObject"]),
        "ListHistory",
    );
    vec![
        objects,
        listing,
        allow(
            "ReadHistoryCatalog",
            &["glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
            &glue_table_arns(b.cfg, &TRAINER_TABLES),
        ),
        // The product catalog's `list` (Scan).
        allow(
            "ReadProducts",
            &["dynamodb:Scan"],
            &[table_arn(b, names::PRODUCTS)],
        ),
        // Customers' new purchases, into their activity records (read, then a conditional put).
        allow(
            "RememberPurchases",
            &["dynamodb:BatchGetItem", "dynamodb:PutItem"],
            &[table_arn(b, names::USER_ACTIVITY)],
        ),
        // The model store's `put`: reads `LATEST`, writes the version, then `LATEST`.
        allow(
            "WriteModel",
            &["s3:GetObject", "s3:PutObject"],
            &[lake_objects(b, prefixes::MODELS)],
        ),
        allow_listing(
            "ListModels",
            &lake_arn(b),
            &[format!("{}*", prefixes::MODELS)],
        ),
        logs(b, &b.cfg.physical(names::TRAINER)),
    ]
}
