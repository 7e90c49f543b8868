//! The API's request decoding (collector, recommendations, products, trends, dashboard, metrics)
//! on arbitrary requests: method, path and query, headers and body (plain or gzip-labelled),
//! through the real router over the in-memory adapters. Nothing panics, and no request makes the
//! server fail (500): bad input is a 4xx with a reason.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use axum::body::Body;
use axum::http::{Method, Request};
use chrono::{DateTime, Utc};
use fashion_api::{ApiConfig, ApiPorts};
use fashion_memory::{
    InMemoryDeadLetterSink, InMemoryLake, InMemoryModelStore, InMemoryProductCatalog,
    InMemoryRecommendationStore, InMemoryStream, InMemoryUserActivityStore, ManualClock,
};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const PATHS: [&str; 10] = [
    "/events",
    "/users/",
    "/products/",
    "/trends",
    "/",
    "/metrics",
    "/health",
    "/openapi.json",
    "/tracker.js",
    "",
];
const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::OPTIONS, Method::PUT];
const HEADERS: [&str; 5] = [
    "content-type",
    "content-encoding",
    "origin",
    "accept-encoding",
    "content-length",
];

#[derive(Debug, Arbitrary)]
struct Call {
    method: u8,
    path: u8,
    rest: String,
    headers: Vec<(u8, String)>,
    body: Vec<u8>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// The router over fresh in-memory adapters; rebuilt every few thousand calls so that what the
/// collector accepts does not pile up in memory.
fn app() -> axum::Router {
    static APP: Mutex<Option<axum::Router>> = Mutex::new(None);
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let mut app = APP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if CALLS.fetch_add(1, Ordering::Relaxed) % 5_000 == 0 {
        *app = None;
    }
    app.get_or_insert_with(|| {
        let now: DateTime<Utc> = DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
        let clock = Arc::new(ManualClock::new(now));
        let stream = Arc::new(InMemoryStream::with_clock(2, clock.clone()));
        let lake = InMemoryLake::new();
        let dead_letters = Arc::new(InMemoryDeadLetterSink::new());
        let ports = ApiPorts {
            publisher: stream,
            recommendations: Arc::new(InMemoryRecommendationStore::new()),
            activity: Arc::new(InMemoryUserActivityStore::new()),
            catalog: Arc::new(InMemoryProductCatalog::new()),
            models: Arc::new(InMemoryModelStore::new()),
            history: Arc::new(lake.clone()),
            lake: Arc::new(lake.query_engine()),
            dead_letters: dead_letters.clone(),
            dead_letter_log: dead_letters,
            clock,
            probe: None,
        };
        fashion_api::router(ports, ApiConfig::default())
    })
    .clone()
}

fuzz_target!(|call: Call| {
    let uri = format!(
        "{}{}",
        PATHS[usize::from(call.path) % PATHS.len()],
        call.rest
    );
    let mut request = Request::builder()
        .method(METHODS[usize::from(call.method) % METHODS.len()].clone())
        .uri(uri.as_str());
    for (i, value) in &call.headers {
        request = request.header(HEADERS[usize::from(*i) % HEADERS.len()], value.as_str());
    }
    // Requests hyper would refuse before the router (a bad URI or header) are not the API's.
    let Ok(request) = request.body(Body::from(call.body)) else {
        return;
    };
    let status = runtime()
        .block_on(app().oneshot(request))
        .map(|r| r.status())
        .unwrap_or_else(|never| match never {});
    assert!(
        !status.is_server_error() || status == 503,
        "{status} for {uri}"
    );
});
