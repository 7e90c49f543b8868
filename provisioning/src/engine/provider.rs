//! What a provider hands the engine: the resource kinds it implements, the resources it declares
//! for a stack, the session its kinds share (SDK clients), and the values specs may reference
//! before any resource exists. The engine knows no provider; `crate::providers` picks one per
//! stack.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::StackConfig;
use crate::engine::desired::Builder;
use crate::engine::plan::ResourceSpec;
use crate::engine::resource::{
    CallCounter, Cx, Outputs, OutputsByKind, ProvisionError, ResourceKind, Session,
};

/// One provider: a family of resource kinds and the desired state of the stacks it serves.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The kinds it implements, registered by id.
    fn kinds(&self) -> Vec<Box<dyn ResourceKind>>;

    /// Declares every resource of the stack in `b` (pure: configuration in, specs out).
    fn declare(&self, b: &mut Builder<'_>);

    /// Opens what its kinds need for the stack (SDK clients counting their calls into
    /// `calls`); `None` when they need nothing.
    ///
    /// # Errors
    /// When the provider's configuration cannot be loaded.
    async fn connect(
        &self,
        _cfg: &StackConfig,
        _calls: Arc<CallCounter>,
    ) -> anyhow::Result<Option<Session>> {
        Ok(None)
    }

    /// Outputs specs may reference before any resource exists, by pseudo id (the AWS
    /// caller's account under `aws:caller`).
    ///
    /// # Errors
    /// When the provider cannot be asked (credentials, network).
    async fn known(&self, _cx: &Cx) -> anyhow::Result<BTreeMap<String, Outputs>> {
        Ok(BTreeMap::new())
    }

    /// Where the lake's tables live, from the stack's resource outputs.
    fn lake_url(&self, cfg: &StackConfig, resources: &OutputsByKind) -> Option<String>;
}

/// The desired resources of a stack as `provider` declares them.
#[must_use]
pub fn desired(provider: &dyn Provider, cfg: &StackConfig) -> Vec<ResourceSpec> {
    let mut b = Builder::new(cfg);
    provider.declare(&mut b);
    b.finish()
}

/// Every resource kind of a provider, by id.
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn ResourceKind>>,
}

impl Registry {
    /// The kinds `provider` implements.
    #[must_use]
    pub fn of(provider: &dyn Provider) -> Self {
        Self {
            kinds: provider
                .kinds()
                .into_iter()
                .map(|k| (k.kind(), k))
                .collect(),
        }
    }

    /// The kind of a spec.
    ///
    /// # Errors
    /// [`ProvisionError::InvalidSpec`] for an unknown kind.
    pub fn get(&self, spec: &ResourceSpec) -> Result<&dyn ResourceKind, ProvisionError> {
        self.kinds
            .get(spec.kind.as_str())
            .map(AsRef::as_ref)
            .ok_or_else(|| ProvisionError::invalid(&spec.id, format!("unknown kind {}", spec.kind)))
    }
}
