//! Taking a stack down: `destroy` and its preview delete every resource the stack holds (desired
//! or left in the state) in reverse dependency order; `up` uses the same deletion for orphans.

use std::collections::BTreeSet;
use std::time::Instant;

use futures::future::join_all;

use super::Engine;
use crate::engine::plan::{ResourceSpec, levels};
use crate::engine::report::{Failure, Report, Step, delete_step};
use crate::engine::resource::ProvisionError;
use crate::engine::state::ResourceState;

impl Engine {
    /// Deletes specs in reverse dependency order; each is read first (absent ones are skipped).
    /// Stops before a level when an earlier one failed, so nothing is deleted from under a
    /// resource that still exists.
    pub(super) async fn delete_all(
        &self,
        specs: &[ResourceSpec],
    ) -> anyhow::Result<(Vec<Step>, Vec<Failure>)> {
        let ids: BTreeSet<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        // Dependencies outside the set (already gone, or kept) do not order anything here.
        let scoped: Vec<ResourceSpec> = specs
            .iter()
            .map(|s| ResourceSpec {
                depends_on: s
                    .depends_on
                    .iter()
                    .filter(|d| ids.contains(d.as_str()))
                    .cloned()
                    .collect(),
                ..s.clone()
            })
            .collect();
        let mut steps = Vec::new();
        let mut failures: Vec<Failure> = Vec::new();
        for level in levels(&scoped)?.into_iter().rev() {
            if !failures.is_empty() {
                break;
            }
            let results = join_all(level.iter().map(|s| self.delete_one(s))).await;
            for (spec, r) in level.iter().zip(results) {
                match r {
                    Ok(Some(s)) => steps.push(s),
                    Ok(None) => {}
                    Err(e) => failures.push(self.failure(spec, &e)),
                }
            }
        }
        Ok((steps, failures))
    }

    async fn delete_one(&self, spec: &ResourceSpec) -> Result<Option<Step>, ProvisionError> {
        let kind = self.registry.get(spec)?;
        let Some(seen) = kind.read(&self.cx, spec).await? else {
            return Ok(None);
        };
        let what = format!("{} ({})", kind.label(), spec.name());
        self.say(&format!("deleting {what}: {}", spec.physical_name));
        let started = Instant::now();
        kind.delete(&self.cx, &seen).await?;
        self.say(&format!(
            "  done: {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(Some(delete_step(kind, spec)))
    }

    /// Everything `destroy` would consider: the desired specs and those only in the state.
    fn all_specs(&self) -> anyhow::Result<Vec<ResourceSpec>> {
        let state = self.state()?;
        let mut all = self.specs.clone();
        all.extend(self.orphans(state.as_ref()));
        Ok(all)
    }

    /// Lists what `destroy` would delete (reads only).
    ///
    /// # Errors
    /// When the state cannot be read or the specs ordered.
    pub async fn preview_destroy(&self) -> anyhow::Result<Report> {
        let start = Instant::now();
        let before = self.cx.calls.counts();
        let writes_before = self.cx.calls.writes().len();
        let all = self.all_specs()?;
        let mut steps = Vec::new();
        let mut failures = Vec::new();
        let order: Vec<ResourceSpec> = {
            let ids: BTreeSet<&str> = all.iter().map(|s| s.id.as_str()).collect();
            let scoped: Vec<ResourceSpec> = all
                .iter()
                .map(|s| ResourceSpec {
                    depends_on: s
                        .depends_on
                        .iter()
                        .filter(|d| ids.contains(d.as_str()))
                        .cloned()
                        .collect(),
                    ..s.clone()
                })
                .collect();
            levels(&scoped)?
                .into_iter()
                .rev()
                .flatten()
                .cloned()
                .collect()
        };
        let reads = join_all(order.iter().map(|s| async {
            let kind = self.registry.get(s)?;
            Ok::<_, ProvisionError>(kind.read(&self.cx, s).await?.map(|_| delete_step(kind, s)))
        }))
        .await;
        for (spec, r) in order.iter().zip(reads) {
            match r {
                Ok(Some(s)) => steps.push(s),
                Ok(None) => {}
                Err(e) => failures.push(self.failure(spec, &e)),
            }
        }
        Ok(self.report(
            "destroy-preview",
            steps,
            failures,
            vec![],
            before,
            writes_before,
            start,
            None,
        ))
    }

    /// Deletes every resource of the stack in reverse dependency order ("not found" counts as
    /// deleted), then removes the state (or keeps what could not be deleted).
    ///
    /// # Errors
    /// When the state cannot be read or written, or the specs ordered.
    pub async fn destroy(&self) -> anyhow::Result<Report> {
        let start = Instant::now();
        let before = self.cx.calls.counts();
        let writes_before = self.cx.calls.writes().len();
        let previous = self.state()?;
        let all = self.all_specs()?;
        let (steps, failures) = self.delete_all(&all).await?;
        let deleted: BTreeSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        let failed = !failures.is_empty();
        // After a failure, whatever was not deleted is kept in the state for the next try.
        let remaining: Vec<ResourceState> = if failed {
            previous
                .map(|p| {
                    p.resources
                        .into_iter()
                        .filter(|r| !deleted.contains(r.spec.id.as_str()))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        self.save(remaining)?;
        Ok(self.report(
            "destroy",
            steps,
            failures,
            vec![],
            before,
            writes_before,
            start,
            None,
        ))
    }
}
