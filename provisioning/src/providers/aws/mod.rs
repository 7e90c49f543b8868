//! AWS resource kinds through the official SDK, and what they share: the clients (with a call
//! counting interceptor), error translation, waiters with named timeouts, and tag handling.

pub mod athena;
pub mod dynamodb;
pub mod firehose;
pub mod function_url;
pub mod glue;
pub mod iam;
pub mod kinesis;
pub mod lambda;
pub mod lambda_mapping;
pub mod provider;
pub mod rds;
pub mod s3;
pub mod scheduler;
pub mod stack;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use fashion_aws_core::sdk::{Sdk, SdkSettings};
use fashion_domain::backoff::Backoff;
use tokio::sync::OnceCell;

use crate::config::{StackConfig, StackName};
use crate::engine::resource::{CallCounter, Cx, ProvisionError};

/// First pause between two polls of a resource's state; doubles up to [`POLL_MAX`]. Emulators
/// answer at once, so starting small keeps their runs fast.
pub const POLL_INITIAL: Duration = Duration::from_millis(100);
/// Longest pause between two polls.
pub const POLL_MAX: Duration = Duration::from_secs(10);
/// How long a freshly created IAM role may take to become usable by another service
/// (IAM is eventually consistent; AWS documents "a few seconds", we allow two minutes).
pub const IAM_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a "resource busy" refusal (an update still running) is retried.
pub const BUSY_RETRY_TIMEOUT: Duration = Duration::from_secs(300);

pub use crate::engine::resource::{MANAGED_BY_VALUE, TAG_MANAGED_BY, TAG_STACK};

/// The pseudo resource holding facts about the caller's account, known before any resource.
pub const CALLER: &str = "aws:caller";

/// The caller's account id output.
pub const ACCOUNT_ID: &str = "account_id";

/// `${aws:caller.account_id}`.
#[must_use]
pub fn account_id() -> String {
    crate::engine::refs::output_ref(CALLER, ACCOUNT_ID)
}

/// Output key: the resource's ARN.
pub const OUT_ARN: &str = "arn";
/// Output key: the resource's name.
pub const OUT_NAME: &str = "name";

/// Counts every SDK operation the clients run (once per operation, not per retry attempt).
#[derive(Debug, Clone)]
struct CountingInterceptor {
    calls: Arc<CallCounter>,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "CountingInterceptor"
    }

    // Not `read_before_execution`: client-level interceptors run that hook before the
    // operation's configuration (which holds its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.calls.record(m.service(), m.name());
        }
        Ok(())
    }
}

/// One client per service, all counting their calls into the same [`CallCounter`].
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Kinesis Data Streams.
    pub kinesis: aws_sdk_kinesis::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Glue Data Catalog.
    pub glue: aws_sdk_glue::Client,
    /// Data Firehose.
    pub firehose: aws_sdk_firehose::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Athena.
    pub athena: aws_sdk_athena::Client,
    /// EventBridge Scheduler.
    pub scheduler: aws_sdk_scheduler::Client,
    /// RDS.
    pub rds: aws_sdk_rds::Client,
    /// STS (the caller's account id).
    pub sts: aws_sdk_sts::Client,
    account: Arc<OnceCell<String>>,
}

/// How long one provisioning call may take: uploading a function's package is the slowest.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Loads the SDK configuration of an AWS stack through the project's one configuration
/// (fashion-aws-core's `SdkSettings`): the default credential chain on `aws`; the emulator's
/// endpoint, static test credentials and path-style S3 on `emulator`.
///
/// # Errors
/// On the local stack, or when the emulator stack has no endpoint.
pub async fn sdk_config(cfg: &StackConfig) -> anyhow::Result<Sdk> {
    let mut settings = SdkSettings {
        region: Some(cfg.region.clone()),
        attempt_timeout: Some(ATTEMPT_TIMEOUT),
        ..SdkSettings::default()
    };
    match cfg.stack {
        StackName::Aws => {}
        StackName::Emulator => {
            let endpoint = cfg
                .endpoint_url
                .clone()
                .filter(|e| !e.is_empty())
                .context("the emulator stack has no endpoint_url")?;
            settings.endpoint_url = Some(endpoint);
            settings.static_credentials = Some(("test".to_owned(), "test".to_owned()));
            settings.force_path_style = Some(true);
        }
        StackName::Local => anyhow::bail!("the local stack does not use AWS"),
    }
    Ok(settings.load().await)
}

impl AwsClients {
    /// Builds every client from the resolved configuration, each counting its calls.
    #[must_use]
    pub fn new(resolved: &Sdk, calls: Arc<CallCounter>) -> Self {
        let i = CountingInterceptor { calls };
        let sdk = &resolved.config;
        Self {
            s3: aws_sdk_s3::Client::from_conf(resolved.s3_config().interceptor(i.clone()).build()),
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            glue: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            firehose: aws_sdk_firehose::Client::from_conf(
                aws_sdk_firehose::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            athena: aws_sdk_athena::Client::from_conf(
                aws_sdk_athena::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            rds: aws_sdk_rds::Client::from_conf(
                aws_sdk_rds::config::Builder::from(sdk)
                    .interceptor(i.clone())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(sdk)
                    .interceptor(i)
                    .build(),
            ),
            account: Arc::new(OnceCell::new()),
        }
    }

    /// The account the credentials belong to (asked once, then cached).
    ///
    /// # Errors
    /// When STS cannot be reached or the credentials are invalid.
    pub async fn account_id(&self) -> Result<String, ProvisionError> {
        self.account
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(aws_err("identify", "the caller's account"))?;
                out.account.ok_or_else(|| {
                    ProvisionError::Unexpected(anyhow::anyhow!(
                        "STS GetCallerIdentity returned no account"
                    ))
                })
            })
            .await
            .cloned()
    }
}

/// The AWS clients of the run `cx` belongs to.
///
/// # Errors
/// When the stack's provider is not the AWS one (no clients were opened).
pub fn clients(cx: &Cx) -> Result<&AwsClients, ProvisionError> {
    cx.session::<AwsClients>()
}

impl From<aws_smithy_types::error::operation::BuildError> for ProvisionError {
    fn from(e: aws_smithy_types::error::operation::BuildError) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("failed to build an AWS request"))
    }
}

/// The domain's backoff for polling: waits from about `first` up to [`POLL_MAX`], bounded by
/// the caller's timeout rather than a number of attempts.
fn polls(first: Duration) -> Backoff {
    Backoff {
        max_attempts: u32::MAX,
        base: first.saturating_mul(2),
        cap: POLL_MAX,
    }
}

/// Translates an SDK error into a [`ProvisionError::Provider`] naming the action and the resource.
pub fn aws_err<E, R>(action: &str, resource: &str) -> impl FnOnce(SdkError<E, R>) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let action = action.to_owned();
    let resource = resource.to_owned();
    move |e| ProvisionError::Provider {
        action,
        resource,
        code: e.code().unwrap_or("unknown").to_owned(),
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// `Ok(None)` when the error's code is one of `not_found` (a read of an absent resource).
///
/// # Errors
/// Any other error.
pub fn absent_if<T>(
    r: Result<T, ProvisionError>,
    not_found: &[&str],
) -> Result<Option<T>, ProvisionError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code().is_some_and(|c| not_found.contains(&c)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(())` when the error's code is one of `not_found` (deleting what is already gone).
///
/// # Errors
/// Any other error.
pub fn gone_if(r: Result<(), ProvisionError>, not_found: &[&str]) -> Result<(), ProvisionError> {
    absent_if(r, not_found).map(|_| ())
}

/// Polls `probe` until it returns true, with exponential backoff from [`POLL_INITIAL`] to
/// [`POLL_MAX`], for at most `timeout`.
///
/// # Errors
/// [`ProvisionError::Timeout`], or the probe's own error.
pub async fn wait_until<F, Fut>(
    resource: &str,
    wanted: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<(), ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, ProvisionError>>,
{
    let start = Instant::now();
    let backoff = polls(POLL_INITIAL);
    let mut polls_done = 0u32;
    loop {
        if probe().await? {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(ProvisionError::Timeout {
                resource: resource.to_owned(),
                wanted: wanted.to_owned(),
                after: waited,
            });
        }
        polls_done = polls_done.saturating_add(1);
        let delay = backoff.delay(polls_done);
        tokio::time::sleep(delay.min(timeout.saturating_sub(waited))).await;
    }
}

/// Runs `call` again while it fails with an error `transient` accepts (a role not yet
/// assumable, a resource still updating), with backoff, for at most `timeout`.
///
/// # Errors
/// The last error once it is not transient or the time is up.
pub async fn retry_transient<T, F, Fut>(
    timeout: Duration,
    transient: impl Fn(&ProvisionError) -> bool,
    mut call: F,
) -> Result<T, ProvisionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProvisionError>>,
{
    let start = Instant::now();
    let backoff = polls(POLL_INITIAL.max(Duration::from_millis(500)));
    let mut retries = 0u32;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && start.elapsed() < timeout => {
                tracing::debug!(error.message = %e, "Transient refusal, retrying.");
                retries = retries.saturating_add(1);
                tokio::time::sleep(backoff.delay(retries)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What services say when a role created moments ago is not usable yet (Lambda: "The role
/// defined for the function cannot be assumed by Lambda", "The provided execution role does not
/// have permissions…"; Firehose: "Firehose is unable to assume role…"; Scheduler: "…must allow
/// AWS EventBridge Scheduler to assume the role").
const ROLE_NOT_READY: &[&str] = &[
    "cannot be assumed",
    "unable to assume",
    "to assume the role",
    "execution role",
];

/// Whether an error says a role is not (yet) usable by the calling service: IAM's eventual
/// consistency right after the role or its policy was created. Our own credentials lacking a
/// permission (`AccessDenied…`) is not this, and is not retried.
#[must_use]
pub fn is_role_propagation(e: &ProvisionError) -> bool {
    match e {
        ProvisionError::Provider { code, message, .. } => {
            matches!(
                code.as_str(),
                "InvalidParameterValueException"
                    | "InvalidArgumentException"
                    | "ValidationException"
                    | "InvalidRequestException"
            ) && {
                let m = message.to_ascii_lowercase();
                ROLE_NOT_READY.iter().any(|p| m.contains(p))
            }
        }
        _ => false,
    }
}

/// Tags as compared by a diff: AWS's own `aws:` tags are dropped (nobody may change them).
#[must_use]
pub fn comparable_tags(
    tags: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect()
}

/// The tags to add (changed or new) and the keys to remove to turn `seen` into `want`.
#[must_use]
pub fn tag_changes(
    want: &BTreeMap<String, String>,
    seen: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let add = want
        .iter()
        .filter(|(k, v)| seen.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = seen
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    (add, remove)
}

/// Observed tags from a spec's `seen.fields["tags"]`.
#[must_use]
pub fn seen_tags(seen: &crate::engine::resource::Observed) -> BTreeMap<String, String> {
    seen.fields
        .get("tags")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Reads a resource right after applying it and returns its outputs.
///
/// # Errors
/// When the read fails or finds nothing.
pub async fn reread(
    kind: &dyn crate::engine::resource::ResourceKind,
    cx: &crate::engine::resource::Cx,
    spec: &crate::engine::plan::ResourceSpec,
) -> Result<crate::engine::resource::Outputs, ProvisionError> {
    kind.read(cx, spec)
        .await?
        .map(|o| o.outputs)
        .ok_or_else(|| ProvisionError::invalid(&spec.id, "resource vanished right after apply"))
}

/// Whether a change touches `field`.
#[must_use]
pub fn changes_field(change: &crate::engine::plan::Change, field: &str) -> bool {
    match change {
        crate::engine::plan::Change::Update { fields } => fields.iter().any(|f| f.field == field),
        crate::engine::plan::Change::Create | crate::engine::plan::Change::Replace { .. } => true,
        crate::engine::plan::Change::Same => false,
    }
}

/// A JSON policy document as AWS returns it: IAM URL-encodes documents (`%7B%22Version…`),
/// other services return plain JSON. Parsed, so key order and whitespace do not count.
#[must_use]
pub fn parse_policy(doc: &str) -> serde_json::Value {
    let decoded = if doc.trim_start().starts_with('{') {
        doc.to_owned()
    } else {
        percent_encoding::percent_decode_str(doc)
            .decode_utf8_lossy()
            .into_owned()
    };
    serde_json::from_str(&decoded).unwrap_or(serde_json::Value::String(decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_compare_equal_whether_url_encoded_or_plain() {
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F%2A%22%7D%5D%7D";
        assert_eq!(parse_policy(plain), parse_policy(encoded));
        assert_eq!(
            parse_policy(plain)["Statement"][0]["Action"],
            json!("s3:GetObject")
        );
    }

    #[test]
    fn a_role_not_yet_assumable_is_retried_and_missing_permissions_are_not() {
        let err = |code: &str, message: &str| ProvisionError::Provider {
            action: "create".into(),
            resource: "r".into(),
            code: code.into(),
            message: message.into(),
        };
        assert!(is_role_propagation(&err(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda."
        )));
        assert!(is_role_propagation(&err(
            "InvalidArgumentException",
            "Firehose is unable to assume role arn:aws:iam::1:role/f."
        )));
        assert!(!is_role_propagation(&err(
            "AccessDeniedException",
            "User arn:aws:sts::1:assumed-role/x is not authorized to perform: lambda:CreateFunction"
        )));
        assert!(!is_role_propagation(&err(
            "InvalidParameterValueException",
            "Unsupported runtime"
        )));
    }

    #[test]
    fn tag_changes_add_differing_and_remove_extra_keys() {
        let want = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let seen = BTreeMap::from([
            ("a".to_owned(), "0".to_owned()),
            ("c".to_owned(), "3".to_owned()),
        ]);
        let (add, remove) = tag_changes(&want, &seen);
        assert_eq!(add, want);
        assert_eq!(remove, ["c"]);
        assert!(
            comparable_tags([("aws:cloudformation:stack".to_owned(), "x".to_owned())]).is_empty()
        );
    }
}
