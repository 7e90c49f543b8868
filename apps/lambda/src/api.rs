//! The API function: the front door's router (`fashion-api`) over the AWS adapters, run by
//! `lambda_http` behind a Lambda function URL. Clicks go to Kinesis (`PutRecords`, failed records
//! retried one by one, then 503), recommendations, products and (for the fallback list) what a
//! customer bought come from DynamoDB, trends from
//! the S3 lake, the dashboard's batch figures from Athena.

use std::sync::Arc;

use fashion_api::{ApiConfig, ApiPorts};
use fashion_aws::AwsConfig;
use fashion_domain::ports::SystemClock;

use crate::settings::{ApiSettings, DEFAULT_ACTIVITY_TTL};

/// The router with the AWS adapters the settings name. Clients are built once per cold start;
/// the model and the product cache are loaded on first use and refreshed in the background.
pub fn router(settings: &ApiSettings, aws: &AwsConfig) -> axum::Router {
    let dead_letters = Arc::new(aws.dynamodb_dead_letter_sink(&settings.dead_letters_table));
    let ports = ApiPorts {
        publisher: Arc::new(aws.kinesis_clickstream(&settings.stream)),
        recommendations: Arc::new(
            aws.dynamodb_recommendation_store(&settings.recommendations_table),
        ),
        catalog: Arc::new(aws.dynamodb_product_catalog(&settings.catalog_table)),
        // Read only: the time-to-live is the stream processor's business.
        activity: Arc::new(
            aws.dynamodb_user_activity_store(&settings.activity_table, DEFAULT_ACTIVITY_TTL),
        ),
        models: Arc::new(aws.s3_model_store(&settings.models_bucket, &settings.models_prefix)),
        history: Arc::new(aws.s3_history_source(
            &settings.glue_database,
            &settings.lake_bucket,
            &settings.lake_prefix,
        )),
        lake: Arc::new(aws.athena_query_engine(
            &settings.glue_database,
            &settings.athena_workgroup,
            None,
        )),
        dead_letters: dead_letters.clone(),
        dead_letter_log: dead_letters,
        clock: Arc::new(SystemClock),
        // Stream lag on AWS is the event-source mapping's IteratorAge metric in CloudWatch.
        probe: None,
    };
    let config = ApiConfig {
        time_zone: settings.time_zone,
        refresh_every: settings.model_refresh,
        ..ApiConfig::default()
    };
    fashion_api::router(ports, config)
}
