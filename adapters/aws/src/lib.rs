//! AWS adapters for the ports of `fashion-domain`, through the official AWS SDK for Rust. Kept in
//! their own crate so that the local stack never compiles the AWS SDK.
//!
//! | port | adapter |
//! |---|---|
//! | `ClickstreamPublisher` + `ClickstreamSource` | [`KinesisClickstream`] |
//! | `ClickstreamPublisher` (direct ingestion) | [`FirehoseClickstreamPublisher`] |
//! | `CheckpointStore` | [`DynamoDbCheckpointStore`] |
//! | `RecommendationStore` | [`DynamoDbRecommendationStore`] |
//! | `UserActivityStore` | [`DynamoDbUserActivityStore`] |
//! | `ProductCatalog` | [`DynamoDbProductCatalog`] |
//! | `DeadLetterSink` | [`DynamoDbDeadLetterSink`] |
//! | `ModelStore` | [`S3ModelStore`] |
//! | `LakeWriter` | [`S3LakeWriter`] (Parquet from `fashion-parquet`) |
//! | `TableCatalog` | [`GlueTableCatalog`] |
//! | `QueryEngine` | [`AthenaQueryEngine`] |
//! | `HistorySource` | [`S3HistorySource`] (Parquet read back with the Arrow reader) |
//!
//! Every adapter is created from an [`AwsConfig`] and resource names. SDK errors are translated
//! at the boundary into the ports' errors; whole calls are retried by the SDK's standard retry
//! strategy, and the parts of a batch a service did not process by the adapters (see [`retry`]).

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests are crates of their own.
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

pub mod athena;
mod batch;
pub mod config;
pub mod dynamodb;
mod error;
pub mod firehose;
pub mod glue;
pub mod history;
pub mod kinesis;
pub mod lake;
pub use fashion_aws_core::retry;
pub mod s3;
pub mod secrets;

pub use athena::{AthenaQueryEngine, PollSettings};
pub use config::{AwsConfig, AwsConfigBuilder};
pub use dynamodb::{
    DynamoDbCheckpointStore, DynamoDbDeadLetterSink, DynamoDbProductCatalog,
    DynamoDbRecommendationStore, DynamoDbUserActivityStore,
};
pub use firehose::FirehoseClickstreamPublisher;
pub use glue::GlueTableCatalog;
pub use history::S3HistorySource;
pub use kinesis::KinesisClickstream;
pub use lake::S3LakeWriter;
pub use retry::Backoff;
pub use s3::{S3Location, S3ModelStore};
