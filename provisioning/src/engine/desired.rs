//! The desired state of a stack as plain data, computed from its configuration with no IO
//! (Pulumi's goal state): every resource with its logical id `stack::kind::name`, its
//! deterministic physical name, its fields, tags and dependencies. Dependencies follow from the
//! references a spec makes (`${id.output}`), plus the explicit ones a plain name cannot show.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{StackConfig, StackName};
use crate::engine::plan::ResourceSpec;
use crate::engine::refs::{output_ref, referenced_ids};
use crate::engine::resource::{MANAGED_BY_VALUE, TAG_MANAGED_BY, TAG_STACK, to_fields};

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
