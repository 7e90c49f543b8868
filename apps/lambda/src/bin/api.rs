//! The API Lambda (`bootstrap` of the `provided.al2023` runtime) behind a function URL: HTTP
//! requests in, the front door's answers out.

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
