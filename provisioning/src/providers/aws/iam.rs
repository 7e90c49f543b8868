//! IAM roles (`aws:iam:role`) and their inline policies (`aws:iam:role-policy`): one role per
//! Lambda function, one for Firehose and one for the scheduler, each with a least-privilege
//! policy naming exact actions on exact resources.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if,
    parse_policy, reread, seen_tags, tag_changes,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The role kind id.
pub const ROLE_KIND: &str = "aws:iam:role";
/// The inline policy kind id.
pub const POLICY_KIND: &str = "aws:iam:role-policy";
/// Output key: the account the role lives in (from its ARN).
pub const OUT_ACCOUNT_ID: &str = "account_id";

const NOT_FOUND: &[&str] = &["NoSuchEntity"];

/// A trust policy letting one AWS service assume the role, with an optional condition that
/// confines it to this account (the confused-deputy guard each service documents: Firehose
/// checks `sts:ExternalId`, the scheduler `aws:SourceAccount`).
#[must_use]
pub fn trust_policy(service: &str, condition: Option<serde_json::Value>) -> serde_json::Value {
    let mut statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    });
    if let (Some(c), Some(fields)) = (condition, statement.as_object_mut()) {
        fields.insert("Condition".to_owned(), c);
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [statement]})
}

/// One `Allow` statement.
#[must_use]
pub fn allow(sid: &str, actions: &[&str], resources: &[String]) -> serde_json::Value {
    serde_json::json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    })
}

/// One `Allow` statement listing a bucket only under the given key prefixes (`s3:prefix`
/// patterns such as `lake/orders/*`): `s3:ListBucket` is a bucket-level action, so its resource
/// cannot name a prefix and the condition does.
#[must_use]
pub fn allow_listing(sid: &str, bucket_arn: &str, prefixes: &[String]) -> serde_json::Value {
    serde_json::json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [bucket_arn],
        "Condition": {"StringLike": {"s3:prefix": prefixes}},
    })
}

/// A policy document from statements.
#[must_use]
pub fn policy(statements: &[serde_json::Value]) -> serde_json::Value {
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// Whether a policy allows every action on every resource anywhere (`"*"` on `"*"`), which
/// least privilege forbids.
#[must_use]
pub fn allows_star_on_star(doc: &serde_json::Value) -> bool {
    let has_star = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s == "*",
        Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some("*")),
        _ => false,
    };
    doc.get("Statement")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .any(|st| {
            st.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
                && has_star(st.get("Action"))
                && has_star(st.get("Resource"))
        })
}

/// Desired (and observed) settings of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleProps {
    /// Who may assume it.
    pub assume_role_policy: serde_json::Value,
    /// What it is for.
    pub description: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Desired (and observed) settings of an inline role policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolePolicyProps {
    /// The role's name.
    pub role: String,
    /// The policy's name within the role.
    pub policy_name: String,
    /// The policy document.
    pub document: serde_json::Value,
}

/// The IAM role kind.
#[derive(Debug, Default)]
pub struct IamRole;

#[async_trait]
impl ResourceKind for IamRole {
    fn kind(&self) -> &'static str {
        ROLE_KIND
    }

    fn label(&self) -> &'static str {
        "IAM role"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let name = &spec.physical_name;
        let out = absent_if(
            clients(cx)?
                .iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(aws_err("read IAM role", name)),
            NOT_FOUND,
        )?;
        let Some(role) = out.as_ref().and_then(|o| o.role()) else {
            return Ok(None);
        };
        let seen = RoleProps {
            assume_role_policy: role
                .assume_role_policy_document()
                .map_or(serde_json::Value::Null, parse_policy),
            description: role.description().unwrap_or_default().to_owned(),
            tags: comparable_tags(
                role.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            ),
        };
        let arn = role.arn().to_owned();
        let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), arn),
                (OUT_ACCOUNT_ID.to_owned(), account),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: RoleProps = from_fields(spec)?;
        let name = &spec.physical_name;
        let tags = p
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        clients(cx)?
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(p.assume_role_policy.to_string())
            .description(&p.description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_err("create IAM role", name))?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: RoleProps = from_fields(spec)?;
        let iam = &clients(cx)?.iam;
        let name = &spec.physical_name;
        if changes_field(change, "assume_role_policy") {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(p.assume_role_policy.to_string())
                .send()
                .await
                .map_err(aws_err("update the trust policy of IAM role", name))?;
        }
        if changes_field(change, "description") {
            iam.update_role()
                .role_name(name)
                .description(&p.description)
                .send()
                .await
                .map_err(aws_err("update IAM role", name))?;
        }
        if changes_field(change, "tags") {
            let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
            if !remove.is_empty() {
                iam.untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag IAM role", name))?;
            }
            if !add.is_empty() {
                let tags = add
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()?;
                iam.tag_role()
                    .role_name(name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(aws_err("tag IAM role", name))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let iam = &clients(cx)?.iam;
        let name = &seen.physical_name;
        // A role goes only once nothing is attached: remove leftovers (inline policies someone
        // added, managed policies attached by hand) first.
        let inline = absent_if(
            iam.list_role_policies()
                .role_name(name)
                .send()
                .await
                .map_err(aws_err("list the policies of IAM role", name)),
            NOT_FOUND,
        )?;
        for p in inline.iter().flat_map(|o| o.policy_names()) {
            gone_if(
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("delete a policy of IAM role", name)),
                NOT_FOUND,
            )?;
        }
        let attached = absent_if(
            iam.list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .map_err(aws_err("list the attached policies of IAM role", name)),
            NOT_FOUND,
        )?;
        for p in attached.iter().flat_map(|o| o.attached_policies()) {
            if let Some(arn) = p.policy_arn() {
                gone_if(
                    iam.detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(aws_err("detach a policy from IAM role", name)),
                    NOT_FOUND,
                )?;
            }
        }
        gone_if(
            iam.delete_role()
                .role_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete IAM role", name)),
            NOT_FOUND,
        )
    }
}

/// The inline role policy kind. Physical name: `<role>/<policy>`.
#[derive(Debug, Default)]
pub struct IamRolePolicy;

#[async_trait]
impl ResourceKind for IamRolePolicy {
    fn kind(&self) -> &'static str {
        POLICY_KIND
    }

    fn label(&self) -> &'static str {
        "IAM role policy"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: RolePolicyProps = from_fields(spec)?;
        let out = absent_if(
            clients(cx)?
                .iam
                .get_role_policy()
                .role_name(&want.role)
                .policy_name(&want.policy_name)
                .send()
                .await
                .map_err(aws_err("read IAM role policy", &spec.physical_name)),
            NOT_FOUND,
        )?;
        let Some(out) = out else {
            return Ok(None);
        };
        let seen = RolePolicyProps {
            role: out.role_name().to_owned(),
            policy_name: out.policy_name().to_owned(),
            document: parse_policy(out.policy_document()),
        };
        Ok(Some(Observed {
            physical_name: spec.physical_name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([(OUT_NAME.to_owned(), want.policy_name)]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["role", "policy_name"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: RolePolicyProps = from_fields(spec)?;
        if allows_star_on_star(&p.document) {
            return Err(ProvisionError::invalid(
                &spec.id,
                "the policy allows every action on every resource",
            ));
        }
        clients(cx)?
            .iam
            .put_role_policy()
            .role_name(&p.role)
            .policy_name(&p.policy_name)
            .policy_document(p.document.to_string())
            .send()
            .await
            .map_err(aws_err("put IAM role policy", &spec.physical_name))?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        // PutRolePolicy replaces the document.
        self.create(cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let p: RolePolicyProps = crate::engine::resource::observed_as(seen)?;
        gone_if(
            clients(cx)?
                .iam
                .delete_role_policy()
                .role_name(&p.role)
                .policy_name(&p.policy_name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete IAM role policy", &seen.physical_name)),
            NOT_FOUND,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;
    use serde_json::json;

    fn policy_spec(doc: serde_json::Value) -> (ResourceSpec, RolePolicyProps) {
        let p = RolePolicyProps {
            role: "r".into(),
            policy_name: "least-privilege".into(),
            document: doc,
        };
        (
            ResourceSpec {
                id: "aws::aws:iam:role-policy::r".into(),
                kind: POLICY_KIND.into(),
                physical_name: "r/least-privilege".into(),
                fields: to_fields(&p).unwrap(),
                depends_on: vec![],
            },
            p,
        )
    }

    fn seen<T: Serialize>(p: &T) -> Observed {
        fixtures::observed("x", p)
    }

    #[test]
    fn policy_diff_is_same_for_an_equal_document_and_updates_a_changed_one() {
        // Arrange
        let doc = policy(&[allow(
            "Read",
            &["s3:GetObject"],
            &["arn:aws:s3:::b/*".into()],
        )]);
        let (spec, p) = policy_spec(doc);
        let mut widened = p.clone();
        widened.document["Statement"][0]["Action"] = json!(["s3:GetObject", "s3:PutObject"]);
        // Act / Assert
        assert_eq!(IamRolePolicy.diff(&spec, &seen(&p)), Change::Same);
        assert!(matches!(
            IamRolePolicy.diff(&spec, &seen(&widened)),
            Change::Update { ref fields } if fields[0].field == "document"
        ));
    }

    #[test]
    fn policy_diff_replaces_when_moved_to_another_role() {
        let (spec, p) = policy_spec(policy(&[]));
        let mut moved = p;
        moved.role = "other".into();
        assert_eq!(
            IamRolePolicy.diff(&spec, &seen(&moved)),
            Change::Replace {
                field: "role".into()
            }
        );
    }

    #[test]
    fn role_diff_updates_a_changed_trust_policy() {
        let p = RoleProps {
            assume_role_policy: trust_policy("lambda.amazonaws.com", None),
            description: "d".into(),
            tags: BTreeMap::new(),
        };
        let mut other = p.clone();
        other.assume_role_policy = trust_policy("ec2.amazonaws.com", None);
        let spec = ResourceSpec {
            id: "aws::aws:iam:role::r".into(),
            kind: ROLE_KIND.into(),
            physical_name: "r".into(),
            fields: to_fields(&p).unwrap(),
            depends_on: vec![],
        };
        assert_eq!(IamRole.diff(&spec, &seen(&p)), Change::Same);
        assert!(matches!(
            IamRole.diff(&spec, &seen(&other)),
            Change::Update { .. }
        ));
    }

    #[test]
    fn star_on_star_is_detected_and_scoped_actions_are_not() {
        assert!(allows_star_on_star(&policy(&[allow(
            "All",
            &["*"],
            &["*".into()]
        )])));
        assert!(!allows_star_on_star(&policy(&[allow(
            "List",
            &["kinesis:ListShards"],
            &["*".into()]
        )])));
        assert!(!allows_star_on_star(&policy(&[json!({
            "Effect": "Deny", "Action": "*", "Resource": "*"
        })])));
    }
}
