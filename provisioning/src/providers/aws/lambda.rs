//! Lambda functions (`aws:lambda:function`) deployed from packaged zip files, and the Kinesis
//! event-source mapping (`aws:lambda:event-source-mapping`) that feeds the stream processor:
//! partial batch responses, bisect on error, bounded retries, an on-failure destination.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, DestinationConfig, Environment, EventSourcePosition, FunctionCode,
    FunctionResponseType, LastUpdateStatus, OnFailure, Runtime, State, VpcConfig,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{
    IAM_PROPAGATION_TIMEOUT, OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients,
    comparable_tags, gone_if, is_role_propagation, reread, retry_transient, seen_tags, tag_changes,
    wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The function kind id.
pub const FUNCTION_KIND: &str = "aws:lambda:function";
/// The event-source mapping kind id.
pub const MAPPING_KIND: &str = "aws:lambda:event-source-mapping";
/// A function becomes Active, or finishes an update, within this.
pub const LAMBDA_ACTIVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// An event-source mapping becomes Enabled, or goes away, within this.
pub const MAPPING_STATE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Output key: the mapping's UUID.
pub const OUT_UUID: &str = "uuid";
/// The field of a function spec holding the zip's path (not compared: its checksum is).
pub const CODE_PATH: &str = "code_path";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// A function's network placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcProps {
    /// Subnets, sorted.
    pub subnet_ids: Vec<String>,
    /// Security groups, sorted.
    pub security_group_ids: Vec<String>,
}

/// Desired (and observed) settings of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionProps {
    /// Path of the packaged zip (desired only).
    pub code_path: String,
    /// Base64 SHA-256 of the zip, as Lambda reports `CodeSha256` (filled in by `prepare`).
    pub code_sha256: Option<String>,
    /// Runtime (`provided.al2023`).
    pub runtime: String,
    /// Handler (`bootstrap` for custom runtimes).
    pub handler: String,
    /// Execution role ARN.
    pub role: String,
    /// Memory, MiB.
    pub memory_mb: i32,
    /// Timeout, seconds.
    pub timeout_secs: i32,
    /// `arm64` or `x86_64`.
    pub architecture: String,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Subnets and security groups; `None` outside any VPC.
    pub vpc: Option<VpcProps>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Base64 SHA-256 of a file, the way Lambda reports `CodeSha256`.
///
/// # Errors
/// When the file cannot be read.
pub fn code_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes)))
}

/// The Lambda function kind.
#[derive(Debug, Default)]
pub struct LambdaFunction;

impl LambdaFunction {
    async fn wait_ready(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let l = &clients(cx)?.lambda;
        wait_until(name, "Active", LAMBDA_ACTIVE_TIMEOUT, || async {
            let c = l
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(aws_err("read Lambda function", name))?;
            if c.state() == Some(&State::Failed)
                || c.last_update_status() == Some(&LastUpdateStatus::Failed)
            {
                return Err(ProvisionError::invalid(
                    name,
                    format!(
                        "Lambda reports the function failed: {}",
                        c.state_reason()
                            .or(c.last_update_status_reason())
                            .unwrap_or("no reason given")
                    ),
                ));
            }
            Ok(c.state() == Some(&State::Active)
                && c.last_update_status() != Some(&LastUpdateStatus::InProgress))
        })
        .await
    }

    fn zip(spec: &ResourceSpec, p: &FunctionProps) -> Result<Blob, ProvisionError> {
        std::fs::read(&p.code_path)
            .map(Blob::new)
            .map_err(|source| ProvisionError::Local {
                action: format!("read the package of {}", spec.id),
                path: p.code_path.clone(),
                source,
            })
    }

    fn environment(p: &FunctionProps) -> Environment {
        Environment::builder()
            .set_variables(Some(p.environment.clone().into_iter().collect()))
            .build()
    }

    fn vpc(p: &FunctionProps) -> VpcConfig {
        let v = p.vpc.clone().unwrap_or(VpcProps {
            subnet_ids: vec![],
            security_group_ids: vec![],
        });
        VpcConfig::builder()
            .set_subnet_ids(Some(v.subnet_ids))
            .set_security_group_ids(Some(v.security_group_ids))
            .build()
    }
}

#[async_trait]
impl ResourceKind for LambdaFunction {
    fn kind(&self) -> &'static str {
        FUNCTION_KIND
    }

    fn label(&self) -> &'static str {
        "Lambda function"
    }

    /// Hashes the package so the diff can tell new code from old.
    fn prepare(&self, mut spec: ResourceSpec) -> Result<ResourceSpec, ProvisionError> {
        let p: FunctionProps = from_fields(&spec)?;
        let sha = code_sha256(Path::new(&p.code_path)).map_err(|source| ProvisionError::Local {
            action: format!(
                "read the package of {} (build it with the Lambda packaging command, or point \
                 functions.<name>.zip at it)",
                spec.id
            ),
            path: p.code_path.clone(),
            source,
        })?;
        spec.fields
            .insert("code_sha256".to_owned(), serde_json::Value::String(sha));
        Ok(spec)
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let name = &spec.physical_name;
        let out = absent_if(
            clients(cx)?
                .lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .map_err(aws_err("read Lambda function", name)),
            NOT_FOUND,
        )?;
        let Some(out) = out else { return Ok(None) };
        let Some(c) = out.configuration() else {
            return Ok(None);
        };
        let vpc = c
            .vpc_config()
            .filter(|v| !v.subnet_ids().is_empty())
            .map(|v| {
                let mut subnet_ids = v.subnet_ids().to_vec();
                let mut security_group_ids = v.security_group_ids().to_vec();
                subnet_ids.sort();
                security_group_ids.sort();
                VpcProps {
                    subnet_ids,
                    security_group_ids,
                }
            });
        let seen = FunctionProps {
            code_path: String::new(),
            code_sha256: c.code_sha256().map(str::to_owned),
            runtime: c
                .runtime()
                .map(Runtime::as_str)
                .unwrap_or_default()
                .to_owned(),
            handler: c.handler().unwrap_or_default().to_owned(),
            role: c.role().unwrap_or_default().to_owned(),
            memory_mb: c.memory_size().unwrap_or_default(),
            timeout_secs: c.timeout().unwrap_or_default(),
            architecture: c
                .architectures()
                .first()
                .map_or("x86_64", Architecture::as_str)
                .to_owned(),
            environment: c
                .environment()
                .and_then(|e| e.variables())
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            vpc,
            tags: comparable_tags(
                out.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (
                    OUT_ARN.to_owned(),
                    c.function_arn().unwrap_or_default().to_owned(),
                ),
            ]),
        }))
    }

    /// The zip's path is not compared (only its checksum is): moving the file changes nothing.
    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        let mut want = spec.fields.clone();
        want.remove(CODE_PATH);
        let mut got = seen.fields.clone();
        got.remove(CODE_PATH);
        diff_fields(&want, &got, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: FunctionProps = from_fields(spec)?;
        let l = &clients(cx)?.lambda;
        let name = &spec.physical_name;
        let zip = Self::zip(spec, &p)?;
        // A role created moments ago may not be assumable by Lambda yet.
        retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
            let mut req = l
                .create_function()
                .function_name(name)
                .runtime(Runtime::from(p.runtime.as_str()))
                .handler(&p.handler)
                .role(&p.role)
                .code(FunctionCode::builder().zip_file(zip.clone()).build())
                .memory_size(p.memory_mb)
                .timeout(p.timeout_secs)
                .architectures(Architecture::from(p.architecture.as_str()))
                .environment(Self::environment(&p))
                .set_tags(Some(p.tags.clone().into_iter().collect()));
            if p.vpc.is_some() {
                req = req.vpc_config(Self::vpc(&p));
            }
            req.send()
                .await
                .map(|_| ())
                .map_err(aws_err("create Lambda function", name))
        })
        .await?;
        self.wait_ready(cx, name).await?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: FunctionProps = from_fields(spec)?;
        let l = &clients(cx)?.lambda;
        let name = &spec.physical_name;
        let config_fields = [
            "runtime",
            "handler",
            "role",
            "memory_mb",
            "timeout_secs",
            "environment",
            "vpc",
        ];
        if config_fields.iter().any(|f| changes_field(change, f)) {
            retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
                l.update_function_configuration()
                    .function_name(name)
                    .runtime(Runtime::from(p.runtime.as_str()))
                    .handler(&p.handler)
                    .role(&p.role)
                    .memory_size(p.memory_mb)
                    .timeout(p.timeout_secs)
                    .environment(Self::environment(&p))
                    .vpc_config(Self::vpc(&p))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("update the configuration of Lambda function", name))
            })
            .await?;
            self.wait_ready(cx, name).await?;
        }
        if changes_field(change, "code_sha256") || changes_field(change, "architecture") {
            l.update_function_code()
                .function_name(name)
                .zip_file(Self::zip(spec, &p)?)
                .architectures(Architecture::from(p.architecture.as_str()))
                .send()
                .await
                .map_err(aws_err("update the code of Lambda function", name))?;
            self.wait_ready(cx, name).await?;
        }
        if changes_field(change, "tags") {
            let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
            let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
            if !remove.is_empty() {
                l.untag_resource()
                    .resource(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag Lambda function", name))?;
            }
            if !add.is_empty() {
                l.tag_resource()
                    .resource(&arn)
                    .set_tags(Some(add.into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_err("tag Lambda function", name))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        gone_if(
            clients(cx)?
                .lambda
                .delete_function()
                .function_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete Lambda function", name)),
            NOT_FOUND,
        )
    }
}

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
    use serde_json::json;

    fn function() -> FunctionProps {
        FunctionProps {
            code_path: "target/lambda/trainer/bootstrap.zip".into(),
            code_sha256: Some("abc=".into()),
            runtime: "provided.al2023".into(),
            handler: "bootstrap".into(),
            role: "arn:aws:iam::1:role/r".into(),
            memory_mb: 512,
            timeout_secs: 60,
            architecture: "arm64".into(),
            environment: BTreeMap::from([("RUST_LOG".into(), "info".into())]),
            vpc: None,
            tags: BTreeMap::new(),
        }
    }

    fn spec<T: Serialize>(kind: &str, p: &T) -> ResourceSpec {
        fixtures::declared(&format!("aws::{kind}::x"), kind, "x", p)
    }

    fn seen<T: Serialize>(p: &T) -> Observed {
        fixtures::observed("x", p)
    }

    #[test]
    fn function_diff_ignores_the_package_path_and_sees_new_code() {
        // Arrange
        let mut observed = function();
        observed.code_path = String::new();
        let mut new_code = function();
        new_code.code_sha256 = Some("def=".into());
        // Act / Assert
        assert_eq!(
            LambdaFunction.diff(&spec(FUNCTION_KIND, &function()), &seen(&observed)),
            Change::Same
        );
        let Change::Update { fields } =
            LambdaFunction.diff(&spec(FUNCTION_KIND, &new_code), &seen(&observed))
        else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "code_sha256");
    }

    #[test]
    fn function_diff_updates_changed_environment_variables() {
        let mut drifted = function();
        drifted
            .environment
            .insert("RUST_LOG".into(), "debug".into());
        let Change::Update { fields } =
            LambdaFunction.diff(&spec(FUNCTION_KIND, &function()), &seen(&drifted))
        else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "environment");
        assert_eq!(fields[0].to, json!({"RUST_LOG": "info"}));
    }

    #[test]
    fn code_checksum_matches_lambdas_base64_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.zip");
        std::fs::write(&f, b"abc").unwrap();
        // SHA-256("abc"), base64.
        assert_eq!(
            code_sha256(&f).unwrap(),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
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
