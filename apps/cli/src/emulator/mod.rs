//! `fashion demo --stack emulator`: the demo's ports on the AWS adapters, against an AWS emulator
//! (a moto server) at `AWS_ENDPOINT_URL` or `FASHION_TEST_AWS_ENDPOINT`.
//!
//! **Resources.** Provisioning's `emulator` stack is brought `up` through the provisioning library,
//! with a name prefix unique to the run (`fdemo-<hex>`) and its state saved under
//! `<data dir>/.state/`, so a run never touches another stack or an earlier run's data. The
//! stack's Lambda functions need packages: those `apps/lambda/scripts/package` built when they
//! exist, otherwise a placeholder `bootstrap` (the emulator stores functions and never runs them;
//! the demo runs the handlers in this process), which the summary states.
//!
//! **Stream processor.** The Lambda handler itself (`fashion-lambda`'s
//! `StreamProcessorFunction`), driven by [`EventSourcePoller`], which does what Lambda's Kinesis
//! event-source mapping does: it reads each shard in batches of the mapping's batch size,
//! delivers them as Kinesis events, and on a partial batch response checkpoints (in the DynamoDB
//! checkpoints table) up to the record before the first failure, retrying from there on the next
//! pass. It does not bisect batches, expire old records or send batches to the on-failure
//! destination.
//!
//! **Lake.** The clickstream reaches the lake as on AWS, through the delivery stream, played by
//! [`FirehoseStandIn`] (see `firehose`): batches of the stream to the Firehose transformation
//! handler, Parquet as Firehose converts it, objects under the delivery stream's prefix. No
//! Glue partition is registered for them (the table uses partition projection), and readers read
//! them by the lake's contract, each event id once. The daily job's tables are written by the S3
//! lake writer and catalogued in Glue, as the daily-job function does.
//!
//! **Time.** The demo's clicks happen on a simulated clock, weeks before the wall clock, while
//! Kinesis stamps each record's arrival with the wall clock. Arrival matters: a click that
//! claims to have happened more than an hour after it arrived is refused. So readers of the
//! stream see arrival as the simulated time at which they read a record ([`SimulatedArrival`]),
//! which is when the local stream would have stamped it: the demo reads right after publishing.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fashion_domain::ports::{
    CheckpointStore, ClickstreamSource, Clock, LakeWriter, StreamError, TableCatalog,
};
use fashion_domain::services::consumer::{Handled, StreamConsumer};
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use fashion_lambda::firehose_transform::FirehoseTransformFunction;
use fashion_lambda::settings::{FirehoseTransformSettings, StreamProcessorSettings};
use fashion_lambda::stream_processor::{StreamProcessorFunction, records_done, to_kinesis_event};
use fashion_memory::ManualClock;
use provisioning::config::{StackConfig, StackName};
use provisioning::layout::{names, prefixes};
use provisioning::package::bootstrap_zip;
use provisioning::providers::aws::{OUT_ARN, dynamodb, firehose, glue, kinesis, s3};

use crate::aws_stack::{ACTIVITY_TTL, AwsStack, sdk};
use crate::commands::pipeline::ProcessorTotals;
use crate::demo_stack::{DemoStack, StackInfo, StreamRunner};
use crate::settings::Settings;
use crate::stack::{PROCESSOR, purchases};

pub mod firehose_stand_in;
use firehose_stand_in::{BufferingHints, Destination, FirehoseStandIn};

/// Where the stack's state goes, inside the data directory.
const STATE_DIR: &str = ".state";
/// Where placeholder Lambda packages go, inside the data directory.
const PLACEHOLDER_DIR: &str = "lambda-placeholders";

/// A stream source whose records arrived, as far as its readers can tell, at the simulated time
/// they are read (see the module's documentation for why).
pub struct SimulatedArrival<S> {
    inner: S,
    clock: Arc<dyn Clock>,
}

impl<S> SimulatedArrival<S> {
    /// `inner`, with arrival read from `clock`.
    pub fn new(inner: S, clock: Arc<dyn Clock>) -> Self {
        Self { inner, clock }
    }
}

#[async_trait]
impl<S: ClickstreamSource> ClickstreamSource for SimulatedArrival<S> {
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError> {
        self.inner.shards().await
    }

    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError> {
        let now = self.clock.now();
        let mut records = self.inner.read(shard, after, limit).await?;
        for r in &mut records {
            r.arrived_at = now;
        }
        Ok(records)
    }
}

/// Lambda's Kinesis event-source mapping, played locally: batches per shard to the Lambda
/// handler, checkpoints up to the first failed record of a partial batch response.
pub struct EventSourcePoller {
    source: Arc<dyn ClickstreamSource>,
    checkpoints: Arc<dyn CheckpointStore>,
    function: StreamProcessorFunction,
    stream_arn: String,
    region: String,
    batch_size: usize,
}

#[async_trait(?Send)]
impl StreamRunner for EventSourcePoller {
    /// One pass over every shard, as of the simulated `now`.
    async fn pass(&self, now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals> {
        let consumer = StreamConsumer::new(
            self.source.clone(),
            self.checkpoints.clone(),
            PROCESSOR,
            self.batch_size,
        );
        let totals = RefCell::new(ProcessorTotals::default());
        consumer
            .pass(|batch| {
                let totals = &totals;
                async move {
                    let event = to_kinesis_event(&batch, &self.stream_arn, &self.region);
                    let (response, report) = self.function.handle_at(&event, now).await;
                    totals.borrow_mut().add(&report);
                    Handled {
                        done: records_done(&event.records, &response),
                    }
                }
            })
            .await
            .context("the event-source poller failed to read the stream")?;
        Ok(totals.into_inner())
    }

    /// Makes the function load the newest model now.
    async fn reload_model(&self) -> anyhow::Result<()> {
        self.function
            .refresh_model()
            .await
            .context("the stream-processor function failed to load the model")?;
        Ok(())
    }
}

/// A name prefix no other run uses: `fdemo-` and 10 hex digits (provisioning allows 24
/// characters).
fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = nanos ^ (u128::from(std::process::id()) << 40);
    format!("fdemo-{:010x}", mixed & 0xff_ffff_ffff)
}

/// Points each function at its packaged zip, or at a placeholder written under `dir` when the
/// packaging script has not built it. Says which.
fn lambda_packages(cfg: &mut StackConfig, dir: &Path) -> anyhow::Result<String> {
    let functions = cfg.functions_by_name();
    let mut packaged = Vec::new();
    let mut placeholders = Vec::new();
    for (name, f) in functions {
        if f.zip.is_file() {
            packaged.push(format!("{name} ({})", f.zip.display()));
            continue;
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let zip = dir.join(format!("{name}.zip"));
        let script = format!(
            "#!/bin/sh\necho 'placeholder for {name}, deployed by fashion demo --stack emulator: \
             build the real package with apps/lambda/scripts/package' >&2\nexit 1\n"
        );
        std::fs::write(&zip, bootstrap_zip(script.as_bytes())?)
            .with_context(|| format!("failed to write {}", zip.display()))?;
        f.zip = zip;
        placeholders.push(name);
    }
    Ok(match (packaged.is_empty(), placeholders.is_empty()) {
        (_, true) => format!("packaged: {}", packaged.join(", ")),
        (true, false) => format!(
            "placeholders for {} (apps/lambda/scripts/package has not built them; the emulator \
             never runs functions, the demo runs the handlers itself)",
            placeholders.join(", ")
        ),
        (false, false) => format!(
            "packaged: {}; placeholders for {} (not built by apps/lambda/scripts/package)",
            packaged.join(", "),
            placeholders.join(", ")
        ),
    })
}

/// Provisions the emulator stack for this run and builds the demo's ports on it.
///
/// # Errors
/// When the emulator has no endpoint, provisioning fails, or an adapter cannot start.
pub async fn open(
    settings: &Settings,
    clock: Arc<ManualClock>,
    json: bool,
) -> anyhow::Result<DemoStack> {
    let mut cfg = StackConfig::load(StackName::Emulator)
        .context("the emulator stack's configuration is invalid")?;
    cfg.name_prefix = unique_prefix();
    cfg.state_dir = settings.path(STATE_DIR);
    cfg.time_zone.clone_from(&settings.time_zone);
    let packages = lambda_packages(&mut cfg, &settings.path(PLACEHOLDER_DIR))?;
    cfg.validate()?;
    let endpoint = cfg
        .endpoint_url
        .clone()
        .context("the emulator stack has no endpoint")?;
    if !json {
        eprintln!(
            "Provisioning the emulator stack {} at {endpoint} ...",
            cfg.name_prefix
        );
    }
    let engine = provisioning::providers::connect(cfg.clone())
        .await
        .context("failed to reach the emulator")?
        .with_progress(Arc::new(|line: &str| tracing::info!("{line}")));
    let report = engine
        .up()
        .await
        .context("provisioning the emulator stack failed")?;
    if !report.is_ok() {
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.resource, f.error))
            .collect();
        anyhow::bail!(
            "provisioning the emulator stack failed:\n  - {}",
            failures.join("\n  - ")
        );
    }
    let outputs = report
        .outputs
        .clone()
        .context("provisioning returned no outputs")?;
    let aws = sdk(&cfg).await?;
    let stack = AwsStack::from_parts(cfg.clone(), outputs, aws.clone());
    let table = |name: &str| stack.name_of(dynamodb::KIND, name);
    let stream = stack.name_of(kinesis::KIND, names::CLICKSTREAM)?;
    let bucket = stack.name_of(s3::KIND, names::LAKE)?;
    let database = stack.name_of(glue::DATABASE_KIND, names::LAKE)?;
    let delivery_stream = stack.name_of(firehose::KIND, names::CLICKSTREAM_TO_LAKE)?;
    let lake_prefix = cfg.lake.prefix.trim_matches('/').to_owned();
    let models_prefix = prefixes::MODELS.trim_matches('/').to_owned();

    let clock: Arc<dyn Clock> = clock;
    let source: Arc<dyn ClickstreamSource> = Arc::new(SimulatedArrival::new(
        aws.kinesis_clickstream(&stream),
        clock.clone(),
    ));
    let lake: Arc<dyn LakeWriter> = Arc::new(aws.s3_lake_writer(&database, &bucket, &lake_prefix));
    let tables: Arc<dyn TableCatalog> =
        Arc::new(aws.glue_table_catalog(&database, &bucket, &lake_prefix));
    let poller = event_source_poller(&stack, source.clone()).await?;
    let delivery = firehose_stand_in(&stack, source)?;
    let batch_size = poller.batch_size;
    let lake_url = format!("s3://{bucket}/{lake_prefix}/");
    let info = StackInfo {
        stack: StackName::Emulator.as_str().to_owned(),
        endpoint_url: endpoint,
        name_prefix: cfg.name_prefix.clone(),
        state_file: cfg.state_file().display().to_string(),
        lake_url,
        resources: BTreeMap::from([
            ("kinesis_stream".to_owned(), stream.clone()),
            ("delivery_stream".to_owned(), delivery_stream.clone()),
            ("lake_bucket".to_owned(), bucket.clone()),
            ("glue_database".to_owned(), database.clone()),
            (
                "recommendations_table".to_owned(),
                table(names::RECOMMENDATIONS)?,
            ),
            (
                "user_activity_table".to_owned(),
                table(names::USER_ACTIVITY)?,
            ),
            ("products_table".to_owned(), table(names::PRODUCTS)?),
            ("checkpoints_table".to_owned(), table(names::CHECKPOINTS)?),
            ("dead_letters_table".to_owned(), table(names::DEAD_LETTERS)?),
            (
                "models".to_owned(),
                format!("s3://{bucket}/{models_prefix}/"),
            ),
        ]),
        lambda_packages: packages,
        stream_processor: format!(
            "the Lambda handler, polled like the event-source mapping (batches of {batch_size}, \
             partial batch responses, retry from the first failed record)"
        ),
        lake_delivery: format!(
            "a Firehose stand-in for {delivery_stream}: buffers of {} MiB or {} s, the \
             firehose-transform handler on each batch, Parquet as Firehose converts it, under \
             {}",
            cfg.sink.buffer_size_mib,
            cfg.sink.buffer_interval_secs,
            cfg.clickstream_delivery_prefix()
        ),
    };
    Ok(DemoStack {
        publisher: Arc::new(stack.clickstream()?),
        products: Arc::new(stack.products()?),
        recommendations: Arc::new(stack.recommendations()?),
        tables,
        lake,
        history: Arc::new(stack.history()?),
        models: Arc::new(stack.models()?),
        activity: Arc::new(stack.activity()?),
        purchases: purchases(settings).await?,
        processor: Box::new(poller),
        delivery: Box::new(delivery),
        info: Some(info),
    })
}

/// The stream processor's Lambda handler behind the event-source poller, over `stack`'s
/// resources, reading `source` (the stack's stream) with its checkpoints in DynamoDB.
///
/// # Errors
/// When a resource was not provisioned, or the function fails its cold start.
pub async fn event_source_poller(
    stack: &AwsStack,
    source: Arc<dyn ClickstreamSource>,
) -> anyhow::Result<EventSourcePoller> {
    let table = |name: &str| stack.name_of(dynamodb::KIND, name);
    let cfg = stack.cfg();
    let function = StreamProcessorFunction::new(
        &StreamProcessorSettings {
            activity_table: table(names::USER_ACTIVITY)?,
            recommendations_table: table(names::RECOMMENDATIONS)?,
            catalog_table: table(names::PRODUCTS)?,
            dead_letters_table: table(names::DEAD_LETTERS)?,
            models_bucket: stack.name_of(s3::KIND, names::LAKE)?,
            models_prefix: prefixes::MODELS.trim_matches('/').to_owned(),
            activity_ttl: ACTIVITY_TTL,
            model_refresh: std::time::Duration::from_secs(300),
        },
        stack.aws(),
    )
    .await
    .context("the stream-processor function failed its cold start")?;
    Ok(EventSourcePoller {
        source,
        checkpoints: Arc::new(
            stack
                .aws()
                .dynamodb_checkpoint_store(&table(names::CHECKPOINTS)?),
        ),
        function,
        stream_arn: stack.output(kinesis::KIND, names::CLICKSTREAM, OUT_ARN)?,
        region: cfg.region.clone(),
        batch_size: usize::try_from(cfg.stream_processor.batch_size).unwrap_or(100),
    })
}

/// The Firehose stand-in over `stack`'s delivery stream, reading `source` (the stack's stream)
/// with its positions in the checkpoints table.
///
/// # Errors
/// When a resource was not provisioned.
pub fn firehose_stand_in(
    stack: &AwsStack,
    source: Arc<dyn ClickstreamSource>,
) -> anyhow::Result<FirehoseStandIn> {
    let cfg = stack.cfg();
    let aws = stack.aws();
    let table = |name: &str| stack.name_of(dynamodb::KIND, name);
    FirehoseStandIn::new(
        source,
        Arc::new(aws.dynamodb_checkpoint_store(&table(names::CHECKPOINTS)?)),
        FirehoseTransformFunction::new(
            &FirehoseTransformSettings {
                dead_letters_table: table(names::DEAD_LETTERS)?,
            },
            aws,
        ),
        aws.s3_client(),
        Destination {
            bucket: stack.name_of(s3::KIND, names::LAKE)?,
            prefix: cfg.clickstream_delivery_prefix(),
            stream_name: stack.name_of(firehose::KIND, names::CLICKSTREAM_TO_LAKE)?,
        },
        BufferingHints {
            bytes: usize::try_from(cfg.sink.buffer_size_mib)
                .unwrap_or(64)
                .saturating_mul(1_048_576),
            interval: chrono::Duration::seconds(i64::from(cfg.sink.buffer_interval_secs)),
        },
    )
}

/// `fashion --stack emulator stream consume`: one pass of the event-source poller over the
/// provisioned stack's stream (moto runs no event-source mapping).
///
/// # Errors
/// When the stack was never provisioned or a pass fails.
pub async fn consume(now: DateTime<Utc>) -> anyhow::Result<ProcessorTotals> {
    let stack = AwsStack::open(StackName::Emulator).await?;
    let source: Arc<dyn ClickstreamSource> = Arc::new(stack.clickstream()?);
    let poller = event_source_poller(&stack, source).await?;
    poller.pass(now).await
}

/// `fashion --stack emulator sink run`: the Firehose stand-in over the provisioned stack's
/// stream until it is read, then delivered (moto delivers nothing).
///
/// # Errors
/// When the stack was never provisioned or a delivery fails.
pub async fn sink(now: DateTime<Utc>) -> anyhow::Result<firehose_stand_in::Delivered> {
    let stack = AwsStack::open(StackName::Emulator).await?;
    let source: Arc<dyn ClickstreamSource> = Arc::new(stack.clickstream()?);
    let mut stand_in = firehose_stand_in(&stack, source)?;
    crate::demo_stack::LakeDelivery::flush(&mut stand_in, now).await?;
    Ok(stand_in.delivered())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_valid_provisioning_prefixes_and_differ() {
        let a = unique_prefix();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = unique_prefix();
        assert_ne!(a, b);
        let mut cfg = StackConfig::builtin(StackName::Emulator).unwrap();
        cfg.endpoint_url = Some("http://127.0.0.1:1".into());
        cfg.name_prefix = a;
        cfg.validate().unwrap();
    }
}
