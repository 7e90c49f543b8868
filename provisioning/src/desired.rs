//! The desired state of a stack as plain data, computed from its configuration with no IO
//! (Pulumi's goal state): every resource with its logical id `stack::kind::name`, its
//! deterministic physical name, its fields, tags and dependencies. Dependencies follow from the
//! references a spec makes (`${id.output}`), plus the explicit ones a plain name cannot show.

use std::collections::BTreeMap;

use fashion_domain::lake::all_tables;
use serde::{Deserialize, Serialize};

use crate::config::{StackConfig, StackName};
use crate::local::{self, DatabaseProps as LocalDatabaseProps, DatabaseRole, DirectoryProps};
use crate::plan::ResourceSpec;
use crate::refs::{output_ref, referenced_ids};
use crate::resource::{MANAGED_BY_VALUE, Outputs, TAG_MANAGED_BY, TAG_STACK, to_fields};

/// Logical names (the last part of a logical id), used instead of string literals.
pub mod names {
    /// The lake bucket.
    pub const LAKE: &str = "lake";
    /// Where failures are set aside: the bucket receiving descriptions of discarded stream
    /// batches, and the DynamoDB table of records the stream processor refused.
    pub const DEAD_LETTERS: &str = "dead-letters";
    /// The clickstream.
    pub const CLICKSTREAM: &str = "clickstream";
    /// Latest recommendations per customer.
    pub const RECOMMENDATIONS: &str = "recommendations";
    /// Recent activity per customer (expires).
    pub const USER_ACTIVITY: &str = "user-activity";
    /// Stream consumer checkpoints.
    pub const CHECKPOINTS: &str = "checkpoints";
    /// The product catalog the stream processor enriches with.
    pub const PRODUCTS: &str = "products";
    /// The Firehose delivery stream.
    pub const CLICKSTREAM_TO_LAKE: &str = "clickstream-to-lake";
    /// The stream processor (function, role, mapping).
    pub const STREAM_PROCESSOR: &str = "stream-processor";
    /// The daily job (function, role, schedule).
    pub const DAILY_JOB: &str = "daily-job";
    /// The trainer (function, role, schedule).
    pub const TRAINER: &str = "trainer";
    /// The HTTP API (function, role, function URL).
    pub const API: &str = "api";
    /// Firehose's role.
    pub const FIREHOSE: &str = "firehose";
    /// The scheduler's role.
    pub const SCHEDULER: &str = "scheduler";
    /// The schedule group.
    pub const SCHEDULES: &str = "schedules";
    /// The Athena workgroup.
    pub const ANALYTICS: &str = "analytics";
    /// The RDS instance.
    pub const ORDERS_DB: &str = "orders";
    /// The local data directory.
    pub const DATA: &str = "data";
    /// Local model artifacts.
    pub const MODELS: &str = "models";
    /// Local generator output.
    pub const GENERATED: &str = "generated";
    /// Local key-value stores.
    pub const STATE_DB: &str = "state";
    /// The local embedded stream.
    pub const STREAM_DB: &str = "stream";
    /// The local transactional database.
    pub const STORE_DB: &str = "store";
}

/// Key prefixes of the lake bucket outside the tables.
pub mod prefixes {
    /// Model artifacts written by the trainer.
    pub const MODELS: &str = "models/";
    /// Athena query results.
    pub const ATHENA_RESULTS: &str = "athena-results/";
}

/// The name of the inline policy every role carries.
pub const POLICY_NAME: &str = "least-privilege";

/// File names inside the local data directory (the CLI uses the same).
pub mod files {
    /// Key-value stores.
    pub const STATE_DB: &str = "state.db";
    /// The embedded stream.
    pub const STREAM_DB: &str = "stream.db";
    /// The transactional database.
    pub const STORE_DB: &str = "store.db";
}

/// The logical id `stack::kind::name`.
#[must_use]
pub fn logical_id(stack: StackName, kind: &str, name: &str) -> String {
    format!("{stack}::{kind}::{name}")
}

/// The tags every resource carries.
#[must_use]
pub fn tags(cfg: &StackConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned()),
        (TAG_STACK.to_owned(), cfg.stack.as_str().to_owned()),
    ])
}

/// Collects specs, deriving each one's dependencies from its references.
pub(crate) struct Builder<'a> {
    pub(crate) cfg: &'a StackConfig,
    specs: Vec<ResourceSpec>,
}

impl Builder<'_> {
    pub(crate) fn id(&self, kind: &str, name: &str) -> String {
        logical_id(self.cfg.stack, kind, name)
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))] // only AWS resources reference others
    pub(crate) fn out(&self, kind: &str, name: &str, key: &str) -> String {
        output_ref(&self.id(kind, name), key)
    }

    /// Adds a spec; its dependencies are every id it references plus `after`.
    pub(crate) fn add<T: Serialize>(
        &mut self,
        kind: &str,
        name: &str,
        physical_name: String,
        props: &T,
        after: &[String],
    ) -> String {
        let id = self.id(kind, name);
        // Props are plain structs of strings, numbers, maps and JSON values: they always
        // serialize to an object.
        let fields = to_fields(props).unwrap_or_default();
        let mut depends_on: Vec<String> = referenced_ids(&fields).into_iter().collect();
        depends_on.extend(after.iter().cloned());
        depends_on.sort();
        depends_on.dedup();
        self.specs.push(ResourceSpec {
            id: id.clone(),
            kind: kind.to_owned(),
            physical_name,
            fields,
            depends_on,
        });
        id
    }
}

/// Every resource of a stack, from its configuration alone.
#[must_use]
pub fn desired(cfg: &StackConfig) -> Vec<ResourceSpec> {
    let mut b = Builder {
        cfg,
        specs: Vec::new(),
    };
    match cfg.stack {
        StackName::Local => local_stack(&mut b),
        #[cfg(feature = "aws")]
        StackName::Emulator | StackName::Aws => crate::aws::stack::aws_stack(&mut b),
        // Without AWS support there is nothing to declare; the engine refuses these stacks.
        #[cfg(not(feature = "aws"))]
        StackName::Emulator | StackName::Aws => {}
    }
    b.specs
}

fn local_stack(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let dir = |p: &std::path::Path| p.display().to_string();
    let root = cfg.local.data_dir.clone();
    let data = b.add(
        local::DIRECTORY_KIND,
        names::DATA,
        dir(&root),
        &DirectoryProps::default(),
        &[],
    );
    let lake = b.add(
        local::DIRECTORY_KIND,
        names::LAKE,
        dir(&root.join("lake")),
        &DirectoryProps::default(),
        std::slice::from_ref(&data),
    );
    for t in all_tables() {
        b.add(
            local::DIRECTORY_KIND,
            &format!("lake-{}", t.name),
            dir(&root.join("lake").join(&t.name)),
            &DirectoryProps::default(),
            std::slice::from_ref(&lake),
        );
    }
    for name in [names::MODELS, names::GENERATED] {
        b.add(
            local::DIRECTORY_KIND,
            name,
            dir(&root.join(name)),
            &DirectoryProps::default(),
            std::slice::from_ref(&data),
        );
    }
    for (name, file, role, shards) in [
        (names::STATE_DB, files::STATE_DB, DatabaseRole::State, None),
        (
            names::STREAM_DB,
            files::STREAM_DB,
            DatabaseRole::Stream,
            Some(cfg.stream.shards),
        ),
        (names::STORE_DB, files::STORE_DB, DatabaseRole::Store, None),
    ] {
        b.add(
            local::DATABASE_KIND,
            name,
            dir(&root.join(file)),
            &LocalDatabaseProps { role, shards },
            std::slice::from_ref(&data),
        );
    }
}

/// The lake bucket's kind and URL output (the same as `aws::s3`'s, named here so the outputs of a
/// saved AWS stack read the same in a build without AWS support).
const BUCKET_KIND: &str = "aws:s3:bucket";
const BUCKET_URL: &str = "url";

/// What the apps' configuration reads after `up`: names, ARNs, URLs and endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackOutputs {
    /// The stack.
    pub stack: Option<StackName>,
    /// AWS region (AWS stacks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The emulator's endpoint (emulator stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Where the lake's tables live (`s3://bucket/lake/` or `file:///…/lake`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake_url: Option<String>,
    /// Every resource's outputs by logical name, grouped by kind
    /// (`{"aws:dynamodb:table": {"recommendations": {"name": …, "arn": …}}}`).
    pub resources: BTreeMap<String, BTreeMap<String, Outputs>>,
}

impl StackOutputs {
    /// Outputs of one resource by kind and logical name.
    #[must_use]
    pub fn get(&self, kind: &str, name: &str) -> Option<&Outputs> {
        self.resources.get(kind).and_then(|k| k.get(name))
    }
}

/// The stack's outputs from the outputs of its resources (by logical id).
#[must_use]
pub fn stack_outputs(cfg: &StackConfig, by_id: &BTreeMap<String, Outputs>) -> StackOutputs {
    let mut resources: BTreeMap<String, BTreeMap<String, Outputs>> = BTreeMap::new();
    for (id, outputs) in by_id {
        let mut parts = id.splitn(3, "::");
        let (Some(_), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        resources
            .entry(kind.to_owned())
            .or_default()
            .insert(name.to_owned(), outputs.clone());
    }
    let lake_url = match cfg.stack {
        StackName::Local => resources
            .get(local::DIRECTORY_KIND)
            .and_then(|d| d.get(names::LAKE))
            .and_then(|o| o.get(local::OUT_URL))
            .map(|u| format!("{u}/")),
        StackName::Emulator | StackName::Aws => resources
            .get(BUCKET_KIND)
            .and_then(|d| d.get(names::LAKE))
            .and_then(|o| o.get(BUCKET_URL))
            .map(|u| format!("{u}/{}", cfg.lake.prefix)),
    };
    StackOutputs {
        stack: Some(cfg.stack),
        region: cfg.stack.is_aws().then(|| cfg.region.clone()),
        endpoint_url: cfg
            .endpoint_url
            .clone()
            .filter(|_| cfg.stack == StackName::Emulator),
        lake_url: if resources.is_empty() { None } else { lake_url },
        resources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::apply_order;

    #[test]
    fn the_local_stack_declares_directories_and_databases_under_the_data_dir() {
        let cfg = StackConfig::builtin(StackName::Local).unwrap();
        let specs = desired(&cfg);
        apply_order(&specs).unwrap();
        assert!(
            specs
                .iter()
                .all(|s| s.physical_name.starts_with("fashion-data"))
        );
        assert_eq!(
            specs
                .iter()
                .filter(|s| s.kind == local::DATABASE_KIND)
                .count(),
            3
        );
        assert!(
            specs
                .iter()
                .any(|s| s.physical_name == "fashion-data/lake/orders")
        );
    }
}
