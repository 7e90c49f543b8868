//! AWS Lambda functions of the pipeline, built with `lambda_runtime`: the stream processor
//! (Kinesis event source with partial batch responses), the daily job and the trainer (both on
//! EventBridge schedules), and the API behind a function URL (`lambda_http`).
//! The binaries in `src/bin` only read settings, build the adapters once per cold start and run
//! the handlers defined here.

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

pub mod api;
pub mod daily_job;
pub mod settings;
pub mod stream_processor;
pub mod trainer;

/// The first of `pointers` present in `event`, with its text: `None` when none is present, an
/// error naming the field when one is present but is not a string (a numeric or null `date`
/// must not silently run another day).
pub(crate) fn text_field<'a>(
    event: &'a serde_json::Value,
    pointers: &[&'static str],
) -> Result<Option<(&'static str, &'a str)>, String> {
    for &pointer in pointers {
        match event.pointer(pointer) {
            None => {}
            Some(serde_json::Value::String(text)) => return Ok(Some((pointer, text.as_str()))),
            Some(other) => {
                let mut shown = other.to_string();
                shown.truncate(40);
                return Err(format!("{pointer} must be a string, got {shown}",));
            }
        }
    }
    Ok(None)
}
