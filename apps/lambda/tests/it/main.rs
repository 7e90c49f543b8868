//! The Lambda functions through the handlers AWS calls. One test binary for the crate: one link.

mod api;
mod common;
mod daily_job;
mod firehose_transform;
mod runtime_api;
mod trainer;
