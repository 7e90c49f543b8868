//! The trainer function: invoked on its schedule (EventBridge Scheduler, or an EventBridge rule),
//! it runs the domain's [`Trainer`] over the lake's history (Parquet on S3, found through Glue),
//! the DynamoDB product catalog and the S3 model store, writes customers' new purchases to their
//! DynamoDB activity records, and returns the training report. The stream processor picks the
//! new model up on its next refresh.

use chrono::{Duration, Utc};
use fashion_aws::{
    AwsConfig, DynamoDbProductCatalog, DynamoDbUserActivityStore, S3HistorySource, S3ModelStore,
};
use fashion_domain::services::trainer::{TrainReport, Trainer, TrainerParams};
use serde_json::Value;

pub use crate::events::{TrainerFunctionError, training_time};
use crate::settings::TrainerSettings;

/// The trainer over the AWS adapters.
pub type AwsTrainer =
    Trainer<S3HistorySource, DynamoDbProductCatalog, S3ModelStore, DynamoDbUserActivityStore>;

/// The function: its clients live as long as the execution environment.
pub struct TrainerFunction {
    trainer: AwsTrainer,
}

impl TrainerFunction {
    /// The function over its adapters, built once per cold start.
    #[must_use]
    pub fn new(settings: &TrainerSettings, aws: &AwsConfig) -> Self {
        let params = TrainerParams {
            lookback: Duration::days(i64::from(settings.lookback_days)),
            ..TrainerParams::default()
        };
        Self::from_trainer(Trainer::new(
            aws.s3_history_source(
                &settings.glue_database,
                &settings.lake_bucket,
                &settings.lake_prefix,
            ),
            aws.dynamodb_product_catalog(&settings.catalog_table),
            aws.s3_model_store(&settings.models_bucket, &settings.models_prefix),
            aws.dynamodb_user_activity_store(&settings.activity_table, settings.activity_ttl),
            params,
        ))
    }

    /// The function over an assembled trainer.
    #[must_use]
    pub const fn from_trainer(trainer: AwsTrainer) -> Self {
        Self { trainer }
    }

    /// Trains up to the instant the event asks for and stores the model.
    ///
    /// # Errors
    /// A bad event, or training's error (the invocation then fails and the schedule retries it).
    #[tracing::instrument(skip_all, err)]
    pub async fn handle(&self, event: &Value) -> Result<TrainReport, TrainerFunctionError> {
        let until = training_time(event, Utc::now())?;
        tracing::info!(until = %until, "Training on the lake's history.");
        let (_, report) = self.trainer.train(until).await?;
        tracing::info!(
            version = %report.version,
            interactions = report.interactions,
            purchases = report.purchases,
            products = report.products,
            "Stored a new model."
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_schedule_trains_up_to_its_scheduled_time() {
        let now = at("2026-11-25T12:00:07Z");
        let scheduled = serde_json::json!({ "job": "trainer", "scheduled_time": "2026-11-25T12:00:00Z", "time_zone": "Asia/Ho_Chi_Minh" });
        assert_eq!(
            training_time(&scheduled, now).unwrap(),
            at("2026-11-25T12:00:00Z")
        );
        let mut rule: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/example-eventbridge-schedule.json"
        ))
        .unwrap();
        rule["time"] = Value::from("2026-11-25T06:00:00Z");
        assert_eq!(
            training_time(&rule, now).unwrap(),
            at("2026-11-25T06:00:00Z")
        );
        assert_eq!(training_time(&serde_json::json!({}), now).unwrap(), now);
    }

    #[test]
    fn an_explicit_until_retrains_as_of_that_instant() {
        let now = at("2026-11-25T12:00:07Z");
        let event = serde_json::json!({ "time": "2026-11-25T12:00:00Z", "detail": { "until": "2026-11-20T00:00:00+07:00" } });
        assert_eq!(
            training_time(&event, now).unwrap(),
            at("2026-11-19T17:00:00Z")
        );
        let bad = training_time(&serde_json::json!({ "until": "yesterday" }), now).unwrap_err();
        assert!(matches!(bad, TrainerFunctionError::BadEvent(_)));
        assert!(!bad.is_retryable());
        for (event, field) in [
            (serde_json::json!({ "until": 1_764_000_000 }), "/until"),
            (
                serde_json::json!({ "scheduled_time": null }),
                "/scheduled_time",
            ),
            (
                serde_json::json!({ "time": "2026-11-25t12:00:00z" }),
                "/time",
            ),
            // A future instant would name a model version that stays the latest until then.
            (
                serde_json::json!({ "scheduled_time": "2099-01-01T00:00:00Z" }),
                "future",
            ),
        ] {
            let err = training_time(&event, now).unwrap_err().to_string();
            assert!(err.contains(field), "{event}: {err}");
        }
    }
}
