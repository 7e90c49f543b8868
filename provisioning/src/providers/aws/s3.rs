//! S3 buckets (`aws:s3:bucket`): public access blocked, default encryption, a TLS-only bucket
//! policy, lifecycle rules and tags, each read back and compared on its own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:s3:bucket";
/// A new bucket answers HEAD within this (S3 is eventually consistent across endpoints).
pub const S3_EXISTS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Output key: `s3://bucket`.
pub const OUT_URL: &str = "url";

const NOT_FOUND: &[&str] = &["NoSuchBucket", "NotFound"];

/// The four public-access switches, all on for a private bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Reject public ACLs.
    pub block_public_acls: bool,
    /// Ignore existing public ACLs.
    pub ignore_public_acls: bool,
    /// Reject public bucket policies.
    pub block_public_policy: bool,
    /// Restrict access to buckets with public policies.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// Everything blocked.
    pub const ALL: Self = Self {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// One lifecycle rule, scoped to a key prefix (empty: the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Rule id.
    pub id: String,
    /// Key prefix it applies to.
    pub prefix: String,
    /// Objects expire this many days after creation.
    pub expiration_days: Option<i32>,
    /// Incomplete multipart uploads are aborted after this many days.
    pub abort_incomplete_upload_days: Option<i32>,
    /// Object versions are deleted this many days after they stop being current (overwritten or
    /// deleted), in a versioned bucket.
    #[serde(default)]
    pub noncurrent_expiry_days: Option<i32>,
}

/// Desired (and observed) settings of a bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketProps {
    /// Region it lives in (fixed at creation).
    pub region: String,
    /// Public access block.
    pub public_access_block: Option<PublicAccessBlock>,
    /// Default server-side encryption algorithm (`AES256` or `aws:kms`).
    pub encryption: Option<String>,
    /// Bucket policy (JSON).
    pub policy: Option<serde_json::Value>,
    /// Object versioning enabled (an overwritten or deleted object stays recoverable).
    #[serde(default)]
    pub versioning: bool,
    /// Lifecycle rules, sorted by id.
    pub lifecycle: Vec<Lifecycle>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A policy denying every request not made over TLS.
#[must_use]
pub fn tls_only_policy(partition: &str, bucket: &str) -> serde_json::Value {
    let arn = format!("arn:{partition}:s3:::{bucket}");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
}

/// moto (5.2.5) answers `GetBucketVersioning` with a `GetBucketVersioningResponse` root where
/// S3 sends `VersioningConfiguration`, which the SDK refuses to parse: read the status from such a
/// successful answer's body. `None` for any other error.
fn moto_versioning_answer<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<bool> {
    let raw = e.raw_response()?;
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    (raw.status().is_success() && body.contains("<GetBucketVersioningResponse"))
        .then(|| body.contains("<Status>Enabled</Status>"))
}

/// The S3 bucket kind.
#[derive(Debug, Default)]
pub struct S3Bucket;

impl S3Bucket {
    async fn apply_settings(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        props: &BucketProps,
        change: &Change,
    ) -> Result<(), ProvisionError> {
        let s3 = &clients(cx)?.s3;
        let b = &spec.physical_name;
        // A new bucket has no policy, lifecycle or tags: nothing to remove.
        let creating = matches!(change, Change::Create);
        if changes_field(change, "public_access_block") {
            match props.public_access_block {
                Some(p) => {
                    s3.put_public_access_block()
                        .bucket(b)
                        .public_access_block_configuration(
                            PublicAccessBlockConfiguration::builder()
                                .block_public_acls(p.block_public_acls)
                                .ignore_public_acls(p.ignore_public_acls)
                                .block_public_policy(p.block_public_policy)
                                .restrict_public_buckets(p.restrict_public_buckets)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(aws_err("block public access to S3 bucket", b))?;
                }
                None if creating => {}
                None => {
                    s3.delete_public_access_block()
                        .bucket(b)
                        .send()
                        .await
                        .map_err(aws_err("remove the public access block of S3 bucket", b))?;
                }
            }
        }
        if changes_field(change, "encryption")
            && let Some(alg) = &props.encryption
        {
            s3.put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(
                            ServerSideEncryptionRule::builder()
                                .apply_server_side_encryption_by_default(
                                    ServerSideEncryptionByDefault::builder()
                                        .sse_algorithm(ServerSideEncryption::from(alg.as_str()))
                                        .build()?,
                                )
                                .build(),
                        )
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_err("encrypt S3 bucket", b))?;
        }
        if changes_field(change, "policy") {
            match &props.policy {
                Some(p) => {
                    s3.put_bucket_policy()
                        .bucket(b)
                        .policy(p.to_string())
                        .send()
                        .await
                        .map_err(aws_err("set the policy of S3 bucket", b))?;
                }
                None if creating => {}
                None => {
                    s3.delete_bucket_policy()
                        .bucket(b)
                        .send()
                        .await
                        .map_err(aws_err("remove the policy of S3 bucket", b))?;
                }
            }
        }
        // A new bucket is unversioned; versioning once enabled can only be suspended.
        if changes_field(change, "versioning") && (props.versioning || !creating) {
            s3.put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(if props.versioning {
                            BucketVersioningStatus::Enabled
                        } else {
                            BucketVersioningStatus::Suspended
                        })
                        .build(),
                )
                .send()
                .await
                .map_err(aws_err("set the versioning of S3 bucket", b))?;
        }
        if changes_field(change, "lifecycle") {
            if props.lifecycle.is_empty() {
                if !creating {
                    s3.delete_bucket_lifecycle()
                        .bucket(b)
                        .send()
                        .await
                        .map_err(aws_err("remove the lifecycle of S3 bucket", b))?;
                }
            } else {
                let rules = props
                    .lifecycle
                    .iter()
                    .map(|r| {
                        let mut rule = LifecycleRule::builder()
                            .id(&r.id)
                            .status(ExpirationStatus::Enabled)
                            .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
                        if let Some(days) = r.expiration_days {
                            rule =
                                rule.expiration(LifecycleExpiration::builder().days(days).build());
                        }
                        if let Some(days) = r.noncurrent_expiry_days {
                            rule = rule.noncurrent_version_expiration(
                                NoncurrentVersionExpiration::builder()
                                    .noncurrent_days(days)
                                    .build(),
                            );
                        }
                        if let Some(days) = r.abort_incomplete_upload_days {
                            rule = rule.abort_incomplete_multipart_upload(
                                AbortIncompleteMultipartUpload::builder()
                                    .days_after_initiation(days)
                                    .build(),
                            );
                        }
                        rule.build()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                s3.put_bucket_lifecycle_configuration()
                    .bucket(b)
                    .lifecycle_configuration(
                        BucketLifecycleConfiguration::builder()
                            .set_rules(Some(rules))
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(aws_err("set the lifecycle rules of S3 bucket", b))?;
            }
        }
        if changes_field(change, "tags") {
            if props.tags.is_empty() {
                if !creating {
                    s3.delete_bucket_tagging()
                        .bucket(b)
                        .send()
                        .await
                        .map_err(aws_err("remove the tags of S3 bucket", b))?;
                }
            } else {
                let tags = props
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()?;
                s3.put_bucket_tagging()
                    .bucket(b)
                    .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
                    .send()
                    .await
                    .map_err(aws_err("tag S3 bucket", b))?;
            }
        }
        Ok(())
    }

    async fn outputs(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        self.read(cx, spec)
            .await?
            .map(|o| o.outputs)
            .ok_or_else(|| ProvisionError::invalid(&spec.id, "bucket vanished right after apply"))
    }

    /// Deletes every object version and delete marker, so the bucket itself can go.
    async fn empty(&self, cx: &Cx, bucket: &str) -> Result<(), ProvisionError> {
        let s3 = &clients(cx)?.s3;
        loop {
            let page = s3
                .list_object_versions()
                .bucket(bucket)
                .send()
                .await
                .map_err(aws_err("list the objects of S3 bucket", bucket))?;
            let ids: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .filter_map(|v| v.key().map(|k| (k, v.version_id())))
                .chain(
                    page.delete_markers()
                        .iter()
                        .filter_map(|m| m.key().map(|k| (k, m.version_id()))),
                )
                .map(|(k, v)| {
                    ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(v.map(str::to_owned))
                        .build()
                })
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                return Ok(());
            }
            let out = s3
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_err("delete the objects of S3 bucket", bucket))?;
            // A refused key is reported in the body, not as an error: without this check the
            // loop would list the same objects forever.
            if let Some(e) = out.errors().first() {
                return Err(ProvisionError::Provider {
                    action: "delete the objects of S3 bucket".to_owned(),
                    resource: bucket.to_owned(),
                    code: e.code().unwrap_or("unknown").to_owned(),
                    message: format!(
                        "{} objects not deleted, the first {:?}: {}",
                        out.errors().len(),
                        e.key().unwrap_or_default(),
                        e.message().unwrap_or_default()
                    ),
                });
            }
        }
    }
}

#[async_trait]
impl ResourceKind for S3Bucket {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "S3 bucket"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let s3 = &clients(cx)?.s3;
        let b = &spec.physical_name;
        let head = s3
            .head_bucket()
            .bucket(b)
            .send()
            .await
            .map_err(aws_err("read S3 bucket", b));
        let Some(head) = absent_if(head, NOT_FOUND)? else {
            return Ok(None);
        };
        let want: BucketProps = from_fields(spec)?;
        let region = head
            .bucket_region()
            .map_or_else(|| want.region.clone(), str::to_owned);

        let pab = absent_if(
            s3.get_public_access_block()
                .bucket(b)
                .send()
                .await
                .map_err(aws_err("read the public access block of S3 bucket", b)),
            &["NoSuchPublicAccessBlockConfiguration"],
        )?
        .and_then(|o| {
            o.public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })
        });

        let encryption = absent_if(
            s3.get_bucket_encryption()
                .bucket(b)
                .send()
                .await
                .map_err(aws_err("read the encryption of S3 bucket", b)),
            &["ServerSideEncryptionConfigurationNotFoundError"],
        )?
        .and_then(|o| {
            o.server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_owned())
        });

        let policy = absent_if(
            s3.get_bucket_policy()
                .bucket(b)
                .send()
                .await
                .map_err(aws_err("read the policy of S3 bucket", b)),
            &["NoSuchBucketPolicy"],
        )?
        .and_then(|o| o.policy().map(super::parse_policy));

        let versioning = match s3.get_bucket_versioning().bucket(b).send().await {
            Ok(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            Err(e) => match moto_versioning_answer(&e) {
                Some(enabled) => enabled,
                None => return Err(aws_err("read the versioning of S3 bucket", b)(e)),
            },
        };

        let mut lifecycle: Vec<Lifecycle> = absent_if(
            s3.get_bucket_lifecycle_configuration()
                .bucket(b)
                .send()
                .await
                .map_err(aws_err("read the lifecycle of S3 bucket", b)),
            &["NoSuchLifecycleConfiguration"],
        )?
        .map(|o| {
            o.rules()
                .iter()
                .filter(|r| r.status() == &ExpirationStatus::Enabled)
                .map(|r| Lifecycle {
                    id: r.id().unwrap_or_default().to_owned(),
                    prefix: r
                        .filter()
                        .and_then(|f| f.prefix())
                        .or_else(|| {
                            #[allow(deprecated)]
                            r.prefix()
                        })
                        .unwrap_or_default()
                        .to_owned(),
                    expiration_days: r.expiration().and_then(|e| e.days()),
                    abort_incomplete_upload_days: r
                        .abort_incomplete_multipart_upload()
                        .and_then(|a| a.days_after_initiation()),
                    noncurrent_expiry_days: r
                        .noncurrent_version_expiration()
                        .and_then(|n| n.noncurrent_days()),
                })
                .collect()
        })
        .unwrap_or_default();
        lifecycle.sort_by(|a, b| a.id.cmp(&b.id));

        let tags = absent_if(
            s3.get_bucket_tagging()
                .bucket(b)
                .send()
                .await
                .map_err(aws_err("read the tags of S3 bucket", b)),
            &["NoSuchTagSet"],
        )?
        .map(|o| {
            comparable_tags(
                o.tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            )
        })
        .unwrap_or_default();

        let seen = BucketProps {
            region,
            public_access_block: pab,
            encryption,
            policy,
            versioning,
            lifecycle,
            tags,
        };
        Ok(Some(Observed {
            physical_name: b.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), b.clone()),
                (
                    OUT_ARN.to_owned(),
                    format!("arn:{}:s3:::{b}", cx.config.partition()),
                ),
                (OUT_URL.to_owned(), format!("s3://{b}")),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["region"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let props: BucketProps = from_fields(spec)?;
        let s3 = &clients(cx)?.s3;
        let b = &spec.physical_name;
        let mut req = s3.create_bucket().bucket(b);
        // us-east-1 is the one region that refuses an explicit location constraint.
        if props.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(props.region.as_str()))
                    .build(),
            );
        }
        req.send().await.map_err(aws_err("create S3 bucket", b))?;
        super::wait_until(b, "reachable", S3_EXISTS_TIMEOUT, || async {
            Ok(s3.head_bucket().bucket(b).send().await.is_ok())
        })
        .await?;
        self.apply_settings(cx, spec, &props, &Change::Create)
            .await?;
        self.outputs(cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let props: BucketProps = from_fields(spec)?;
        self.apply_settings(cx, spec, &props, change).await?;
        self.outputs(cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let b = &seen.physical_name;
        gone_if(self.empty(cx, b).await, NOT_FOUND)?;
        gone_if(
            clients(cx)?
                .s3
                .delete_bucket()
                .bucket(b)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete S3 bucket", b)),
            NOT_FOUND,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;
    use serde_json::json;

    fn props() -> BucketProps {
        BucketProps {
            region: "eu-west-1".into(),
            public_access_block: Some(PublicAccessBlock::ALL),
            encryption: Some("AES256".into()),
            policy: Some(tls_only_policy("aws", "b")),
            versioning: true,
            lifecycle: vec![Lifecycle {
                id: "raw-expiry".into(),
                prefix: "raw/".into(),
                expiration_days: Some(30),
                abort_incomplete_upload_days: None,
                noncurrent_expiry_days: None,
            }],
            tags: BTreeMap::from([("stack".into(), "aws".into())]),
        }
    }

    fn spec(p: &BucketProps) -> ResourceSpec {
        fixtures::declared("aws::aws:s3:bucket::lake", KIND, "b", p)
    }

    fn seen(p: &BucketProps) -> Observed {
        fixtures::observed("b", p)
    }

    #[test]
    fn bucket_diff_is_same_when_every_setting_matches() {
        assert_eq!(
            S3Bucket.diff(&spec(&props()), &seen(&props())),
            Change::Same
        );
    }

    #[test]
    fn bucket_diff_updates_a_removed_policy_and_a_changed_rule() {
        // Arrange
        let mut drifted = props();
        drifted.policy = None;
        drifted.lifecycle[0].expiration_days = Some(7);
        // Act
        let change = S3Bucket.diff(&spec(&props()), &seen(&drifted));
        // Assert
        let Change::Update { fields } = change else {
            panic!("expected an update, got {change:?}")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["lifecycle", "policy"]);
    }

    #[test]
    fn bucket_diff_updates_the_lifecycle_when_old_versions_expire_later_or_never() {
        // Arrange
        let mut wanted = props();
        wanted.lifecycle[0].noncurrent_expiry_days = Some(30);
        let mut later = wanted.clone();
        later.lifecycle[0].noncurrent_expiry_days = Some(90);
        // Act
        let changes = [
            S3Bucket.diff(&spec(&wanted), &seen(&later)),
            S3Bucket.diff(&spec(&wanted), &seen(&props())),
        ];
        // Assert
        for change in changes {
            let Change::Update { fields } = change else {
                panic!("expected an update, got {change:?}")
            };
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["lifecycle"]);
        }
    }

    #[test]
    fn bucket_diff_replaces_when_the_region_differs() {
        let mut moved = props();
        moved.region = "us-east-1".into();
        assert_eq!(
            S3Bucket.diff(&spec(&props()), &seen(&moved)),
            Change::Replace {
                field: "region".into()
            }
        );
    }

    #[test]
    fn the_tls_policy_denies_plain_http_on_the_bucket_and_its_objects() {
        let p = tls_only_policy("aws", "lake");
        assert_eq!(p["Statement"][0]["Effect"], json!("Deny"));
        assert_eq!(
            p["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::lake", "arn:aws:s3:::lake/*"])
        );
        assert_eq!(
            p["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
            json!("false")
        );
    }
}
