//! The ports `fashion demo` drives, whichever stack provides them: the embedded one
//! (`commands::demo`) or, with the `aws` feature, the AWS adapters on an emulator
//! (`crate::emulator`).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fashion_domain::ports::{
    CheckpointStore, ClickstreamPublisher, ClickstreamSource, DeadLetterSink, HistorySource,
    LakeWriter, ModelStore, ProductCatalog, RecommendationReader, RecommendationStore,
    TableCatalog, UserActivityStore,
};
use fashion_domain::services::lake_sink::LakeSink;
use fashion_domain::services::stream_processor::StreamProcessor;
use serde::Serialize;

use crate::commands::pipeline::ProcessorTotals;
use crate::stack::PurchaseDb;

/// The stream processor over shared ports, as the demo wires it on either stack.
pub type DynProcessor = StreamProcessor<
    Arc<dyn UserActivityStore>,
    Arc<dyn RecommendationStore>,
    Arc<dyn ProductCatalog>,
    Arc<dyn DeadLetterSink>,
>;

/// The micro-batch lake sink over shared ports.
pub type DynSink = LakeSink<
    Arc<dyn ClickstreamSource>,
    Arc<dyn CheckpointStore>,
    Arc<dyn LakeWriter>,
    Arc<dyn TableCatalog>,
    Arc<dyn DeadLetterSink>,
>;

/// How a stack runs the stream processor over the stream: the local consumer, or the Lambda
/// handler behind a poller that acts like the event-source mapping.
///
/// Not `Send`: the demo drives it from its own task.
#[async_trait(?Send)]
pub trait StreamRunner: Send + Sync {
    /// Processes everything the stream holds past the processor's checkpoints, at `now`.
    async fn pass(&self, now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals>;

    /// Loads the newest model into the processor.
    async fn reload_model(&self) -> anyhow::Result<()>;
}

/// How a stack lands the clickstream in the lake: the local micro-batch sink, or Firehose (on
/// the emulator, a stand-in that invokes the transformation handler as Firehose does).
///
/// Not `Send`: the demo drives it from its own task.
#[async_trait(?Send)]
pub trait LakeDelivery {
    /// Takes in what the stream holds and delivers what its buffering says is due, at `now`.
    async fn poll(&mut self, now: DateTime<Utc>) -> anyhow::Result<()>;

    /// Takes in what the stream holds and delivers everything buffered, at `now`.
    async fn flush(&mut self, now: DateTime<Utc>) -> anyhow::Result<()>;
}

#[async_trait(?Send)]
impl LakeDelivery for DynSink {
    async fn poll(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        LakeSink::poll(self, now)
            .await
            .context("the lake sink failed")?;
        Ok(())
    }

    async fn flush(&mut self, now: DateTime<Utc>) -> anyhow::Result<()> {
        LakeSink::flush(self, now)
            .await
            .context("the lake sink failed to flush")?;
        Ok(())
    }
}

/// What the summary says about where the demo ran, beyond the data directory.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    /// `emulator`.
    pub stack: String,
    /// The emulator's endpoint.
    pub endpoint_url: String,
    /// The name prefix of the resources provisioned for this run.
    pub name_prefix: String,
    /// Where provisioning saved the stack's state and outputs.
    pub state_file: String,
    /// Where the lake lives (`s3://bucket/lake/`).
    pub lake_url: String,
    /// The resources the demo used, by role.
    pub resources: BTreeMap<String, String>,
    /// Which Lambda packages were deployed (the emulator stores functions, never runs them).
    pub lambda_packages: String,
    /// How the stream processor ran.
    pub stream_processor: String,
    /// How the clickstream reached the lake.
    pub lake_delivery: String,
}

/// Every port the demo drives, from either stack.
pub struct DemoStack {
    /// Puts clicks on the stream.
    pub publisher: Arc<dyn ClickstreamPublisher>,
    /// The product catalog the processor enriches with.
    pub products: Arc<dyn ProductCatalog>,
    /// Recommendations per customer, read for the summary.
    pub recommendations: Arc<dyn RecommendationReader>,
    /// The lake's table catalog.
    pub tables: Arc<dyn TableCatalog>,
    /// The lake.
    pub lake: Arc<dyn LakeWriter>,
    /// The lake's history, for the trainer and the evaluation.
    pub history: Arc<dyn HistorySource>,
    /// Model artifacts.
    pub models: Arc<dyn ModelStore>,
    /// Customers' activity records (the trainer adds their purchases).
    pub activity: Arc<dyn UserActivityStore>,
    /// The transactional database.
    pub purchases: Arc<dyn PurchaseDb>,
    /// The stream processor, as the stack runs it.
    pub processor: Box<dyn StreamRunner>,
    /// What lands the clickstream in the lake.
    pub delivery: Box<dyn LakeDelivery>,
    /// Where it ran, when not on the local stack.
    pub info: Option<StackInfo>,
}
