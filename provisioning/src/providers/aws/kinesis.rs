//! Kinesis data streams (`aws:kinesis:stream`): capacity mode, shard count, retention,
//! server-side encryption and tags, each updated in place (Terraform's `stream.go` discipline:
//! wait for ACTIVE after every change).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kinesis::types::{EncryptionType, ScalingType, StreamModeDetails, StreamStatus};
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if,
    seen_tags, tag_changes, wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, observed_as, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:kinesis:stream";
/// Stream creation, resharding and encryption changes finish within this.
pub const KINESIS_ACTIVE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Stream deletion finishes within this.
pub const KINESIS_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The AWS-managed key Kinesis encrypts with.
pub const AWS_MANAGED_KEY: &str = "alias/aws/kinesis";
/// `mode` of a provisioned stream.
pub const MODE_PROVISIONED: &str = "PROVISIONED";
/// `mode` of an on-demand stream.
pub const MODE_ON_DEMAND: &str = "ON_DEMAND";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Desired (and observed) settings of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamProps {
    /// `PROVISIONED` or `ON_DEMAND`.
    pub mode: String,
    /// Open shards (provisioned streams only; `None` on demand, where Kinesis decides).
    pub shards: Option<i32>,
    /// Hours records are kept.
    pub retention_hours: i32,
    /// `KMS` or `NONE`.
    pub encryption: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The Kinesis stream kind.
#[derive(Debug, Default)]
pub struct KinesisStream;

impl KinesisStream {
    async fn wait_active(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let k = &clients(cx)?.kinesis;
        wait_until(name, "ACTIVE", KINESIS_ACTIVE_TIMEOUT, || async {
            let out = k
                .describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .map_err(aws_err("read Kinesis stream", name))?;
            Ok(out
                .stream_description_summary()
                .is_some_and(|s| s.stream_status() == &StreamStatus::Active))
        })
        .await
    }

    async fn outputs(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        self.read(cx, spec)
            .await?
            .map(|o| o.outputs)
            .ok_or_else(|| ProvisionError::invalid(&spec.id, "stream vanished right after apply"))
    }

    async fn set_tags(
        &self,
        cx: &Cx,
        name: &str,
        want: &BTreeMap<String, String>,
        seen: &BTreeMap<String, String>,
    ) -> Result<(), ProvisionError> {
        let k = &clients(cx)?.kinesis;
        let (add, remove) = tag_changes(want, seen);
        if !remove.is_empty() {
            k.remove_tags_from_stream()
                .stream_name(name)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(aws_err("untag Kinesis stream", name))?;
        }
        if !add.is_empty() {
            k.add_tags_to_stream()
                .stream_name(name)
                .set_tags(Some(add.into_iter().collect()))
                .send()
                .await
                .map_err(aws_err("tag Kinesis stream", name))?;
        }
        Ok(())
    }

    async fn set_retention(
        &self,
        cx: &Cx,
        name: &str,
        want: i32,
        seen: i32,
    ) -> Result<(), ProvisionError> {
        let k = &clients(cx)?.kinesis;
        if want > seen {
            k.increase_stream_retention_period()
                .stream_name(name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(aws_err("increase the retention of Kinesis stream", name))?;
        } else if want < seen {
            k.decrease_stream_retention_period()
                .stream_name(name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(aws_err("decrease the retention of Kinesis stream", name))?;
        }
        self.wait_active(cx, name).await
    }

    async fn set_encryption(&self, cx: &Cx, name: &str, want: &str) -> Result<(), ProvisionError> {
        let k = &clients(cx)?.kinesis;
        if want == "KMS" {
            k.start_stream_encryption()
                .stream_name(name)
                .encryption_type(EncryptionType::Kms)
                .key_id(AWS_MANAGED_KEY)
                .send()
                .await
                .map_err(aws_err("encrypt Kinesis stream", name))?;
        } else {
            k.stop_stream_encryption()
                .stream_name(name)
                .encryption_type(EncryptionType::Kms)
                .key_id(AWS_MANAGED_KEY)
                .send()
                .await
                .map_err(aws_err("stop encrypting Kinesis stream", name))?;
        }
        self.wait_active(cx, name).await
    }
}

fn mode_details(mode: &str) -> Result<StreamModeDetails, ProvisionError> {
    Ok(StreamModeDetails::builder()
        .stream_mode(aws_sdk_kinesis::types::StreamMode::from(mode))
        .build()?)
}

#[async_trait]
impl ResourceKind for KinesisStream {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "Kinesis stream"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let k = &clients(cx)?.kinesis;
        let name = &spec.physical_name;
        let out = absent_if(
            k.describe_stream_summary()
                .stream_name(name)
                .send()
                .await
                .map_err(aws_err("read Kinesis stream", name)),
            NOT_FOUND,
        )?;
        let Some(s) = out.as_ref().and_then(|o| o.stream_description_summary()) else {
            return Ok(None);
        };
        // A stream on its way out is as good as gone: create will wait for it to disappear.
        if s.stream_status() == &StreamStatus::Deleting {
            return Ok(None);
        }
        let mode = s
            .stream_mode_details()
            .map_or(MODE_PROVISIONED, |m| m.stream_mode().as_str())
            .to_owned();
        let tags = k
            .list_tags_for_stream()
            .stream_name(name)
            .send()
            .await
            .map_err(aws_err("read the tags of Kinesis stream", name))?;
        let seen = StreamProps {
            shards: (mode == MODE_PROVISIONED).then(|| s.open_shard_count()),
            mode,
            retention_hours: s.retention_period_hours(),
            encryption: s
                .encryption_type()
                .map_or("NONE", EncryptionType::as_str)
                .to_owned(),
            tags: comparable_tags(
                tags.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), s.stream_arn().to_owned()),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: StreamProps = from_fields(spec)?;
        let k = &clients(cx)?.kinesis;
        let name = &spec.physical_name;
        // After a replace (or a delete someone else started) the old stream may still be going.
        wait_until(name, "deleted", KINESIS_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                k.describe_stream_summary()
                    .stream_name(name)
                    .send()
                    .await
                    .map_err(aws_err("read Kinesis stream", name)),
                NOT_FOUND,
            )?
            .is_none_or(|o| {
                o.stream_description_summary()
                    .is_none_or(|s| s.stream_status() != &StreamStatus::Deleting)
            }))
        })
        .await?;
        let mut req = k
            .create_stream()
            .stream_name(name)
            .stream_mode_details(mode_details(&p.mode)?);
        if p.mode == MODE_PROVISIONED {
            req = req.shard_count(p.shards.unwrap_or(1));
        }
        req.send()
            .await
            .map_err(aws_err("create Kinesis stream", name))?;
        self.wait_active(cx, name).await?;
        self.set_tags(cx, name, &p.tags, &BTreeMap::new()).await?;
        // New streams keep records for 24 hours.
        self.set_retention(cx, name, p.retention_hours, 24).await?;
        if p.encryption != "NONE" {
            self.set_encryption(cx, name, &p.encryption).await?;
        }
        self.outputs(cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: StreamProps = from_fields(spec)?;
        let was: StreamProps = observed_as(seen)?;
        let k = &clients(cx)?.kinesis;
        let name = &spec.physical_name;
        if changes_field(change, "mode") {
            let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
            k.update_stream_mode()
                .stream_arn(arn)
                .stream_mode_details(mode_details(&p.mode)?)
                .send()
                .await
                .map_err(aws_err("change the capacity mode of Kinesis stream", name))?;
            self.wait_active(cx, name).await?;
        }
        if changes_field(change, "shards")
            && let Some(shards) = p.shards
        {
            k.update_shard_count()
                .stream_name(name)
                .target_shard_count(shards)
                .scaling_type(ScalingType::UniformScaling)
                .send()
                .await
                .map_err(aws_err("reshard Kinesis stream", name))?;
            self.wait_active(cx, name).await?;
        }
        if changes_field(change, "retention_hours") {
            self.set_retention(cx, name, p.retention_hours, was.retention_hours)
                .await?;
        }
        if changes_field(change, "encryption") {
            self.set_encryption(cx, name, &p.encryption).await?;
        }
        if changes_field(change, "tags") {
            self.set_tags(cx, name, &p.tags, &seen_tags(seen)).await?;
        }
        self.outputs(cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let k = &clients(cx)?.kinesis;
        let name = &seen.physical_name;
        gone_if(
            k.delete_stream()
                .stream_name(name)
                .enforce_consumer_deletion(true)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete Kinesis stream", name)),
            NOT_FOUND,
        )?;
        wait_until(name, "deleted", KINESIS_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                k.describe_stream_summary()
                    .stream_name(name)
                    .send()
                    .await
                    .map_err(aws_err("read Kinesis stream", name)),
                NOT_FOUND,
            )?
            .is_none())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::FieldChange;
    use crate::engine::resource::fixtures;
    use serde_json::json;

    fn props() -> StreamProps {
        StreamProps {
            mode: MODE_PROVISIONED.into(),
            shards: Some(4),
            retention_hours: 48,
            encryption: "KMS".into(),
            tags: BTreeMap::from([("managed-by".into(), "fashion-provisioning".into())]),
        }
    }

    fn spec(p: &StreamProps) -> ResourceSpec {
        fixtures::declared("aws::aws:kinesis:stream::clickstream", KIND, "s", p)
    }

    fn seen(p: &StreamProps) -> Observed {
        fixtures::observed("s", p)
    }

    #[test]
    fn stream_diff_is_same_when_nothing_changed() {
        assert_eq!(
            KinesisStream.diff(&spec(&props()), &seen(&props())),
            Change::Same
        );
    }

    #[test]
    fn stream_diff_updates_shards_and_encryption_in_place() {
        // Arrange
        let mut drifted = props();
        drifted.shards = Some(2);
        drifted.encryption = "NONE".into();
        // Act
        let change = KinesisStream.diff(&spec(&props()), &seen(&drifted));
        // Assert
        assert_eq!(
            change,
            Change::Update {
                fields: vec![
                    FieldChange {
                        field: "encryption".into(),
                        from: json!("NONE"),
                        to: json!("KMS")
                    },
                    FieldChange {
                        field: "shards".into(),
                        from: json!(2),
                        to: json!(4)
                    },
                ]
            }
        );
    }

    #[test]
    fn stream_diff_switches_capacity_mode_in_place() {
        let mut on_demand = props();
        on_demand.mode = MODE_ON_DEMAND.into();
        on_demand.shards = None;
        let change = KinesisStream.diff(&spec(&on_demand), &seen(&props()));
        assert!(
            matches!(change, Change::Update { ref fields } if fields.len() == 2),
            "{change:?}"
        );
    }
}
