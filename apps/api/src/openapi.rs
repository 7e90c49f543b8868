//! The OpenAPI document, generated from the handlers' annotations (utoipa). A copy is kept in
//! `docs/openapi.json`; a test fails when the two drift apart.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The answer of `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fashion store pipeline API",
        description = "The store's front door: the click collector the browser tracker posts to, \
            the recommendations the website reads, trends, and operations endpoints. The same \
            router runs as `fashion serve` on one machine and as a Lambda function on AWS.",
        license(name = "MIT")
    ),
    paths(
        crate::events::post_events,
        crate::recs::get_recommendations,
        crate::recs::get_product,
        crate::insights::get_trends,
        crate::metrics::get_metrics,
        crate::health,
    ),
    components(schemas(
        crate::events::EventsResponse,
        crate::events::EventResult,
        crate::recs::RecommendationsResponse,
        crate::recs::RecommendedProduct,
        crate::recs::RecommendationSource,
        crate::recs::ProductView,
        crate::insights::TrendReport,
        crate::insights::TrendItem,
        crate::error::ErrorBody,
        Health,
    )),
    tags(
        (name = "collector", description = "Click events from the shop's pages"),
        (name = "recommendations", description = "What the website shows a customer"),
        (name = "catalog", description = "Products"),
        (name = "trends", description = "Rising article types, colours and products"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

/// The OpenAPI document as pretty-printed JSON (what `/openapi.json` serves).
#[must_use]
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        // Serialising the generated document (plain data, string keys) cannot fail.
        ApiDoc::openapi().to_pretty_json().unwrap_or_default() + "\n"
    })
}

/// `GET /openapi.json`.
pub(crate) async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
