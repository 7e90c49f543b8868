//! The API function on the AWS emulator, called the way a Lambda function URL calls it: a
//! function-URL (HTTP API v2) event through `lambda_http`'s adapter, and the real `bootstrap`
//! binary behind the fake Lambda Runtime API. Clicks land on Kinesis, refused ones in the
//! DynamoDB dead letters, recommendations and products come from DynamoDB, the fallback from the
//! model in S3 (less what the customer bought, from their DynamoDB activity record).

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{FakeRuntime, Outcome, ProcessorResources, emulator, small_model, unique};
use fashion_aws::AwsConfig;
use fashion_domain::activity::UserActivity;
use fashion_domain::ports::{
    ClickstreamSource, DeadLetterReader, ModelStore, ProductCatalog, RecommendationStore,
    UserActivityStore,
};
use fashion_domain::recommendation::{Reason, Recommendations, RecommendedItem};
use fashion_lambda::settings::{self, ApiSettings};
use fashion_tests::fixtures::{cid, pid, product, t0, view};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// A stack for the API: the stream processor's tables and bucket, a Kinesis stream, a lake.
struct Resources {
    tables: ProcessorResources,
    stream: String,
    bucket: String,
    database: String,
}

impl Resources {
    async fn create(aws: &AwsConfig) -> Self {
        let tables = ProcessorResources::create(aws).await;
        let stream = unique("clickstream");
        aws.kinesis_client()
            .create_stream()
            .stream_name(&stream)
            .shard_count(1)
            .send()
            .await
            .expect("create stream");
        let (bucket, database) = common::lake(aws).await;
        Self {
            tables,
            stream,
            bucket,
            database,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (settings::CLICKSTREAM_STREAM, self.stream.clone()),
            (
                settings::RECOMMENDATIONS_TABLE,
                self.tables.recommendations.clone(),
            ),
            (settings::CATALOG_TABLE, self.tables.catalog.clone()),
            (settings::ACTIVITY_TABLE, self.tables.activity.clone()),
            (
                settings::DEAD_LETTERS_TABLE,
                self.tables.dead_letters.clone(),
            ),
            (settings::MODELS_BUCKET, self.tables.models.clone()),
            (settings::GLUE_DATABASE, self.database.clone()),
            (settings::LAKE_BUCKET, self.bucket.clone()),
            (settings::ATHENA_WORKGROUP, "primary".to_owned()),
            (settings::TIME_ZONE, "Asia/Ho_Chi_Minh".to_owned()),
        ]
    }

    fn settings(&self) -> ApiSettings {
        let env: BTreeMap<&str, String> = self.env().into_iter().collect();
        ApiSettings::from_lookup(&|name| env.get(name).cloned()).expect("settings")
    }

    /// Products 1..=5, a model over them, a stored list for customer 42, and customer 7's
    /// purchase of product 5.
    async fn fill(&self, aws: &AwsConfig) {
        aws.dynamodb_product_catalog(&self.tables.catalog)
            .upsert_many(&(1..=5).map(product).collect::<Vec<_>>())
            .await
            .expect("catalog");
        // The trainer always adds the segment of every customer ("all"), which cold starts use.
        let mut model = small_model();
        model
            .popular_by_segment
            .push(("all".to_owned(), vec![pid(5), pid(4), pid(3)]));
        aws.s3_model_store(&self.tables.models, "models")
            .put(&model)
            .await
            .expect("model");
        aws.dynamodb_recommendation_store(&self.tables.recommendations)
            .put_many(&[Recommendations {
                customer_id: cid(42),
                items: vec![RecommendedItem {
                    product_id: pid(4),
                    score: 0.9,
                    reason: Reason::AlsoViewed,
                }],
                model_version: "20261125T000100Z-test".into(),
                updated_at: t0(),
            }])
            .await
            .expect("recommendations");
        let mut buyer = UserActivity::new(cid(7));
        buyer.remember_purchases([pid(5)]);
        aws.dynamodb_user_activity_store(&self.tables.activity, Duration::from_secs(3600))
            .put(&buyer)
            .await
            .expect("activity");
    }
}

/// A function-URL event for `method path` with `body`.
fn request(method: &str, path: &str, body: &str) -> Value {
    let mut e: Value = serde_json::from_str(include_str!(
        "../fixtures/example-function-url-request.json"
    ))
    .expect("fixture");
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    e["rawPath"] = raw_path.into();
    e["rawQueryString"] = query.into();
    e["requestContext"]["http"]["method"] = method.into();
    e["requestContext"]["http"]["path"] = raw_path.into();
    e["body"] = body.into();
    e
}

/// Calls the router as `lambda_http` does for a function URL; returns the function-URL response.
async fn call(router: &axum::Router, event: Value) -> Value {
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(event).expect("a function-URL request");
    let mut adapter = lambda_http::Adapter::from(router.clone());
    let response = adapter
        .ready()
        .await
        .expect("ready")
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .expect("a response");
    serde_json::to_value(response).expect("response JSON")
}

fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("JSON body")
}

async fn stream_payloads(aws: &AwsConfig, stream: &str) -> Vec<Value> {
    let source = aws.kinesis_clickstream(stream);
    let mut out = Vec::new();
    for shard in source.shards().await.expect("shards") {
        for r in source.read(&shard, None, 1000).await.expect("read") {
            out.push(serde_json::from_slice(&r.data).expect("JSON record"));
        }
    }
    out
}

#[tokio::test]
async fn the_api_handler_publishes_to_kinesis_and_reads_dynamodb_like_a_function_url() {
    // Arrange
    let aws = emulator().await;
    let r = Resources::create(&aws).await;
    r.fill(&aws).await;
    let router = fashion_lambda::api::router(&r.settings(), &aws);
    let clicks = json!([view(1, 42, 2, 0), {"event_id": "nope"}]).to_string();

    // Act
    let posted = call(&router, request("POST", "/events", &clicks)).await;
    let personal = call(&router, request("GET", "/users/42/recommendations", "")).await;
    let fallback = call(
        &router,
        request("GET", "/users/7/recommendations?limit=2", ""),
    )
    .await;
    let product = call(&router, request("GET", "/products/3", "")).await;
    let bad = call(&router, request("GET", "/users/x/recommendations", "")).await;

    // Assert
    assert_eq!(posted["statusCode"], 202, "{posted}");
    let answer = body_json(&posted);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let on_stream = stream_payloads(&aws, &r.stream).await;
    assert_eq!(on_stream.len(), 1, "{on_stream:?}");
    assert_eq!(on_stream[0]["user_id"], 42);
    let letters = aws
        .dynamodb_dead_letter_sink(&r.tables.dead_letters)
        .list(10)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].source.as_str(), letters[0].code.as_str()),
        ("collector", "malformed")
    );

    assert_eq!(personal["statusCode"], 200, "{personal}");
    let personal = body_json(&personal);
    assert_eq!(personal["source"], "personal");
    assert_eq!(personal["items"][0]["product_id"], 4);
    assert_eq!(personal["items"][0]["product"]["name"], product_name(4));

    let fallback = body_json(&fallback);
    assert_eq!(fallback["source"], "fallback");
    assert_eq!(fallback["model_version"], "20261125T000100Z-test");
    assert_eq!(fallback["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        fallback["items"][0]["product_id"], 4,
        "the most popular, 5, was bought by customer 7: {fallback}"
    );

    assert_eq!(product["statusCode"], 200);
    assert_eq!(body_json(&product)["product_id"], 3);
    assert_eq!(bad["statusCode"], 400);
}

fn product_name(id: u32) -> String {
    product(id).product_display_name
}

#[tokio::test]
async fn the_api_bootstrap_answers_function_url_events_through_the_runtime_api() {
    // Arrange
    let aws = emulator().await;
    let r = Resources::create(&aws).await;
    r.fill(&aws).await;
    let mut runtime = FakeRuntime::start().await;
    let mut command = common::bootstrap(env!("CARGO_BIN_EXE_api"), "api", 256, &runtime);
    for (k, v) in r.env() {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start the bootstrap binary");

    // Act
    let clicks = json!([view(7, 42, 1, 0)]).to_string();
    runtime.invoke(request("POST", "/events", &clicks));
    let posted = runtime.outcome(ANSWER_TIMEOUT).await;
    runtime.invoke(request("GET", "/users/42/recommendations", ""));
    let read = runtime.outcome(ANSWER_TIMEOUT).await;
    child.kill().await.expect("stop the function");

    // Assert
    let Outcome::Response(_, posted) = posted else {
        panic!("expected a response, got {posted:?}");
    };
    assert_eq!(posted["statusCode"], 202, "{posted}");
    assert_eq!(stream_payloads(&aws, &r.stream).await.len(), 1);
    let Outcome::Response(_, read) = read else {
        panic!("expected a response, got {read:?}");
    };
    assert_eq!(read["statusCode"], 200, "{read}");
    assert_eq!(body_json(&read)["source"], "personal");
}
