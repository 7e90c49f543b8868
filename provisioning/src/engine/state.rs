//! The per-stack state file `.state/<stack>.json`: what was last applied (each resource's
//! resolved fields and outputs) and the stack's outputs the apps read. Written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::{StackConfig, StackName};
use crate::engine::plan::ResourceSpec;
use crate::engine::provider::Provider;
use crate::engine::resource::{Outputs, OutputsByKind};

/// One applied resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// The spec as applied (references resolved).
    pub spec: ResourceSpec,
    /// Its outputs after apply.
    pub outputs: Outputs,
}

/// Everything saved for a stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// The stack.
    pub stack: StackName,
    /// When it was last written (RFC 3339, UTC).
    pub updated_at: String,
    /// The outputs the apps read.
    pub outputs: StackOutputs,
    /// The resources, in apply order.
    pub resources: Vec<ResourceState>,
}

impl StackState {
    /// Reads a state file; `None` when there is none.
    ///
    /// # Errors
    /// When the file exists but cannot be read or parsed.
    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("failed to parse the state file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(e).with_context(|| format!("failed to read the state file {}", path.display()))
            }
        }
    }

    /// Writes the state file atomically (a temporary file renamed over it).
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(self).context("failed to serialize the state")?;
        std::fs::write(&tmp, json).with_context(|| format!("failed to write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("failed to replace {}", path.display()))
    }

    /// Removes the state file (after a complete destroy); a missing file is fine.
    ///
    /// # Errors
    /// When the file exists and cannot be removed.
    pub fn remove(path: &Path) -> anyhow::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("failed to remove {}", path.display()))
            }
            _ => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_its_file_and_a_missing_file_is_none() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".state/aws.json");
        let state = StackState {
            stack: StackName::Aws,
            updated_at: "2026-01-01T00:00:00Z".into(),
            outputs: StackOutputs::default(),
            resources: vec![],
        };
        // Act
        let before = StackState::load(&path).unwrap();
        state.save(&path).unwrap();
        let after = StackState::load(&path).unwrap();
        StackState::remove(&path).unwrap();
        // Assert
        assert_eq!(before, None);
        assert_eq!(after, Some(state));
        assert!(!path.exists());
    }
}
