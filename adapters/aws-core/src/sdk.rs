//! How every AWS client of the project is configured (feature `sdk`): region, profile and
//! credentials from the standard chain, an explicit endpoint (an emulator) with S3 path-style
//! addressing, the SDK's standard retries of whole calls and the attempt and connect timeouts.
//! The adapters (fashion-aws's `AwsConfig`) and provisioning load their configuration here.

use std::fmt;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's own retries of whole calls (throttling, 5xx, timeouts): standard mode.
pub const DEFAULT_SDK_MAX_ATTEMPTS: u32 = 5;
/// First backoff of the SDK's own retries.
pub const DEFAULT_SDK_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest a single attempt may take before it counts as a timeout (and is retried).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest connection set-up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to resolve the SDK configuration with; everything unset comes from the standard AWS
/// chain (environment, shared config and credentials files, SSO, instance or task role),
/// including `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`.
#[derive(Default, Clone)]
pub struct SdkSettings {
    /// The region (otherwise `AWS_REGION`, the profile, or instance metadata).
    pub region: Option<String>,
    /// The shared-config profile (otherwise `AWS_PROFILE` or `default`).
    pub profile: Option<String>,
    /// An explicit endpoint for every service, e.g. an emulator on loopback.
    pub endpoint_url: Option<String>,
    /// Fixed credentials (access key id, secret) instead of the chain: an emulator's.
    pub static_credentials: Option<(String, String)>,
    /// A custom HTTP client for every service (custom TLS, or a fake in tests).
    pub http_client: Option<SharedHttpClient>,
    /// Attempts of the SDK's own retries of whole calls.
    pub max_attempts: Option<u32>,
    /// First backoff between them.
    pub initial_backoff: Option<Duration>,
    /// How long one attempt may take.
    pub attempt_timeout: Option<Duration>,
    /// S3 path-style addressing; by default on when an endpoint is configured, since emulators
    /// rarely resolve virtual-hosted bucket names.
    pub force_path_style: Option<bool>,
}

impl fmt::Debug for SdkSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("SdkSettings")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .field("static_credentials", &self.static_credentials.is_some())
            .field("max_attempts", &self.max_attempts)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("force_path_style", &self.force_path_style)
            .finish_non_exhaustive()
    }
}

/// A resolved configuration: what every client is built from.
#[derive(Debug, Clone)]
pub struct Sdk {
    /// The SDK's configuration.
    pub config: SdkConfig,
    /// Whether S3 clients address buckets by path.
    pub force_path_style: bool,
}

impl Sdk {
    /// An S3 client configuration builder with this configuration's addressing.
    #[must_use]
    pub fn s3_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(&self.config).force_path_style(self.force_path_style)
    }
}

impl SdkSettings {
    /// Resolves the configuration through the standard chain.
    pub async fn load(self) -> Sdk {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.max_attempts.unwrap_or(DEFAULT_SDK_MAX_ATTEMPTS))
                    .with_initial_backoff(
                        self.initial_backoff.unwrap_or(DEFAULT_SDK_INITIAL_BACKOFF),
                    ),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                    .operation_attempt_timeout(
                        self.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT),
                    )
                    .build(),
            );
        if let Some(r) = self.region {
            loader = loader.region(Region::new(r));
        }
        if let Some(p) = self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = self.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        if let Some((id, secret)) = self.static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret,
                None,
                None,
                "fashion-static",
            ));
        }
        if let Some(h) = self.http_client {
            loader = loader.http_client(h);
        }
        let config = loader.load().await;
        let force_path_style = self.force_path_style.unwrap_or_else(|| {
            config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        });
        Sdk {
            config,
            force_path_style,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_print_the_secret_key() {
        let settings = SdkSettings {
            static_credentials: Some(("key-id".into(), "value-to-hide".into())),
            ..SdkSettings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("value-to-hide"), "{printed}");
        assert!(printed.contains("static_credentials: true"), "{printed}");
    }
}
