//! `etl run|backfill --invoke`: the deployed daily-job function, run for each day with the
//! payload a backfill gives it (`{"date": "YYYY-MM-DD"}`), its answer printed as `etl` prints a
//! run from here.
//!
//! - **aws:** Lambda's `Invoke`, request-response, one attempt per day (a day that fails stops
//!   the run; the job is idempotent, so running it again is safe).
//! - **emulator:** the emulator stores functions and runs none (its `Invoke` answers with a
//!   function error), so a stand-in does what the invocation would: the function's own handler,
//!   in this process, wired by the environment the function was provisioned with (read back from
//!   Lambda, so a variable provisioning forgot fails here as it would on AWS), reading the
//!   transactional database this command is given, because the emulator's RDS runs no server.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
use fashion_domain::calendar::StoreDay;
use fashion_domain::services::catalog_sync::CatalogSync;
use fashion_domain::services::daily_job::DailyJobReport;
use fashion_lambda::daily_job::DailyJobFunction;
use fashion_lambda::settings::DailyJobSettings;
use provisioning::config::StackName;
use provisioning::layout::names;
use provisioning::providers::aws::lambda::FUNCTION_KIND;

use crate::aws_stack::AwsStack;
use crate::ports::transactional;
use crate::settings::Settings;

/// How long one invocation may take: Lambda's longest function timeout, and a minute for the
/// answer to come back.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(16 * 60);

/// What the function is given for `day`: the backfill form of its event.
fn payload(day: &StoreDay) -> serde_json::Value {
    serde_json::json!({ "date": day.date.to_string() })
}

/// What the deployed function answered for one day: the day's job, then the catalog's sync.
#[derive(Debug, serde::Deserialize)]
pub struct Invoked {
    /// The function that ran.
    #[serde(skip)]
    pub function: String,
    /// The day's job.
    #[serde(flatten)]
    pub job: DailyJobReport,
    /// The product catalog's sync.
    pub catalog: CatalogSync,
}

/// Runs the stack's deployed daily-job function for each day, in order, stopping at the first
/// failure.
///
/// # Errors
/// A stack never provisioned, a function that failed (its error message), an answer that is
/// not a daily-job report.
pub async fn daily_job(settings: &Settings, days: &[StoreDay]) -> anyhow::Result<Vec<Invoked>> {
    let stack = AwsStack::of(settings.stack).await?;
    let function = stack.name_of(FUNCTION_KIND, names::DAILY_JOB)?;
    let lambda = aws_sdk_lambda::Client::new(stack.aws().sdk_config());
    let mut runs = Vec::with_capacity(days.len());
    match stack.cfg().stack {
        StackName::Aws => {
            for day in days {
                let answer = invoke(&lambda, &function, &payload(day)).await?;
                runs.push(report(&function, day, &answer)?);
            }
        }
        StackName::Emulator => {
            let stand_in = stand_in(settings, &stack, &lambda, &function).await?;
            for day in days {
                let run = stand_in
                    .handle(&payload(day))
                    .await
                    .with_context(|| format!("the function {function} failed for {}", day.date))?;
                let answer = serde_json::to_value(&run)?;
                runs.push(report(&function, day, &answer)?);
            }
        }
        StackName::Local => anyhow::bail!("the local stack has no deployed functions"),
    }
    Ok(runs)
}

/// One request-response invocation: the function's answer, or its error.
async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(serde_json::to_vec(payload)?))
        .customize()
        .config_override(
            aws_sdk_lambda::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(1))
                .timeout_config(
                    TimeoutConfig::builder()
                        .operation_attempt_timeout(INVOCATION_TIMEOUT)
                        .build(),
                ),
        )
        .send()
        .await
        .with_context(|| format!("failed to invoke {function} with {payload}"))?;
    let body = out.payload().map(Blob::as_ref).unwrap_or_default();
    if let Some(kind) = out.function_error() {
        anyhow::bail!(
            "the function {function} failed ({kind}) for {payload}: {}",
            String::from_utf8_lossy(body)
        );
    }
    serde_json::from_slice(body)
        .with_context(|| format!("{function} answered with something other than JSON"))
}

/// The function's answer for `day`.
fn report(function: &str, day: &StoreDay, answer: &serde_json::Value) -> anyhow::Result<Invoked> {
    let mut run: Invoked = serde_json::from_value(answer.clone())
        .with_context(|| format!("{function} answered with no daily-job report: {answer}"))?;
    anyhow::ensure!(
        run.job.date == day.date,
        "{function} ran {} when asked for {}",
        run.job.date,
        day.date
    );
    function.clone_into(&mut run.function);
    Ok(run)
}

/// The emulator's stand-in for the function: its handler, wired by its provisioned environment.
async fn stand_in(
    settings: &Settings,
    stack: &AwsStack,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
) -> anyhow::Result<DailyJobFunction> {
    let config = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .with_context(|| format!("failed to read {function}'s configuration"))?;
    let environment: HashMap<String, String> = config
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    let function_settings =
        DailyJobSettings::from_lookup(&|name: &str| environment.get(name).cloned())
            .with_context(|| format!("{function}'s provisioned environment"))?;
    let source = transactional(settings).await?;
    Ok(DailyJobFunction::over(
        &function_settings,
        stack.aws(),
        source,
    ))
}
