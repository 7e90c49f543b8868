//! The trainer Lambda (`bootstrap` of the `provided.al2023` runtime): a schedule's event in, the
//! training report out.

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
use fashion_lambda::settings::TrainerSettings;
use fashion_lambda::trainer::TrainerFunction;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = TrainerSettings::from_env()?;
    let aws = AwsConfig::from_env().await;
    let function = Arc::new(TrainerFunction::new(&settings, &aws));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = Arc::clone(&function);
        async move { function.handle(&event.payload).await.map_err(Error::from) }
    }))
    .await
}
