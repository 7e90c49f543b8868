//! What `preview`, `up` and `destroy` report: one step per resource, the failures, the calls
//! made, and the stack's outputs after an apply.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::StackName;
use crate::engine::plan::{Change, FieldChange, ResourceSpec};
use crate::engine::resource::{CallCounts, ResourceKind};
use crate::engine::state::StackOutputs;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Nothing: observed equals desired.
    Same,
    /// Created.
    Create,
    /// Changed in place.
    Update,
    /// Deleted and created again.
    Replace,
    /// Deleted.
    Delete,
}

/// One line of a plan or a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Logical id.
    pub id: String,
    /// Kind id.
    pub kind: String,
    /// Human label of the kind ("Kinesis stream").
    pub label: String,
    /// Logical name.
    pub name: String,
    /// Physical name.
    pub physical_name: String,
    /// What happens.
    pub op: Op,
    /// The differing fields of an update.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// The field forcing a replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_field: Option<String>,
    /// Every property a create or a replacement sets (references to other resources' outputs
    /// not yet known read as `${…}`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub desired: BTreeMap<String, serde_json::Value>,
}

/// A resource that could not be read or applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// Logical id.
    pub id: String,
    /// Human label and logical name ("Kinesis stream (clickstream)").
    pub resource: String,
    /// What went wrong.
    pub error: String,
}

/// The result of `preview`, `up` or `destroy`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The stack.
    pub stack: StackName,
    /// `preview`, `up`, `destroy-preview` or `destroy`.
    pub verb: &'static str,
    /// One step per resource, in order.
    pub steps: Vec<Step>,
    /// Resources that failed.
    pub failures: Vec<Failure>,
    /// Resources not attempted because something they depend on failed.
    pub skipped: Vec<String>,
    /// Provider calls made.
    pub calls: CallCounts,
    /// Every write call made, as `service:Operation`.
    pub write_calls: Vec<String>,
    /// Wall time, milliseconds.
    pub elapsed_ms: u64,
    /// The stack's outputs after `up`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<StackOutputs>,
}

impl Report {
    /// Steps with an op.
    #[must_use]
    pub fn count(&self, op: Op) -> usize {
        self.steps.iter().filter(|s| s.op == op).count()
    }

    /// Whether anything would change (or changed).
    #[must_use]
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.op != Op::Same)
    }

    /// Whether every resource succeeded.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty() && self.skipped.is_empty()
    }
}

pub(crate) fn step(kind: &dyn ResourceKind, spec: &ResourceSpec, change: &Change) -> Step {
    let (op, changes, replace_field) = match change {
        Change::Same => (Op::Same, vec![], None),
        Change::Create => (Op::Create, vec![], None),
        Change::Update { fields } => (Op::Update, fields.clone(), None),
        Change::Replace { field } => (Op::Replace, vec![], Some(field.clone())),
    };
    Step {
        id: spec.id.clone(),
        kind: spec.kind.clone(),
        label: kind.label().to_owned(),
        name: spec.name().to_owned(),
        physical_name: spec.physical_name.clone(),
        op,
        changes,
        replace_field,
        desired: match op {
            Op::Create | Op::Replace => spec.fields.clone(),
            Op::Same | Op::Update | Op::Delete => BTreeMap::new(),
        },
    }
}

pub(crate) fn delete_step(kind: &dyn ResourceKind, spec: &ResourceSpec) -> Step {
    Step {
        op: Op::Delete,
        ..step(kind, spec, &Change::Same)
    }
}
