//! The batch path: the orders database, the daily job that turns yesterday's orders into lake
//! partitions, and the trainer that learns neighbours and trends from the lake.

use fashion_aws_core::vars;
use fashion_domain::services::daily_job::DAILY_JOB_TABLES;

use super::common::{
    RDS_CA_BUNDLE_PATH, TRAINER_TABLES, glue_table_arns, lake_arn, lake_objects, table_arn,
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

/// The lake prefixes of `tables`.
fn table_prefixes(b: &Builder<'_>, tables: &[&str]) -> Vec<String> {
    tables
        .iter()
        .map(|t| format!("{}{t}/", b.cfg.lake.prefix))
        .collect()
}

/// The daily job's lake tables (fashion-domain's `DAILY_JOB_TABLES`): the S3LakeWriter puts,
/// copies, reads back (manifests), lists and deletes version directories under each table's
/// prefix; the GlueTableCatalog reads, creates and updates those tables and their partitions.
fn daily_job_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let cfg = b.cfg;
    let table_prefixes = table_prefixes(b, &DAILY_JOB_TABLES);
    let mut statements = vec![
        allow(
            "LakeTableObjects",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            &table_prefixes
                .iter()
                .map(|x| lake_objects(b, x))
                .collect::<Vec<_>>(),
        ),
        allow_listing(
            "LakeTableListing",
            &lake_arn(b),
            &table_prefixes
                .iter()
                .map(|x| format!("{x}*"))
                .collect::<Vec<_>>(),
        ),
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
    ]);
    if b.cfg.stack == StackName::Aws {
        // fashion-lambda's daily job verifies RDS's certificate (sslmode=verify-full) against
        // this bundle, which the package carries at the root of the function's code.
        env.push(var(vars::DATABASE_CA_BUNDLE, RDS_CA_BUNDLE_PATH.to_owned()));
    }
    env
}

fn trainer_statements(b: &Builder<'_>) -> Vec<serde_json::Value> {
    let table_prefixes = table_prefixes(b, &TRAINER_TABLES);
    vec![
        // The S3HistorySource reads the catalogued partitions of its two tables.
        allow(
            "ReadHistory",
            &["s3:GetObject"],
            &table_prefixes
                .iter()
                .map(|x| lake_objects(b, x))
                .collect::<Vec<_>>(),
        ),
        allow_listing(
            "ListHistory",
            &lake_arn(b),
            &table_prefixes
                .iter()
                .map(|x| format!("{x}*"))
                .collect::<Vec<_>>(),
        ),
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
