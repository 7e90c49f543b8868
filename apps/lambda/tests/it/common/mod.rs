//! Shared test code: the AWS emulator (a missing one fails the test), resources with unique
//! names, Kinesis events, and a fake of the Lambda Runtime API on loopback that the real
//! `bootstrap` binaries talk to.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fashion_aws::{AwsConfig, Backoff};
use fashion_aws_core::dynamodb as schema;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// The emulator's endpoint; panics (fails the test) when the test command did not start one, or
/// chose real AWS (`FASHION_TEST_AWS_BACKEND=aws`), where these tests do not run.
pub fn endpoint() -> String {
    fashion_tests::aws_backend::emulator_endpoint(
        "scripts/services cargo nextest run -p fashion-lambda",
    )
}

/// Configuration for the emulator: static test credentials, `us-east-1`, its endpoint.
pub async fn emulator() -> AwsConfig {
    AwsConfig::builder()
        .endpoint_url(endpoint())
        .region(REGION)
        .static_credentials("testing", "testing")
        .sdk_retries(3, Duration::from_millis(10))
        .backoff(Backoff {
            max_attempts: 4,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        })
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Creates `name` with `contract`'s key schema, index and TTL, as provisioning declares it.
async fn table(aws: &AwsConfig, name: &str, contract: &schema::TableSchema) {
    fashion_tests::aws::create_table(
        &aws.dynamodb_client(),
        name,
        contract,
        Duration::from_millis(50),
        Duration::from_secs(60),
    )
    .await;
}

/// The stream processor's resources, created fresh.
pub struct ProcessorResources {
    /// Activity table.
    pub activity: String,
    /// Recommendations table.
    pub recommendations: String,
    /// Catalog table.
    pub catalog: String,
    /// Dead-letter table.
    pub dead_letters: String,
    /// Models bucket.
    pub models: String,
}

impl ProcessorResources {
    /// Creates the tables and the bucket.
    pub async fn create(aws: &AwsConfig) -> Self {
        let r = Self {
            activity: unique("activity"),
            recommendations: unique("recs"),
            catalog: unique("catalog"),
            dead_letters: unique("dead-letters"),
            models: unique("models"),
        };
        table(aws, &r.activity, &schema::USER_ACTIVITY).await;
        table(aws, &r.recommendations, &schema::RECOMMENDATIONS).await;
        table(aws, &r.catalog, &schema::PRODUCTS).await;
        table(aws, &r.dead_letters, &schema::DEAD_LETTERS).await;
        aws.s3_client()
            .create_bucket()
            .bucket(&r.models)
            .send()
            .await
            .expect("create bucket");
        r
    }
}

/// One record of a Kinesis event: `(sequence number, partition key, payload)`.
pub type KinesisRecordSpec<'a> = (&'a str, &'a str, &'a [u8]);

/// A Kinesis event as Lambda delivers it, with records of shard `shardId-000000000001` arrived
/// at `arrived`.
pub fn kinesis_event(records: &[KinesisRecordSpec<'_>], arrived: DateTime<Utc>) -> Value {
    let secs = arrived.timestamp_millis() as f64 / 1000.0;
    json!({ "Records": records.iter().map(|(seq, key, data)| json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": seq,
            "data": aws_smithy_types::base64::encode(data),
            "approximateArrivalTimestamp": secs,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("shardId-000000000001:{seq}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-processor",
        "awsRegion": REGION,
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clickstream",
    })).collect::<Vec<_>>() })
}

/// What the function sent back for an invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response(String, Value),
    /// `POST /runtime/invocation/{id}/error`.
    Error(String, Value),
    /// `POST /runtime/init/error`.
    InitError(Value),
}

/// A fake of the Lambda Runtime API (`/2018-06-01/runtime/...`) on a loopback port: it hands
/// out the queued events to `invocation/next` and reports what the function answers.
pub struct FakeRuntime {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    queue: Arc<Mutex<VecDeque<Value>>>,
    queued: Arc<Notify>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// Signalled at the first `invocation/next`: the end of the cold start.
    pub first_next: Arc<Notify>,
}

impl FakeRuntime {
    /// Starts the fake.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let queued = Arc::new(Notify::new());
        let first_next = Arc::new(Notify::new());
        let (tx, outcomes) = mpsc::unbounded_channel();
        let (q, n, f) = (queue.clone(), queued.clone(), first_next.clone());
        tokio::spawn(async move {
            let counter_lock = Arc::new(Mutex::new(0_u64));
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let (q, n, f, tx, c) = (
                    q.clone(),
                    n.clone(),
                    f.clone(),
                    tx.clone(),
                    counter_lock.clone(),
                );
                tokio::spawn(serve(conn, q, n, f, tx, c));
            }
        });
        Self {
            address,
            queue,
            queued,
            outcomes,
            first_next,
        }
    }

    /// Queues an event for the next `invocation/next`.
    pub fn invoke(&self, event: Value) {
        self.queue.lock().expect("lock").push_back(event);
        self.queued.notify_one();
    }

    /// The function's next answer (fails the test after `timeout`).
    pub async fn outcome(&mut self, timeout: Duration) -> Outcome {
        tokio::time::timeout(timeout, self.outcomes.recv())
            .await
            .expect("the function answered in time")
            .expect("the fake runtime is running")
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0_usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).await.ok()?;
    }
    Some(Request { method, path, body })
}

async fn reply(
    conn: &mut BufReader<TcpStream>,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let w = conn.get_mut();
    w.write_all(head.as_bytes()).await.is_ok() && w.write_all(body).await.is_ok()
}

async fn serve(
    conn: TcpStream,
    queue: Arc<Mutex<VecDeque<Value>>>,
    queued: Arc<Notify>,
    first_next: Arc<Notify>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    counter: Arc<Mutex<u64>>,
) {
    let mut conn = BufReader::new(conn);
    while let Some(req) = read_request(&mut conn).await {
        let path = req.path.trim_start_matches("/2018-06-01/runtime/");
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if req.method == "GET" && path == "invocation/next" {
            first_next.notify_one();
            let event = loop {
                let next = queue.lock().expect("lock").pop_front();
                match next {
                    Some(e) => break e,
                    None => queued.notified().await,
                }
            };
            let id = {
                let mut c = counter.lock().expect("lock");
                *c += 1;
                format!("request-{c}")
            };
            let deadline = Utc::now().timestamp_millis() + 60_000;
            let headers = vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("Lambda-Runtime-Aws-Request-Id".to_owned(), id),
                (
                    "Lambda-Runtime-Deadline-Ms".to_owned(),
                    deadline.to_string(),
                ),
                (
                    "Lambda-Runtime-Invoked-Function-Arn".to_owned(),
                    "arn:aws:lambda:us-east-1:123456789012:function:fashion".to_owned(),
                ),
                (
                    "Lambda-Runtime-Trace-Id".to_owned(),
                    "Root=1-5759e988-bd862e3fe1be46a994272793".to_owned(),
                ),
            ];
            if !reply(&mut conn, "200 OK", &headers, event.to_string().as_bytes()).await {
                return;
            }
            continue;
        }
        let outcome = if path == "init/error" {
            Some(Outcome::InitError(body))
        } else if let Some(rest) = path.strip_prefix("invocation/") {
            match rest.rsplit_once('/') {
                Some((id, "response")) => Some(Outcome::Response(id.to_owned(), body)),
                Some((id, "error")) => Some(Outcome::Error(id.to_owned(), body)),
                _ => None,
            }
        } else {
            None
        };
        let ok = match outcome {
            Some(o) => {
                let _ = outcomes.send(o);
                reply(&mut conn, "202 Accepted", &[], b"{\"status\":\"OK\"}").await
            }
            None => reply(&mut conn, "404 Not Found", &[], b"{}").await,
        };
        if !ok {
            return;
        }
    }
}

/// The peak resident memory of a process, in KiB (`VmHWM` of `/proc/<pid>/status`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A small trained model over products 1..=5: 1, 2 and 3 lead to 4 and 5, which are popular.
pub fn small_model() -> fashion_domain::model::RecModel {
    use fashion_domain::model::{ModelProduct, Neighbour, RecModel};
    use fashion_tests::fixtures::{pid, t0};
    let p = |id: u32, popularity: f32| ModelProduct {
        id: pid(id),
        gender: if id.is_multiple_of(2) {
            "Women".into()
        } else {
            "Men".into()
        },
        master_category: "Apparel".into(),
        article_type: "Tshirts".into(),
        colour: "Black".into(),
        available: true,
        popularity,
        trend: 0.0,
    };
    let to_4_and_5 = vec![
        Neighbour {
            product_id: pid(4),
            score: 0.9,
        },
        Neighbour {
            product_id: pid(5),
            score: 0.6,
        },
    ];
    RecModel {
        version: "20261125T000100Z-test".into(),
        trained_at: t0(),
        trained_on_events: 100,
        products: (1..=5).map(|i| p(i, 0.1 * i as f32)).collect(),
        neighbours: (1..=3).map(|i| (pid(i), to_4_and_5.clone())).collect(),
        popular_by_segment: vec![
            ("Men".into(), vec![pid(5), pid(4)]),
            ("Women".into(), vec![pid(4), pid(5)]),
        ],
        trending_by_segment: vec![],
        trends: vec![],
    }
}

/// A fresh activity table; returns its name.
pub async fn activity_table(aws: &AwsConfig) -> String {
    let name = unique("activity");
    table(aws, &name, &schema::USER_ACTIVITY).await;
    name
}

/// A fresh product catalog table; returns its name.
pub async fn catalog_table(aws: &AwsConfig) -> String {
    let name = unique("catalog");
    table(aws, &name, &schema::PRODUCTS).await;
    name
}

/// A fresh lake: a bucket and a Glue database (letters, digits and `_`); returns both names.
pub async fn lake(aws: &AwsConfig) -> (String, String) {
    let bucket = unique("lake");
    aws.s3_client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let database = unique("lake").replace('-', "_");
    fashion_tests::aws::create_glue_database(&aws.glue_client(), &database).await;
    (bucket, database)
}

/// A function's `bootstrap` binary started as Lambda starts it: pointed at `runtime`, with the
/// runtime's variables, the emulator's endpoint and test credentials, and nothing else from this
/// process's environment. The caller adds the function's settings and spawns it.
pub fn bootstrap(
    exe: &str,
    name: &str,
    memory_mib: u32,
    runtime: &FakeRuntime,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mib.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    command
}
