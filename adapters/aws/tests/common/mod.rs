//! Shared test code: the emulator's endpoint (a missing one fails the test), unique resource
//! names, creation of the resources each test needs, and a fake HTTP layer under the real SDK
//! clients for failure injection.

#![allow(dead_code)] // Each test binary uses part of this module.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use fashion_aws::{
    AwsConfig, Backoff, DynamoDbCheckpointStore, DynamoDbDeadLetterSink, DynamoDbProductCatalog,
    DynamoDbRecommendationStore, DynamoDbUserActivityStore,
};
use serde_json::Value;

/// The variable `scripts/lib/services.sh` sets to the emulator's URL.
pub const ENDPOINT_VAR: &str = "FASHION_TEST_AWS_ENDPOINT";
/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// The emulator's endpoint; panics (fails the test) when the test command did not start one.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{ENDPOINT_VAR} is not set: these tests need the AWS emulator that the test command \
             starts. Run them with `scripts/test`, or by hand with \
             `scripts/services cargo nextest run -p fashion-aws`."
        ),
    }
}

/// Backoff for tests: quick, but still exercising every retry.
pub fn quick_backoff() -> Backoff {
    Backoff {
        max_attempts: 4,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    }
}

/// Configuration for the emulator: static test credentials, `us-east-1`, its endpoint.
pub async fn emulator() -> AwsConfig {
    AwsConfig::builder()
        .endpoint_url(endpoint())
        .region(REGION)
        .static_credentials("testing", "testing")
        .sdk_retries(3, Duration::from_millis(10))
        .backoff(quick_backoff())
        .load()
        .await
}

/// A name no other test uses: `prefix-` and 12 hex digits.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Creates a Kinesis stream and waits until it is active.
pub async fn create_stream(aws: &AwsConfig, name: &str, shards: i32) {
    let k = aws.kinesis_client();
    k.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
    for _ in 0..100 {
        let s = k
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("describe stream");
        if s.stream_description_summary().map(|d| d.stream_status())
            == Some(&aws_sdk_kinesis::types::StreamStatus::Active)
        {
            return;
        }
        // Moto makes streams active at once; real Kinesis takes seconds.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became active");
}

fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, ty: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .expect("key schema element")
}

/// Creates an on-demand DynamoDB table with a partition key (and optionally a sort key).
pub async fn create_table(
    aws: &AwsConfig,
    name: &str,
    partition: (&str, ScalarAttributeType),
    sort: Option<(&str, ScalarAttributeType)>,
) {
    let mut req = aws
        .dynamodb_client()
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(partition.0, partition.1.clone()))
        .key_schema(key(partition.0, KeyType::Hash));
    if let Some((n, t)) = sort {
        req = req
            .attribute_definitions(attr(n, t))
            .key_schema(key(n, KeyType::Range));
    }
    req.send().await.expect("create table");
}

/// A checkpoint store on a fresh table.
pub async fn checkpoint_store(aws: &AwsConfig) -> DynamoDbCheckpointStore {
    let t = unique("checkpoints");
    create_table(
        aws,
        &t,
        (
            DynamoDbCheckpointStore::PARTITION_KEY,
            ScalarAttributeType::S,
        ),
        Some((DynamoDbCheckpointStore::SORT_KEY, ScalarAttributeType::S)),
    )
    .await;
    aws.dynamodb_checkpoint_store(&t)
}

/// A recommendation store on a fresh table.
pub async fn recommendation_store(aws: &AwsConfig) -> (String, DynamoDbRecommendationStore) {
    let t = unique("recommendations");
    create_table(
        aws,
        &t,
        (
            DynamoDbRecommendationStore::PARTITION_KEY,
            ScalarAttributeType::N,
        ),
        None,
    )
    .await;
    let store = aws.dynamodb_recommendation_store(&t);
    (t, store)
}

/// A user-activity store on a fresh table with TTL on [`DynamoDbUserActivityStore::TTL_ATTRIBUTE`].
pub async fn activity_store(aws: &AwsConfig) -> (String, DynamoDbUserActivityStore) {
    let t = unique("activity");
    create_table(
        aws,
        &t,
        (
            DynamoDbUserActivityStore::PARTITION_KEY,
            ScalarAttributeType::N,
        ),
        None,
    )
    .await;
    aws.dynamodb_client()
        .update_time_to_live()
        .table_name(&t)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(DynamoDbUserActivityStore::TTL_ATTRIBUTE)
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .expect("enable TTL");
    let store = aws.dynamodb_user_activity_store(&t, Duration::from_secs(30 * 24 * 3600));
    (t, store)
}

/// A product catalog on a fresh table.
pub async fn product_catalog(aws: &AwsConfig) -> DynamoDbProductCatalog {
    let t = unique("products");
    create_table(
        aws,
        &t,
        (
            DynamoDbProductCatalog::PARTITION_KEY,
            ScalarAttributeType::N,
        ),
        None,
    )
    .await;
    aws.dynamodb_product_catalog(&t)
}

/// A dead-letter sink on a fresh table with its time index.
pub async fn dead_letter_sink(aws: &AwsConfig) -> DynamoDbDeadLetterSink {
    let t = unique("dead-letters");
    aws.dynamodb_client()
        .create_table()
        .table_name(&t)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(
            DynamoDbDeadLetterSink::PARTITION_KEY,
            ScalarAttributeType::S,
        ))
        .attribute_definitions(attr(
            DynamoDbDeadLetterSink::INDEX_PARTITION_KEY,
            ScalarAttributeType::S,
        ))
        .attribute_definitions(attr(
            DynamoDbDeadLetterSink::INDEX_SORT_KEY,
            ScalarAttributeType::S,
        ))
        .key_schema(key(DynamoDbDeadLetterSink::PARTITION_KEY, KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(DynamoDbDeadLetterSink::TIME_INDEX)
                .key_schema(key(
                    DynamoDbDeadLetterSink::INDEX_PARTITION_KEY,
                    KeyType::Hash,
                ))
                .key_schema(key(DynamoDbDeadLetterSink::INDEX_SORT_KEY, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index"),
        )
        .send()
        .await
        .expect("create dead-letter table");
    aws.dynamodb_dead_letter_sink(&t)
}

/// Creates a bucket.
pub async fn create_bucket(aws: &AwsConfig, name: &str) {
    aws.s3_client()
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
}

/// Every key under `prefix` in `bucket`, in key order.
pub async fn list_keys(aws: &AwsConfig, bucket: &str, prefix: &str) -> Vec<String> {
    let s3 = aws.s3_client();
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .expect("list objects");
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => return keys,
        }
    }
}

/// An object's bytes.
pub async fn get_object(aws: &AwsConfig, bucket: &str, key: &str) -> Vec<u8> {
    aws.s3_client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("read object")
        .into_bytes()
        .to_vec()
}

/// One request the fake saw: the operation (from `X-Amz-Target`) and the JSON body.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// `Kinesis_20131202.PutRecords`, `DynamoDB_20120810.BatchWriteItem`, ...
    pub target: String,
    /// The request body.
    pub body: Value,
}

type Responder = dyn Fn(usize, &SeenRequest) -> (u16, Value) + Send + Sync;

/// A fake AWS at the HTTP boundary: the real SDK client serialises, signs and retries; this
/// answers each request with what `respond(call number, request)` returns and records it.
#[derive(Clone)]
pub struct FakeAws {
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    respond: Arc<Responder>,
}

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeAws")
    }
}

impl FakeAws {
    /// A fake answering with `respond`.
    pub fn new(
        respond: impl Fn(usize, &SeenRequest) -> (u16, Value) + Send + Sync + 'static,
    ) -> Self {
        Self {
            seen: Arc::new(Mutex::new(Vec::new())),
            respond: Arc::new(respond),
        }
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("lock").clone()
    }

    /// As an SDK HTTP client.
    pub fn http_client(&self) -> SharedHttpClient {
        let me = self.clone();
        http_client_fn(move |_, _| SharedHttpConnector::new(me.clone()))
    }

    /// Configuration whose every call reaches this fake (nothing leaves the process).
    pub async fn config(&self, sdk_attempts: u32) -> AwsConfig {
        AwsConfig::builder()
            .endpoint_url("http://127.0.0.1:9")
            .region(REGION)
            .static_credentials("testing", "testing")
            .sdk_retries(sdk_attempts, Duration::from_millis(1))
            .backoff(quick_backoff())
            .http_client(self.http_client())
            .load()
            .await
    }
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let seen = SeenRequest { target, body };
        let (status, reply) = {
            let mut all = self.seen.lock().expect("lock");
            let n = all.len();
            all.push(seen.clone());
            (self.respond)(n, &seen)
        };
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(reply.to_string()),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// The JSON error body of an AWS JSON-protocol service.
pub fn aws_error(code: &str, message: &str) -> Value {
    serde_json::json!({ "__type": code, "message": message })
}

/// Holds the emulator's Athena for one test. Moto answers queries from one queue of preloaded
/// results per account and region, shared by every test process: tests that run Athena queries
/// take this cross-process file lock so that none consumes another's results.
pub struct AthenaGuard {
    _file: std::fs::File,
}

/// Waits for the emulator's Athena to be free (see [`AthenaGuard`]).
pub async fn athena_lock() -> AthenaGuard {
    let name: String = endpoint()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = std::env::temp_dir().join(format!("fashion-aws-athena-{name}.lock"));
    let file = tokio::task::spawn_blocking(move || {
        let f = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("open the Athena lock file");
        f.lock().expect("lock the Athena lock file");
        f
    })
    .await
    .expect("lock task");
    AthenaGuard { _file: file }
}

/// Creates an Athena workgroup writing results under `output`.
pub async fn create_workgroup(aws: &AwsConfig, name: &str, output: &str) {
    aws.athena_client()
        .create_work_group()
        .name(name)
        .configuration(
            aws_sdk_athena::types::WorkGroupConfiguration::builder()
                .result_configuration(
                    aws_sdk_athena::types::ResultConfiguration::builder()
                        .output_location(output)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("create workgroup");
}

/// Empties moto's queue of preloaded Athena results (left by a test that failed half-way): every
/// query takes the next preloaded result, and an empty one means the queue is empty. Call it
/// while holding [`athena_lock`].
pub async fn drain_athena(engine: &fashion_aws::AthenaQueryEngine) {
    use fashion_domain::ports::QueryEngine;
    for _ in 0..10_000 {
        let r = engine.query("SELECT 1", &[]).await.expect("drain query");
        if r.columns.is_empty() && r.rows.is_empty() {
            return;
        }
    }
    panic!("moto's Athena result queue did not drain");
}

/// One preloaded Athena result as moto's API takes it: column `(name, type)`s and rows of
/// optional text values. The header row Athena puts first in SELECT results is added here.
pub fn athena_result(columns: &[(&str, &str)], rows: &[Vec<Option<&str>>]) -> Value {
    let datum = |v: Option<&str>| match v {
        Some(t) => serde_json::json!({ "VarCharValue": t }),
        None => serde_json::json!({}),
    };
    let header = serde_json::json!({ "Data": columns.iter().map(|(n, _)| datum(Some(n))).collect::<Vec<_>>() });
    let mut all = vec![header];
    all.extend(
        rows.iter().map(
            |r| serde_json::json!({ "Data": r.iter().map(|v| datum(*v)).collect::<Vec<_>>() }),
        ),
    );
    serde_json::json!({
        "rows": all,
        "column_info": columns.iter().map(|(n, t)| serde_json::json!({
            "CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n,
            "Type": t, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": false
        })).collect::<Vec<_>>(),
    })
}

/// Queues results for the next Athena queries through moto's own API
/// (`POST /moto-api/static/athena/query-results`): moto runs no SQL, so a test states what
/// Athena would answer. Call it while holding [`athena_lock`].
pub async fn preload_athena(results: Vec<Value>) {
    use std::io::{Read, Write};
    let ep = endpoint();
    let host = ep
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let body = serde_json::json!({ "region": REGION, "results": results }).to_string();
    let reply = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(&host).expect("connect to the emulator");
        let request = format!(
            "POST /moto-api/static/athena/query-results HTTP/1.1\r\nHost: {host}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).expect("send preload");
        let mut reply = String::new();
        conn.read_to_string(&mut reply).expect("read preload reply");
        reply
    })
    .await
    .expect("preload task");
    assert!(
        reply.starts_with("HTTP/1.1 201") || reply.starts_with("HTTP/1.0 201"),
        "moto refused the preloaded Athena results: {reply}"
    );
}

/// Creates a Glue database with a unique name (letters, digits and `_`) and returns the name.
pub async fn create_glue_database(aws: &AwsConfig) -> String {
    let database = unique("lake").replace('-', "_");
    aws.glue_client()
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&database)
                .build()
                .expect("database input"),
        )
        .send()
        .await
        .expect("create database");
    database
}
