//! The desired state of a stack as plain data, computed from its configuration with no IO
//! (Pulumi's goal state): every resource with its logical id `stack::kind::name`, its
//! deterministic physical name, its fields, tags and dependencies. Dependencies follow from the
//! references a spec makes (`${id.output}`), plus the explicit ones a plain name cannot show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{StackConfig, StackName};
use crate::engine::plan::ResourceSpec;
use crate::engine::provider::{OutputsByKind, Provider};
use crate::engine::refs::{output_ref, referenced_ids};
use crate::engine::resource::{MANAGED_BY_VALUE, Outputs, TAG_MANAGED_BY, TAG_STACK, to_fields};

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

/// Collects a stack's specs, deriving each one's dependencies from its references.
pub struct Builder<'a> {
    /// The stack's configuration.
    pub cfg: &'a StackConfig,
    specs: Vec<ResourceSpec>,
}

impl<'a> Builder<'a> {
    /// An empty stack.
    #[must_use]
    pub fn new(cfg: &'a StackConfig) -> Self {
        Self {
            cfg,
            specs: Vec::new(),
        }
    }

    /// The specs added so far.
    #[must_use]
    pub fn finish(self) -> Vec<ResourceSpec> {
        self.specs
    }

    /// The logical id of this stack's resource `name` of `kind`.
    #[must_use]
    pub fn id(&self, kind: &str, name: &str) -> String {
        logical_id(self.cfg.stack, kind, name)
    }

    /// A reference to output `key` of this stack's resource `name` of `kind`.
    #[must_use]
    pub fn out(&self, kind: &str, name: &str, key: &str) -> String {
        output_ref(&self.id(kind, name), key)
    }

    /// Adds a spec; its dependencies are every id it references plus `after`.
    pub fn add<T: Serialize>(
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
    pub resources: OutputsByKind,
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
pub fn stack_outputs(
    provider: &dyn Provider,
    cfg: &StackConfig,
    by_id: &BTreeMap<String, Outputs>,
) -> StackOutputs {
    let mut resources = OutputsByKind::new();
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
    let lake_url = provider.lake_url(cfg, &resources);
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
