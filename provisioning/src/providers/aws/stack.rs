//! The desired AWS resources of the `emulator` and `aws` stacks: storage, stream, tables,
//! catalog, roles with least-privilege policies, functions, the stream mapping, schedules,
//! Athena and RDS, with references between them (`${id.output}`) for every ARN not known before
//! its resource exists.

use std::collections::BTreeMap;

use fashion_domain::lake::{TableDef, all_tables, tables};
use fashion_domain::services::daily_job::DAILY_JOB_TABLES;
use serde_json::json;

use super::account_id;
use super::athena::{self, WorkgroupProps};
use super::dynamodb::{self, GlobalIndex, KeyAttribute, PAY_PER_REQUEST, TableProps};
use super::firehose::{self, DeliveryStreamProps, EVENT_TIME_PARTITION_QUERY, ParquetConversion};
use super::function_url::{self, AUTH_NONE, CorsProps, FunctionUrlProps, public_url_permissions};
use super::glue::{self, DatabaseProps};
use super::iam::{self, RolePolicyProps, RoleProps, allow, allow_listing, policy, trust_policy};
use super::kinesis::{self, MODE_ON_DEMAND, MODE_PROVISIONED, StreamProps};
use super::lambda::{self, FunctionProps, MappingProps, VpcProps};
use super::rds::{self, DbInstanceProps};
use super::s3::{self, BucketProps, Lifecycle, PublicAccessBlock, tls_only_policy};
use super::scheduler::{self, GroupProps, ScheduleProps};
use super::{OUT_ARN, OUT_NAME};
use crate::config::{StackConfig, StackName, StreamMode};
use crate::engine::desired::{Builder, tags};
use crate::layout::{names, prefixes};

fn arn(cfg: &StackConfig, service: &str, resource: &str) -> String {
    format!(
        "arn:{}:{service}:{}:{}:{resource}",
        cfg.partition(),
        cfg.region,
        account_id()
    )
}

fn log_group_arn(cfg: &StackConfig, function: &str) -> String {
    arn(cfg, "logs", &format!("log-group:/aws/lambda/{function}:*"))
}

/// The dead-letter table's index on the time letters were set aside (fashion-aws's
/// `DynamoDbDeadLetterSink::TIME_INDEX`).
const DEAD_LETTERS_TIME_INDEX: &str = "by_time";

/// Where the daily job's package holds RDS's global CA bundle (Lambda unpacks code in
/// `/var/task`).
pub const RDS_CA_BUNDLE_PATH: &str = "/var/task/rds-global-bundle.pem";

/// The lake tables the trainer reads (fashion-aws's `S3HistorySource`).
const TRAINER_TABLES: [&str; 2] = [tables::CLICKSTREAM, tables::ORDER_ITEMS];

/// The name of the inline policy every role carries.
pub const POLICY_NAME: &str = "least-privilege";

/// The statement id of the one `Resource: "*"` any policy may hold: the network interfaces a
/// Lambda function in a VPC needs (EC2 cannot scope them to resources).
pub(crate) const VPC_NETWORK_INTERFACES_SID: &str = "VpcNetworkInterfaces";

#[allow(clippy::too_many_lines)]
/// Declares every AWS resource of the stack.
pub(crate) fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let tags = tags(cfg);
    let p = cfg.partition();
    let bucket = cfg.lake_bucket();
    let lake_prefix = &cfg.lake.prefix;
    let raw_prefix = &cfg.lake.raw_prefix;

    // Storage.
    let lifecycle = |rules: Vec<Lifecycle>| {
        let mut rules = rules;
        rules.push(Lifecycle {
            id: "abort-incomplete-uploads".into(),
            prefix: String::new(),
            expiration_days: None,
            abort_incomplete_upload_days: Some(cfg.lake.abort_incomplete_upload_days),
        });
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        rules
    };
    b.add(
        s3::KIND,
        names::LAKE,
        bucket.clone(),
        &BucketProps {
            region: cfg.region.clone(),
            public_access_block: Some(PublicAccessBlock::ALL),
            encryption: Some("AES256".into()),
            policy: cfg.lake.require_tls.then(|| tls_only_policy(p, &bucket)),
            // Overwritten and deleted lake objects stay recoverable (a bad backfill, a mistaken
            // delete); the lake writer's superseded version directories become noncurrent.
            versioning: true,
            lifecycle: lifecycle(vec![
                Lifecycle {
                    id: "raw-zone-expiry".into(),
                    prefix: raw_prefix.clone(),
                    expiration_days: Some(cfg.lake.raw_expiry_days),
                    abort_incomplete_upload_days: None,
                },
                Lifecycle {
                    id: "quarantine-retention".into(),
                    prefix: format!("{lake_prefix}{}/", tables::QUARANTINE),
                    expiration_days: Some(cfg.lake.quarantine_retention_days),
                    abort_incomplete_upload_days: None,
                },
                Lifecycle {
                    id: "athena-results-expiry".into(),
                    prefix: prefixes::ATHENA_RESULTS.into(),
                    expiration_days: Some(cfg.lake.athena_results_expiry_days),
                    abort_incomplete_upload_days: None,
                },
            ]),
            tags: tags.clone(),
        },
        &[],
    );
    let dead_letters = cfg.physical(&format!("dead-letters-{}", cfg.region));
    b.add(
        s3::KIND,
        names::DEAD_LETTERS,
        dead_letters.clone(),
        &BucketProps {
            region: cfg.region.clone(),
            public_access_block: Some(PublicAccessBlock::ALL),
            encryption: Some("AES256".into()),
            policy: cfg
                .lake
                .require_tls
                .then(|| tls_only_policy(p, &dead_letters)),
            versioning: false,
            lifecycle: lifecycle(vec![Lifecycle {
                id: "dead-letter-expiry".into(),
                prefix: String::new(),
                expiration_days: Some(cfg.lake.dead_letter_expiry_days),
                abort_incomplete_upload_days: None,
            }]),
            tags: tags.clone(),
        },
        &[],
    );
    let lake_url = b.out(s3::KIND, names::LAKE, s3::OUT_URL);
    let lake_arn = b.out(s3::KIND, names::LAKE, OUT_ARN);
    let dead_letters_arn = b.out(s3::KIND, names::DEAD_LETTERS, OUT_ARN);

    // The clickstream.
    let stream_name = cfg.physical(names::CLICKSTREAM);
    b.add(
        kinesis::KIND,
        names::CLICKSTREAM,
        stream_name.clone(),
        &StreamProps {
            mode: match cfg.stream.mode {
                StreamMode::Provisioned => MODE_PROVISIONED.into(),
                StreamMode::OnDemand => MODE_ON_DEMAND.into(),
            },
            shards: (cfg.stream.mode == StreamMode::Provisioned).then_some(cfg.stream.shards),
            retention_hours: cfg.stream.retention_hours,
            encryption: if cfg.stream.encrypted { "KMS" } else { "NONE" }.into(),
            tags: tags.clone(),
        },
        &[],
    );
    let stream_arn = b.out(kinesis::KIND, names::CLICKSTREAM, OUT_ARN);

    // DynamoDB.
    let key = |name: &str, ty: &str, key_type: &str| KeyAttribute {
        name: name.into(),
        attribute_type: ty.into(),
        key_type: key_type.into(),
    };
    // Key schemas as fashion-aws's DynamoDB adapters read and write them (their PARTITION_KEY,
    // SORT_KEY, TTL_ATTRIBUTE and TIME_INDEX constants).
    for (name, keys, indexes, ttl) in [
        (
            names::RECOMMENDATIONS,
            vec![key("customer_id", "N", "HASH")],
            vec![],
            None,
        ),
        (
            names::USER_ACTIVITY,
            vec![key("customer_id", "N", "HASH")],
            vec![],
            Some("expires_at".to_owned()),
        ),
        (
            names::CHECKPOINTS,
            vec![key("consumer", "S", "HASH"), key("shard", "S", "RANGE")],
            vec![],
            None,
        ),
        (
            names::PRODUCTS,
            vec![key("product_id", "N", "HASH")],
            vec![],
            None,
        ),
        (
            names::DEAD_LETTERS,
            vec![key("dead_letter_key", "S", "HASH")],
            vec![GlobalIndex {
                name: DEAD_LETTERS_TIME_INDEX.into(),
                key: vec![key("feed", "S", "HASH"), key("set_aside_at", "S", "RANGE")],
                projection: "ALL".into(),
            }],
            None,
        ),
    ] {
        b.add(
            dynamodb::KIND,
            name,
            cfg.physical(name),
            &TableProps {
                key: keys,
                indexes,
                billing_mode: PAY_PER_REQUEST.into(),
                sse: Some("KMS".into()),
                ttl_attribute: ttl,
                tags: tags.clone(),
            },
            &[],
        );
    }
    let table_arn = |b: &Builder<'_>, name: &str| b.out(dynamodb::KIND, name, OUT_ARN);

    // The catalog.
    let database = cfg.glue_database();
    let database_id = b.add(
        glue::DATABASE_KIND,
        names::LAKE,
        database.clone(),
        &DatabaseProps {
            description: "The fashion store's data lake".into(),
            location: format!("s3://{bucket}/{lake_prefix}"),
            tags: tags.clone(),
        },
        &[],
    );
    for def in all_tables() {
        let location = format!("s3://{bucket}/{lake_prefix}{}/", def.name);
        let extra = if def.name == tables::CLICKSTREAM {
            clickstream_projection(&def, &location)
        } else {
            BTreeMap::new()
        };
        b.add(
            glue::TABLE_KIND,
            &def.name,
            def.name.clone(),
            &glue::TableProps::parquet(&def, &database, location, extra),
            std::slice::from_ref(&database_id),
        );
    }
    let glue_arn = |what: &str| arn(cfg, "glue", what);
    let catalog = glue_arn("catalog");
    let database_arn = glue_arn(&format!("database/{database}"));

    // Roles and their policies.
    let lambda_trust = trust_policy("lambda.amazonaws.com", None);
    let functions = [
        (
            names::STREAM_PROCESSOR,
            "Validates, enriches and scores the clickstream",
        ),
        (
            names::DAILY_JOB,
            "Turns yesterday's orders into lake partitions",
        ),
        (
            names::TRAINER,
            "Trains item neighbours and trend scores from the lake",
        ),
        (
            names::API,
            "Serves the shop's HTTP API behind a function URL",
        ),
    ];
    for (name, description) in functions {
        b.add(
            iam::ROLE_KIND,
            name,
            cfg.physical(name),
            &RoleProps {
                assume_role_policy: lambda_trust.clone(),
                description: format!("{description} (Lambda execution role)"),
                tags: tags.clone(),
            },
            &[],
        );
    }
    b.add(
        iam::ROLE_KIND,
        names::FIREHOSE,
        cfg.physical(names::FIREHOSE),
        &RoleProps {
            assume_role_policy: trust_policy(
                "firehose.amazonaws.com",
                Some(json!({"StringEquals": {"sts:ExternalId": account_id()}})),
            ),
            description: "Delivers the clickstream to the lake as Parquet".into(),
            tags: tags.clone(),
        },
        &[],
    );
    b.add(
        iam::ROLE_KIND,
        names::SCHEDULER,
        cfg.physical(names::SCHEDULER),
        &RoleProps {
            assume_role_policy: trust_policy(
                "scheduler.amazonaws.com",
                Some(json!({"StringEquals": {"aws:SourceAccount": account_id()}})),
            ),
            description: "Invokes the daily job and the trainer on schedule".into(),
            tags: tags.clone(),
        },
        &[],
    );

    let logs = |function: &str| {
        allow(
            "Logs",
            &[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            &[log_group_arn(cfg, function)],
        )
    };
    let objects = |prefix: &str| format!("{lake_arn}/{prefix}*");
    let database_secret = b.out(rds::KIND, names::ORDERS_DB, rds::OUT_SECRET_ARN);
    let stream_processor = cfg.physical(names::STREAM_PROCESSOR);
    let daily_job = cfg.physical(names::DAILY_JOB);
    let trainer = cfg.physical(names::TRAINER);
    let vpc_access = !cfg.network.subnet_ids.is_empty();

    // The daily job's lake tables (fashion-domain's `DAILY_JOB_TABLES`): the S3LakeWriter puts,
    // copies, reads back (manifests), lists and deletes version directories under each table's
    // prefix; the GlueTableCatalog reads, creates and updates those tables and their partitions.
    let daily_prefixes: Vec<String> = DAILY_JOB_TABLES
        .iter()
        .map(|t| format!("{lake_prefix}{t}/"))
        .collect();
    let mut daily_glue = vec![catalog.clone(), database_arn.clone()];
    daily_glue.extend(
        DAILY_JOB_TABLES
            .iter()
            .map(|t| glue_arn(&format!("table/{database}/{t}"))),
    );
    let mut daily_statements = vec![
        allow(
            "LakeTableObjects",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            &daily_prefixes
                .iter()
                .map(|x| objects(x))
                .collect::<Vec<_>>(),
        ),
        allow_listing(
            "LakeTableListing",
            &lake_arn,
            &daily_prefixes
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
            &daily_glue,
        ),
        allow(
            "DatabasePassword",
            &["secretsmanager:GetSecretValue"],
            &[database_secret],
        ),
        logs(&daily_job),
    ];
    if vpc_access {
        // The one documented `Resource: "*"`: Lambda creates network interfaces in the VPC's
        // subnets; EC2 does not scope these actions to resources, which is why AWS's own managed
        // policy (AWSLambdaVPCAccessExecutionRole) uses "*" here. Tests allow it only here.
        daily_statements.push(allow(
            VPC_NETWORK_INTERFACES_SID,
            &[
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            &["*".to_owned()],
        ));
    }
    let trainer_prefixes: Vec<String> = TRAINER_TABLES
        .iter()
        .map(|t| format!("{lake_prefix}{t}/"))
        .collect();
    let mut trainer_glue = vec![catalog.clone(), database_arn.clone()];
    trainer_glue.extend(
        TRAINER_TABLES
            .iter()
            .map(|t| glue_arn(&format!("table/{database}/{t}"))),
    );
    let clickstream_prefix = format!("{lake_prefix}{}/", tables::CLICKSTREAM);
    let firehose_errors_prefix = format!("{raw_prefix}firehose-errors/{}/", tables::CLICKSTREAM);
    let role_policies: Vec<(&str, Vec<serde_json::Value>)> = vec![
        (
            names::STREAM_PROCESSOR,
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
                    std::slice::from_ref(&stream_arn),
                ),
                // Exactly the calls of fashion-aws's stores the stream processor builds; never
                // the checkpoints table (the Lambda's mapping keeps its own position).
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
                // `LATEST` and the versions it names; listing finds older versions when the
                // newest is corrupt.
                allow("ReadModel", &["s3:GetObject"], &[objects(prefixes::MODELS)]),
                allow_listing("ListModels", &lake_arn, &[format!("{}*", prefixes::MODELS)]),
                // The event-source mapping's on-failure destination writes with this role
                // (AWS documents s3:PutObject and s3:ListBucket).
                allow(
                    "DescribeDiscardedBatches",
                    &["s3:PutObject"],
                    &[format!("{dead_letters_arn}/*")],
                ),
                allow(
                    "ListDiscardedBatches",
                    &["s3:ListBucket"],
                    std::slice::from_ref(&dead_letters_arn),
                ),
                logs(&stream_processor),
            ],
        ),
        (names::DAILY_JOB, daily_statements),
        (
            names::TRAINER,
            vec![
                // The S3HistorySource reads the catalogued partitions of its two tables.
                allow(
                    "ReadHistory",
                    &["s3:GetObject"],
                    &trainer_prefixes
                        .iter()
                        .map(|x| objects(x))
                        .collect::<Vec<_>>(),
                ),
                allow_listing(
                    "ListHistory",
                    &lake_arn,
                    &trainer_prefixes
                        .iter()
                        .map(|x| format!("{x}*"))
                        .collect::<Vec<_>>(),
                ),
                allow(
                    "ReadHistoryCatalog",
                    &["glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
                    &trainer_glue,
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
                    &[objects(prefixes::MODELS)],
                ),
                allow_listing("ListModels", &lake_arn, &[format!("{}*", prefixes::MODELS)]),
                logs(&trainer),
            ],
        ),
        (
            names::API,
            api_statements(b, logs(&cfg.physical(names::API))),
        ),
        (
            names::FIREHOSE,
            vec![
                // Objects only under the clickstream's table prefix and its error prefix (the
                // records Firehose could not convert or partition); the bucket-level calls AWS
                // documents for a Firehose S3 destination on the bucket itself.
                allow(
                    "DeliverToLake",
                    &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    &[
                        objects(&clickstream_prefix),
                        objects(&firehose_errors_prefix),
                    ],
                ),
                allow(
                    "LakeBucket",
                    &[
                        "s3:GetBucketLocation",
                        "s3:ListBucket",
                        "s3:ListBucketMultipartUploads",
                    ],
                    std::slice::from_ref(&lake_arn),
                ),
                allow(
                    "ReadClickstream",
                    &[
                        "kinesis:DescribeStream",
                        "kinesis:GetShardIterator",
                        "kinesis:GetRecords",
                        "kinesis:ListShards",
                    ],
                    std::slice::from_ref(&stream_arn),
                ),
                allow(
                    "ReadSchema",
                    &[
                        "glue:GetTable",
                        "glue:GetTableVersion",
                        "glue:GetTableVersions",
                    ],
                    &[
                        catalog,
                        database_arn,
                        glue_arn(&format!("table/{database}/{}", tables::CLICKSTREAM)),
                    ],
                ),
            ],
        ),
        (
            names::SCHEDULER,
            vec![allow(
                "InvokeScheduledFunctions",
                &["lambda:InvokeFunction"],
                &[
                    b.out(lambda::FUNCTION_KIND, names::DAILY_JOB, OUT_ARN),
                    format!(
                        "{}:*",
                        b.out(lambda::FUNCTION_KIND, names::DAILY_JOB, OUT_ARN)
                    ),
                    b.out(lambda::FUNCTION_KIND, names::TRAINER, OUT_ARN),
                    format!(
                        "{}:*",
                        b.out(lambda::FUNCTION_KIND, names::TRAINER, OUT_ARN)
                    ),
                ],
            )],
        ),
    ];
    let mut policy_ids = BTreeMap::new();
    for (name, statements) in role_policies {
        let role_name = cfg.physical(name);
        let role_id = b.id(iam::ROLE_KIND, name);
        let id = b.add(
            iam::POLICY_KIND,
            name,
            format!("{role_name}/{POLICY_NAME}"),
            &RolePolicyProps {
                role: role_name,
                policy_name: POLICY_NAME.into(),
                document: policy(&statements),
            },
            &[role_id],
        );
        policy_ids.insert(name, id);
    }

    // The transactional database.
    let mut groups = cfg.network.security_group_ids.clone();
    groups.sort();
    b.add(
        rds::KIND,
        names::ORDERS_DB,
        cfg.physical(names::ORDERS_DB),
        &DbInstanceProps {
            engine: "postgres".into(),
            engine_version: cfg.database.engine_version.clone(),
            instance_class: cfg.database.instance_class.clone(),
            allocated_storage_gib: cfg.database.allocated_storage_gib,
            storage_type: "gp3".into(),
            storage_encrypted: true,
            publicly_accessible: false,
            manage_master_password: true,
            master_username: cfg.database.username.clone(),
            db_name: cfg.database.name.clone(),
            backup_retention_days: cfg.database.backup_retention_days,
            deletion_protection: cfg.database.deletion_protection,
            multi_az: cfg.database.multi_az,
            copy_tags_to_snapshot: true,
            auto_minor_version_upgrade: true,
            security_group_ids: (!groups.is_empty()).then_some(groups),
            subnet_group: (!cfg.network.db_subnet_group.is_empty())
                .then(|| cfg.network.db_subnet_group.clone()),
            tags: tags.clone(),
        },
        &[],
    );

    // Functions. Variable names are fashion-lambda's (its `settings` module); the lake and
    // models prefixes are given without their trailing '/', as it joins them itself.
    let bucket_name = b.out(s3::KIND, names::LAKE, OUT_NAME);
    let common_env = |extra: Vec<(String, String)>| {
        let mut env = BTreeMap::from([
            ("RUST_LOG".to_owned(), cfg.functions.log_level.clone()),
            ("FASHION_TIME_ZONE".to_owned(), cfg.time_zone.clone()),
        ]);
        env.extend(extra);
        env
    };
    let var = |k: &str, v: String| (k.to_owned(), v);
    let table_name = |b: &Builder<'_>, name: &str| b.out(dynamodb::KIND, name, OUT_NAME);
    let lake_env = || {
        vec![
            var("FASHION_LAKE_BUCKET", bucket_name.clone()),
            var(
                "FASHION_LAKE_PREFIX",
                lake_prefix.trim_end_matches('/').to_owned(),
            ),
            var("FASHION_GLUE_DATABASE", database.clone()),
        ]
    };
    let models_env = || {
        vec![
            var("FASHION_MODELS_BUCKET", bucket_name.clone()),
            var(
                "FASHION_MODELS_PREFIX",
                prefixes::MODELS.trim_end_matches('/').to_owned(),
            ),
        ]
    };
    let mut stream_processor_env = vec![
        var(
            "FASHION_ACTIVITY_TABLE",
            table_name(b, names::USER_ACTIVITY),
        ),
        var(
            "FASHION_RECOMMENDATIONS_TABLE",
            table_name(b, names::RECOMMENDATIONS),
        ),
        var("FASHION_CATALOG_TABLE", table_name(b, names::PRODUCTS)),
        var(
            "FASHION_DEAD_LETTERS_TABLE",
            table_name(b, names::DEAD_LETTERS),
        ),
    ];
    stream_processor_env.extend(models_env());
    let mut daily_env = lake_env();
    daily_env.extend([
        // The URL names host, port, user and database, never the password: that lives in
        // Secrets Manager (ManageMasterUserPassword), read at run time through the secret's ARN.
        var(
            "DATABASE_URL",
            b.out(rds::KIND, names::ORDERS_DB, rds::OUT_URL),
        ),
        var(
            "FASHION_DATABASE_SECRET_ARN",
            b.out(rds::KIND, names::ORDERS_DB, rds::OUT_SECRET_ARN),
        ),
    ]);
    if cfg.stack == StackName::Aws {
        // fashion-lambda's daily job verifies RDS's certificate (sslmode=verify-full) against
        // this bundle, which the package carries at the root of the function's code.
        daily_env.push(var(
            "FASHION_DATABASE_CA_BUNDLE",
            RDS_CA_BUNDLE_PATH.to_owned(),
        ));
    }
    let mut trainer_env = lake_env();
    trainer_env.extend(models_env());
    let mut api_env = lake_env();
    api_env.extend(models_env());
    api_env.extend([
        var(
            "FASHION_CLICKSTREAM_STREAM",
            b.out(kinesis::KIND, names::CLICKSTREAM, OUT_NAME),
        ),
        var(
            "FASHION_RECOMMENDATIONS_TABLE",
            table_name(b, names::RECOMMENDATIONS),
        ),
        var("FASHION_CATALOG_TABLE", table_name(b, names::PRODUCTS)),
        var(
            "FASHION_DEAD_LETTERS_TABLE",
            table_name(b, names::DEAD_LETTERS),
        ),
        var(
            "FASHION_ATHENA_WORKGROUP",
            b.out(athena::KIND, names::ANALYTICS, OUT_NAME),
        ),
    ]);
    let mut subnets = cfg.network.subnet_ids.clone();
    subnets.sort();
    let mut sgs = cfg.network.security_group_ids.clone();
    sgs.sort();
    for ((name, settings), env) in cfg
        .function_configs()
        .into_iter()
        .map(|(key, f)| (key.replace('_', "-"), f))
        .zip([stream_processor_env, daily_env, trainer_env, api_env])
    {
        let role = b.out(iam::ROLE_KIND, &name, OUT_ARN);
        let policy = policy_ids
            .get(name.as_str())
            .cloned()
            .into_iter()
            .collect::<Vec<_>>();
        b.add(
            lambda::FUNCTION_KIND,
            &name,
            cfg.physical(&name),
            &FunctionProps {
                code_path: settings.zip.display().to_string(),
                code_sha256: None,
                runtime: cfg.functions.runtime.clone(),
                handler: "bootstrap".into(),
                role,
                memory_mb: settings.memory_mb,
                timeout_secs: settings.timeout_secs,
                architecture: cfg.functions.architecture.clone(),
                environment: common_env(env),
                vpc: (name == names::DAILY_JOB && vpc_access).then(|| VpcProps {
                    subnet_ids: subnets.clone(),
                    security_group_ids: sgs.clone(),
                }),
                tags: tags.clone(),
            },
            &policy,
        );
    }

    api_function_url(b);

    // The stream processor reads the clickstream.
    let esm = &cfg.stream_processor;
    b.add(
        lambda::MAPPING_KIND,
        names::STREAM_PROCESSOR,
        format!("{stream_processor}/{stream_name}"),
        &MappingProps {
            function_name: stream_processor,
            stream_name,
            event_source_arn: stream_arn.clone(),
            starting_position: esm.starting_position.clone(),
            batch_size: esm.batch_size,
            batching_window_secs: esm.batching_window_secs,
            bisect_on_error: true,
            max_retries: esm.max_retries,
            max_record_age_secs: esm.max_record_age_secs,
            parallelization_factor: esm.parallelization_factor,
            report_batch_item_failures: true,
            on_failure_destination: Some(dead_letters_arn),
            enabled: true,
            tags: tags.clone(),
        },
        &[
            b.id(lambda::FUNCTION_KIND, names::STREAM_PROCESSOR),
            b.id(iam::POLICY_KIND, names::STREAM_PROCESSOR),
        ],
    );

    // Firehose lands the clickstream in the lake.
    let firehose_role = b.out(iam::ROLE_KIND, names::FIREHOSE, OUT_ARN);
    b.add(
        firehose::KIND,
        names::CLICKSTREAM_TO_LAKE,
        cfg.physical(names::CLICKSTREAM_TO_LAKE),
        &DeliveryStreamProps {
            source_stream_arn: stream_arn,
            source_role_arn: firehose_role.clone(),
            role_arn: firehose_role.clone(),
            bucket_arn: lake_arn.clone(),
            prefix: format!(
                "{lake_prefix}{}/dt=!{{partitionKeyFromQuery:dt}}/hour=!{{partitionKeyFromQuery:hour}}/",
                tables::CLICKSTREAM
            ),
            error_prefix: format!(
                "{firehose_errors_prefix}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"
            ),
            buffer_interval_secs: cfg.sink.buffer_interval_secs,
            buffer_size_mib: cfg.sink.buffer_size_mib,
            compression: "UNCOMPRESSED".into(),
            partition_query: Some(EVENT_TIME_PARTITION_QUERY.into()),
            partition_retry_secs: 300,
            conversion: Some(ParquetConversion {
                database: database.clone(),
                table: tables::CLICKSTREAM.into(),
                region: cfg.region.clone(),
                role_arn: firehose_role,
                timestamp_formats: vec![
                    "yyyy-MM-dd'T'HH:mm:ssZZ".into(),
                    "yyyy-MM-dd'T'HH:mm:ss.SSSSSSZZ".into(),
                    "yyyy-MM-dd'T'HH:mm:ss.SSSZZ".into(),
                ],
                compression: "SNAPPY".into(),
            }),
            tags: tags.clone(),
        },
        &[
            b.id(glue::TABLE_KIND, tables::CLICKSTREAM),
            b.id(iam::POLICY_KIND, names::FIREHOSE),
        ],
    );

    // Schedules.
    let group = cfg.name_prefix.clone();
    let group_id = b.add(
        scheduler::GROUP_KIND,
        names::SCHEDULES,
        group.clone(),
        &GroupProps { tags: tags.clone() },
        &[],
    );
    for (name, expression, description) in [
        (
            names::DAILY_JOB,
            cfg.schedule.daily_job.clone(),
            "Yesterday's orders into the lake, just after midnight store time",
        ),
        (
            names::TRAINER,
            cfg.schedule.trainer.clone(),
            "Retrains neighbours and trend scores",
        ),
    ] {
        let input = json!({
            "job": name,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "time_zone": cfg.time_zone,
        });
        b.add(
            scheduler::SCHEDULE_KIND,
            name,
            cfg.physical(name),
            &ScheduleProps {
                group: group.clone(),
                expression,
                time_zone: cfg.time_zone.clone(),
                description: description.into(),
                target_arn: b.out(lambda::FUNCTION_KIND, name, OUT_ARN),
                role_arn: b.out(iam::ROLE_KIND, names::SCHEDULER, OUT_ARN),
                input: input.to_string(),
                max_retries: cfg.schedule.max_retries,
                max_event_age_secs: 3600,
                state: "ENABLED".into(),
            },
            &[group_id.clone(), b.id(iam::POLICY_KIND, names::SCHEDULER)],
        );
    }

    // Analysts' SQL.
    b.add(
        athena::KIND,
        names::ANALYTICS,
        cfg.name_prefix.clone(),
        &WorkgroupProps {
            description: "SQL over the fashion store's lake".into(),
            output_location: format!("{lake_url}/{}", prefixes::ATHENA_RESULTS),
            encryption: "SSE_S3".into(),
            enforce_configuration: true,
            publish_metrics: true,
            bytes_scanned_cutoff: cfg.athena.bytes_scanned_cutoff,
            state: "ENABLED".into(),
            tags,
        },
        &[],
    );
}

/// The API function's policy: exactly the calls of the adapters `fashion_lambda::api::router`
/// builds (fashion-aws), on exact ARNs.
fn api_statements(b: &Builder<'_>, logs: serde_json::Value) -> Vec<serde_json::Value> {
    let cfg = b.cfg;
    let lake_arn = b.out(s3::KIND, names::LAKE, OUT_ARN);
    let objects = |prefix: &str| format!("{lake_arn}/{prefix}*");
    let table = |name: &str| b.out(dynamodb::KIND, name, OUT_ARN);
    let database = cfg.glue_database();
    let glue_arn = |what: &str| arn(cfg, "glue", what);
    vec![
        // The collector (`PutRecords`, failed records sent again the same way).
        allow(
            "PublishClicks",
            &["kinesis:PutRecords"],
            &[b.out(kinesis::KIND, names::CLICKSTREAM, OUT_ARN)],
        ),
        // `get` of the recommendation store.
        allow(
            "ReadRecommendations",
            &["dynamodb:GetItem"],
            &[table(names::RECOMMENDATIONS)],
        ),
        // `get_many` (BatchGetItem) and `list` (Scan) of the product catalog.
        allow(
            "ReadCatalog",
            &["dynamodb:BatchGetItem", "dynamodb:Scan"],
            &[table(names::PRODUCTS)],
        ),
        // Refused events are set aside (`put_many`: one conditional PutItem each) and listed
        // oldest first through the time index (`list`: Query).
        allow(
            "SetAsideRefusedEvents",
            &["dynamodb:PutItem"],
            &[table(names::DEAD_LETTERS)],
        ),
        allow(
            "ListDeadLetters",
            &["dynamodb:Query"],
            &[format!(
                "{}/index/{DEAD_LETTERS_TIME_INDEX}",
                table(names::DEAD_LETTERS)
            )],
        ),
        // Models and the lake's tables, read only (also what Athena reads for the API).
        allow(
            "ReadModelsAndLake",
            &["s3:GetObject"],
            &[objects(prefixes::MODELS), objects(&cfg.lake.prefix)],
        ),
        // Listing partitions' files; S3 answers a missing model key with 404 (not 403) only to
        // callers that may list the bucket. Athena also needs the bucket's location and its
        // multipart uploads for the results it writes.
        allow(
            "LakeBucket",
            &[
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:ListBucketMultipartUploads",
            ],
            std::slice::from_ref(&lake_arn),
        ),
        // Athena writes and reads query results in the workgroup's output location with the
        // caller's permissions.
        allow(
            "AthenaResults",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            &[objects(prefixes::ATHENA_RESULTS)],
        ),
        // Partitions for the history reader; table definitions for it and for Athena.
        allow(
            "ReadLakeCatalog",
            &["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            &[
                glue_arn("catalog"),
                glue_arn(&format!("database/{database}")),
                glue_arn(&format!("table/{database}/*")),
            ],
        ),
        // The dashboard's SQL; a query past its deadline is stopped.
        allow(
            "QueryLake",
            &[
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
            ],
            &[b.out(athena::KIND, names::ANALYTICS, OUT_ARN)],
        ),
        logs,
    ]
}

/// The API function's public URL, with the CORS settings a browser on the shop's pages needs.
fn api_function_url(b: &mut Builder<'_>) {
    let function = b.cfg.physical(names::API);
    let after = [b.id(lambda::FUNCTION_KIND, names::API)];
    b.add(
        function_url::KIND,
        names::API,
        function.clone(),
        &FunctionUrlProps {
            function_name: function,
            auth_type: AUTH_NONE.into(),
            invoke_mode: "BUFFERED".into(),
            cors: Some(
                CorsProps {
                    allow_origins: vec!["*".into()],
                    allow_methods: vec!["GET".into(), "POST".into()],
                    allow_headers: vec!["content-type".into(), "content-encoding".into()],
                    expose_headers: vec!["retry-after".into()],
                    max_age_secs: 600,
                    allow_credentials: false,
                }
                .normalized(),
            ),
            permissions: public_url_permissions(),
        },
        &after,
    );
}

/// Partition projection for the clickstream: Athena computes its `dt`/`hour` partitions from
/// the table's parameters, so partitions Firehose writes are queryable without being catalogued.
fn clickstream_projection(def: &TableDef, location: &str) -> BTreeMap<String, String> {
    let mut template = location.trim_end_matches('/').to_owned();
    for key in &def.partition_keys {
        template.push_str(&format!("/{key}=${{{key}}}"));
    }
    template.push('/');
    BTreeMap::from([
        ("projection.enabled".into(), "true".into()),
        ("projection.dt.type".into(), "date".into()),
        ("projection.dt.format".into(), "yyyy-MM-dd".into()),
        ("projection.dt.range".into(), "2020-01-01,NOW".into()),
        ("projection.dt.interval".into(), "1".into()),
        ("projection.dt.interval.unit".into(), "DAYS".into()),
        ("projection.hour.type".into(), "integer".into()),
        ("projection.hour.range".into(), "0,23".into()),
        ("projection.hour.digits".into(), "2".into()),
        ("storage.location.template".into(), template),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::desired::logical_id;
    use crate::engine::plan::{ResourceSpec, apply_order};
    use crate::providers::aws::provider::AwsProvider;

    fn desired(cfg: &StackConfig) -> Vec<ResourceSpec> {
        crate::engine::provider::desired(&AwsProvider, cfg)
    }
    use crate::engine::resource::{MANAGED_BY_VALUE, TAG_MANAGED_BY, TAG_STACK};

    fn aws() -> StackConfig {
        StackConfig::builtin(StackName::Aws).unwrap()
    }

    #[test]
    fn every_aws_resource_of_the_design_is_declared_in_dependency_order() {
        // Arrange
        let specs = desired(&aws());
        // Act
        let order = apply_order(&specs).unwrap();
        // Assert
        let count = |kind: &str| specs.iter().filter(|s| s.kind == kind).count();
        assert_eq!(count(s3::KIND), 2);
        assert_eq!(count(kinesis::KIND), 1);
        assert_eq!(count(dynamodb::KIND), 5);
        assert_eq!(count(glue::DATABASE_KIND), 1);
        assert_eq!(count(glue::TABLE_KIND), all_tables().len());
        assert_eq!(count(firehose::KIND), 1);
        assert_eq!(count(iam::ROLE_KIND), 6);
        assert_eq!(count(iam::POLICY_KIND), 6);
        assert_eq!(count(lambda::FUNCTION_KIND), 4);
        assert_eq!(count(lambda::MAPPING_KIND), 1);
        assert_eq!(count(function_url::KIND), 1);
        assert_eq!(count(scheduler::GROUP_KIND), 1);
        assert_eq!(count(scheduler::SCHEDULE_KIND), 2);
        assert_eq!(count(athena::KIND), 1);
        assert_eq!(count(rds::KIND), 1);
        let pos = |id: &str| order.iter().position(|s| s.id == id).unwrap();
        assert!(
            pos("aws::aws:iam:role-policy::stream-processor")
                < pos("aws::aws:lambda:event-source-mapping::stream-processor")
        );
        assert!(
            pos("aws::aws:glue:table::clickstream")
                < pos("aws::aws:firehose:delivery-stream::clickstream-to-lake")
        );
        assert!(
            pos("aws::aws:rds:db-instance::orders") < pos("aws::aws:lambda:function::daily-job")
        );
        assert!(pos("aws::aws:iam:role-policy::api") < pos("aws::aws:lambda:function::api"));
        assert!(pos("aws::aws:lambda:function::api") < pos("aws::aws:lambda:function-url::api"));
        assert_eq!(specs.len(), 33 + all_tables().len());
    }

    #[test]
    fn ids_names_and_tags_follow_the_conventions() {
        let cfg = aws();
        for s in desired(&cfg) {
            assert_eq!(s.id, logical_id(cfg.stack, &s.kind, s.name()));
            if let Some(serde_json::Value::Object(t)) = s.fields.get("tags") {
                assert_eq!(t[TAG_MANAGED_BY], MANAGED_BY_VALUE, "{}", s.id);
                assert_eq!(t[TAG_STACK], "aws", "{}", s.id);
            }
        }
        let specs = desired(&cfg);
        let stream = specs.iter().find(|s| s.kind == kinesis::KIND).unwrap();
        assert_eq!(stream.physical_name, "fashion-prod-clickstream");
    }

    #[test]
    fn buckets_deny_plain_http_except_on_the_emulator() {
        let policy = |stack| {
            let mut cfg = StackConfig::builtin(stack).unwrap();
            cfg.endpoint_url = Some("http://127.0.0.1:1".into());
            desired(&cfg)
                .into_iter()
                .find(|s| s.kind == s3::KIND && s.name() == names::LAKE)
                .unwrap()
                .fields["policy"]
                .clone()
        };
        assert_eq!(
            policy(StackName::Aws)["Statement"][0]["Sid"],
            "DenyInsecureTransport"
        );
        assert!(policy(StackName::Emulator).is_null());
    }

    #[test]
    fn functions_get_the_variables_fashion_lambda_reads() {
        let specs = desired(&aws());
        let env = |name: &str| {
            specs
                .iter()
                .find(|s| s.id == format!("aws::aws:lambda:function::{name}"))
                .unwrap()
                .fields["environment"]
                .clone()
        };
        let processor = env(names::STREAM_PROCESSOR);
        for var in [
            "FASHION_ACTIVITY_TABLE",
            "FASHION_RECOMMENDATIONS_TABLE",
            "FASHION_CATALOG_TABLE",
            "FASHION_DEAD_LETTERS_TABLE",
            "FASHION_MODELS_BUCKET",
        ] {
            assert!(processor.get(var).is_some(), "{var}");
        }
        let daily = env(names::DAILY_JOB);
        for var in [
            "DATABASE_URL",
            "FASHION_TIME_ZONE",
            "FASHION_GLUE_DATABASE",
            "FASHION_LAKE_BUCKET",
        ] {
            assert!(daily.get(var).is_some(), "{var}");
        }
        assert_eq!(daily["FASHION_LAKE_PREFIX"], "lake");
        assert_eq!(
            daily["FASHION_DATABASE_CA_BUNDLE"], RDS_CA_BUNDLE_PATH,
            "on AWS the daily job verifies the database's certificate"
        );
        // fashion-lambda's `ApiSettings` (FASHION_MODEL_REFRESH_SECS is optional).
        let api = env(names::API);
        for var in [
            "FASHION_CLICKSTREAM_STREAM",
            "FASHION_RECOMMENDATIONS_TABLE",
            "FASHION_CATALOG_TABLE",
            "FASHION_DEAD_LETTERS_TABLE",
            "FASHION_MODELS_BUCKET",
            "FASHION_MODELS_PREFIX",
            "FASHION_GLUE_DATABASE",
            "FASHION_LAKE_BUCKET",
            "FASHION_LAKE_PREFIX",
            "FASHION_ATHENA_WORKGROUP",
            "FASHION_TIME_ZONE",
            "RUST_LOG",
        ] {
            assert!(api.get(var).is_some(), "{var}");
        }
        assert_eq!(
            api["FASHION_CLICKSTREAM_STREAM"],
            "${aws::aws:kinesis:stream::clickstream.name}"
        );
        assert_eq!(
            api["FASHION_ATHENA_WORKGROUP"],
            "${aws::aws:athena:workgroup::analytics.name}"
        );
        assert_eq!(api["FASHION_MODELS_PREFIX"], "models");
        assert_eq!(
            daily["DATABASE_URL"], "${aws::aws:rds:db-instance::orders.url}",
            "the URL comes from the instance's outputs, which never hold a password"
        );
    }

    #[test]
    fn desired_state_is_deterministic() {
        assert_eq!(desired(&aws()), desired(&aws()));
    }

    #[test]
    fn no_policy_allows_every_action_on_every_resource() {
        let specs = desired(&aws());
        let policies: Vec<_> = specs
            .iter()
            .filter(|s| s.kind == iam::POLICY_KIND)
            .collect();
        assert_eq!(policies.len(), 6);
        for s in policies {
            let doc = &s.fields["document"];
            assert!(!iam::allows_star_on_star(doc), "{}", s.id);
            // Exact actions only: no `*`, no `service:*`, no `Get*`.
            for action in doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|st| st["Action"].as_array().unwrap())
            {
                assert!(
                    !action.as_str().unwrap().contains('*'),
                    "{}: {action}",
                    s.id
                );
            }
        }
    }

    #[test]
    fn the_api_may_make_exactly_the_calls_of_its_adapters_on_exact_arns() {
        // Arrange
        let specs = desired(&aws());
        let policy = &specs
            .iter()
            .find(|s| s.id == "aws::aws:iam:role-policy::api")
            .unwrap()
            .fields["document"];
        // Act
        let statements = policy["Statement"].as_array().unwrap();
        let grants = |sid: &str| -> (Vec<&str>, Vec<&str>) {
            let st = statements.iter().find(|st| st["Sid"] == sid).unwrap();
            let list = |k: &str| -> Vec<&str> {
                st[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            };
            (list("Action"), list("Resource"))
        };
        // Assert: writes only where the API writes.
        let writes: Vec<&str> = statements
            .iter()
            .flat_map(|st| st["Action"].as_array().unwrap())
            .map(|a| a.as_str().unwrap())
            .filter(|a| {
                a.contains(":Put")
                    || a.contains(":Delete")
                    || a.contains(":Update")
                    || a.contains(":Create")
                    || a.contains(":BatchWrite")
            })
            .collect();
        assert_eq!(
            writes,
            [
                "kinesis:PutRecords",
                "dynamodb:PutItem",
                "s3:PutObject",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents"
            ]
        );
        assert_eq!(
            grants("PublishClicks"),
            (
                vec!["kinesis:PutRecords"],
                vec!["${aws::aws:kinesis:stream::clickstream.arn}"]
            )
        );
        assert_eq!(
            grants("ListDeadLetters").1,
            ["${aws::aws:dynamodb:table::dead-letters.arn}/index/by_time"]
        );
        assert_eq!(
            grants("AthenaResults").1,
            ["${aws::aws:s3:bucket::lake.arn}/athena-results/*"]
        );
        assert_eq!(
            grants("QueryLake").1,
            ["${aws::aws:athena:workgroup::analytics.arn}"]
        );
        assert_eq!(
            grants("ReadModelsAndLake").1,
            [
                "${aws::aws:s3:bucket::lake.arn}/models/*",
                "${aws::aws:s3:bucket::lake.arn}/lake/*"
            ]
        );
        for st in statements {
            for r in st["Resource"].as_array().unwrap() {
                assert!(r.as_str().unwrap().contains("${"), "a hard-coded ARN: {r}");
            }
        }
    }

    #[test]
    fn the_api_is_public_behind_a_function_url_that_browsers_may_call() {
        let specs = desired(&aws());
        let url = specs
            .iter()
            .find(|s| s.id == "aws::aws:lambda:function-url::api")
            .unwrap();
        assert_eq!(url.physical_name, "fashion-prod-api");
        assert_eq!(url.depends_on, ["aws::aws:lambda:function::api"]);
        assert_eq!(url.fields["auth_type"], "NONE");
        assert_eq!(
            url.fields["cors"],
            json!({
                "allow_origins": ["*"],
                "allow_methods": ["GET", "POST"],
                "allow_headers": ["content-encoding", "content-type"],
                "expose_headers": ["retry-after"],
                "max_age_secs": 600,
                "allow_credentials": false,
            })
        );
        let actions: Vec<&str> = url.fields["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
        );
        let function = specs
            .iter()
            .find(|s| s.id == "aws::aws:lambda:function::api")
            .unwrap();
        assert_eq!(function.fields["memory_mb"], 256);
        assert_eq!(function.fields["timeout_secs"], 10);
    }

    #[test]
    fn glue_tables_are_declared_from_the_domain_schemas() {
        let specs = desired(&aws());
        let orders = specs
            .iter()
            .find(|s| s.id == "aws::aws:glue:table::orders")
            .unwrap();
        let def = TableDef::named(tables::ORDERS).unwrap();
        let columns = orders.fields["columns"].as_array().unwrap();
        assert_eq!(columns.len(), def.columns.len());
        for (c, d) in columns.iter().zip(&def.columns) {
            assert_eq!(c["name"], d.name.as_str());
            assert_eq!(c["type"], d.ty.hive_name());
        }
        let clicks = specs
            .iter()
            .find(|s| s.id == "aws::aws:glue:table::clickstream")
            .unwrap();
        assert_eq!(
            clicks.fields["parameters"]["storage.location.template"],
            "s3://fashion-prod-lake-eu-west-1/lake/clickstream/dt=${dt}/hour=${hour}/"
        );
    }

    /// Every (action, resource, condition) a role's policy allows, from the policy JSON.
    type Grants = std::collections::BTreeSet<(String, String, String)>;

    fn policy_doc(specs: &[crate::engine::plan::ResourceSpec], role: &str) -> serde_json::Value {
        specs
            .iter()
            .find(|s| s.id == format!("aws::aws:iam:role-policy::{role}"))
            .unwrap_or_else(|| panic!("no policy for {role}"))
            .fields["document"]
            .clone()
    }

    fn grants_of(doc: &serde_json::Value) -> Grants {
        let mut out = Grants::new();
        for st in doc["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow", "{st}");
            let condition = st
                .get("Condition")
                .map_or(String::new(), ToString::to_string);
            for a in st["Action"].as_array().unwrap() {
                for r in st["Resource"].as_array().unwrap() {
                    out.insert((
                        a.as_str().unwrap().to_owned(),
                        r.as_str().unwrap().to_owned(),
                        condition.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Every action on every resource, unconditioned.
    fn on(actions: &[&str], resources: &[&str]) -> Grants {
        actions
            .iter()
            .flat_map(|a| {
                resources
                    .iter()
                    .map(move |r| ((*a).to_owned(), (*r).to_owned(), String::new()))
            })
            .collect()
    }

    /// `s3:ListBucket` on the lake under these key patterns only.
    fn listing(bucket: &str, patterns: &[&str]) -> Grants {
        let condition = json!({"StringLike": {"s3:prefix": patterns}}).to_string();
        Grants::from([("s3:ListBucket".to_owned(), bucket.to_owned(), condition)])
    }

    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    fn union(parts: Vec<Grants>) -> Grants {
        parts.into_iter().flatten().collect()
    }

    const LAKE: &str = "${aws::aws:s3:bucket::lake.arn}";
    fn glue(what: &str) -> String {
        format!("arn:aws:glue:eu-west-1:{}:{what}", account_id())
    }

    fn logs(function: &str) -> Grants {
        on(
            &[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            &[&format!(
                "arn:aws:logs:eu-west-1:{}:log-group:/aws/lambda/{function}:*",
                account_id()
            )],
        )
    }

    fn table(name: &str) -> String {
        format!("${{aws::aws:dynamodb:table::{name}.arn}}")
    }

    #[test]
    fn each_role_may_touch_only_what_its_function_uses() {
        // Arrange
        let specs = desired(&aws());
        let grants = |role: &str| grants_of(&policy_doc(&specs, role));
        let glue_tables = |tables: &[&str]| -> Vec<String> {
            let mut v = vec![glue("catalog"), glue("database/fashion_prod_lake")];
            v.extend(
                tables
                    .iter()
                    .map(|t| glue(&format!("table/fashion_prod_lake/{t}"))),
            );
            v
        };
        let objects = |prefixes: &[&str]| -> Vec<String> {
            prefixes.iter().map(|p| format!("{LAKE}/{p}*")).collect()
        };
        let patterns = |prefixes: &[&str]| -> Vec<String> {
            prefixes.iter().map(|p| format!("{p}*")).collect()
        };

        // Assert: Firehose writes the clickstream's prefix (and its error prefix), nothing else
        // of the lake: not models/, not the daily job's tables.
        let firehose_objects = objects(&["lake/clickstream/", "raw/firehose-errors/clickstream/"]);
        assert_eq!(
            grants(names::FIREHOSE),
            union(vec![
                on(
                    &["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    &refs(&firehose_objects),
                ),
                on(
                    &[
                        "s3:GetBucketLocation",
                        "s3:ListBucket",
                        "s3:ListBucketMultipartUploads"
                    ],
                    &[LAKE],
                ),
                on(
                    &[
                        "kinesis:DescribeStream",
                        "kinesis:GetShardIterator",
                        "kinesis:GetRecords",
                        "kinesis:ListShards",
                    ],
                    &["${aws::aws:kinesis:stream::clickstream.arn}"],
                ),
                on(
                    &[
                        "glue:GetTable",
                        "glue:GetTableVersion",
                        "glue:GetTableVersions"
                    ],
                    &refs(&glue_tables(&["clickstream"])),
                ),
            ])
        );
        // The delivery stream writes where its role may write.
        let firehose = specs.iter().find(|s| s.kind == firehose::KIND).unwrap();
        for key in ["prefix", "error_prefix"] {
            let prefix = firehose.fields[key].as_str().unwrap();
            assert!(
                ["lake/clickstream/", "raw/firehose-errors/clickstream/"]
                    .iter()
                    .any(|p| prefix.starts_with(p)),
                "{key} {prefix} is outside the role's prefixes"
            );
        }

        // The stream processor: its stream, its own tables (never the checkpoints), the models
        // prefix read, dead letters (the table, and the mapping's on-failure bucket).
        let processor = grants(names::STREAM_PROCESSOR);
        assert_eq!(
            processor,
            union(vec![
                on(
                    &[
                        "kinesis:DescribeStream",
                        "kinesis:DescribeStreamSummary",
                        "kinesis:GetRecords",
                        "kinesis:GetShardIterator",
                        "kinesis:ListShards",
                        "kinesis:SubscribeToShard",
                    ],
                    &["${aws::aws:kinesis:stream::clickstream.arn}"],
                ),
                on(
                    &["dynamodb:BatchWriteItem"],
                    &[&table(names::RECOMMENDATIONS)]
                ),
                on(
                    &["dynamodb:BatchGetItem", "dynamodb:PutItem"],
                    &[&table(names::USER_ACTIVITY)],
                ),
                on(&["dynamodb:PutItem"], &[&table(names::DEAD_LETTERS)]),
                on(&["dynamodb:BatchGetItem"], &[&table(names::PRODUCTS)]),
                on(&["s3:GetObject"], &[&format!("{LAKE}/models/*")]),
                listing(LAKE, &["models/*"]),
                on(
                    &["s3:PutObject"],
                    &["${aws::aws:s3:bucket::dead-letters.arn}/*"]
                ),
                on(
                    &["s3:ListBucket"],
                    &["${aws::aws:s3:bucket::dead-letters.arn}"]
                ),
                logs("fashion-prod-stream-processor"),
            ])
        );
        assert!(
            processor
                .iter()
                .all(|(_, r, _)| !r.contains(names::CHECKPOINTS))
        );

        // The daily job: its tables' prefixes and catalog entries, the database's secret.
        let daily_prefixes: Vec<String> = DAILY_JOB_TABLES
            .iter()
            .map(|t| format!("lake/{t}/"))
            .collect();
        let daily_prefixes = refs(&daily_prefixes);
        assert_eq!(
            grants(names::DAILY_JOB),
            union(vec![
                on(
                    &[
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:AbortMultipartUpload"
                    ],
                    &refs(&objects(&daily_prefixes)),
                ),
                listing(LAKE, &refs(&patterns(&daily_prefixes))),
                on(
                    &[
                        "glue:GetTable",
                        "glue:CreateTable",
                        "glue:UpdateTable",
                        "glue:GetPartition",
                        "glue:GetPartitions",
                        "glue:BatchCreatePartition",
                        "glue:UpdatePartition",
                    ],
                    &refs(&glue_tables(&DAILY_JOB_TABLES)),
                ),
                on(
                    &["secretsmanager:GetSecretValue"],
                    &["${aws::aws:rds:db-instance::orders.master_user_secret_arn}"],
                ),
                logs("fashion-prod-daily-job"),
            ])
        );
        assert!(!daily_prefixes.contains(&"lake/clickstream/"));

        // The trainer: the history it reads, the products it lists, the models it writes.
        let history = ["lake/clickstream/", "lake/order_items/"];
        assert_eq!(
            grants(names::TRAINER),
            union(vec![
                on(&["s3:GetObject"], &refs(&objects(&history))),
                listing(LAKE, &refs(&patterns(&history))),
                on(
                    &["glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
                    &refs(&glue_tables(&["clickstream", "order_items"])),
                ),
                on(&["dynamodb:Scan"], &[&table(names::PRODUCTS)]),
                on(
                    &["s3:GetObject", "s3:PutObject"],
                    &[&format!("{LAKE}/models/*")]
                ),
                listing(LAKE, &["models/*"]),
                logs("fashion-prod-trainer"),
            ])
        );

        // The API: exactly its adapters' calls (its statements are checked one by one in
        // `the_api_may_make_exactly_the_calls_of_its_adapters_on_exact_arns`).
        assert_eq!(
            grants(names::API),
            union(vec![
                on(
                    &["kinesis:PutRecords"],
                    &["${aws::aws:kinesis:stream::clickstream.arn}"]
                ),
                on(&["dynamodb:GetItem"], &[&table(names::RECOMMENDATIONS)]),
                on(
                    &["dynamodb:BatchGetItem", "dynamodb:Scan"],
                    &[&table(names::PRODUCTS)]
                ),
                on(&["dynamodb:PutItem"], &[&table(names::DEAD_LETTERS)]),
                on(
                    &["dynamodb:Query"],
                    &[&format!("{}/index/by_time", table(names::DEAD_LETTERS))],
                ),
                on(&["s3:GetObject"], &refs(&objects(&["models/", "lake/"]))),
                on(
                    &[
                        "s3:ListBucket",
                        "s3:GetBucketLocation",
                        "s3:ListBucketMultipartUploads"
                    ],
                    &[LAKE],
                ),
                on(
                    &[
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts"
                    ],
                    &refs(&objects(&["athena-results/"])),
                ),
                on(
                    &["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                    &[
                        &glue("catalog"),
                        &glue("database/fashion_prod_lake"),
                        &glue("table/fashion_prod_lake/*"),
                    ],
                ),
                on(
                    &[
                        "athena:StartQueryExecution",
                        "athena:GetQueryExecution",
                        "athena:GetQueryResults",
                        "athena:StopQueryExecution",
                    ],
                    &["${aws::aws:athena:workgroup::analytics.arn}"],
                ),
                logs("fashion-prod-api"),
            ])
        );

        // The scheduler invokes the two scheduled functions (and their versions), nothing else.
        let daily = "${aws::aws:lambda:function::daily-job.arn}";
        let trainer = "${aws::aws:lambda:function::trainer.arn}";
        assert_eq!(
            grants(names::SCHEDULER),
            on(
                &["lambda:InvokeFunction"],
                &[
                    daily,
                    &format!("{daily}:*"),
                    trainer,
                    &format!("{trainer}:*")
                ],
            )
        );
    }

    #[test]
    fn no_policy_has_a_wildcard_action_a_not_action_or_a_star_resource_but_vpc_interfaces() {
        // Arrange: with a VPC, the daily job gets the one documented `Resource: "*"`.
        let mut cfg = aws();
        cfg.network.subnet_ids = vec!["subnet-1".into()];
        cfg.network.security_group_ids = vec!["sg-1".into()];
        for cfg in [aws(), cfg] {
            let specs = desired(&cfg);
            let policies: Vec<_> = specs
                .iter()
                .filter(|s| s.kind == iam::POLICY_KIND)
                .collect();
            assert_eq!(policies.len(), 6);
            let mut star_statements = 0;
            for s in policies {
                // Act
                for st in s.fields["document"]["Statement"].as_array().unwrap() {
                    // Assert
                    for key in ["NotAction", "NotResource", "NotPrincipal", "Principal"] {
                        assert!(st.get(key).is_none(), "{}: {key} in {st}", s.id);
                    }
                    assert_eq!(st["Effect"], "Allow", "{}: {st}", s.id);
                    let actions: Vec<&str> = st["Action"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{}: Action is not a list: {st}", s.id))
                        .iter()
                        .map(|a| a.as_str().unwrap())
                        .collect();
                    for a in &actions {
                        let (service, name) = a.split_once(':').unwrap();
                        assert!(
                            !a.contains('*') && !a.contains('?') && !service.is_empty(),
                            "{}: wildcard action {a}",
                            s.id
                        );
                        assert!(
                            name.starts_with(|c: char| c.is_ascii_uppercase()),
                            "{}: {a}",
                            s.id
                        );
                    }
                    let resources = st["Resource"].as_array().unwrap();
                    assert!(!resources.is_empty(), "{}: {st}", s.id);
                    for r in resources {
                        let r = r.as_str().unwrap();
                        if r == "*" {
                            star_statements += 1;
                            assert_eq!(s.id, "aws::aws:iam:role-policy::daily-job");
                            assert_eq!(st["Sid"], VPC_NETWORK_INTERFACES_SID, "{}", s.id);
                            assert_eq!(
                                actions,
                                [
                                    "ec2:CreateNetworkInterface",
                                    "ec2:DescribeNetworkInterfaces",
                                    "ec2:DeleteNetworkInterface",
                                    "ec2:AssignPrivateIpAddresses",
                                    "ec2:UnassignPrivateIpAddresses",
                                ],
                                "only the VPC network interfaces may name every resource"
                            );
                        } else {
                            assert!(
                                r.starts_with("arn:") || r.starts_with("${"),
                                "{}: {r}",
                                s.id
                            );
                        }
                    }
                }
            }
            assert_eq!(
                star_statements,
                usize::from(!cfg.network.subnet_ids.is_empty())
            );
        }
    }

    #[test]
    fn the_lake_is_versioned_and_both_buckets_are_private_encrypted_and_tls_only() {
        let specs = desired(&aws());
        let bucket = |name: &str| {
            specs
                .iter()
                .find(|s| s.kind == s3::KIND && s.name() == name)
                .unwrap()
                .fields
                .clone()
        };
        let lake = bucket(names::LAKE);
        assert_eq!(lake["versioning"], true);
        for name in [names::LAKE, names::DEAD_LETTERS] {
            let b = bucket(name);
            assert_eq!(b["encryption"], "AES256", "{name}");
            assert_eq!(
                b["public_access_block"],
                serde_json::to_value(PublicAccessBlock::ALL).unwrap()
            );
            let deny = &b["policy"]["Statement"][0];
            assert_eq!(deny["Effect"], "Deny", "{name}");
            assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
        }
    }

    #[test]
    fn the_database_is_protected_from_deletion_and_backed_up_a_week() {
        let specs = desired(&aws());
        let db = &specs.iter().find(|s| s.kind == rds::KIND).unwrap().fields;
        assert_eq!(db["deletion_protection"], true);
        assert!(db["backup_retention_days"].as_i64().unwrap() >= 7);
        assert_eq!(db["storage_encrypted"], true);
        assert_eq!(db["publicly_accessible"], false);
        assert_eq!(db["manage_master_password"], true);
    }

    #[test]
    fn the_daily_job_runs_at_one_past_midnight_in_the_store_time_zone() {
        let specs = desired(&aws());
        let daily = specs
            .iter()
            .find(|s| s.id == "aws::aws:scheduler:schedule::daily-job")
            .unwrap();
        assert_eq!(daily.fields["expression"], "cron(1 0 * * ? *)");
        assert_eq!(daily.fields["time_zone"], "Asia/Ho_Chi_Minh");
    }
}
