//! The daily-job function: invoked by the 00:01 schedule (an EventBridge event), it runs the
//! domain's [`DailyJob`] for "yesterday" in the store's time zone, reading RDS PostgreSQL and
//! writing the S3 lake catalogued in Glue, then copies the database's new and changed products
//! to the DynamoDB catalog the stream processor enriches with ([`sync_catalog`]). An explicit
//! `date` backfills that day instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use fashion_aws::{AwsConfig, DynamoDbProductCatalog, GlueTableCatalog, S3LakeWriter};
use fashion_domain::ports::PurchaseSource;
use fashion_domain::services::catalog_sync::{CatalogSync, sync_catalog};
use fashion_domain::services::daily_job::{DailyJob, DailyJobReport};
use fashion_postgres::{PostgresPurchaseStore, ServerTls, connect_options};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;

pub use crate::events::{DailyJobFunctionError, day_of};
use crate::settings::DailyJobSettings;

/// The function: the database pool and AWS clients live as long as the execution environment.
pub struct DailyJobFunction {
    job: DailyJob<dyn PurchaseSource, S3LakeWriter, GlueTableCatalog>,
    source: Arc<dyn PurchaseSource>,
    products: DynamoDbProductCatalog,
    time_zone: Tz,
}

/// What one invocation did: the day's job, then the catalog's sync.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyRun {
    /// The day's job.
    #[serde(flatten)]
    pub job: DailyJobReport,
    /// The product catalog's sync.
    pub catalog: CatalogSync,
}

/// The variable naming the PEM bundle the database's server certificate is verified against
/// (RDS's global bundle, packaged next to the function); with it, connections use
/// `sslmode=verify-full`.
pub use fashion_aws_core::vars::DATABASE_CA_BUNDLE;

/// How the daily job authenticates the database server: `verify-full` against `ca_bundle` when
/// one is named; required when the function runs on Lambda with the RDS secret (the aws path),
/// so it never talks to RDS without verifying the server. Elsewhere (local and test servers,
/// which have no TLS) the URL decides.
///
/// # Errors
/// On Lambda with a database secret and no CA bundle.
pub fn server_tls<'a>(
    ca_bundle: Option<&'a Path>,
    with_secret: bool,
    on_lambda: bool,
) -> anyhow::Result<ServerTls<'a>> {
    match ca_bundle {
        Some(ca_bundle) => Ok(ServerTls::VerifyFull { ca_bundle }),
        None if with_secret && on_lambda => anyhow::bail!(
            "{DATABASE_CA_BUNDLE} is not set: on AWS the database's certificate must be verified \
             (sslmode=verify-full) against RDS's CA bundle"
        ),
        None => Ok(ServerTls::AsUrlSays),
    }
}

/// Opens the transactional database the settings name: with the credentials of the database
/// secret when there is one (RDS's managed master secret, read once per cold start), with the
/// URL's otherwise; verifying the server's certificate as [`server_tls`] decides from
/// [`DATABASE_CA_BUNDLE`] (and `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets).
///
/// # Errors
/// When the secret cannot be read, the CA bundle is missing, or the database cannot be reached.
pub async fn connect_source(
    settings: &DailyJobSettings,
    aws: &AwsConfig,
) -> anyhow::Result<PostgresPurchaseStore> {
    let url = settings.database_url.expose_secret();
    let ca_bundle = std::env::var_os(DATABASE_CA_BUNDLE)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let tls = server_tls(
        ca_bundle.as_deref(),
        settings.database_secret.is_some(),
        on_lambda,
    )?;
    let options = match &settings.database_secret {
        Some(secret) => {
            let credentials = aws.database_credentials(secret).await?;
            connect_options(
                url,
                Some((
                    credentials.username.as_str(),
                    credentials.password.expose_secret(),
                )),
                tls,
            )?
        }
        None => connect_options(url, None, tls)?,
    };
    PostgresPurchaseStore::connect_with(options).await
}

impl DailyJobFunction {
    /// The function over its adapters.
    #[must_use]
    pub fn new(
        source: Arc<dyn PurchaseSource>,
        lake: S3LakeWriter,
        catalog: GlueTableCatalog,
        products: DynamoDbProductCatalog,
        time_zone: Tz,
    ) -> Self {
        Self {
            job: DailyJob::new(source.clone(), Arc::new(lake), Arc::new(catalog)),
            source,
            products,
            time_zone,
        }
    }

    /// The function as its settings wire it (the lake's bucket, prefix and Glue database, the
    /// DynamoDB catalog, the store's time zone), reading orders from `source`: the function's
    /// own `main`, and the emulator's stand-in for an invocation, which reads the database the
    /// command line is given (the emulator's RDS runs no server).
    #[must_use]
    pub fn over(
        settings: &DailyJobSettings,
        aws: &AwsConfig,
        source: Arc<dyn PurchaseSource>,
    ) -> Self {
        Self::new(
            source,
            aws.s3_lake_writer(
                &settings.glue_database,
                &settings.lake_bucket,
                &settings.lake_prefix,
            ),
            aws.glue_table_catalog(
                &settings.glue_database,
                &settings.lake_bucket,
                &settings.lake_prefix,
            ),
            aws.dynamodb_product_catalog(&settings.catalog_table),
            settings.time_zone,
        )
    }

    /// Runs the job for the day the event asks for, then syncs the product catalog.
    ///
    /// # Errors
    /// A bad event, or the job's or the sync's error (the invocation then fails and is retried
    /// by its caller; both steps are idempotent).
    #[tracing::instrument(skip_all, err)]
    pub async fn handle(&self, event: &Value) -> Result<DailyRun, DailyJobFunctionError> {
        let day = day_of(event, Utc::now(), self.time_zone)?;
        tracing::info!(day = %day.date, time_zone = %self.time_zone, "Running the daily job.");
        let job = self.job.run(day).await?;
        let catalog = sync_catalog(self.source.as_ref(), &self.products).await?;
        Ok(DailyRun { job, catalog })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};
    use fashion_postgres::verifies_server;

    fn tz() -> Tz {
        fashion_domain::calendar::parse_time_zone("Asia/Ho_Chi_Minh").expect("tz")
    }

    #[test]
    fn the_aws_path_verifies_the_database_certificate_and_local_ones_keep_the_url() {
        // Arrange
        let bundle = std::env::temp_dir().join(format!("rds-bundle-{}.pem", std::process::id()));
        std::fs::write(&bundle, "a PEM bundle").expect("bundle");
        let url = "postgres://fashion@orders.abc.eu-west-1.rds.amazonaws.com:5432/fashion";
        // Act
        let aws = server_tls(Some(&bundle), true, true).expect("tls");
        let options =
            connect_options(url, Some(("fashion", "from-the-secret")), aws).expect("options");
        let local = server_tls(None, false, false).expect("tls");
        let with_secret_off_lambda = server_tls(None, true, false).expect("tls");
        let refused = server_tls(None, true, true).unwrap_err().to_string();
        // Assert
        assert_eq!(aws, ServerTls::VerifyFull { ca_bundle: &bundle });
        assert!(
            verifies_server(&options),
            "the aws path uses sslmode=verify-full"
        );
        assert_eq!(local, ServerTls::AsUrlSays);
        assert_eq!(with_secret_off_lambda, ServerTls::AsUrlSays);
        assert!(refused.contains(DATABASE_CA_BUNDLE), "{refused}");
        std::fs::remove_file(&bundle).expect("cleanup");
    }

    #[test]
    fn the_schedule_runs_yesterday_in_the_store_time_zone() {
        // 00:01 on 26 Nov in Ho Chi Minh City is 17:01 UTC on 25 Nov.
        let event: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/example-eventbridge-schedule.json"
        ))
        .expect("AWS's sample scheduled event");
        let mut event = event;
        event["time"] = Value::from("2026-11-25T17:01:00Z");
        let day = day_of(&event, Utc::now(), tz()).expect("day");
        assert_eq!(
            day.date,
            NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
        );
    }

    #[test]
    fn the_scheduler_input_of_provisioning_runs_the_day_before_its_scheduled_time() {
        let event = serde_json::json!({
            "job": "daily-job",
            "scheduled_time": "2026-11-25T17:01:00Z",
            "time_zone": "Asia/Ho_Chi_Minh",
        });
        let late = DateTime::parse_from_rfc3339("2026-11-26T17:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            day_of(&event, late, tz()).expect("day").date.to_string(),
            "2026-11-25",
            "a retry a day late still runs the scheduled day"
        );
    }

    #[test]
    fn an_explicit_date_backfills_that_day() {
        let top = serde_json::json!({ "date": "2026-11-03" });
        let detail = serde_json::json!({ "detail-type": "Scheduled Event", "time": "2026-11-25T17:01:00Z", "detail": { "date": "2026-11-04" } });
        assert_eq!(
            day_of(&top, Utc::now(), tz())
                .expect("day")
                .date
                .to_string(),
            "2026-11-03"
        );
        assert_eq!(
            day_of(&detail, Utc::now(), tz())
                .expect("day")
                .date
                .to_string(),
            "2026-11-04"
        );
        assert!(matches!(
            day_of(
                &serde_json::json!({ "date": "03/11/2026" }),
                Utc::now(),
                tz()
            ),
            Err(DailyJobFunctionError::BadEvent(_))
        ));
    }

    /// Issue 14: a payload with a wrong JSON type, a relaxed or future time, or a future date
    /// gets a clear error naming the field, never a silent run of another day.
    #[test]
    fn wrong_types_and_future_times_are_refused_by_field() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for (event, field) in [
            (serde_json::json!({ "date": 20_261_103 }), "/date"),
            (serde_json::json!({ "date": null }), "/date"),
            (
                serde_json::json!({ "detail": { "date": ["2026-11-03"] } }),
                "/detail/date",
            ),
            (
                serde_json::json!({ "scheduled_time": 1_764_000_000 }),
                "/scheduled_time",
            ),
            (
                serde_json::json!({ "scheduled_time": "2026-11-25 17:01:00Z" }),
                "/scheduled_time",
            ),
            (
                serde_json::json!({ "scheduled_time": "2099-11-25T17:01:00Z" }),
                "future",
            ),
            (serde_json::json!({ "date": "2099-01-01" }), "after today"),
            (serde_json::json!({ "date": "2026-11-3" }), "/date"),
        ] {
            let err = day_of(&event, now, tz()).unwrap_err().to_string();
            assert!(err.contains(field), "{event}: {err}");
        }
        assert_eq!(
            day_of(&serde_json::json!({ "date": "2026-11-26" }), now, tz())
                .unwrap()
                .date
                .to_string(),
            "2026-11-26",
            "today (in the store's zone) may be run"
        );
    }
}
