//! AWS Lambda functions of the pipeline, built with `lambda_runtime`: the stream processor
//! (Kinesis event source with partial batch responses), the Firehose transformation (the lake's
//! rules on the delivery stream), the daily job and the trainer (both on EventBridge schedules),
//! and the API behind a function URL (`lambda_http`).
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

// The handlers over the AWS adapters (feature `functions`, on by default); without it the crate is
// the payload decoders and the settings alone, which the fuzz targets build without the SDK.
#[cfg(feature = "functions")]
pub mod api;
#[cfg(feature = "functions")]
pub mod daily_job;
pub mod events;
#[cfg(feature = "functions")]
pub mod firehose_transform;
pub mod settings;
#[cfg(feature = "functions")]
pub mod stream_processor;
#[cfg(feature = "functions")]
pub mod trainer;
