//! The Firehose transformation Lambda (`bootstrap` of the `provided.al2023` runtime): a delivery
//! stream's batch in, each record `Ok` (the lake row, partitioned by event hour) or `Dropped`.

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

use std::sync::Arc;

use fashion_aws::AwsConfig;
use fashion_lambda::firehose_transform::{FirehoseBatch, FirehoseTransformFunction};
use fashion_lambda::settings::FirehoseTransformSettings;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = FirehoseTransformSettings::from_env()?;
    let aws = AwsConfig::from_env().await;
    let function = Arc::new(FirehoseTransformFunction::new(&settings, &aws));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<FirehoseBatch>| {
        let function = Arc::clone(&function);
        async move { Ok::<_, Error>(function.handle(&event.payload).await?) }
    }))
    .await
}
