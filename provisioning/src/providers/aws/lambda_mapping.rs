//! The Kinesis event-source mapping (`aws:lambda:event-source-mapping`) that feeds the stream
//! processor: partial batch responses, bisect on error, bounded retries, an on-failure
//! destination.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::types::{
    DestinationConfig, EventSourcePosition, FunctionResponseType, OnFailure,
};
use serde::{Deserialize, Serialize};

use super::lambda::NOT_FOUND;
use super::{
    IAM_PROPAGATION_TIMEOUT, OUT_ARN, absent_if, aws_err, clients, gone_if, is_role_propagation,
    reread, retry_transient, wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The event-source mapping kind id.
pub const MAPPING_KIND: &str = "aws:lambda:event-source-mapping";
/// An event-source mapping becomes Enabled, or goes away, within this.
pub const MAPPING_STATE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Output key: the mapping's UUID.
pub const OUT_UUID: &str = "uuid";

/// Desired (and observed) settings of a Kinesis event-source mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingProps {
    /// The function's name.
    pub function_name: String,
    /// The stream's name (identifies the mapping among the function's).
    pub stream_name: String,
    /// The stream's ARN.
    pub event_source_arn: String,
    /// `TRIM_HORIZON` or `LATEST` (fixed at creation).
    pub starting_position: String,
    /// Records per invocation.
    pub batch_size: i32,
    /// Seconds to gather a batch.
    pub batching_window_secs: i32,
    /// Split a failing batch in two and retry each half.
    pub bisect_on_error: bool,
    /// Retries before a batch goes to the on-failure destination.
    pub max_retries: i32,
    /// Older records go to the on-failure destination (-1: never).
    pub max_record_age_secs: i32,
    /// Concurrent batches per shard.
    pub parallelization_factor: i32,
    /// The function reports `batchItemFailures`, so only failed records are retried.
    pub report_batch_item_failures: bool,
    /// Where discarded batches are described (an S3 bucket, SQS queue or SNS topic ARN).
    pub on_failure_destination: Option<String>,
    /// Whether Lambda polls the stream.
    pub enabled: bool,
    /// Tags, set at creation (not read back: mappings report no tags through the same call).
    pub tags: BTreeMap<String, String>,
}

/// The event-source mapping kind. Physical name: `<function>/<stream>`.
#[derive(Debug, Default)]
pub struct EventSourceMapping;

impl EventSourceMapping {
    async fn wait_state(&self, cx: &Cx, uuid: &str, wanted: &str) -> Result<(), ProvisionError> {
        let l = &clients(cx)?.lambda;
        wait_until(uuid, wanted, MAPPING_STATE_TIMEOUT, || async {
            let m = absent_if(
                l.get_event_source_mapping()
                    .uuid(uuid)
                    .send()
                    .await
                    .map_err(aws_err("read event-source mapping", uuid)),
                NOT_FOUND,
            )?;
            Ok(match (m, wanted) {
                (None, "deleted") => true,
                (Some(m), w) => m.state() == Some(w),
                (None, _) => false,
            })
        })
        .await
    }

    fn destination(p: &MappingProps) -> DestinationConfig {
        DestinationConfig::builder()
            .on_failure(
                OnFailure::builder()
                    .set_destination(p.on_failure_destination.clone())
                    .build(),
            )
            .build()
    }

    fn response_types(p: &MappingProps) -> Vec<FunctionResponseType> {
        if p.report_batch_item_failures {
            vec![FunctionResponseType::ReportBatchItemFailures]
        } else {
            vec![]
        }
    }
}

fn state_of(enabled: bool) -> &'static str {
    if enabled { "Enabled" } else { "Disabled" }
}

#[async_trait]
impl ResourceKind for EventSourceMapping {
    fn kind(&self) -> &'static str {
        MAPPING_KIND
    }

    fn label(&self) -> &'static str {
        "Lambda event-source mapping"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: MappingProps = from_fields(spec)?;
        let suffix = format!(":stream/{}", want.stream_name);
        let out = absent_if(
            clients(cx)?
                .lambda
                .list_event_source_mappings()
                .function_name(&want.function_name)
                .send()
                .await
                .map_err(aws_err(
                    "list the event-source mappings of",
                    &want.function_name,
                )),
            NOT_FOUND,
        )?;
        let Some(m) = out.as_ref().and_then(|o| {
            o.event_source_mappings().iter().find(|m| {
                m.event_source_arn().is_some_and(|a| a.ends_with(&suffix))
                    && m.state() != Some("Deleting")
            })
        }) else {
            return Ok(None);
        };
        let seen = MappingProps {
            function_name: m
                .function_arn()
                .and_then(|a| a.rsplit(':').next())
                .unwrap_or_default()
                .to_owned(),
            stream_name: want.stream_name.clone(),
            event_source_arn: m.event_source_arn().unwrap_or_default().to_owned(),
            starting_position: m
                .starting_position()
                .map(EventSourcePosition::as_str)
                .unwrap_or_default()
                .to_owned(),
            batch_size: m.batch_size().unwrap_or_default(),
            batching_window_secs: m.maximum_batching_window_in_seconds().unwrap_or_default(),
            bisect_on_error: m.bisect_batch_on_function_error().unwrap_or(false),
            max_retries: m.maximum_retry_attempts().unwrap_or(-1),
            max_record_age_secs: m.maximum_record_age_in_seconds().unwrap_or(-1),
            parallelization_factor: m.parallelization_factor().unwrap_or(1),
            report_batch_item_failures: m
                .function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
            on_failure_destination: m
                .destination_config()
                .and_then(|d| d.on_failure())
                .and_then(|f| f.destination())
                .map(str::to_owned),
            enabled: !matches!(m.state(), Some("Disabled" | "Disabling")),
            tags: want.tags.clone(),
        };
        Ok(Some(Observed {
            physical_name: spec.physical_name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_UUID.to_owned(), m.uuid().unwrap_or_default().to_owned()),
                (
                    OUT_ARN.to_owned(),
                    m.event_source_mapping_arn().unwrap_or_default().to_owned(),
                ),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        let mut want = spec.fields.clone();
        want.remove("tags");
        diff_fields(
            &want,
            &seen.fields,
            &["function_name", "event_source_arn", "starting_position"],
        )
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: MappingProps = from_fields(spec)?;
        let l = &clients(cx)?.lambda;
        // The function's role needs a moment before Lambda can read the stream with it.
        let out = retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
            l.create_event_source_mapping()
                .function_name(&p.function_name)
                .event_source_arn(&p.event_source_arn)
                .starting_position(EventSourcePosition::from(p.starting_position.as_str()))
                .batch_size(p.batch_size)
                .maximum_batching_window_in_seconds(p.batching_window_secs)
                .bisect_batch_on_function_error(p.bisect_on_error)
                .maximum_retry_attempts(p.max_retries)
                .maximum_record_age_in_seconds(p.max_record_age_secs)
                .parallelization_factor(p.parallelization_factor)
                .set_function_response_types(Some(Self::response_types(&p)))
                .destination_config(Self::destination(&p))
                .enabled(p.enabled)
                .set_tags(Some(p.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(aws_err("create event-source mapping", &spec.physical_name))
        })
        .await?;
        if let Some(uuid) = out.uuid() {
            self.wait_state(cx, uuid, state_of(p.enabled)).await?;
        }
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: MappingProps = from_fields(spec)?;
        let uuid = seen.outputs.get(OUT_UUID).cloned().unwrap_or_default();
        clients(cx)?
            .lambda
            .update_event_source_mapping()
            .uuid(&uuid)
            .batch_size(p.batch_size)
            .maximum_batching_window_in_seconds(p.batching_window_secs)
            .bisect_batch_on_function_error(p.bisect_on_error)
            .maximum_retry_attempts(p.max_retries)
            .maximum_record_age_in_seconds(p.max_record_age_secs)
            .parallelization_factor(p.parallelization_factor)
            .set_function_response_types(Some(Self::response_types(&p)))
            .destination_config(Self::destination(&p))
            .enabled(p.enabled)
            .send()
            .await
            .map_err(aws_err("update event-source mapping", &spec.physical_name))?;
        self.wait_state(cx, &uuid, state_of(p.enabled)).await?;
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let uuid = seen.outputs.get(OUT_UUID).cloned().unwrap_or_default();
        gone_if(
            clients(cx)?
                .lambda
                .delete_event_source_mapping()
                .uuid(&uuid)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete event-source mapping", &seen.physical_name)),
            NOT_FOUND,
        )?;
        self.wait_state(cx, &uuid, "deleted").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn spec<T: Serialize>(kind: &str, p: &T) -> ResourceSpec {
        fixtures::declared(&format!("aws::{kind}::x"), kind, "x", p)
    }

    fn seen<T: Serialize>(p: &T) -> Observed {
        fixtures::observed("x", p)
    }

    fn mapping() -> MappingProps {
        MappingProps {
            function_name: "f".into(),
            stream_name: "s".into(),
            event_source_arn: "arn:aws:kinesis:us-east-1:1:stream/s".into(),
            starting_position: "TRIM_HORIZON".into(),
            batch_size: 100,
            batching_window_secs: 5,
            bisect_on_error: true,
            max_retries: 3,
            max_record_age_secs: 3600,
            parallelization_factor: 1,
            report_batch_item_failures: true,
            on_failure_destination: Some("arn:aws:s3:::dlq".into()),
            enabled: true,
            tags: BTreeMap::from([("stack".into(), "aws".into())]),
        }
    }

    #[test]
    fn mapping_diff_updates_batching_and_ignores_unreadable_tags() {
        // Arrange
        let mut drifted = mapping();
        drifted.tags.clear();
        drifted.report_batch_item_failures = false;
        drifted.batch_size = 10;
        // Act
        let change = EventSourceMapping.diff(&spec(MAPPING_KIND, &mapping()), &seen(&drifted));
        // Assert
        let Change::Update { fields } = change else {
            panic!("expected an update")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["batch_size", "report_batch_item_failures"]);
    }

    #[test]
    fn mapping_diff_replaces_a_new_starting_position() {
        let mut latest = mapping();
        latest.starting_position = "LATEST".into();
        assert_eq!(
            EventSourceMapping.diff(&spec(MAPPING_KIND, &latest), &seen(&mapping())),
            Change::Replace {
                field: "starting_position".into()
            }
        );
    }
}
