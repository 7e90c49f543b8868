//! The AWS stack as declared: every resource of the design, in dependency order, with the
//! exact least-privilege policies and the protections that cannot be switched off.

use fashion_aws_core::vars;
use fashion_domain::lake::{TableDef, all_tables, tables};
use fashion_domain::services::daily_job::DAILY_JOB_TABLES;
use serde_json::json;

use super::common::*;
use crate::config::{StackConfig, StackName};
use crate::engine::desired::logical_id;
use crate::engine::plan::{ResourceSpec, apply_order};
use crate::layout::names;
use crate::providers::aws::provider::AwsProvider;
use crate::providers::aws::s3::PublicAccessBlock;
use crate::providers::aws::*;

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
    // Every lake table, and the analysts' view of the clickstream (each event once).
    assert_eq!(count(glue::TABLE_KIND), all_tables().len() + 1);
    assert_eq!(count(firehose::KIND), 1);
    assert_eq!(count(iam::ROLE_KIND), 7);
    assert_eq!(count(iam::POLICY_KIND), 7);
    assert_eq!(count(lambda::FUNCTION_KIND), 5);
    assert_eq!(count(lambda_mapping::MAPPING_KIND), 1);
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
        pos("aws::aws:lambda:function::firehose-transform")
            < pos("aws::aws:firehose:delivery-stream::clickstream-to-lake")
    );
    assert!(pos("aws::aws:rds:db-instance::orders") < pos("aws::aws:lambda:function::daily-job"));
    assert!(pos("aws::aws:iam:role-policy::api") < pos("aws::aws:lambda:function::api"));
    assert!(pos("aws::aws:lambda:function::api") < pos("aws::aws:lambda:function-url::api"));
    assert_eq!(specs.len(), 37 + all_tables().len());
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
        vars::ACTIVITY_TABLE,
        vars::RECOMMENDATIONS_TABLE,
        vars::CATALOG_TABLE,
        vars::DEAD_LETTERS_TABLE,
        vars::MODELS_BUCKET,
    ] {
        assert!(processor.get(var).is_some(), "{var}");
    }
    let daily = env(names::DAILY_JOB);
    for var in [
        vars::DATABASE_URL,
        vars::TIME_ZONE,
        vars::GLUE_DATABASE,
        vars::LAKE_BUCKET,
    ] {
        assert!(daily.get(var).is_some(), "{var}");
    }
    assert_eq!(daily[vars::LAKE_PREFIX], "lake");
    assert_eq!(
        daily[vars::DATABASE_CA_BUNDLE],
        RDS_CA_BUNDLE_PATH,
        "on AWS the daily job verifies the database's certificate"
    );
    // fashion-lambda's `ApiSettings` (FASHION_MODEL_REFRESH_SECS is optional).
    let api = env(names::API);
    for var in [
        vars::CLICKSTREAM_STREAM,
        vars::RECOMMENDATIONS_TABLE,
        vars::CATALOG_TABLE,
        vars::DEAD_LETTERS_TABLE,
        vars::MODELS_BUCKET,
        vars::MODELS_PREFIX,
        vars::GLUE_DATABASE,
        vars::LAKE_BUCKET,
        vars::LAKE_PREFIX,
        vars::ATHENA_WORKGROUP,
        vars::TIME_ZONE,
        "RUST_LOG",
    ] {
        assert!(api.get(var).is_some(), "{var}");
    }
    assert_eq!(
        api[vars::CLICKSTREAM_STREAM],
        "${aws::aws:kinesis:stream::clickstream.name}"
    );
    assert_eq!(
        api[vars::ATHENA_WORKGROUP],
        "${aws::aws:athena:workgroup::analytics.name}"
    );
    assert_eq!(api[vars::MODELS_PREFIX], "models");
    assert_eq!(
        daily[vars::DATABASE_URL],
        "${aws::aws:rds:db-instance::orders.url}",
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
    assert_eq!(policies.len(), 7);
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
        grants("ReadPurchases"),
        (
            vec!["dynamodb:BatchGetItem"],
            vec!["${aws::aws:dynamodb:table::user-activity.arn}"]
        )
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
    let patterns =
        |prefixes: &[&str]| -> Vec<String> { prefixes.iter().map(|p| format!("{p}*")).collect() };

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
            on(
                &["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                &["${aws::aws:lambda:function::firehose-transform.arn}"],
            ),
        ])
    );
    // Its transformation only stores dead letters (and logs).
    assert_eq!(
        grants(names::FIREHOSE_TRANSFORM),
        union(vec![
            on(&["dynamodb:PutItem"], &[&table("dead-letters")]),
            logs("fashion-prod-firehose-transform"),
        ])
    );
    // The delivery stream writes where its role may write, partitioned by the function it may
    // invoke.
    assert_eq!(
        specs
            .iter()
            .find(|s| s.kind == firehose::KIND)
            .unwrap()
            .fields["processor_arn"],
        "${aws::aws:lambda:function::firehose-transform.arn}"
    );
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

    // The daily job: its tables' prefixes and catalog entries, the database's secret, and the
    // product catalog it keeps in step.
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
                &["dynamodb:Scan", "dynamodb:BatchWriteItem"],
                &[&table(names::PRODUCTS)],
            ),
            on(
                &["secretsmanager:GetSecretValue"],
                &["${aws::aws:rds:db-instance::orders.master_user_secret_arn}"],
            ),
            logs("fashion-prod-daily-job"),
        ])
    );
    assert!(!daily_prefixes.contains(&"lake/clickstream/"));

    // The trainer: the history it reads, the products it lists, the buyers' activity records it
    // adds purchases to, the models it writes.
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
                &["dynamodb:BatchGetItem", "dynamodb:PutItem"],
                &[&table(names::USER_ACTIVITY)]
            ),
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
            on(&["dynamodb:BatchGetItem"], &[&table(names::USER_ACTIVITY)]),
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
        assert_eq!(policies.len(), 7);
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

#[test]
fn analysts_get_a_view_of_the_clickstream_with_each_event_once() {
    let specs = desired(&aws());
    let view = specs
        .iter()
        .find(|s| s.id == "aws::aws:glue:table::clickstream_unique")
        .unwrap();
    assert_eq!(view.fields["table_type"], "VIRTUAL_VIEW");
    assert!(
        view.depends_on
            .contains(&"aws::aws:glue:table::clickstream".to_owned()),
        "{:?}",
        view.depends_on
    );
    let def = TableDef::named(tables::CLICKSTREAM).unwrap();
    let columns: Vec<&str> = view.fields["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = def
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .chain(def.partition_keys.iter().map(String::as_str))
        .collect();
    assert_eq!(columns, expected, "every column and partition key");
    let text = view.fields["view_original_text"].as_str().unwrap();
    let encoded = text
        .strip_prefix("/* Presto View: ")
        .and_then(|t| t.strip_suffix(" */"))
        .unwrap();
    use base64::Engine as _;
    let definition: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let sql = definition["originalSql"].as_str().unwrap();
    assert!(
        sql.contains("row_number() OVER (PARTITION BY \"event_id\"")
            && sql.ends_with("WHERE \"delivery\" = 1"),
        "{sql}"
    );
    assert_eq!(definition["schema"], aws().glue_database());
}
