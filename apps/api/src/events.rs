//! `POST /events`: the click collector. Each event is checked with the domain's rules; valid
//! events go to the stream through the publisher port, invalid ones to the dead letters with their
//! reason, and the answer says which was which.
//!
//! A 202 means every valid event of the request is durably on the stream. When the stream is
//! saturated or failing the whole request gets 503 with `Retry-After`: the client re-sends it,
//! which is safe because `event_id` makes every consumer idempotent.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::event::{ClickEvent, InvalidEvent};
use fashion_domain::ports::PublishReport;
use fashion_domain::stream::OutboundRecord;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

/// Largest request body, compressed or not (and largest JSON after decompression).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Most events in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 500;

/// The `source` of the collector's dead letters.
pub const DEAD_LETTER_SOURCE: &str = "collector";

/// What happened to each event of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct EventsResponse {
    /// Events now on the stream.
    pub accepted: usize,
    /// Events refused, with their reasons in `results`.
    pub rejected: usize,
    /// One entry per event, in request order.
    pub results: Vec<EventResult>,
}

/// The outcome of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct EventResult {
    /// Position in the request (0 for a single object).
    pub index: usize,
    /// `accepted` or `rejected`.
    pub status: String,
    /// The event's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The rule it broke (`malformed`, `too_large`, `unsupported_schema`, `missing_product`,
    /// `future_timestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Detail for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

const ACCEPTED: &str = "accepted";
const REJECTED: &str = "rejected";

/// Publishes click events.
#[utoipa::path(post, path = "/events", tag = "collector",
    request_body(content = serde_json::Value, description = "One click event, or a JSON array of up to 500 (≤ 1 MiB; `Content-Encoding: gzip` accepted). `text/plain` is read as JSON too, so that `navigator.sendBeacon` works across origins.",
        content_type = "application/json"),
    responses(
        (status = 202, description = "Every valid event is on the stream; invalid ones are listed with their reasons", body = EventsResponse),
        (status = 400, description = "The body is not JSON, or holds no event", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 1 MiB or more than 500 events", body = crate::error::ErrorBody),
        (status = 415, description = "Neither application/json nor text/plain, or an encoding other than gzip", body = crate::error::ErrorBody),
        (status = 503, description = "The stream is full or failing: nothing can be assumed stored; re-send after `Retry-After` seconds", body = crate::error::ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ))]
pub(crate) async fn post_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match collect(&state, &headers, body).await {
        Ok(response) => (StatusCode::ACCEPTED, Json(response)).into_response(),
        Err(e) => {
            state.metrics.refused(&e);
            e.into_response()
        }
    }
}

async fn collect(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<EventsResponse, ApiError> {
    check_content_type(headers)?;
    let gzip = content_encoding_is_gzip(headers)?;
    let raw = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    let json = if gzip { gunzip(&raw)? } else { raw.to_vec() };
    let items = split_events(&json)?;

    let now = state.ports.clock.now();
    let mut results = Vec::with_capacity(items.len());
    let mut records = Vec::with_capacity(items.len());
    let mut letters = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let bytes = item.get().as_bytes();
        match ClickEvent::parse(bytes, now) {
            Ok(ev) => {
                results.push(EventResult {
                    index,
                    status: ACCEPTED.to_owned(),
                    event_id: Some(ev.event_id.to_string()),
                    code: None,
                    message: None,
                });
                records.push(OutboundRecord {
                    partition_key: ev.user_id.to_string(),
                    data: ev.to_json(),
                });
            }
            Err(invalid) => {
                let event_id = event_id_of(bytes);
                letters.push(dead_letter(bytes, event_id.as_deref(), &invalid, now));
                results.push(EventResult {
                    index,
                    status: REJECTED.to_owned(),
                    event_id,
                    code: Some(invalid.code.as_str().to_owned()),
                    message: Some(invalid.message),
                });
            }
        }
    }

    if !letters.is_empty() {
        // A refused event is kept with its reason, never only answered: the shop's developers
        // read them back with the dashboard or `fashion dead-letters`.
        state
            .ports
            .dead_letters
            .put_many(&letters)
            .await
            .map_err(|e| unavailable(state, format!("dead-letter store unavailable: {e}")))?;
    }
    if !records.is_empty() {
        publish(state, &records).await?;
    }

    let accepted = records.len();
    let rejected = results.len().saturating_sub(accepted);
    state.metrics.accepted(accepted as u64);
    for r in results.iter().filter(|r| r.status == REJECTED) {
        state
            .metrics
            .rejected(r.code.as_deref().unwrap_or("malformed"));
    }
    Ok(EventsResponse {
        accepted,
        rejected,
        results,
    })
}

/// Puts the records on the stream, or explains why the client must retry.
async fn publish(state: &AppState, records: &[OutboundRecord]) -> Result<(), ApiError> {
    let cfg = &state.config;
    // Backpressure: a bounded number of publishes in flight. Waiting longer than the queue
    // timeout means the stream cannot keep up, and the client is better told to come back.
    let _slot = tokio::time::timeout(cfg.publish_queue_timeout, state.publish_slots.acquire())
        .await
        .map_err(|_| unavailable(state, "the stream is saturated".to_owned()))?
        .map_err(|_| unavailable(state, "the collector is shutting down".to_owned()))?;
    let started = Instant::now();
    let outcome =
        tokio::time::timeout(cfg.publish_timeout, state.ports.publisher.publish(records)).await;
    state.metrics.publish_latency(started.elapsed());
    match outcome {
        Err(_) => Err(unavailable(
            state,
            format!("publishing timed out after {:?}", cfg.publish_timeout),
        )),
        Ok(Err(fashion_domain::ports::StreamError::Rejected { message })) => Err(
            ApiError::BadRequest(format!("the stream refused the events: {message}")),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error.message = %e, records = records.len(), "Publish failed.");
            Err(unavailable(
                state,
                format!("the stream is unavailable: {e}"),
            ))
        }
        Ok(Ok(PublishReport { failed, .. })) if !failed.is_empty() => {
            tracing::warn!(
                failed = failed.len(),
                records = records.len(),
                "Some records could not be published after retries."
            );
            Err(unavailable(
                state,
                format!(
                    "{} of {} events could not be stored; re-send the request",
                    failed.len(),
                    records.len()
                ),
            ))
        }
        Ok(Ok(_)) => Ok(()),
    }
}

fn unavailable(state: &AppState, message: String) -> ApiError {
    ApiError::Unavailable {
        message,
        retry_after_secs: state.config.retry_after_secs,
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!("the body is over {MAX_BODY_BYTES} bytes"))
}

/// `application/json`, or `text/plain` (what `sendBeacon` sends for a string), with any charset.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = value.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/plain") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {value:?}: send application/json (or text/plain holding JSON)"
        )))
    }
}

fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(e) if e.is_empty() || e == "identity" => Ok(false),
        Some(e) if e == "gzip" || e == "x-gzip" => Ok(true),
        Some(e) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {e:?}: only gzip is accepted"
        ))),
    }
}

/// Decompresses at most [`MAX_BODY_BYTES`]: a small bomb must not become a large allocation.
fn gunzip(raw: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take((MAX_BODY_BYTES as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("the gzip body cannot be decompressed: {e}")))?;
    if out.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "the body is over {MAX_BODY_BYTES} bytes once decompressed"
        )));
    }
    Ok(out)
}

/// The events of a body: one object, or an array of up to [`MAX_EVENTS_PER_REQUEST`], each kept
/// as the client's exact bytes so that validation sees what was sent.
fn split_events(json: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    let items: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_slice(json)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a JSON array: {e}")))?,
        Some(_) => vec![
            serde_json::from_slice(json)
                .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?,
        ],
        None => return Err(ApiError::BadRequest("the body is empty".to_owned())),
    };
    if items.is_empty() {
        return Err(ApiError::BadRequest("the array holds no event".to_owned()));
    }
    if items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} events in one request, limit {MAX_EVENTS_PER_REQUEST}",
            items.len()
        )));
    }
    Ok(items)
}

/// The `event_id` of a refused event, when it has a readable one.
fn event_id_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        event_id: Option<String>,
    }
    serde_json::from_slice::<Id>(bytes)
        .ok()
        .and_then(|i| i.event_id)
        .filter(|id| fashion_domain::ids::EventId::parse(id).is_ok())
}

fn dead_letter(
    bytes: &[u8],
    event_id: Option<&str>,
    invalid: &InvalidEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> DeadLetter {
    // The same refused event sent twice is one dead letter: its origin is its id when it has
    // one, else a digest of its bytes.
    let origin = match event_id {
        Some(id) => format!("event {id}"),
        None => format!("payload {:016x}", fnv1a(bytes)),
    };
    DeadLetter::new(
        DEAD_LETTER_SOURCE,
        invalid.code.as_str(),
        &invalid.message,
        &origin,
        bytes,
        now,
    )
}

/// A stable 64-bit digest (FNV-1a) of a payload; not for security, only for identity.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
