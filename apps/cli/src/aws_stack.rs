//! A provisioned `emulator` or `aws` stack, as the commands reach it: its configuration
//! (provisioning's, the same `FASHION_PROVISION_…` settings), the resource names provisioning
//! saved in the stack's state after `up` (never retyped by the user), and SDK clients for it:
//! the default credential chain on AWS, the emulator's endpoint and test credentials on the
//! emulator.

use anyhow::Context;
use fashion_aws::{
    AthenaQueryEngine, AwsConfig, DynamoDbDeadLetterSink, DynamoDbProductCatalog,
    DynamoDbRecommendationStore, DynamoDbUserActivityStore, GlueTableCatalog, KinesisClickstream,
    S3HistorySource, S3LakeWriter, S3ModelStore,
};
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::state::{StackOutputs, StackState};
use provisioning::layout::{names, prefixes};
use provisioning::providers::aws::{OUT_NAME, athena, dynamodb, glue, kinesis, s3};

/// How long a customer's activity record is kept after its last write (the functions' default).
pub const ACTIVITY_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Credentials the emulator accepts (the ones provisioning uses for it).
pub const EMULATOR_KEY: &str = "test";

/// One output of a provisioned resource; a missing one names the resource.
///
/// # Errors
/// When the outputs hold no such resource or key.
pub fn output<'a>(
    outputs: &'a StackOutputs,
    kind: &str,
    name: &str,
    key: &str,
) -> anyhow::Result<&'a str> {
    outputs
        .get(kind, name)
        .and_then(|o| o.get(key))
        .map(String::as_str)
        .with_context(|| format!("provisioning saved no {key} for {kind} {name}"))
}

/// SDK configuration for a stack: the emulator's endpoint and test credentials, or AWS's
/// default chain in the stack's region.
pub async fn sdk(cfg: &StackConfig) -> anyhow::Result<AwsConfig> {
    let builder = AwsConfig::builder().region(&cfg.region);
    Ok(match cfg.stack {
        StackName::Emulator => {
            let endpoint = cfg
                .endpoint_url
                .as_deref()
                .context("the emulator stack has no endpoint: set AWS_ENDPOINT_URL")?;
            builder
                .endpoint_url(endpoint)
                .static_credentials(EMULATOR_KEY, EMULATOR_KEY)
                .load()
                .await
        }
        StackName::Aws => builder.load().await,
        StackName::Local => anyhow::bail!("the local stack has no AWS resources"),
    })
}

/// The time zone the stack's schedules and functions run in (provisioning's configuration).
///
/// # Errors
/// An invalid configuration, or `local`.
pub fn time_zone(kind: crate::cli::StackKind) -> anyhow::Result<String> {
    let stack = stack_name(kind)?;
    let cfg = StackConfig::load(stack)
        .with_context(|| format!("the {stack} stack's configuration is invalid"))?;
    Ok(cfg.time_zone)
}

/// Provisioning's name of the stack the CLI's `--stack` names.
fn stack_name(kind: crate::cli::StackKind) -> anyhow::Result<StackName> {
    use crate::cli::StackKind;
    match kind {
        StackKind::Emulator => Ok(StackName::Emulator),
        StackKind::Aws => Ok(StackName::Aws),
        StackKind::Local => anyhow::bail!("the local stack has no AWS resources"),
    }
}

/// A provisioned stack on AWS or the emulator.
pub struct AwsStack {
    cfg: StackConfig,
    outputs: StackOutputs,
    aws: AwsConfig,
}

impl AwsStack {
    /// The stack as provisioning left it.
    ///
    /// # Errors
    /// An invalid configuration, or a stack never provisioned (the error says how to).
    pub async fn open(stack: StackName) -> anyhow::Result<Self> {
        let cfg = StackConfig::load(stack)
            .with_context(|| format!("the {stack} stack's configuration is invalid"))?;
        let state_file = cfg.state_file();
        let state = StackState::load(&state_file)
            .with_context(|| format!("failed to read {}", state_file.display()))?
            .with_context(|| {
                format!(
                    "the {stack} stack has not been provisioned (no state at {}): run \
                     `cargo run -p provisioning -- up --stack {stack}` first",
                    state_file.display()
                )
            })?;
        let aws = sdk(&cfg).await?;
        Ok(Self::from_parts(cfg, state.outputs, aws))
    }

    /// The provisioned stack the CLI's `--stack` names (`local` has no AWS resources).
    ///
    /// # Errors
    /// As [`AwsStack::open`], and for `local`.
    pub async fn of(kind: crate::cli::StackKind) -> anyhow::Result<Self> {
        Self::open(stack_name(kind)?).await
    }

    /// A stack from its configuration, the outputs of its `up` and SDK configuration for it.
    #[must_use]
    pub const fn from_parts(cfg: StackConfig, outputs: StackOutputs, aws: AwsConfig) -> Self {
        Self { cfg, outputs, aws }
    }

    /// The stack's configuration.
    #[must_use]
    pub const fn cfg(&self) -> &StackConfig {
        &self.cfg
    }

    /// SDK configuration for the stack.
    #[must_use]
    pub const fn aws(&self) -> &AwsConfig {
        &self.aws
    }

    /// One output of a provisioned resource (an ARN, say).
    ///
    /// # Errors
    /// When provisioning saved no such output.
    pub fn output(&self, kind: &str, name: &str, key: &str) -> anyhow::Result<String> {
        output(&self.outputs, kind, name, key).map(str::to_owned)
    }

    /// A resource's physical name from the saved outputs; a missing one names the command that
    /// provisions it.
    ///
    /// # Errors
    /// When provisioning saved no such resource.
    pub fn name_of(&self, kind: &str, name: &str) -> anyhow::Result<String> {
        output(&self.outputs, kind, name, OUT_NAME)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "the {} stack has no {name} ({kind}): run `cargo run -p provisioning -- up \
                     --stack {}`",
                    self.cfg.stack, self.cfg.stack
                )
            })
    }

    /// The catalog the stream processor enriches with (DynamoDB).
    ///
    /// # Errors
    /// When the table was not provisioned.
    pub fn products(&self) -> anyhow::Result<DynamoDbProductCatalog> {
        let table = self.name_of(dynamodb::KIND, names::PRODUCTS)?;
        Ok(self.aws.dynamodb_product_catalog(&table))
    }

    /// The customers' recommendations (DynamoDB).
    ///
    /// # Errors
    /// When the table was not provisioned.
    pub fn recommendations(&self) -> anyhow::Result<DynamoDbRecommendationStore> {
        let table = self.name_of(dynamodb::KIND, names::RECOMMENDATIONS)?;
        Ok(self.aws.dynamodb_recommendation_store(&table))
    }

    /// Customers' activity records (DynamoDB), written with the stream processor's
    /// time-to-live.
    ///
    /// # Errors
    /// When the table was not provisioned.
    pub fn activity(&self) -> anyhow::Result<DynamoDbUserActivityStore> {
        let table = self.name_of(dynamodb::KIND, names::USER_ACTIVITY)?;
        Ok(self.aws.dynamodb_user_activity_store(&table, ACTIVITY_TTL))
    }

    /// The records set aside (DynamoDB).
    ///
    /// # Errors
    /// When the table was not provisioned.
    pub fn dead_letters(&self) -> anyhow::Result<DynamoDbDeadLetterSink> {
        let table = self.name_of(dynamodb::KIND, names::DEAD_LETTERS)?;
        Ok(self.aws.dynamodb_dead_letter_sink(&table))
    }

    /// The lake bucket, its Glue database and the lake's prefix in the bucket.
    fn lake(&self) -> anyhow::Result<(String, String, &str)> {
        Ok((
            self.name_of(s3::KIND, names::LAKE)?,
            self.name_of(glue::DATABASE_KIND, names::LAKE)?,
            self.cfg.lake.prefix.trim_matches('/'),
        ))
    }

    /// The lake's history in S3, found through the Glue catalog and the delivered prefixes.
    ///
    /// # Errors
    /// When the bucket or the Glue database was not provisioned.
    pub fn history(&self) -> anyhow::Result<S3HistorySource> {
        let (bucket, database, prefix) = self.lake()?;
        Ok(self.aws.s3_history_source(&database, &bucket, prefix))
    }

    /// The lake's writer (the daily job's tables), cataloguing in Glue.
    ///
    /// # Errors
    /// When the bucket or the Glue database was not provisioned.
    pub fn lake_writer(&self) -> anyhow::Result<S3LakeWriter> {
        let (bucket, database, prefix) = self.lake()?;
        Ok(self.aws.s3_lake_writer(&database, &bucket, prefix))
    }

    /// The lake's Glue catalog.
    ///
    /// # Errors
    /// When the bucket or the Glue database was not provisioned.
    pub fn tables(&self) -> anyhow::Result<GlueTableCatalog> {
        let (bucket, database, prefix) = self.lake()?;
        Ok(self.aws.glue_table_catalog(&database, &bucket, prefix))
    }

    /// SQL over the lake with Athena, in the stack's workgroup (its results location).
    ///
    /// # Errors
    /// When the workgroup or the Glue database was not provisioned.
    pub fn athena(&self) -> anyhow::Result<AthenaQueryEngine> {
        let (_, database, _) = self.lake()?;
        let workgroup = self.name_of(athena::KIND, names::ANALYTICS)?;
        Ok(self.aws.athena_query_engine(&database, &workgroup, None))
    }

    /// SQL over the S3 lake with DataFusion in this process, for the tables `tables` knows.
    ///
    /// # Errors
    /// When the bucket or the Glue database was not provisioned.
    pub fn datafusion(
        &self,
        tables: std::sync::Arc<dyn fashion_domain::ports::TableCatalog>,
    ) -> anyhow::Result<fashion_local::DataFusionEngine> {
        let (bucket, _, prefix) = self.lake()?;
        Ok(fashion_aws_sql::s3_lake_engine(
            self.aws.s3_client(),
            &bucket,
            prefix,
            tables,
        ))
    }

    /// The trained models in S3 (where the trainer function writes them).
    ///
    /// # Errors
    /// When the bucket was not provisioned.
    pub fn models(&self) -> anyhow::Result<S3ModelStore> {
        let bucket = self.name_of(s3::KIND, names::LAKE)?;
        Ok(self
            .aws
            .s3_model_store(&bucket, prefixes::MODELS.trim_matches('/')))
    }

    /// The clickstream (Kinesis).
    ///
    /// # Errors
    /// When the stream was not provisioned.
    pub fn clickstream(&self) -> anyhow::Result<KinesisClickstream> {
        let stream = self.name_of(kinesis::KIND, names::CLICKSTREAM)?;
        Ok(self.aws.kinesis_clickstream(&stream))
    }
}
