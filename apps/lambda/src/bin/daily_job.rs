//! The daily-job Lambda (`bootstrap` of the `provided.al2023` runtime): the 00:01 schedule's
//! event in, the day's report out.

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

use std::sync::Arc;

use fashion_aws::AwsConfig;
use fashion_lambda::daily_job::{DailyJobFunction, connect_source};
use fashion_lambda::settings::DailyJobSettings;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = DailyJobSettings::from_env()?;
    let aws = AwsConfig::from_env().await;
    let source = connect_source(&settings, &aws).await?;
    let function = Arc::new(DailyJobFunction::over(&settings, &aws, Arc::new(source)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(&event.payload).await.map_err(Error::from) }
    }))
    .await
}
