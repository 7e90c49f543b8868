//! The daily-job function: invoked by the 00:01 schedule (an EventBridge event), it runs the
//! domain's [`DailyJob`] for "yesterday" in the store's time zone, reading RDS PostgreSQL and
//! writing the S3 lake catalogued in Glue. An explicit `date` backfills that day instead.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use fashion_aws::{AwsConfig, GlueTableCatalog, S3LakeWriter};
use fashion_domain::calendar::StoreDay;
use fashion_domain::event::{MAX_FUTURE_SKEW, parse_timestamp};
use fashion_domain::services::daily_job::{DailyJob, DailyJobError, DailyJobReport};
use fashion_postgres::PostgresPurchaseStore;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::settings::DailyJobSettings;

/// Why an invocation could not run.
#[derive(Debug, thiserror::Error)]
pub enum DailyJobFunctionError {
    /// The event names a date that is not `YYYY-MM-DD`, or a time that is not RFC 3339.
    #[error("bad event: {0}")]
    BadEvent(String),
    /// The job failed; retryable when its cause is.
    #[error(transparent)]
    Job(#[from] DailyJobError),
}

/// The function: the database pool and AWS clients live as long as the execution environment.
pub struct DailyJobFunction {
    job: DailyJob<PostgresPurchaseStore, S3LakeWriter, GlueTableCatalog>,
    time_zone: Tz,
}

/// The store day an event asks for: `date` (top level, or in an EventBridge event's `detail`)
/// for a backfill; otherwise the day before the schedule's firing time (`scheduled_time`, which
/// provisioning's Scheduler input carries, or an EventBridge event's `time`; so a late retry
/// still runs the same day) in the store's time zone, or before `now` without one.
///
/// # Errors
/// [`DailyJobFunctionError::BadEvent`] for a malformed date or time.
pub fn day_of(
    event: &Value,
    now: DateTime<Utc>,
    tz: Tz,
) -> Result<StoreDay, DailyJobFunctionError> {
    let bad = DailyJobFunctionError::BadEvent;
    let today = StoreDay::yesterday(now, tz)
        .date
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    if let Some((field, d)) = crate::text_field(event, &["/date", "/detail/date"]).map_err(bad)? {
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|_| d.len() == 10)
            .ok_or_else(|| bad(format!("{field} {d:?} is not a date like 2026-11-25")))?;
        if date > today {
            return Err(bad(format!(
                "{field} {d} is after today ({today}): there is nothing to run yet"
            )));
        }
        return Ok(StoreDay::new(date, tz));
    }
    let at = match crate::text_field(event, &["/scheduled_time", "/time"]).map_err(bad)? {
        Some((field, t)) => parse_timestamp(t)
            .map_err(|e| bad(format!("{field}: {e}")))?
            .with_timezone(&Utc),
        None => now,
    };
    if now
        .checked_add_signed(MAX_FUTURE_SKEW)
        .is_some_and(|latest| at > latest)
    {
        return Err(bad(format!(
            "the schedule's time {at} is in the future (now {now})"
        )));
    }
    Ok(StoreDay::yesterday(at, tz))
}

/// Opens the transactional database the settings name: with the credentials of the database
/// secret when there is one (RDS's managed master secret, read once per cold start), with the
/// URL's otherwise.
///
/// # Errors
/// When the secret cannot be read or the database cannot be reached.
pub async fn connect_source(
    settings: &DailyJobSettings,
    aws: &AwsConfig,
) -> anyhow::Result<PostgresPurchaseStore> {
    let url = settings.database_url.expose_secret();
    match &settings.database_secret {
        Some(secret) => {
            let credentials = aws.database_credentials(secret).await?;
            PostgresPurchaseStore::connect_as(
                url,
                &credentials.username,
                credentials.password.expose_secret(),
            )
            .await
        }
        None => PostgresPurchaseStore::connect(url).await,
    }
}

impl DailyJobFunction {
    /// The function over its adapters.
    #[must_use]
    pub fn new(
        source: PostgresPurchaseStore,
        lake: S3LakeWriter,
        catalog: GlueTableCatalog,
        time_zone: Tz,
    ) -> Self {
        Self {
            job: DailyJob::new(Arc::new(source), Arc::new(lake), Arc::new(catalog)),
            time_zone,
        }
    }

    /// Runs the job for the day the event asks for.
    ///
    /// # Errors
    /// A bad event, or the job's error (the invocation then fails and is retried by its caller).
    #[tracing::instrument(skip_all, err)]
    pub async fn handle(&self, event: &Value) -> Result<DailyJobReport, DailyJobFunctionError> {
        let day = day_of(event, Utc::now(), self.time_zone)?;
        tracing::info!(day = %day.date, time_zone = %self.time_zone, "Running the daily job.");
        Ok(self.job.run(day).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> Tz {
        fashion_domain::calendar::parse_time_zone("Asia/Ho_Chi_Minh").expect("tz")
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
