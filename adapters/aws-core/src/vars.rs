//! The Lambda functions' environment variables: fashion-lambda reads them, provisioning sets
//! them, the tests set them. The lake and models prefixes are given without their trailing '/'.

/// DynamoDB table of user activity.
pub const ACTIVITY_TABLE: &str = "FASHION_ACTIVITY_TABLE";
/// DynamoDB table of recommendations.
pub const RECOMMENDATIONS_TABLE: &str = "FASHION_RECOMMENDATIONS_TABLE";
/// DynamoDB table of the product catalog.
pub const CATALOG_TABLE: &str = "FASHION_CATALOG_TABLE";
/// DynamoDB table of dead letters.
pub const DEAD_LETTERS_TABLE: &str = "FASHION_DEAD_LETTERS_TABLE";
/// Bucket of model artifacts.
pub const MODELS_BUCKET: &str = "FASHION_MODELS_BUCKET";
/// Key prefix of model artifacts (default `models`).
pub const MODELS_PREFIX: &str = "FASHION_MODELS_PREFIX";
/// Days a customer's activity is kept after their last event (default 30).
pub const ACTIVITY_TTL_DAYS: &str = "FASHION_ACTIVITY_TTL_DAYS";
/// Seconds between checks for a newer model (default 300).
pub const MODEL_REFRESH_SECS: &str = "FASHION_MODEL_REFRESH_SECS";
/// The transactional database (RDS PostgreSQL).
pub const DATABASE_URL: &str = "DATABASE_URL";
/// Secrets Manager secret (ARN or name) with the database's `username` and `password`: the
/// secret RDS manages for the instance. When set, its credentials replace the URL's.
pub const DATABASE_SECRET_ARN: &str = "FASHION_DATABASE_SECRET_ARN";
/// The store's time zone, which decides what "yesterday" is.
pub const TIME_ZONE: &str = "FASHION_TIME_ZONE";
/// Glue database of the lake.
pub const GLUE_DATABASE: &str = "FASHION_GLUE_DATABASE";
/// Bucket of the lake.
pub const LAKE_BUCKET: &str = "FASHION_LAKE_BUCKET";
/// Key prefix of the lake (default `lake`).
pub const LAKE_PREFIX: &str = "FASHION_LAKE_PREFIX";
/// Days of history the trainer reads, ending at training time (default 90).
pub const TRAINER_LOOKBACK_DAYS: &str = "FASHION_TRAINER_LOOKBACK_DAYS";

/// Kinesis stream the API's collector publishes clicks to.
pub const CLICKSTREAM_STREAM: &str = "FASHION_CLICKSTREAM_STREAM";
/// Athena workgroup the API's dashboard queries the lake through.
pub const ATHENA_WORKGROUP: &str = "FASHION_ATHENA_WORKGROUP";
/// Log filter of every function (`tracing` directives).
pub const RUST_LOG: &str = "RUST_LOG";
/// The PEM bundle the daily job verifies the database's certificate against
/// (`sslmode=verify-full`).
pub const DATABASE_CA_BUNDLE: &str = "FASHION_DATABASE_CA_BUNDLE";
