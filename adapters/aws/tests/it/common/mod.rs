//! Shared test code: the AWS backend the test command chose (moto by default, LocalStack, or
//! real AWS for the contract suites; a missing emulator fails the test), unique resource names,
//! creation of the resources each test needs and their deletion afterwards, and a fake HTTP layer
//! under the real SDK clients for failure injection.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
use fashion_aws_core::dynamodb::{self as schema, TableSchema};
use fashion_tests::aws;
use fashion_tests::aws_backend::AwsBackend;
use futures::FutureExt;
use serde_json::Value;

/// The region every test uses on an emulator, and on real AWS when the chain names none.
pub const REGION: &str = "us-east-1";
/// The command that runs these tests with an emulator.
const RUN_WITH: &str = "scripts/services cargo nextest run -p fashion-aws";
/// How long a new stream or table may take to become active: moto and LocalStack make them
/// active at once, real Kinesis and DynamoDB take seconds to minutes.
const ACTIVE_TIMEOUT_EMULATOR: Duration = Duration::from_secs(10);
const ACTIVE_TIMEOUT_REAL_AWS: Duration = Duration::from_secs(300);

/// Fails the test unless the backend is moto: `why` names the moto-only feature it uses.
pub fn require_moto(why: &str) {
    fashion_tests::aws_backend::require_moto(why);
}

/// The emulator's endpoint; panics (fails the test) when the test command did not start one, or
/// chose real AWS.
pub fn endpoint() -> String {
    fashion_tests::aws_backend::emulator_endpoint(RUN_WITH)
}

/// Configuration for an emulator (moto or LocalStack): static test credentials, `us-east-1`,
/// its endpoint. Every test beyond the contract suites uses it, so they fail on real AWS.
pub async fn emulator() -> AwsConfig {
    emulator_config(endpoint()).await
}

async fn emulator_config(endpoint: String) -> AwsConfig {
    AwsConfig::builder()
        .endpoint_url(endpoint)
        .region(REGION)
        .static_credentials("testing", "testing")
        .sdk_retries(3, Duration::from_millis(10))
        .backoff(quick_backoff())
        .load()
        .await
}

/// Configuration for the backend the test command chose: [`emulator`] on moto or LocalStack;
/// on real AWS (after the explicit opt-in) the standard credential chain and region (`AWS_PROFILE`,
/// `AWS_REGION`, ...; `us-east-1` when none is named), the SDK's own retries and the adapters'
/// default backoff. The contract suites use it, inside [`cleaned_up`].
pub async fn test_aws() -> AwsConfig {
    if AwsBackend::from_env() != AwsBackend::RealAws {
        return emulator().await;
    }
    fashion_tests::aws_backend::require_real_aws_opt_in();
    let region = aws_config::meta::region::RegionProviderChain::default_provider()
        .or_else(REGION)
        .region()
        .await
        .map_or_else(|| REGION.to_owned(), |r| r.as_ref().to_owned());
    AwsConfig::builder().region(region).load().await
}

fn region(aws: &AwsConfig) -> &str {
    aws.sdk_config()
        .region()
        .map_or(REGION, aws_config::Region::as_ref)
}

/// How often to poll for a new resource to become active, and for how long at most.
fn activation_polling() -> (Duration, Duration) {
    if AwsBackend::from_env() == AwsBackend::RealAws {
        (Duration::from_secs(1), ACTIVE_TIMEOUT_REAL_AWS)
    } else {
        (Duration::from_millis(100), ACTIVE_TIMEOUT_EMULATOR)
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
    created(Created::Stream(name.to_owned()));
    let (every, timeout) = activation_polling();
    let started = Instant::now();
    while started.elapsed() < timeout {
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
        // The emulators make streams active at once; real Kinesis takes seconds.
        tokio::time::sleep(every).await;
    }
    panic!("stream {name} never became active");
}

/// Creates the table `name` with `contract`'s key schema, index and TTL (the contracts
/// provisioning declares the tables with), recorded for deletion.
pub async fn create_table(aws: &AwsConfig, name: &str, contract: &TableSchema) {
    let (every, timeout) = activation_polling();
    created(Created::Table(name.to_owned()));
    aws::create_table(&aws.dynamodb_client(), name, contract, every, timeout).await;
}

/// A checkpoint store on a fresh table.
pub async fn checkpoint_store(aws: &AwsConfig) -> DynamoDbCheckpointStore {
    let t = unique("checkpoints");
    create_table(aws, &t, &schema::CHECKPOINTS).await;
    aws.dynamodb_checkpoint_store(&t)
}

/// A recommendation store on a fresh table.
pub async fn recommendation_store(aws: &AwsConfig) -> (String, DynamoDbRecommendationStore) {
    let t = unique("recommendations");
    create_table(aws, &t, &schema::RECOMMENDATIONS).await;
    let store = aws.dynamodb_recommendation_store(&t);
    (t, store)
}

/// A user-activity store on a fresh table with TTL on [`DynamoDbUserActivityStore::TTL_ATTRIBUTE`].
pub async fn activity_store(aws: &AwsConfig) -> (String, DynamoDbUserActivityStore) {
    let t = unique("activity");
    create_table(aws, &t, &schema::USER_ACTIVITY).await;
    let store = aws.dynamodb_user_activity_store(&t, Duration::from_secs(30 * 24 * 3600));
    (t, store)
}

/// A product catalog on a fresh table.
pub async fn product_catalog(aws: &AwsConfig) -> DynamoDbProductCatalog {
    let t = unique("products");
    create_table(aws, &t, &schema::PRODUCTS).await;
    aws.dynamodb_product_catalog(&t)
}

/// A dead-letter sink on a fresh table with its time index.
pub async fn dead_letter_sink(aws: &AwsConfig) -> DynamoDbDeadLetterSink {
    let t = unique("dead-letters");
    create_table(aws, &t, &schema::DEAD_LETTERS).await;
    aws.dynamodb_dead_letter_sink(&t)
}

/// Creates a bucket (in the configuration's region: outside `us-east-1` S3 wants it named).
pub async fn create_bucket(aws: &AwsConfig, name: &str) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let region = region(aws);
    let location = (region != REGION).then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build()
    });
    aws.s3_client()
        .create_bucket()
        .bucket(name)
        .set_create_bucket_configuration(location)
        .send()
        .await
        .expect("create bucket");
    created(Created::Bucket(name.to_owned()));
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
    require_moto("it shares moto's queue of preloaded Athena results");
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
    require_moto("Athena's answers are preloaded through moto's API");
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
    created(Created::GlueDatabase(database.clone()));
    aws::create_glue_database(&aws.glue_client(), &database).await;
    database
}

/// A resource a test created on the backend, deleted when the test ends.
#[derive(Debug)]
enum Created {
    Stream(String),
    Table(String),
    Bucket(String),
    GlueDatabase(String),
}

tokio::task_local! {
    /// What the test running inside [`cleaned_up`] has created so far. The creation helpers above
    /// record into it, so that a test cannot forget one; outside `cleaned_up` nothing is recorded.
    static CREATED: Arc<Mutex<Vec<Created>>>;
}

fn created(resource: Created) {
    // Outside `cleaned_up` (tests that only run on an emulator) there is nothing to record into.
    let _ = CREATED.try_with(|c| c.lock().expect("lock").push(resource));
}

/// Runs `test`, then deletes every stream, table, bucket (with its objects) and Glue database it
/// created through this module, whether it passed or panicked; the panic then goes on. Deletion
/// is best effort: a failure is printed, never fails the test. The contract suites run inside it
/// on every backend, so that on real AWS they leave nothing behind.
pub async fn cleaned_up(aws: &AwsConfig, test: impl Future<Output = ()>) {
    let resources = Arc::new(Mutex::new(Vec::new()));
    let outcome = CREATED
        .scope(resources.clone(), AssertUnwindSafe(test).catch_unwind())
        .await;
    let resources = std::mem::take(&mut *resources.lock().expect("lock"));
    for resource in resources.iter().rev() {
        if let Err(e) = delete(aws, resource).await {
            eprintln!("cleanup: could not delete {resource:?}, delete it by hand: {e:#}");
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn delete(aws: &AwsConfig, resource: &Created) -> anyhow::Result<()> {
    match resource {
        Created::Stream(name) => {
            aws.kinesis_client()
                .delete_stream()
                .stream_name(name)
                .enforce_consumer_deletion(true)
                .send()
                .await?;
        }
        Created::Table(name) => {
            aws.dynamodb_client()
                .delete_table()
                .table_name(name)
                .send()
                .await?;
        }
        Created::Bucket(name) => empty_and_delete_bucket(aws, name).await?,
        Created::GlueDatabase(name) => {
            // Glue deletes the database's tables and partitions with it.
            aws.glue_client()
                .delete_database()
                .name(name)
                .send()
                .await?;
        }
    }
    Ok(())
}

/// S3 deletes only empty buckets: objects and unfinished multipart uploads go first.
async fn empty_and_delete_bucket(aws: &AwsConfig, bucket: &str) -> anyhow::Result<()> {
    let s3 = aws.s3_client();
    let uploads = s3.list_multipart_uploads().bucket(bucket).send().await?;
    for u in uploads.uploads() {
        if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
            s3.abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .send()
                .await?;
        }
    }
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await?;
        for o in page.contents() {
            if let Some(key) = o.key() {
                s3.delete_object().bucket(bucket).key(key).send().await?;
            }
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    s3.delete_bucket().bucket(bucket).send().await?;
    Ok(())
}
