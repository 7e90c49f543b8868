//! `GET /metrics`: the API's counters and latencies in the OpenMetrics text format (through the
//! `prometheus-client` crate), plus the rest of the pipeline's gauges when the stack can see them
//! (stream lag, the last lake batch, the last daily job).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::error::ApiError;
use crate::recs::RecommendationSource;

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

/// The API's own instruments.
pub(crate) struct ApiMetrics {
    registry: Registry,
    accepted: Counter,
    rejected: Family<ReasonLabel, Counter>,
    refused: Family<StatusLabel, Counter>,
    publish_seconds: Histogram,
    reads: Family<SourceLabel, Counter>,
    read_seconds: Histogram,
}

/// Latency buckets from 50 µs to about 1.6 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 16)
}

impl ApiMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let accepted = Counter::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        let refused = Family::<StatusLabel, Counter>::default();
        let publish_seconds = Histogram::new(latency_buckets());
        let reads = Family::<SourceLabel, Counter>::default();
        let read_seconds = Histogram::new(latency_buckets());
        registry.register(
            "fashion_api_events_accepted",
            "Click events put on the stream",
            accepted.clone(),
        );
        registry.register(
            "fashion_api_events_rejected",
            "Click events refused, by validation rule (kept in the dead letters)",
            rejected.clone(),
        );
        registry.register(
            "fashion_api_requests_refused",
            "Collector requests answered with an error, by HTTP status",
            refused.clone(),
        );
        registry.register(
            "fashion_api_publish_duration_seconds",
            "Time to put one request's events on the stream",
            publish_seconds.clone(),
        );
        registry.register(
            "fashion_api_recommendation_reads",
            "Recommendation reads, by source (personal or fallback)",
            reads.clone(),
        );
        registry.register(
            "fashion_api_recommendation_read_duration_seconds",
            "Time to answer one recommendation read",
            read_seconds.clone(),
        );
        Self {
            registry,
            accepted,
            rejected,
            refused,
            publish_seconds,
            reads,
            read_seconds,
        }
    }

    pub(crate) fn accepted(&self, n: u64) {
        self.accepted.inc_by(n);
    }

    pub(crate) fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub(crate) fn refused(&self, e: &ApiError) {
        let status = e.status().0.as_u16();
        self.refused.get_or_create(&StatusLabel { status }).inc();
    }

    pub(crate) fn publish_latency(&self, d: Duration) {
        self.publish_seconds.observe(d.as_secs_f64());
    }

    pub(crate) fn recommendation_read(&self, source: RecommendationSource, d: Duration) {
        let source = match source {
            RecommendationSource::Personal => "personal",
            RecommendationSource::Fallback => "fallback",
        };
        self.reads.get_or_create(&SourceLabel { source }).inc();
        self.read_seconds.observe(d.as_secs_f64());
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Escapes a label value for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text exposition", content_type = "application/openmetrics-text", body = String)))]
pub(crate) async fn get_metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut out = match state.metrics.encode() {
        Ok(s) => s,
        Err(e) => {
            return ApiError::Internal(anyhow::anyhow!("encoding metrics: {e}")).into_response();
        }
    };
    if let Some(probe) = &state.ports.probe {
        match probe.gauges().await {
            Ok(gauges) => {
                // The encoder ends the exposition with `# EOF`; the probe's gauges go before it.
                if out.ends_with("# EOF\n") {
                    out.truncate(out.len().saturating_sub("# EOF\n".len()));
                }
                let mut described = std::collections::HashSet::new();
                for g in &gauges {
                    if described.insert(g.name) {
                        let _ = writeln!(out, "# HELP {} {}", g.name, g.help);
                        let _ = writeln!(out, "# TYPE {} gauge", g.name);
                    }
                    let labels: Vec<String> = g
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    if labels.is_empty() {
                        let _ = writeln!(out, "{} {}", g.name, g.value);
                    } else {
                        let _ = writeln!(out, "{}{{{}}} {}", g.name, labels.join(","), g.value);
                    }
                }
                out.push_str("# EOF\n");
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "Could not read the pipeline's gauges.");
            }
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response()
}
