//! The API through real HTTP on a server spawned on port 0, over the in-memory adapters (and
//! mocks where a failure must be injected): collector answers for valid, invalid, mixed,
//! oversize, gzip and wrongly typed bodies and for a stream that refuses; recommendations for
//! known, unknown and malformed customers; metrics, health and the OpenAPI document.

use std::io::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fashion_api::{ApiConfig, ApiPorts, EventsResponse, RecommendationsResponse};
use fashion_domain::activity::UserActivity;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::model::{ModelProduct, RecModel};
use fashion_domain::ports::{
    ClickstreamPublisher, ClickstreamSource, DeadLetterReader, MockClickstreamPublisher,
    ModelStore, ProductCatalog, PublishReport, RecommendationStore, StreamError, UserActivityStore,
};
use fashion_domain::product::Product;
use fashion_domain::recommendation::{Reason, Recommendations, RecommendedItem};
use fashion_memory::{
    InMemoryDeadLetterSink, InMemoryLake, InMemoryModelStore, InMemoryProductCatalog,
    InMemoryRecommendationStore, InMemoryStream, InMemoryUserActivityStore, ManualClock,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now() -> DateTime<Utc> {
    "2026-11-25T10:00:00Z".parse().unwrap()
}

fn event(id: u128, user: u64, product: Option<u32>) -> serde_json::Value {
    let mut e = serde_json::json!({
        "event_id": uuid::Uuid::from_u128(id).to_string(),
        "event_type": if product.is_some() { "product_view" } else { "page_view" },
        "user_id": user,
        "session_id": "s-1",
        "occurred_at": "2026-11-25T16:59:58+07:00",
        "device": "mobile",
        "schema_version": 1
    });
    if let Some(p) = product {
        e["product_id"] = serde_json::json!(p);
    }
    e
}

fn product(id: u32, name: &str) -> Product {
    Product {
        id: ProductId::new(id).unwrap(),
        gender: "Women".into(),
        master_category: "Apparel".into(),
        sub_category: "Topwear".into(),
        article_type: "Shirts".into(),
        base_colour: Some("Red".into()),
        season: Some("Summer".into()),
        year: Some(2026),
        usage: Some("Casual".into()),
        product_display_name: name.into(),
        price: None,
    }
}

struct TestApp {
    addr: std::net::SocketAddr,
    stream: Arc<InMemoryStream>,
    recs: Arc<InMemoryRecommendationStore>,
    dead_letters: Arc<InMemoryDeadLetterSink>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A model whose cold-start list is products 3 (trending) and 4 (popular).
fn model() -> RecModel {
    let mp = |id: u32, popularity: f32, trend: f32| ModelProduct {
        id: ProductId::new(id).unwrap(),
        gender: "Women".into(),
        master_category: "Apparel".into(),
        article_type: "Shirts".into(),
        colour: "Red".into(),
        available: true,
        popularity,
        trend,
    };
    let pid = |id| ProductId::new(id).unwrap();
    RecModel {
        version: "20261125T000100Z-test".into(),
        trained_at: now(),
        trained_on_events: 100,
        products: vec![mp(3, 0.2, 1.0), mp(4, 1.0, 0.0)],
        neighbours: vec![],
        popular_by_segment: vec![("all".into(), vec![pid(4), pid(3)])],
        trending_by_segment: vec![("all".into(), vec![pid(3)])],
        trends: vec![],
    }
}

async fn spawn_app_with(publisher: Option<Arc<dyn ClickstreamPublisher>>) -> TestApp {
    let clock = Arc::new(ManualClock::new(now()));
    let stream = Arc::new(InMemoryStream::with_clock(2, clock.clone()));
    let recs = Arc::new(InMemoryRecommendationStore::new());
    let catalog = Arc::new(InMemoryProductCatalog::new());
    catalog
        .upsert_many(&[
            product(1, "Red Shirt"),
            product(2, "Blue Jeans"),
            product(3, "Trending Top"),
            product(4, "Popular Dress"),
        ])
        .await
        .unwrap();
    let models = Arc::new(InMemoryModelStore::new());
    models.put(&model()).await.unwrap();
    let dead_letters = Arc::new(InMemoryDeadLetterSink::new());
    let lake = InMemoryLake::new();
    // Customer 778 bought product 3 (the trending one).
    let activity = Arc::new(InMemoryUserActivityStore::new());
    let mut buyer = UserActivity::new(CustomerId::new(778).unwrap());
    buyer.remember_purchases([ProductId::new(3).unwrap()]);
    activity.put(&buyer).await.unwrap();
    let ports = ApiPorts {
        publisher: publisher.unwrap_or_else(|| stream.clone()),
        recommendations: recs.clone(),
        catalog,
        activity,
        models,
        history: Arc::new(lake.clone()),
        lake: Arc::new(lake.query_engine()),
        dead_letters: dead_letters.clone(),
        dead_letter_log: dead_letters.clone(),
        clock,
        probe: None,
    };
    let config = ApiConfig {
        publish_queue_timeout: std::time::Duration::from_millis(100),
        publish_timeout: std::time::Duration::from_millis(500),
        retry_after_secs: 2,
        ..ApiConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = fashion_api::router(ports, config);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestApp {
        addr,
        stream,
        recs,
        dead_letters,
        server,
    }
}

async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, so the body ends at EOF).
async fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        app.addr,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    // A server may answer before reading a refused body whole; a reset write is not a failure.
    let _ = conn.write_all(body).await;
    let mut raw = Vec::new();
    let _ = conn.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked")
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn post_events(app: &TestApp, body: &serde_json::Value) -> Answer {
    request(app, "POST", "/events", &[JSON], body.to_string().as_bytes()).await
}

async fn stream_payloads(stream: &InMemoryStream) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for shard in stream.shards().await.unwrap() {
        for r in stream.read(&shard, None, 10_000).await.unwrap() {
            out.push(serde_json::from_slice(&r.data).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn a_valid_event_is_accepted_and_put_on_the_stream() {
    // Arrange
    let app = spawn_app().await;
    // Act
    let res = post_events(&app, &event(1, 42, Some(1))).await;
    // Assert
    assert_eq!(res.status, 202, "{}", res.text());
    let body: EventsResponse = res.json();
    assert_eq!((body.accepted, body.rejected), (1, 0));
    assert_eq!(body.results[0].status, "accepted");
    let on_stream = stream_payloads(&app.stream).await;
    assert_eq!(on_stream.len(), 1);
    assert_eq!(on_stream[0]["user_id"], 42);
    assert_eq!(
        on_stream[0]["event_id"],
        uuid::Uuid::from_u128(1).to_string()
    );
}

#[tokio::test]
async fn invalid_events_get_their_reasons_and_go_to_the_dead_letters() {
    // Arrange
    let app = spawn_app().await;
    let mut missing_product = event(2, 42, None);
    missing_product["event_type"] = "click".into();
    let mut future = event(3, 42, Some(1));
    future["occurred_at"] = "2026-11-27T10:00:00Z".into();
    // Act
    let res = post_events(
        &app,
        &serde_json::json!([event(1, 42, Some(1)), missing_product, {"hello": "world"}, future, event(4, 7, None)]),
    )
    .await;
    // Assert
    assert_eq!(res.status, 202, "{}", res.text());
    let body: EventsResponse = res.json();
    assert_eq!((body.accepted, body.rejected), (2, 3));
    let codes: Vec<_> = body.results.iter().map(|r| r.code.clone()).collect();
    assert_eq!(
        codes,
        [
            None,
            Some("missing_product".to_owned()),
            Some("malformed".to_owned()),
            Some("future_timestamp".to_owned()),
            None
        ]
    );
    assert!(
        body.results[1]
            .message
            .as_deref()
            .unwrap()
            .contains("click")
    );
    assert_eq!(stream_payloads(&app.stream).await.len(), 2);
    let letters = app.dead_letters.list(10).await.unwrap();
    assert_eq!(letters.len(), 3);
    assert!(
        letters
            .iter()
            .all(|l| l.source == "collector" && !l.reason.is_empty())
    );
    // The same refused events sent again are the same dead letters.
    post_events(&app, &serde_json::json!([{"hello": "world"}])).await;
    assert_eq!(app.dead_letters.count().await.unwrap(), 3);
}

#[tokio::test]
async fn bodies_that_are_not_json_get_400_and_wrong_types_415() {
    let app = spawn_app().await;
    let not_json = request(&app, "POST", "/events", &[JSON], b"{not json").await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json::<serde_json::Value>()["error"], "bad_request");
    let empty = request(&app, "POST", "/events", &[JSON], b"[]").await;
    assert_eq!(empty.status, 400);
    let form = request(
        &app,
        "POST",
        "/events",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"a=b",
    )
    .await;
    assert_eq!(form.status, 415);
    let none = request(&app, "POST", "/events", &[], b"{}").await;
    assert_eq!(none.status, 415);
    let brotli = request(
        &app,
        "POST",
        "/events",
        &[JSON, ("Content-Encoding", "br")],
        b"{}",
    )
    .await;
    assert_eq!(brotli.status, 415);
    // sendBeacon's text/plain is read as JSON.
    let beacon = request(
        &app,
        "POST",
        "/events",
        &[("Content-Type", "text/plain;charset=UTF-8")],
        event(9, 5, Some(2)).to_string().as_bytes(),
    )
    .await;
    assert_eq!(beacon.status, 202);
    assert!(stream_payloads(&app.stream).await.len() == 1);
}

#[tokio::test]
async fn oversize_bodies_and_batches_get_413_and_store_nothing() {
    let app = spawn_app().await;
    let big = vec![b' '; fashion_api::MAX_BODY_BYTES + 10];
    let res = request(&app, "POST", "/events", &[JSON], &big).await;
    assert_eq!(res.status, 413);
    let many: Vec<_> = (0..=fashion_api::MAX_EVENTS_PER_REQUEST as u128)
        .map(|i| event(i + 1, 1, Some(1)))
        .collect();
    let res = post_events(&app, &serde_json::Value::from(many)).await;
    assert_eq!(res.status, 413);
    assert!(stream_payloads(&app.stream).await.is_empty());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_gzip_bombs_refused() {
    let app = spawn_app().await;
    let batch = serde_json::json!([event(1, 1, Some(1)), event(2, 2, Some(2))]);
    let res = request(
        &app,
        "POST",
        "/events",
        &[JSON, ("Content-Encoding", "gzip")],
        &gzip(batch.to_string().as_bytes()),
    )
    .await;
    assert_eq!(res.status, 202, "{}", res.text());
    assert_eq!(res.json::<EventsResponse>().accepted, 2);
    // 2 MiB of spaces compress to a few KiB: refused once decompressed.
    let bomb = gzip(&vec![b' '; 2 * fashion_api::MAX_BODY_BYTES]);
    assert!(bomb.len() < 16 * 1024);
    let res = request(
        &app,
        "POST",
        "/events",
        &[JSON, ("Content-Encoding", "gzip")],
        &bomb,
    )
    .await;
    assert_eq!(res.status, 413);
    let res = request(
        &app,
        "POST",
        "/events",
        &[JSON, ("Content-Encoding", "gzip")],
        b"not gzip",
    )
    .await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn a_stream_that_refuses_gets_503_with_retry_after() {
    // Arrange: a stream that is down, then one that keeps failing some records.
    let mut down = MockClickstreamPublisher::new();
    down.expect_publish().returning(|_| {
        Err(StreamError::Unavailable {
            message: "ProvisionedThroughputExceededException".into(),
        })
    });
    let app = spawn_app_with(Some(Arc::new(down))).await;
    // Act
    let res = post_events(&app, &event(1, 42, Some(1))).await;
    // Assert
    assert_eq!(res.status, 503, "{}", res.text());
    assert_eq!(res.header("retry-after"), Some("2"));
    assert_eq!(res.json::<serde_json::Value>()["error"], "unavailable");

    let mut partial = MockClickstreamPublisher::new();
    partial.expect_publish().returning(|records| {
        Ok(PublishReport {
            accepted: records.len() - 1,
            failed: vec![(0, "InternalFailure".into())],
        })
    });
    let app = spawn_app_with(Some(Arc::new(partial))).await;
    let res = post_events(
        &app,
        &serde_json::json!([event(1, 1, Some(1)), event(2, 2, Some(1))]),
    )
    .await;
    assert_eq!(res.status, 503);
    assert!(res.text().contains("1 of 2 events"));
}

/// A stream that takes its time to answer.
struct SlowStream(std::time::Duration);

#[async_trait::async_trait]
impl ClickstreamPublisher for SlowStream {
    async fn publish(
        &self,
        records: &[fashion_domain::stream::OutboundRecord],
    ) -> Result<PublishReport, StreamError> {
        tokio::time::sleep(self.0).await;
        Ok(PublishReport {
            accepted: records.len(),
            failed: vec![],
        })
    }
}

#[tokio::test]
async fn a_slow_stream_gets_503_instead_of_queueing_forever() {
    let app = spawn_app_with(Some(Arc::new(SlowStream(std::time::Duration::from_secs(
        5,
    )))))
    .await;
    let started = std::time::Instant::now();
    let res = post_events(&app, &event(1, 42, Some(1))).await;
    // The publish outlives the 500 ms publish timeout: the client is told to come back.
    assert_eq!(res.status, 503, "{}", res.text());
    assert!(res.header("retry-after").is_some());
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn a_stored_list_comes_with_product_names_and_reasons() {
    // Arrange
    let app = spawn_app().await;
    let item = |id: u32, score: f32, reason| RecommendedItem {
        product_id: ProductId::new(id).unwrap(),
        score,
        reason,
    };
    app.recs
        .put_many(&[Recommendations {
            customer_id: CustomerId::new(42).unwrap(),
            items: vec![
                item(1, 2.0, Reason::AlsoViewed),
                item(2, 1.0, Reason::Similar),
            ],
            model_version: "v1".into(),
            updated_at: now(),
        }])
        .await
        .unwrap();
    // Act
    let res = request(&app, "GET", "/users/42/recommendations?limit=1", &[], b"").await;
    // Assert
    assert_eq!(res.status, 200, "{}", res.text());
    let body: RecommendationsResponse = res.json();
    assert_eq!(body.source, fashion_api::RecommendationSource::Personal);
    assert_eq!(body.items.len(), 1);
    assert_eq!(body.items[0].reason, "also_viewed");
    assert_eq!(body.items[0].product.as_ref().unwrap().name, "Red Shirt");
    assert_eq!(body.model_version.as_deref(), Some("v1"));
}

#[tokio::test]
async fn an_unknown_customer_gets_the_trending_fallback_flagged_as_such() {
    let app = spawn_app().await;
    let res = request(&app, "GET", "/users/777/recommendations", &[], b"").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body: RecommendationsResponse = res.json();
    assert_eq!(body.source, fashion_api::RecommendationSource::Fallback);
    assert_eq!(body.model_version.as_deref(), Some("20261125T000100Z-test"));
    let ids: Vec<_> = body.items.iter().map(|i| i.product_id).collect();
    assert_eq!(ids[0], 3, "trending first: {ids:?}");
    assert!(ids.contains(&4));
    assert_eq!(body.items[0].reason, "trending");
    assert_eq!(body.items[0].product.as_ref().unwrap().name, "Trending Top");
}

#[tokio::test]
async fn a_fallback_list_leaves_out_what_the_customer_bought() {
    let app = spawn_app().await;
    let res = request(&app, "GET", "/users/778/recommendations", &[], b"").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body: RecommendationsResponse = res.json();
    assert_eq!(body.source, fashion_api::RecommendationSource::Fallback);
    let ids: Vec<_> = body.items.iter().map(|i| i.product_id).collect();
    assert!(!ids.contains(&3), "customer 778 bought product 3: {ids:?}");
    assert!(ids.contains(&4), "{ids:?}");
}

#[tokio::test]
async fn malformed_ids_and_limits_get_400() {
    let app = spawn_app().await;
    for path in [
        "/users/abc/recommendations",
        "/users/0/recommendations",
        "/users/-5/recommendations",
        "/users/42/recommendations?limit=0",
        "/users/42/recommendations?limit=51",
        "/products/xyz",
        "/trends?limit=0",
        "/trends?date=yesterday",
    ] {
        let res = request(&app, "GET", path, &[], b"").await;
        assert_eq!(res.status, 400, "{path}: {}", res.text());
    }
    assert_eq!(
        request(&app, "GET", "/products/999", &[], b"").await.status,
        404
    );
    let p = request(&app, "GET", "/products/2", &[], b"").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.json::<serde_json::Value>()["name"], "Blue Jeans");
}

#[tokio::test]
async fn metrics_count_what_the_collector_and_readers_did() {
    let app = spawn_app().await;
    post_events(&app, &serde_json::json!([event(1, 1, Some(1)), {"x": 1}])).await;
    request(&app, "POST", "/events", &[JSON], b"{oops").await;
    request(&app, "GET", "/users/5/recommendations", &[], b"").await;
    let m = request(&app, "GET", "/metrics", &[], b"").await;
    assert_eq!(m.status, 200);
    let text = m.text();
    for line in [
        "fashion_api_events_accepted_total 1",
        "fashion_api_events_rejected_total{reason=\"malformed\"} 1",
        "fashion_api_requests_refused_total{status=\"400\"} 1",
        "fashion_api_recommendation_reads_total{source=\"fallback\"} 1",
        "fashion_api_publish_duration_seconds_count 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
    let h = request(&app, "GET", "/health", &[], b"").await;
    assert_eq!(h.json::<serde_json::Value>()["status"], "ok");
}

#[tokio::test]
async fn the_tracker_is_served_as_javascript_and_cors_allows_other_origins() {
    let app = spawn_app().await;
    let js = request(&app, "GET", "/tracker.js", &[], b"").await;
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("application/javascript")
    );
    assert!(js.text().contains("fashionTracker"));
    let pre = request(
        &app,
        "OPTIONS",
        "/events",
        &[
            ("Origin", "https://shop.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await;
    assert!(pre.status < 300, "{}", pre.status);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
}

/// `docs/openapi.json` is the generated document; `UPDATE_OPENAPI=1` rewrites it.
#[tokio::test]
async fn the_openapi_document_in_the_repository_matches_the_code() {
    let app = spawn_app().await;
    let served = request(&app, "GET", "/openapi.json", &[], b"").await.text();
    assert_eq!(served, fashion_api::openapi_json());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == served,
        "docs/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p fashion-api --test it` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    for p in [
        "/events",
        "/users/{id}/recommendations",
        "/trends",
        "/products/{id}",
        "/metrics",
        "/health",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
}
