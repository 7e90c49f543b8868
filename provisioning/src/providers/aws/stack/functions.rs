//! The functions' shared shape: the package, runtime and variables every function gets, and the
//! variables naming the lake and the models. Variable names are fashion-aws-core's `vars`, which
//! fashion-lambda reads; the lake and models prefixes are given without their trailing '/', as it
//! joins them itself.

use std::collections::BTreeMap;

use fashion_aws_core::vars;

use super::common::lake_bucket_name;
use super::identity::role_arn;
use crate::config::FunctionConfig;
use crate::engine::desired::{Builder, tags};
use crate::layout::prefixes;
use crate::providers::aws::iam;
use crate::providers::aws::lambda::{self, FunctionProps, VpcProps};

/// One variable.
pub fn var(k: &str, v: String) -> (String, String) {
    (k.to_owned(), v)
}

/// Where the lake's tables are and how they are catalogued.
pub fn lake_env(b: &Builder<'_>) -> Vec<(String, String)> {
    vec![
        var(vars::LAKE_BUCKET, lake_bucket_name(b)),
        var(
            vars::LAKE_PREFIX,
            b.cfg.lake.prefix.trim_end_matches('/').to_owned(),
        ),
        var(vars::GLUE_DATABASE, b.cfg.glue_database()),
    ]
}

/// Where the models are.
pub fn models_env(b: &Builder<'_>) -> Vec<(String, String)> {
    vec![
        var(vars::MODELS_BUCKET, lake_bucket_name(b)),
        var(
            vars::MODELS_PREFIX,
            prefixes::MODELS.trim_end_matches('/').to_owned(),
        ),
    ]
}

/// The function `name` from its package `settings`, acting with its role once the role's
/// policy is in place, with `env` and the variables every function gets.
pub fn function(
    b: &mut Builder<'_>,
    name: &str,
    settings: &FunctionConfig,
    env: Vec<(String, String)>,
    vpc: Option<VpcProps>,
) {
    let cfg = b.cfg;
    let mut environment = BTreeMap::from([
        var(vars::RUST_LOG, cfg.functions.log_level.clone()),
        var(vars::TIME_ZONE, cfg.time_zone.clone()),
    ]);
    environment.extend(env);
    let policy = b.id(iam::POLICY_KIND, name);
    b.add(
        lambda::FUNCTION_KIND,
        name,
        cfg.physical(name),
        &FunctionProps {
            code_path: settings.zip.display().to_string(),
            code_sha256: None,
            runtime: cfg.functions.runtime.clone(),
            handler: "bootstrap".into(),
            role: role_arn(b, name),
            memory_mb: settings.memory_mb,
            timeout_secs: settings.timeout_secs,
            architecture: cfg.functions.architecture.clone(),
            environment,
            vpc,
            tags: tags(cfg),
        },
        &[policy],
    );
}
