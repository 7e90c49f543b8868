//! Identity: one role per function and service, each with one inline least-privilege policy
//! whose statements the component owning the function writes.

use serde_json::json;

use super::common::{POLICY_NAME, log_group_arn};
use crate::engine::desired::{Builder, tags};
use crate::providers::aws::iam::{self, RolePolicyProps, RoleProps, allow, policy, trust_policy};
use crate::providers::aws::{OUT_ARN, account_id};

/// A Lambda function's execution role.
pub fn execution_role(b: &mut Builder<'_>, name: &str, description: &str) {
    role(
        b,
        name,
        trust_policy("lambda.amazonaws.com", None),
        &format!("{description} (Lambda execution role)"),
    );
}

/// A role `service` assumes for this account only (the confused-deputy condition `key`).
pub fn service_role(b: &mut Builder<'_>, name: &str, service: &str, key: &str, description: &str) {
    let condition = json!({"StringEquals": {key: account_id()}});
    role(b, name, trust_policy(service, Some(condition)), description);
}

fn role(b: &mut Builder<'_>, name: &str, assume_role_policy: serde_json::Value, description: &str) {
    let tags = tags(b.cfg);
    b.add(
        iam::ROLE_KIND,
        name,
        b.cfg.physical(name),
        &RoleProps {
            assume_role_policy,
            description: description.to_owned(),
            tags,
        },
        &[],
    );
}

/// The role `name`'s inline policy of `statements`; returns its id (what a resource acting
/// with the role waits for).
pub fn role_policy(b: &mut Builder<'_>, name: &str, statements: &[serde_json::Value]) -> String {
    let role_name = b.cfg.physical(name);
    let role_id = b.id(iam::ROLE_KIND, name);
    b.add(
        iam::POLICY_KIND,
        name,
        format!("{role_name}/{POLICY_NAME}"),
        &RolePolicyProps {
            role: role_name,
            policy_name: POLICY_NAME.into(),
            document: policy(statements),
        },
        &[role_id],
    )
}

/// The role `name`'s ARN.
pub fn role_arn(b: &Builder<'_>, name: &str) -> String {
    b.out(iam::ROLE_KIND, name, OUT_ARN)
}

/// Writing the function `function`'s logs (its physical name).
pub fn logs(b: &Builder<'_>, function: &str) -> serde_json::Value {
    allow(
        "Logs",
        &[
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
        &[log_group_arn(b.cfg, function)],
    )
}
