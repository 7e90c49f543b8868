//! The Athena workgroup (`aws:athena:workgroup`) analysts query the lake through: results in the
//! lake bucket (encrypted), the workgroup's settings enforced on every query, a scan cutoff.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_athena::types::{
    EncryptionConfiguration, EncryptionOption, ResultConfiguration, ResultConfigurationUpdates,
    Tag, WorkGroupConfiguration, WorkGroupConfigurationUpdates, WorkGroupState,
};
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, aws_err, changes_field, clients, comparable_tags, gone_if, reread,
    seen_tags, tag_changes,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:athena:workgroup";
/// Output key: where query results go.
pub const OUT_RESULTS: &str = "output_location";

/// Desired (and observed) settings of a workgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkgroupProps {
    /// What it is for.
    pub description: String,
    /// `s3://bucket/prefix/` for query results.
    pub output_location: String,
    /// `SSE_S3`, `SSE_KMS` or `CSE_KMS`.
    pub encryption: String,
    /// Clients cannot override the workgroup's settings.
    pub enforce_configuration: bool,
    /// Query metrics go to CloudWatch.
    pub publish_metrics: bool,
    /// A query scanning more bytes is cancelled.
    pub bytes_scanned_cutoff: i64,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The Athena workgroup kind.
#[derive(Debug, Default)]
pub struct AthenaWorkgroup;

/// Athena answers a missing workgroup with `InvalidRequestException` and a message, not a code
/// of its own.
fn is_missing(e: &ProvisionError) -> bool {
    matches!(e, ProvisionError::Provider { code, message, .. }
        if code == "InvalidRequestException" && message.contains("not found"))
}

async fn workgroup_arn(cx: &Cx, name: &str) -> Result<String, ProvisionError> {
    Ok(format!(
        "arn:{}:athena:{}:{}:workgroup/{name}",
        cx.config.partition(),
        cx.config.region,
        clients(cx)?.account_id().await?
    ))
}

async fn write_settings(cx: &Cx, name: &str, p: &WorkgroupProps) -> Result<(), ProvisionError> {
    clients(cx)?
        .athena
        .update_work_group()
        .work_group(name)
        .description(&p.description)
        .state(WorkGroupState::from(p.state.as_str()))
        .configuration_updates(
            WorkGroupConfigurationUpdates::builder()
                .result_configuration_updates(
                    ResultConfigurationUpdates::builder()
                        .output_location(&p.output_location)
                        .encryption_configuration(
                            EncryptionConfiguration::builder()
                                .encryption_option(EncryptionOption::from(p.encryption.as_str()))
                                .build()?,
                        )
                        .build(),
                )
                .enforce_work_group_configuration(p.enforce_configuration)
                .publish_cloud_watch_metrics_enabled(p.publish_metrics)
                .bytes_scanned_cutoff_per_query(p.bytes_scanned_cutoff)
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(aws_err("update Athena workgroup", name))
}

#[async_trait]
impl ResourceKind for AthenaWorkgroup {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "Athena workgroup"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let a = &clients(cx)?.athena;
        let name = &spec.physical_name;
        let out = match a
            .get_work_group()
            .work_group(name)
            .send()
            .await
            .map_err(aws_err("read Athena workgroup", name))
        {
            Ok(o) => o,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(w) = out.work_group() else {
            return Ok(None);
        };
        let c = w.configuration();
        let result = c.and_then(|c| c.result_configuration());
        let arn = workgroup_arn(cx, name).await?;
        let tags = a
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(aws_err("read the tags of Athena workgroup", name))?;
        let seen = WorkgroupProps {
            description: w.description().unwrap_or_default().to_owned(),
            output_location: result
                .and_then(|r| r.output_location())
                .unwrap_or_default()
                .to_owned(),
            encryption: result
                .and_then(|r| r.encryption_configuration())
                .map_or("NONE", |e| e.encryption_option().as_str())
                .to_owned(),
            enforce_configuration: c
                .and_then(|c| c.enforce_work_group_configuration())
                .unwrap_or(false),
            publish_metrics: c
                .and_then(|c| c.publish_cloud_watch_metrics_enabled())
                .unwrap_or(false),
            bytes_scanned_cutoff: c
                .and_then(|c| c.bytes_scanned_cutoff_per_query())
                .unwrap_or(0),
            state: w
                .state()
                .map_or("ENABLED", WorkGroupState::as_str)
                .to_owned(),
            tags: comparable_tags(tags.tags().iter().map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), arn),
                (OUT_RESULTS.to_owned(), seen.output_location.clone()),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: WorkgroupProps = from_fields(spec)?;
        let name = &spec.physical_name;
        clients(cx)?
            .athena
            .create_work_group()
            .name(name)
            .description(&p.description)
            .configuration(
                WorkGroupConfiguration::builder()
                    .result_configuration(
                        ResultConfiguration::builder()
                            .output_location(&p.output_location)
                            .encryption_configuration(
                                EncryptionConfiguration::builder()
                                    .encryption_option(EncryptionOption::from(
                                        p.encryption.as_str(),
                                    ))
                                    .build()?,
                            )
                            .build(),
                    )
                    .enforce_work_group_configuration(p.enforce_configuration)
                    .publish_cloud_watch_metrics_enabled(p.publish_metrics)
                    .bytes_scanned_cutoff_per_query(p.bytes_scanned_cutoff)
                    .build(),
            )
            .set_tags(Some(
                p.tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(aws_err("create Athena workgroup", name))?;
        // A workgroup is created enabled; disabling is a second call.
        if p.state != "ENABLED" {
            write_settings(cx, name, &p).await?;
        }
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: WorkgroupProps = from_fields(spec)?;
        let a = &clients(cx)?.athena;
        let name = &spec.physical_name;
        let settings = [
            "description",
            "output_location",
            "encryption",
            "enforce_configuration",
            "publish_metrics",
            "bytes_scanned_cutoff",
            "state",
        ];
        if settings.iter().any(|f| changes_field(change, f)) {
            write_settings(cx, name, &p).await?;
        }
        if changes_field(change, "tags") {
            let arn = workgroup_arn(cx, name).await?;
            let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
            if !remove.is_empty() {
                a.untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag Athena workgroup", name))?;
            }
            if !add.is_empty() {
                a.tag_resource()
                    .resource_arn(&arn)
                    .set_tags(Some(
                        add.into_iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(aws_err("tag Athena workgroup", name))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        match clients(cx)?
            .athena
            .delete_work_group()
            .work_group(name)
            .recursive_delete_option(true)
            .send()
            .await
            .map(|_| ())
            .map_err(aws_err("delete Athena workgroup", name))
        {
            Err(e) if is_missing(&e) => Ok(()),
            other => gone_if(other, &["ResourceNotFoundException"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn props() -> WorkgroupProps {
        WorkgroupProps {
            description: "lake".into(),
            output_location: "s3://b/athena-results/".into(),
            encryption: "SSE_S3".into(),
            enforce_configuration: true,
            publish_metrics: true,
            bytes_scanned_cutoff: 10 << 30,
            state: "ENABLED".into(),
            tags: BTreeMap::new(),
        }
    }

    fn spec(p: &WorkgroupProps) -> ResourceSpec {
        fixtures::declared("aws::aws:athena:workgroup::analytics", KIND, "w", p)
    }

    fn seen(p: &WorkgroupProps) -> Observed {
        fixtures::observed("w", p)
    }

    #[test]
    fn workgroup_diff_updates_a_moved_result_location() {
        let mut moved = props();
        moved.output_location = "s3://elsewhere/".into();
        assert_eq!(
            AthenaWorkgroup.diff(&spec(&props()), &seen(&props())),
            Change::Same
        );
        let Change::Update { fields } = AthenaWorkgroup.diff(&spec(&props()), &seen(&moved)) else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "output_location");
    }

    #[test]
    fn a_missing_workgroup_is_recognised_by_its_message() {
        let e = ProvisionError::Provider {
            action: "read".into(),
            resource: "w".into(),
            code: "InvalidRequestException".into(),
            message: "WorkGroup w is not found.".into(),
        };
        assert!(is_missing(&e));
    }
}
