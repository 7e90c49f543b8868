//! The providers and which stack each serves: `local` the embedded stack, `aws` the `emulator`
//! and `aws` stacks (with the `aws` feature, on by default). This is the one place that knows
//! them all; the engine knows none.

#[cfg(feature = "aws")]
pub mod aws;
pub mod local;

use std::sync::Arc;

use crate::config::{StackConfig, StackName};
use crate::engine::Engine;
use crate::engine::plan::ResourceSpec;
use crate::engine::provider::{self, Provider};

/// The provider serving `stack`.
///
/// # Errors
/// An AWS stack asked of a build without the `aws` feature.
pub fn for_stack(stack: StackName) -> anyhow::Result<Arc<dyn Provider>> {
    match stack {
        StackName::Local => Ok(Arc::new(local::LocalProvider)),
        StackName::Emulator | StackName::Aws => aws_provider(stack),
    }
}

#[cfg(feature = "aws")]
#[allow(clippy::unnecessary_wraps)] // the same signature as without the feature
fn aws_provider(_stack: StackName) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(Arc::new(aws::provider::AwsProvider))
}

#[cfg(not(feature = "aws"))]
fn aws_provider(stack: StackName) -> anyhow::Result<Arc<dyn Provider>> {
    anyhow::bail!(
        "this build has no AWS support: the {stack} stack needs the `aws` feature (on by \
         default; drop --no-default-features)"
    )
}

/// The desired resources of the stack `cfg` configures.
///
/// # Errors
/// An AWS stack asked of a build without the `aws` feature.
pub fn desired(cfg: &StackConfig) -> anyhow::Result<Vec<ResourceSpec>> {
    Ok(provider::desired(for_stack(cfg.stack)?.as_ref(), cfg))
}

/// An engine for the stack `cfg` configures, with its provider connected.
///
/// # Errors
/// An AWS stack asked of a build without the `aws` feature, or a provider that cannot connect.
pub async fn connect(cfg: StackConfig) -> anyhow::Result<Engine> {
    let provider = for_stack(cfg.stack)?;
    Engine::connect(cfg, provider).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::apply_order;
    use crate::engine::provider::Registry;

    #[test]
    fn every_kind_a_stack_declares_is_registered_by_its_provider() {
        for stack in [StackName::Local, StackName::Emulator, StackName::Aws] {
            let provider = for_stack(stack).unwrap();
            let registry = Registry::of(provider.as_ref());
            for s in desired(&StackConfig::default_for(stack)).unwrap() {
                assert!(registry.get(&s).is_ok(), "{}", s.kind);
            }
        }
    }

    #[test]
    fn the_local_stack_declares_directories_and_databases_under_the_data_dir() {
        let cfg = StackConfig::builtin(StackName::Local).unwrap();
        let specs = desired(&cfg).unwrap();
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
