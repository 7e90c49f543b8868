//! What every resource kind implements (read / diff / create / update / delete), what a read
//! observes, the outputs a resource hands its dependents, and the errors of a provider call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::StackConfig;
use crate::engine::plan::{Change, ResourceSpec};

/// The tag every managed resource carries, with the value [`MANAGED_BY_VALUE`].
pub const TAG_MANAGED_BY: &str = "managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "fashion-provisioning";
/// The tag naming the stack.
pub const TAG_STACK: &str = "stack";

/// Named outputs of one resource (ARNs, names, URLs), read by dependents through references and
/// saved with the stack.
pub type Outputs = BTreeMap<String, String>;

/// Resource outputs by logical name, grouped by kind, as a stack's outputs hold them.
pub type OutputsByKind = BTreeMap<String, BTreeMap<String, Outputs>>;

/// What a provider's kinds share during one run (its SDK clients), type-erased so the engine
/// carries it without knowing it; each provider reads back its own type (see [`Cx::session`]).
pub type Session = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// What a read found: the comparable fields, in the same shape as the spec's, and the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The resource's physical name (or identifier).
    pub physical_name: String,
    /// Observed fields, comparable with [`ResourceSpec::fields`].
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Outputs (ARNs, names, endpoints, identifiers needed to update or delete it).
    pub outputs: Outputs,
}

/// One kind of resource: how to read, compare, create, update and delete it.
///
/// `read` maps "not found" to `None`; `create` and `update` wait until the resource is usable,
/// then re-read it to build the outputs; `delete` treats "not found" as success; `diff` is pure.
#[async_trait]
pub trait ResourceKind: Send + Sync {
    /// The kind's id (`aws:kinesis:stream`).
    fn kind(&self) -> &'static str;

    /// Human label used in messages ("Kinesis stream").
    fn label(&self) -> &'static str;

    /// Fills in fields that depend on local inputs (a package's checksum) before the diff.
    /// Pure kinds return the spec unchanged.
    ///
    /// # Errors
    /// When a local input is missing or unreadable.
    fn prepare(&self, spec: ResourceSpec) -> Result<ResourceSpec, ProvisionError> {
        Ok(spec)
    }

    /// Reads the resource; `None` when it does not exist.
    ///
    /// # Errors
    /// Any failure other than "not found".
    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError>;

    /// Compares desired and observed fields.
    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change;

    /// Creates the resource, waits until it is usable, and returns its outputs.
    ///
    /// # Errors
    /// When the provider refuses or the wait times out.
    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError>;

    /// Changes the fields in `change` in place, waits, and returns the outputs.
    ///
    /// # Errors
    /// When the provider refuses or the wait times out.
    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError>;

    /// Deletes the resource and waits until it is gone; "not found" is success.
    ///
    /// # Errors
    /// When the provider refuses or the wait times out.
    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError>;
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The provider refused a call (an AWS API error).
    #[error("failed to {action} {resource}: {code}: {message}")]
    Provider {
        /// What was attempted ("create Kinesis stream").
        action: String,
        /// The physical name.
        resource: String,
        /// The provider's error code (`ResourceInUseException`), or `unknown`.
        code: String,
        /// The service's message with the SDK's context.
        message: String,
    },
    /// A resource did not reach the wanted state in time.
    #[error("timed out after {after:?} waiting for {resource} to become {wanted}")]
    Timeout {
        /// The physical name.
        resource: String,
        /// The state waited for.
        wanted: String,
        /// How long was waited.
        after: Duration,
    },
    /// The spec cannot be applied as written.
    #[error("invalid spec {id}: {message}")]
    InvalidSpec {
        /// Logical id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// A local file or directory operation failed.
    #[error("failed to {action} {path}: {source}")]
    Local {
        /// What was attempted.
        action: String,
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, with context.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ProvisionError {
    /// The provider's error code, if the provider refused.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Provider { code, .. } => Some(code),
            _ => None,
        }
    }

    /// An [`ProvisionError::InvalidSpec`].
    pub fn invalid(id: &str, message: impl Into<String>) -> Self {
        Self::InvalidSpec {
            id: id.to_owned(),
            message: message.into(),
        }
    }
}

/// Counts provider calls: reads (`Get*`, `Describe*`, `List*`, `Head*`) and everything else as
/// writes, so a no-op `up` can prove it wrote nothing.
#[derive(Debug, Default)]
pub struct CallCounter {
    reads: AtomicU64,
    writes: AtomicU64,
    write_log: Mutex<Vec<String>>,
}

/// Totals of a [`CallCounter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Read calls.
    pub reads: u64,
    /// Write calls.
    pub writes: u64,
}

impl CallCounter {
    /// Whether an operation name is a read.
    #[must_use]
    pub fn is_read(operation: &str) -> bool {
        ["Get", "Describe", "List", "Head"]
            .iter()
            .any(|p| operation.starts_with(p))
    }

    /// Records one call of `service`'s `operation`.
    pub fn record(&self, service: &str, operation: &str) {
        if Self::is_read(operation) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.writes.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut log) = self.write_log.lock() {
                log.push(format!("{service}:{operation}"));
            }
        }
    }

    /// Totals so far.
    #[must_use]
    pub fn counts(&self) -> CallCounts {
        CallCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// The write calls so far, as `service:Operation`.
    #[must_use]
    pub fn writes(&self) -> Vec<String> {
        self.write_log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// What every resource kind works with: the stack's configuration, the provider's session (its
/// SDK clients), and the call counter.
pub struct Cx {
    /// The stack's configuration.
    pub config: StackConfig,
    /// What the provider opened for this run; `None` when its kinds need nothing.
    pub session: Option<Session>,
    /// Provider calls made so far.
    pub calls: std::sync::Arc<CallCounter>,
}

impl Cx {
    /// The provider's session as its own type.
    ///
    /// # Errors
    /// When the stack's provider opened no session of that type.
    pub fn session<T: Send + Sync + 'static>(&self) -> Result<&T, ProvisionError> {
        self.session
            .as_deref()
            .and_then(|s| s.downcast_ref::<T>())
            .ok_or_else(|| {
                ProvisionError::Unexpected(anyhow::anyhow!(
                    "the {} stack's provider opened no {}",
                    self.config.stack,
                    std::any::type_name::<T>()
                ))
            })
    }
}

/// Fields of a typed props struct as a spec's field map.
///
/// # Errors
/// When the struct does not serialize to a JSON object.
pub fn to_fields<T: Serialize>(
    props: &T,
) -> Result<BTreeMap<String, serde_json::Value>, serde_json::Error> {
    match serde_json::to_value(props)? {
        serde_json::Value::Object(m) => Ok(m.into_iter().collect()),
        other => Err(serde::ser::Error::custom(format!(
            "props must serialize to an object, got {other}"
        ))),
    }
}

/// What the diff tests of every kind start from: a declared resource and what a read found,
/// both from a props struct.
#[cfg(test)]
pub(crate) mod fixtures {
    use serde::Serialize;

    use super::{Observed, Outputs, to_fields};
    use crate::engine::plan::ResourceSpec;

    /// The resource `id` of `kind` as declared with `props`.
    pub(crate) fn declared<T: Serialize>(
        id: &str,
        kind: &str,
        physical_name: &str,
        props: &T,
    ) -> ResourceSpec {
        ResourceSpec {
            id: id.into(),
            kind: kind.into(),
            physical_name: physical_name.into(),
            fields: to_fields(props).expect("props serialize to an object"),
            depends_on: vec![],
        }
    }

    /// The resource as a read found it, with `props`.
    pub(crate) fn observed<T: Serialize>(physical_name: &str, props: &T) -> Observed {
        Observed {
            physical_name: physical_name.into(),
            fields: to_fields(props).expect("props serialize to an object"),
            outputs: Outputs::new(),
        }
    }
}

/// A spec's fields as a kind's typed props struct.
///
/// # Errors
/// [`ProvisionError::InvalidSpec`] when the fields do not match the struct.
pub fn from_fields<T: serde::de::DeserializeOwned>(
    spec: &ResourceSpec,
) -> Result<T, ProvisionError> {
    let map: serde_json::Map<String, serde_json::Value> = spec
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ProvisionError::invalid(&spec.id, format!("fields do not parse: {e}")))
}

/// An observation's fields as a kind's typed props struct.
///
/// # Errors
/// [`ProvisionError::InvalidSpec`] when the fields do not match the struct.
pub fn observed_as<T: serde::de::DeserializeOwned>(seen: &Observed) -> Result<T, ProvisionError> {
    let map: serde_json::Map<String, serde_json::Value> = seen
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        ProvisionError::invalid(
            &seen.physical_name,
            format!("observed fields do not parse: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_counted_apart() {
        // Arrange
        let c = CallCounter::default();
        // Act
        c.record("kinesis", "DescribeStreamSummary");
        c.record("s3", "HeadBucket");
        c.record("s3", "PutBucketPolicy");
        // Assert
        assert_eq!(
            c.counts(),
            CallCounts {
                reads: 2,
                writes: 1
            }
        );
        assert_eq!(c.writes(), ["s3:PutBucketPolicy"]);
    }
}
