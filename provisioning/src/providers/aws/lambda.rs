//! Lambda functions (`aws:lambda:function`) deployed from packaged zip files. The Kinesis
//! event-source mapping that feeds the stream processor is `lambda_mapping`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State, VpcConfig,
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
/// A function becomes Active, or finishes an update, within this.
pub const LAMBDA_ACTIVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The field of a function spec holding the zip's path (not compared: its checksum is).
pub const CODE_PATH: &str = "code_path";

/// What Lambda answers for a function or a mapping that does not exist.
pub(super) const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

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
}
