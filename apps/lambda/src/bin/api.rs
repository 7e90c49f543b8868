//! The API Lambda (`bootstrap` of the `provided.al2023` runtime) behind a function URL: HTTP
//! requests in, the front door's answers out.

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

use fashion_aws::AwsConfig;
use fashion_lambda::settings::ApiSettings;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = ApiSettings::from_env()?;
    let aws = AwsConfig::from_env().await;
    lambda_http::run(fashion_lambda::api::router(&settings, &aws)).await
}
