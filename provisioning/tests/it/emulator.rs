//! The emulator stack against a moto server: the first `up` creates everything, a second `up`
//! makes no write call, out-of-band drift shows in `preview` and `up` repairs it, `destroy`
//! leaves nothing behind. Every test uses its own name prefix.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use provisioning::engine::render;
use provisioning::engine::{Op, Report};

use crate::support::{emulator_config, engine, other_sdk};

fn ops(r: &Report) -> BTreeMap<String, Op> {
    r.steps.iter().map(|s| (s.id.clone(), s.op)).collect()
}

fn id(stack_kind_name: &str) -> String {
    format!("emulator::{stack_kind_name}")
}

#[tokio::test]
async fn first_up_creates_everything_and_a_second_up_writes_nothing() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let cfg = emulator_config("idem", dir.path());
    let engine = engine(cfg.clone()).await;
    let declared = engine.specs().len();

    // Act
    let first = engine.up().await.unwrap();
    let started = Instant::now();
    let second = engine.up().await.unwrap();
    let no_op = started.elapsed();
    let preview = engine.preview().await.unwrap();

    // Assert
    assert!(first.is_ok(), "{}", render::report(&first));
    assert_eq!(
        first.count(Op::Create),
        declared,
        "{}",
        render::report(&first)
    );
    assert!(second.is_ok(), "{}", render::report(&second));
    assert_eq!(
        second.calls.writes, 0,
        "a no-op up wrote: {:?}",
        second.write_calls
    );
    assert!(second.write_calls.is_empty());
    assert_eq!(
        second.count(Op::Same),
        declared,
        "{}",
        render::report(&second)
    );
    assert!(!second.has_changes());
    assert!(render::summary(&second).contains("everything unchanged"));
    assert_eq!(preview.count(Op::Same), declared);
    assert_eq!(preview.calls.writes, 0);
    // Benchmarks are not assertions: the time is reported, not checked.
    println!(
        "no-op up of {declared} resources: {:.2} s, {} read calls, {} write calls",
        no_op.as_secs_f64(),
        second.calls.reads,
        second.calls.writes
    );
    let state = engine.state().unwrap().expect("up saves the state");
    let outputs = state.outputs;
    assert_eq!(
        outputs.lake_url.as_deref(),
        Some(format!("s3://{}/lake/", cfg.lake_bucket()).as_str())
    );
    let stream = outputs.get("aws:kinesis:stream", "clickstream").unwrap();
    assert!(stream["arn"].ends_with(&format!(":stream/{}-clickstream", cfg.name_prefix)));
    let db = outputs.get("aws:rds:db-instance", "orders").unwrap();
    assert!(db.contains_key("master_user_secret_arn"), "{db:?}");
    // The URL names the user, never a password: that stays in Secrets Manager.
    let userinfo = db["url"]
        .trim_start_matches("postgres://")
        .split('@')
        .next();
    assert_eq!(userinfo, Some("fashion"), "{}", db["url"]);
    assert!(
        db["url"].ends_with("?sslmode=require"),
        "RDS refuses unencrypted connections: {}",
        db["url"]
    );
    let api = outputs.get("aws:lambda:function-url", "api").unwrap();
    assert!(
        api["url"].starts_with("https://") && api["url"].contains(".lambda-url.us-east-1."),
        "{api:?}"
    );
    engine.destroy().await.unwrap();
}

#[tokio::test]
async fn out_of_band_drift_is_previewed_and_repaired_by_up() {
    // Arrange: a stack, then changes behind the engine's back with other clients.
    let dir = tempfile::tempdir().unwrap();
    let cfg = emulator_config("drift", dir.path());
    let p = cfg.name_prefix.clone();
    let engine = engine(cfg.clone()).await;
    let created = engine.up().await.unwrap();
    assert!(created.is_ok(), "{}", render::report(&created));
    let sdk = other_sdk().await.config;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let glue = aws_sdk_glue::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let scheduler = aws_sdk_scheduler::Client::new(&sdk);
    dynamodb
        .delete_table()
        .table_name(format!("{p}-user-activity"))
        .send()
        .await
        .unwrap();
    dynamodb
        .update_table()
        .table_name(format!("{p}-dead-letters"))
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("by_time")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    kinesis
        .increase_stream_retention_period()
        .stream_name(format!("{p}-clickstream"))
        .retention_period_hours(72)
        .send()
        .await
        .unwrap();
    s3.delete_bucket_policy()
        .bucket(cfg.lake_bucket())
        .send()
        .await
        .unwrap();
    glue.delete_table()
        .database_name(cfg.glue_database())
        .name("orders")
        .send()
        .await
        .unwrap();
    lambda
        .update_function_configuration()
        .function_name(format!("{p}-trainer"))
        .memory_size(128)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(format!("{p}-trainer"))
        .policy_name("least-privilege")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    scheduler
        .delete_schedule()
        .group_name(&p)
        .name(format!("{p}-daily-job"))
        .send()
        .await
        .unwrap();
    // The API's URL goes, and one of its two public statements with it; the other stays.
    lambda
        .delete_function_url_config()
        .function_name(format!("{p}-api"))
        .send()
        .await
        .unwrap();
    lambda
        .remove_permission()
        .function_name(format!("{p}-api"))
        .statement_id("FunctionURLAllowInvokeAction")
        .send()
        .await
        .unwrap();

    // Act
    let preview = engine.preview().await.unwrap();
    let repair = engine.up().await.unwrap();
    let after = engine.up().await.unwrap();

    // Assert: the preview names each drifted resource and the changed fields.
    let plan = ops(&preview);
    let text = render::report(&preview);
    assert_eq!(
        plan[&id("aws:dynamodb:table::user-activity")],
        Op::Create,
        "{text}"
    );
    assert_eq!(plan[&id("aws:glue:table::orders")], Op::Create, "{text}");
    assert_eq!(
        plan[&id("aws:scheduler:schedule::daily-job")],
        Op::Create,
        "{text}"
    );
    assert_eq!(
        plan[&id("aws:lambda:function-url::api")],
        Op::Create,
        "{text}"
    );
    assert_eq!(
        plan[&id("aws:kinesis:stream::clickstream")],
        Op::Update,
        "{text}"
    );
    assert_eq!(plan[&id("aws:s3:bucket::lake")], Op::Update, "{text}");
    assert_eq!(
        plan[&id("aws:lambda:function::trainer")],
        Op::Update,
        "{text}"
    );
    assert_eq!(
        plan[&id("aws:iam:role-policy::trainer")],
        Op::Update,
        "{text}"
    );
    assert_eq!(
        plan[&id("aws:dynamodb:table::dead-letters")],
        Op::Update,
        "{text}"
    );
    let changed = |name: &str| -> Vec<String> {
        preview
            .steps
            .iter()
            .find(|s| s.id == id(name))
            .unwrap()
            .changes
            .iter()
            .map(|c| c.field.clone())
            .collect()
    };
    assert_eq!(
        changed("aws:kinesis:stream::clickstream"),
        ["retention_hours"]
    );
    assert_eq!(changed("aws:s3:bucket::lake"), ["policy"]);
    // The trainer's environment names the activity table (it writes buyers' purchases there),
    // which is recreated: the name is known again only once it exists.
    assert_eq!(
        changed("aws:lambda:function::trainer"),
        ["environment", "memory_mb"]
    );
    assert_eq!(changed("aws:dynamodb:table::dead-letters"), ["indexes"]);
    assert_eq!(
        preview.calls.writes, 0,
        "preview wrote: {:?}",
        preview.write_calls
    );
    // What references a resource to be created sees its outputs only after apply (Pulumi's
    // "known after apply"): the stream processor's and the API's policies and functions name the
    // activity table.
    for dependent in [
        "aws:iam:role-policy::stream-processor",
        "aws:lambda:function::stream-processor",
        "aws:iam:role-policy::api",
        "aws:lambda:function::api",
    ] {
        let s = preview
            .steps
            .iter()
            .find(|s| s.id == id(dependent))
            .unwrap();
        assert_eq!(s.op, Op::Update, "{text}");
        assert!(
            s.changes.iter().all(|c| c
                .to
                .to_string()
                .contains(provisioning::engine::refs::UNKNOWN)),
            "{text}"
        );
    }
    let untouched = plan.values().filter(|op| **op == Op::Same).count();
    assert_eq!(untouched, plan.len() - 13, "{text}");
    assert!(text.contains("retention_hours: 72 → 24"), "{text}");
    // `preview --diff`: the out-of-band policy as a line diff against the least-privilege one,
    // and every property of what is to be created.
    let diff = render::report_with(&preview, render::Detail::Diff);
    let marked = |mark: char, text: &str| {
        diff.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(mark) && l.contains(text)
        })
    };
    assert!(marked('-', "\"s3:*\""), "{diff}");
    assert!(marked('+', "\"s3:GetObject\""), "{diff}");
    assert!(
        diff.contains("billing_mode = \"PAY_PER_REQUEST\""),
        "{diff}"
    );

    assert!(repair.is_ok(), "{}", render::report(&repair));
    assert_eq!(repair.count(Op::Create), 4);
    assert_eq!(repair.count(Op::Update), 5);
    assert_eq!(
        after.calls.writes, 0,
        "still drifting: {:?}",
        after.write_calls
    );
    assert!(!after.has_changes(), "{}", render::report(&after));
    let stream = kinesis
        .describe_stream_summary()
        .stream_name(format!("{p}-clickstream"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream
            .stream_description_summary()
            .unwrap()
            .retention_period_hours(),
        24
    );
    let dead_letters = dynamodb
        .describe_table()
        .table_name(format!("{p}-dead-letters"))
        .send()
        .await
        .unwrap();
    let index = dead_letters.table().unwrap().global_secondary_indexes();
    assert_eq!(index.len(), 1);
    assert_eq!(index[0].index_name(), Some("by_time"));
    // The URL is back with both public statements, each once (the one that stayed is kept).
    lambda
        .get_function_url_config()
        .function_name(format!("{p}-api"))
        .send()
        .await
        .unwrap();
    let policy = lambda
        .get_policy()
        .function_name(format!("{p}-api"))
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let mut sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    sids.sort_unstable();
    assert_eq!(
        sids,
        [
            "FunctionURLAllowInvokeAction",
            "FunctionURLAllowPublicAccess"
        ]
    );
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(format!("{p}-user-activity"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|t| t.attribute_name()),
        Some("expires_at")
    );
    engine.destroy().await.unwrap();
}

#[tokio::test]
async fn destroy_leaves_nothing_behind_and_a_second_destroy_writes_nothing() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let cfg = emulator_config("gone", dir.path());
    let p = cfg.name_prefix.clone();
    let engine = engine(cfg.clone()).await;
    let created = engine.up().await.unwrap();
    assert!(created.is_ok(), "{}", render::report(&created));
    let sdk = other_sdk().await.config;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    // Data in the lake must not keep the bucket alive. (moto applies the TLS-only policy's Deny
    // to object calls whatever the transport, so the policy goes first, out of band.)
    s3.delete_bucket_policy()
        .bucket(cfg.lake_bucket())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(cfg.lake_bucket())
        .key("lake/orders/dt=2026-11-25/part-0.parquet")
        .body(b"not really parquet".to_vec().into())
        .send()
        .await
        .unwrap();
    // A resource already deleted out of band counts as deleted.
    aws_sdk_kinesis::Client::new(&sdk)
        .delete_stream()
        .stream_name(format!("{p}-clickstream"))
        .send()
        .await
        .unwrap();

    // Act
    let destroyed = engine.destroy().await.unwrap();
    let again = engine.destroy().await.unwrap();
    let preview = engine.preview().await.unwrap();

    // Assert
    assert!(destroyed.is_ok(), "{}", render::report(&destroyed));
    assert_eq!(destroyed.count(Op::Delete), engine.specs().len() - 1);
    assert_eq!(again.calls.writes, 0, "{:?}", again.write_calls);
    assert_eq!(again.count(Op::Delete), 0);
    assert_eq!(
        preview.count(Op::Create),
        engine.specs().len(),
        "{}",
        render::report(&preview)
    );
    assert!(
        engine.state().unwrap().is_none(),
        "the state file is removed"
    );
    // Checked with other clients too: nothing carries the prefix any more.
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(
        !buckets
            .buckets()
            .iter()
            .any(|b| b.name().is_some_and(|n| n.starts_with(&p))),
        "buckets left behind"
    );
    let tables = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await
        .unwrap();
    assert!(!tables.table_names().iter().any(|t| t.starts_with(&p)));
    let functions = aws_sdk_lambda::Client::new(&sdk)
        .list_functions()
        .send()
        .await
        .unwrap();
    assert!(
        !functions
            .functions()
            .iter()
            .any(|f| f.function_name().is_some_and(|n| n.starts_with(&p)))
    );
    let roles = aws_sdk_iam::Client::new(&sdk)
        .list_roles()
        .send()
        .await
        .unwrap();
    assert!(!roles.roles().iter().any(|r| r.role_name().starts_with(&p)));
    let glue = aws_sdk_glue::Client::new(&sdk)
        .get_database()
        .name(cfg.glue_database())
        .send()
        .await;
    assert_eq!(
        glue.unwrap_err().code(),
        Some("EntityNotFoundException"),
        "the Glue database is gone"
    );
    let db = aws_sdk_rds::Client::new(&sdk)
        .describe_db_instances()
        .db_instance_identifier(format!("{p}-orders"))
        .send()
        .await;
    assert!(db.is_err(), "the RDS instance is gone");
}

#[tokio::test]
async fn a_resource_dropped_from_the_stack_is_deleted_by_the_next_up() {
    // Arrange: a table only the saved state knows about (a resource an older version of the
    // stack declared), created for real.
    let dir = tempfile::tempdir().unwrap();
    let cfg = emulator_config("orph", dir.path());
    let engine = engine(cfg.clone()).await;
    assert!(engine.up().await.unwrap().is_ok());
    let mut state = engine.state().unwrap().unwrap();
    let mut old = state
        .resources
        .iter()
        .find(|r| r.spec.id == id("aws:dynamodb:table::products"))
        .unwrap()
        .clone();
    old.spec.id = id("aws:dynamodb:table::legacy");
    old.spec.physical_name = format!("{}-legacy", cfg.name_prefix);
    let sdk = other_sdk().await.config;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    dynamodb
        .create_table()
        .table_name(&old.spec.physical_name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("product_id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("product_id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    state.resources.push(old.clone());
    state.save(&cfg.state_file()).unwrap();

    // Act
    let preview = engine.preview().await.unwrap();
    let up = engine.up().await.unwrap();

    // Assert
    assert_eq!(
        ops(&preview)[&old.spec.id],
        Op::Delete,
        "{}",
        render::report(&preview)
    );
    assert_eq!(ops(&up)[&old.spec.id], Op::Delete);
    let gone = dynamodb
        .describe_table()
        .table_name(&old.spec.physical_name)
        .send()
        .await;
    assert_eq!(gone.unwrap_err().code(), Some("ResourceNotFoundException"));
    let state = engine.state().unwrap().unwrap();
    assert!(!state.resources.iter().any(|r| r.spec.id == old.spec.id));
    engine.destroy().await.unwrap();
}
