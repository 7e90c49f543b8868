//! AWS Lambda functions of the pipeline, built with `lambda_runtime`: the stream processor
//! (Kinesis event source with partial batch responses), the daily job and the trainer (both on
//! EventBridge schedules), and the API behind a function URL (`lambda_http`).
//! The binaries in `src/bin` only read settings, build the adapters once per cold start and run
//! the handlers defined here.

pub mod api;
pub mod daily_job;
pub mod settings;
pub mod stream_processor;
pub mod trainer;
