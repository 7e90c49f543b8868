//! How the AWS adapters are configured: region, profile and credentials from the standard chain,
//! `AWS_ENDPOINT_URL` (or an explicit endpoint) for an emulator, and one factory per adapter that
//! takes only resource names.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use fashion_aws_core::sdk::{Sdk, SdkSettings};

use crate::athena::AthenaQueryEngine;
use crate::dynamodb::{
    DynamoDbCheckpointStore, DynamoDbDeadLetterSink, DynamoDbProductCatalog,
    DynamoDbRecommendationStore, DynamoDbUserActivityStore,
};
use crate::firehose::FirehoseClickstreamPublisher;
use crate::glue::GlueTableCatalog;
use crate::history::S3HistorySource;
use crate::kinesis::KinesisClickstream;
use crate::lake::S3LakeWriter;
use crate::retry::Backoff;
use crate::s3::{S3Location, S3ModelStore};

/// Builds an [`AwsConfig`]. Everything left unset comes from the standard AWS chain
/// (environment, shared config and credentials files, SSO, instance or task role), including
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
#[derive(Default, Debug)]
pub struct AwsConfigBuilder {
    sdk: SdkSettings,
    backoff: Option<Backoff>,
}

impl AwsConfigBuilder {
    /// The region (otherwise `AWS_REGION`, the profile, or instance metadata).
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.sdk.region = Some(region.into());
        self
    }

    /// The shared-config profile (otherwise `AWS_PROFILE` or `default`).
    #[must_use]
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.sdk.profile = Some(profile.into());
        self
    }

    /// An explicit endpoint for every service, e.g. an emulator on loopback. S3 then uses
    /// path-style addressing.
    #[must_use]
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.sdk.endpoint_url = Some(url.into());
        self
    }

    /// Fixed credentials instead of the chain (tests against an emulator).
    #[must_use]
    pub fn static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.sdk.static_credentials = Some((access_key_id.into(), secret_access_key.into()));
        self
    }

    /// A custom HTTP client for every service (custom TLS, or a fake in tests).
    #[must_use]
    pub fn http_client(mut self, client: SharedHttpClient) -> Self {
        self.sdk.http_client = Some(client);
        self
    }

    /// Attempts of the SDK's own retries of whole calls, and the first backoff between them.
    #[must_use]
    pub fn sdk_retries(mut self, max_attempts: u32, initial_backoff: Duration) -> Self {
        self.sdk.max_attempts = Some(max_attempts.max(1));
        self.sdk.initial_backoff = Some(initial_backoff);
        self
    }

    /// How long one attempt of a call may take.
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.sdk.attempt_timeout = Some(timeout);
        self
    }

    /// The adapters' backoff for partial failures and unprocessed items.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Forces (or forbids) S3 path-style addressing; by default it is on when an endpoint is
    /// configured, since emulators rarely resolve virtual-hosted bucket names.
    #[must_use]
    pub fn force_path_style(mut self, on: bool) -> Self {
        self.sdk.force_path_style = Some(on);
        self
    }

    /// Resolves the configuration (region, credentials, endpoint) through the standard chain.
    pub async fn load(self) -> AwsConfig {
        AwsConfig {
            sdk: self.sdk.load().await,
            backoff: self.backoff.unwrap_or_default(),
        }
    }
}

/// Resolved AWS configuration: creates the SDK clients and every adapter from resource names.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    sdk: Sdk,
    backoff: Backoff,
}

impl AwsConfig {
    /// A builder; unset values come from the standard chain.
    #[must_use]
    pub fn builder() -> AwsConfigBuilder {
        AwsConfigBuilder::default()
    }

    /// Everything from the standard chain (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
    pub async fn from_env() -> Self {
        Self::builder().load().await
    }

    /// The resolved SDK configuration.
    #[must_use]
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk.config
    }

    /// The backoff the adapters use for partial failures.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// A Kinesis client.
    #[must_use]
    pub fn kinesis_client(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(&self.sdk.config)
    }

    /// A DynamoDB client.
    #[must_use]
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk.config)
    }

    /// An S3 client (path-style when an endpoint is configured).
    #[must_use]
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.sdk.s3_config().build())
    }

    /// A Glue client.
    #[must_use]
    pub fn glue_client(&self) -> aws_sdk_glue::Client {
        aws_sdk_glue::Client::new(&self.sdk.config)
    }

    /// An Athena client.
    #[must_use]
    pub fn athena_client(&self) -> aws_sdk_athena::Client {
        aws_sdk_athena::Client::new(&self.sdk.config)
    }

    /// A Firehose client.
    #[must_use]
    pub fn firehose_client(&self) -> aws_sdk_firehose::Client {
        aws_sdk_firehose::Client::new(&self.sdk.config)
    }

    /// Publisher and source over the Kinesis data stream `stream`.
    #[must_use]
    pub fn kinesis_clickstream(&self, stream: &str) -> KinesisClickstream {
        KinesisClickstream::new(self.kinesis_client(), stream, self.backoff)
    }

    /// Publisher into the Firehose delivery stream `delivery_stream` (direct put).
    #[must_use]
    pub fn firehose_publisher(&self, delivery_stream: &str) -> FirehoseClickstreamPublisher {
        FirehoseClickstreamPublisher::new(self.firehose_client(), delivery_stream, self.backoff)
    }

    /// Stream checkpoints in the DynamoDB table `table`.
    #[must_use]
    pub fn dynamodb_checkpoint_store(&self, table: &str) -> DynamoDbCheckpointStore {
        DynamoDbCheckpointStore::new(self.dynamodb_client(), table)
    }

    /// Recommendations in the DynamoDB table `table`.
    #[must_use]
    pub fn dynamodb_recommendation_store(&self, table: &str) -> DynamoDbRecommendationStore {
        DynamoDbRecommendationStore::new(self.dynamodb_client(), table, self.backoff)
    }

    /// User activity in the DynamoDB table `table`, expiring `ttl` after each write.
    #[must_use]
    pub fn dynamodb_user_activity_store(
        &self,
        table: &str,
        ttl: Duration,
    ) -> DynamoDbUserActivityStore {
        DynamoDbUserActivityStore::new(self.dynamodb_client(), table, ttl, self.backoff)
    }

    /// The product catalog in the DynamoDB table `table`.
    #[must_use]
    pub fn dynamodb_product_catalog(&self, table: &str) -> DynamoDbProductCatalog {
        DynamoDbProductCatalog::new(self.dynamodb_client(), table, self.backoff)
    }

    /// Dead letters in the DynamoDB table `table`.
    #[must_use]
    pub fn dynamodb_dead_letter_sink(&self, table: &str) -> DynamoDbDeadLetterSink {
        DynamoDbDeadLetterSink::new(self.dynamodb_client(), table)
    }

    /// Model artifacts under `s3://bucket/prefix/`.
    #[must_use]
    pub fn s3_model_store(&self, bucket: &str, prefix: &str) -> S3ModelStore {
        S3ModelStore::new(self.s3_client(), S3Location::new(bucket, prefix))
    }

    /// The Glue table catalog of `database`, with tables under `s3://bucket/prefix/<table>/`.
    #[must_use]
    pub fn glue_table_catalog(
        &self,
        database: &str,
        bucket: &str,
        prefix: &str,
    ) -> GlueTableCatalog {
        GlueTableCatalog::new(
            self.glue_client(),
            database,
            S3Location::new(bucket, prefix),
        )
    }

    /// The Parquet lake under `s3://bucket/prefix/`, whose partitions become visible through the
    /// Glue catalog of `database`.
    #[must_use]
    pub fn s3_lake_writer(&self, database: &str, bucket: &str, prefix: &str) -> S3LakeWriter {
        S3LakeWriter::new(
            self.s3_client(),
            self.glue_table_catalog(database, bucket, prefix),
        )
    }

    /// The trainer's history from the Parquet lake under `s3://bucket/prefix/`, found through the
    /// Glue catalog of `database`.
    #[must_use]
    pub fn s3_history_source(&self, database: &str, bucket: &str, prefix: &str) -> S3HistorySource {
        S3HistorySource::new(
            self.s3_client(),
            self.glue_table_catalog(database, bucket, prefix),
        )
    }

    /// Athena over `database` in `workgroup`, writing results under `output_location`
    /// (`s3://bucket/prefix/`; `None` uses the workgroup's own setting).
    #[must_use]
    pub fn athena_query_engine(
        &self,
        database: &str,
        workgroup: &str,
        output_location: Option<&str>,
    ) -> AthenaQueryEngine {
        AthenaQueryEngine::new(
            self.athena_client(),
            database,
            workgroup,
            output_location.map(str::to_owned),
        )
    }
}
