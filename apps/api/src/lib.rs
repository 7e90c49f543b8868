//! The front door: one axum router over the domain's ports, served by `fashion serve` on the local
//! stack and by the API Lambda (`lambda_http`) on AWS.
//!
//! - `POST /events`: the click collector (validated with the domain's rules, published through
//!   [`ClickstreamPublisher`] with backpressure).
//! - `GET /users/{id}/recommendations`: the stored list, or the model's cold-start fallback.
//! - `GET /trends`, `GET /products/{id}`: JSON for the website and analysts.
//! - `GET /metrics`, `GET /health`, `GET /openapi.json`.
//! - `GET /` (the dashboard) and `GET /tracker.js` (the browser tracker).

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod dashboard;
mod error;
mod events;
mod insights;
mod metrics;
mod openapi;
mod recs;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, header};
use axum::routing::{get, post};
use chrono_tz::Tz;
use fashion_domain::ports::{
    ClickstreamPublisher, Clock, DeadLetterReader, DeadLetterSink, HistorySource, ModelStore,
    ProductCatalog, QueryEngine, RecommendationReader, UserActivityStore,
};
use tower_http::cors::{Any, CorsLayer};

pub use events::{EventResult, EventsResponse, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST};
pub use insights::{Dashboard, TrendReport};
pub use openapi::openapi_json;
pub use recs::{ProductView, RecommendationSource, RecommendationsResponse};

/// What `/metrics` can report about the rest of the pipeline, beyond the API's own counters.
///
/// Each stack answers what it can see: the local stack reads the embedded stream and its
/// checkpoints; on AWS the iterator age is a CloudWatch metric of the event-source mapping.
#[async_trait::async_trait]
pub trait PipelineProbe: Send + Sync {
    /// Current values, as `(metric name, labels, value)`; names follow
    /// `fashion_<name>_<unit>`. Failures are logged by the caller and reported as absent.
    async fn gauges(&self) -> anyhow::Result<Vec<Gauge>>;
}

/// One gauge reading of a [`PipelineProbe`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Metric name, e.g. `fashion_stream_lag_records`.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Label pairs (low cardinality: a consumer and a shard, a table).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// The ports the API reads and writes, chosen by the stack.
#[derive(Clone)]
pub struct ApiPorts {
    /// Where accepted clicks go (Kinesis, the embedded log).
    pub publisher: Arc<dyn ClickstreamPublisher>,
    /// Each customer's latest recommendations.
    pub recommendations: Arc<dyn RecommendationReader>,
    /// Products, for names and attributes.
    pub catalog: Arc<dyn ProductCatalog>,
    /// Customers' activity records: what a customer bought, left out of their fallback list.
    pub activity: Arc<dyn UserActivityStore>,
    /// Trained models: the cold-start fallback and trends.
    pub models: Arc<dyn ModelStore>,
    /// The lake's clickstream and order lines, for trends and the funnel.
    pub history: Arc<dyn HistorySource>,
    /// SQL over the lake, for the batch job's tables.
    pub lake: Arc<dyn QueryEngine>,
    /// Where refused events are set aside.
    pub dead_letters: Arc<dyn DeadLetterSink>,
    /// The dead letters set aside so far, counted by reason on the dashboard.
    pub dead_letter_log: Arc<dyn DeadLetterReader>,
    /// The clock events are checked against.
    pub clock: Arc<dyn Clock>,
    /// The rest of the pipeline's health, when the stack can see it.
    pub probe: Option<Arc<dyn PipelineProbe>>,
}

/// Limits and windows of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The store's time zone: what a "day" is in trends and on the dashboard.
    pub time_zone: Tz,
    /// Publishes running at once; a request that cannot start one within
    /// [`ApiConfig::publish_queue_timeout`] gets 503 (the stream is saturated).
    pub max_concurrent_publishes: usize,
    /// How long a request waits for a publish slot.
    pub publish_queue_timeout: Duration,
    /// How long one publish may take before the request gets 503.
    pub publish_timeout: Duration,
    /// The `Retry-After` a 503 carries, in seconds.
    pub retry_after_secs: u32,
    /// How often the model used for the fallback and the product cache are refreshed.
    pub refresh_every: Duration,
    /// How long dashboard figures and trend reports are reused.
    pub insights_ttl: Duration,
    /// Days of history the dashboard charts show.
    pub dashboard_days: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            max_concurrent_publishes: 64,
            publish_queue_timeout: Duration::from_millis(500),
            publish_timeout: Duration::from_secs(5),
            retry_after_secs: 1,
            refresh_every: Duration::from_secs(60),
            insights_ttl: Duration::from_secs(60),
            dashboard_days: 14,
        }
    }
}

/// Everything a handler needs.
pub(crate) struct AppState {
    pub ports: ApiPorts,
    pub config: ApiConfig,
    pub metrics: metrics::ApiMetrics,
    pub publish_slots: tokio::sync::Semaphore,
    pub recs: recs::RecsCache,
    pub insights: insights::InsightsCache,
}

/// The whole API as one router (the same on every stack).
pub fn router(ports: ApiPorts, config: ApiConfig) -> Router {
    let state = Arc::new(AppState {
        publish_slots: tokio::sync::Semaphore::new(config.max_concurrent_publishes.max(1)),
        metrics: metrics::ApiMetrics::new(),
        recs: recs::RecsCache::default(),
        insights: insights::InsightsCache::default(),
        ports,
        config,
    });
    // The collector is called from the shop's pages, usually on another origin than the API.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::CONTENT_ENCODING])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route("/", get(dashboard::page))
        .route("/tracker.js", get(tracker_js))
        .route("/events", post(events::post_events))
        .route(
            "/users/{id}/recommendations",
            get(recs::get_recommendations),
        )
        .route("/products/{id}", get(recs::get_product))
        .route("/trends", get(insights::get_trends))
        .route("/metrics", get(metrics::get_metrics))
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::get_openapi))
        .layer(cors)
        .with_state(state)
}

/// The browser tracker a shop page includes.
const TRACKER_JS: &str = include_str!("../assets/tracker.js");

async fn tracker_js() -> impl axum::response::IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        TRACKER_JS,
    )
}

/// Liveness: the process answers. Readiness of the stores shows in `/metrics`.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The API is up", body = openapi::Health)))]
pub(crate) async fn health() -> axum::Json<openapi::Health> {
    axum::Json(openapi::Health { status: "ok" })
}
