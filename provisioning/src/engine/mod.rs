//! The engine: reads every desired resource, diffs it, and (for `up`) applies the differences in
//! dependency order, level by level (a level's resources concurrently); `destroy` deletes in
//! reverse order. `preview` and `up` run the same read–diff step (Pulumi threads `DryRun`
//! through the same code). Resources in the last applied state but no longer desired are
//! deleted by `up` and shown as deletes by `preview`.

pub mod desired;
mod destroy;
pub mod plan;
pub mod provider;
pub mod refs;
pub mod render;
pub mod report;
pub mod resource;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;

use crate::config::StackConfig;
use crate::engine::plan::{Change, ResourceSpec, levels};
use crate::engine::provider::{Provider, Registry, desired};
use crate::engine::refs::Lookup;
pub use crate::engine::report::{Failure, Op, Report, Step};
use crate::engine::report::{delete_step, step};
use crate::engine::resource::{CallCounter, CallCounts, Cx, Observed, Outputs, ProvisionError};
use crate::engine::state::{ResourceState, StackState};
use crate::engine::state::{StackOutputs, stack_outputs};

/// Where progress lines go ("creating Kinesis stream (clickstream): …").
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// A resource's outputs as known while planning.
#[derive(Debug, Clone)]
enum Known {
    /// Exists and stays: its outputs are final.
    Ready(Outputs),
    /// Will change: the outputs given are those that survive (an update keeps its ARN); any
    /// other is known only after apply.
    Pending(Outputs),
}

fn lookup(known: &BTreeMap<String, Known>, id: &str, key: &str) -> Option<Lookup> {
    match known.get(id)? {
        Known::Ready(o) => o.get(key).cloned().map(Lookup::Known),
        Known::Pending(o) => Some(o.get(key).cloned().map_or(Lookup::Unknown, Lookup::Known)),
    }
}

struct Observation {
    spec: ResourceSpec,
    seen: Option<Observed>,
    change: Change,
    unknown: bool,
}

/// The engine of one stack.
pub struct Engine {
    cx: Cx,
    provider: Arc<dyn Provider>,
    registry: Registry,
    specs: Vec<ResourceSpec>,
    progress: Progress,
}

fn millis(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// An engine for a stack served by `provider`: its desired resources, its kinds, and the
    /// session they share (SDK clients for AWS stacks).
    ///
    /// # Errors
    /// When the provider cannot open its session (its configuration cannot be loaded).
    pub async fn connect(config: StackConfig, provider: Arc<dyn Provider>) -> anyhow::Result<Self> {
        let calls = Arc::new(CallCounter::default());
        let session = provider.connect(&config, calls.clone()).await?;
        let specs = desired(provider.as_ref(), &config);
        Ok(Self {
            cx: Cx {
                config,
                session,
                calls,
            },
            registry: Registry::of(provider.as_ref()),
            provider,
            specs,
            progress: Arc::new(|line: &str| eprintln!("{line}")),
        })
    }

    /// Sends progress lines somewhere else than stderr.
    #[must_use]
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The desired resources.
    #[must_use]
    pub fn specs(&self) -> &[ResourceSpec] {
        &self.specs
    }

    /// The stack's configuration.
    #[must_use]
    pub fn config(&self) -> &StackConfig {
        &self.cx.config
    }

    /// Provider calls made by this engine so far.
    #[must_use]
    pub fn calls(&self) -> CallCounts {
        self.cx.calls.counts()
    }

    fn say(&self, line: &str) {
        (self.progress)(line);
    }

    /// The last applied state and outputs of the stack, if any.
    ///
    /// # Errors
    /// When the state file exists but cannot be read.
    pub fn state(&self) -> anyhow::Result<Option<StackState>> {
        StackState::load(&self.cx.config.state_file())
    }

    /// What the provider knows before any resource exists (the AWS caller's account, which
    /// specs reference as `${aws:caller.account_id}`).
    async fn known(&self) -> anyhow::Result<BTreeMap<String, Known>> {
        Ok(self
            .provider
            .known(&self.cx)
            .await?
            .into_iter()
            .map(|(id, outputs)| (id, Known::Ready(outputs)))
            .collect())
    }

    async fn observe(
        &self,
        spec: &ResourceSpec,
        known: &BTreeMap<String, Known>,
    ) -> Result<Observation, ProvisionError> {
        let kind = self.registry.get(spec)?;
        let (resolved, unknown) = refs::resolve(spec, &|id, key| lookup(known, id, key))
            .map_err(|e| ProvisionError::invalid(&spec.id, e.to_string()))?;
        let prepared = kind.prepare(resolved)?;
        let seen = kind.read(&self.cx, &prepared).await?;
        let change = match &seen {
            None => Change::Create,
            Some(s) => kind.diff(&prepared, s),
        };
        Ok(Observation {
            spec: prepared,
            seen,
            change,
            unknown,
        })
    }

    /// Specs in the last applied state that are no longer desired.
    fn orphans(&self, state: Option<&StackState>) -> Vec<ResourceSpec> {
        let desired: BTreeSet<&str> = self.specs.iter().map(|s| s.id.as_str()).collect();
        state
            .map(|st| {
                st.resources
                    .iter()
                    .filter(|r| !desired.contains(r.spec.id.as_str()))
                    .map(|r| r.spec.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads and diffs every resource, changing nothing.
    ///
    /// # Errors
    /// When the specs cannot be ordered or the caller's account cannot be found.
    pub async fn preview(&self) -> anyhow::Result<Report> {
        let start = Instant::now();
        let before = self.cx.calls.counts();
        let writes_before = self.cx.calls.writes().len();
        let state = self.state()?;
        let mut known = self.known().await?;
        let mut steps = Vec::new();
        let mut failures = Vec::new();
        for level in levels(&self.specs)? {
            let results = join_all(level.iter().map(|s| self.observe(s, &known))).await;
            for (spec, r) in level.iter().zip(results) {
                match r {
                    Ok(o) => {
                        let kind = self.registry.get(spec)?;
                        let outputs = o
                            .seen
                            .as_ref()
                            .map(|s| s.outputs.clone())
                            .unwrap_or_default();
                        known.insert(
                            spec.id.clone(),
                            match &o.change {
                                Change::Same if !o.unknown => Known::Ready(outputs),
                                Change::Same | Change::Update { .. } => Known::Pending(outputs),
                                Change::Create | Change::Replace { .. } => {
                                    Known::Pending(Outputs::new())
                                }
                            },
                        );
                        steps.push(step(kind, &o.spec, &o.change));
                    }
                    Err(e) => {
                        known.insert(spec.id.clone(), Known::Pending(Outputs::new()));
                        failures.push(self.failure(spec, &e));
                    }
                }
            }
        }
        for orphan in self.orphans(state.as_ref()) {
            let r = async {
                let kind = self.registry.get(&orphan)?;
                Ok::<_, ProvisionError>(
                    kind.read(&self.cx, &orphan)
                        .await?
                        .map(|_| delete_step(kind, &orphan)),
                )
            }
            .await;
            match r {
                Ok(Some(s)) => steps.push(s),
                Ok(None) => {}
                Err(e) => failures.push(self.failure(&orphan, &e)),
            }
        }
        Ok(self.report(
            "preview",
            steps,
            failures,
            vec![],
            before,
            writes_before,
            start,
            None,
        ))
    }

    fn failure(&self, spec: &ResourceSpec, e: &ProvisionError) -> Failure {
        let label = self
            .registry
            .get(spec)
            .map_or_else(|_| spec.kind.clone(), |k| k.label().to_owned());
        Failure {
            id: spec.id.clone(),
            resource: format!("{label} ({})", spec.name()),
            error: match e {
                // The context chain of an unexpected error is the useful part.
                ProvisionError::Unexpected(a) => format!("{a:#}"),
                other => other.to_string(),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        verb: &'static str,
        steps: Vec<Step>,
        failures: Vec<Failure>,
        skipped: Vec<String>,
        before: CallCounts,
        writes_before: usize,
        start: Instant,
        outputs: Option<StackOutputs>,
    ) -> Report {
        let after = self.cx.calls.counts();
        Report {
            stack: self.cx.config.stack,
            verb,
            steps,
            failures,
            skipped,
            calls: CallCounts {
                reads: after.reads.saturating_sub(before.reads),
                writes: after.writes.saturating_sub(before.writes),
            },
            write_calls: self
                .cx
                .calls
                .writes()
                .into_iter()
                .skip(writes_before)
                .collect(),
            elapsed_ms: millis(start),
            outputs,
        }
    }

    async fn apply_one(
        &self,
        spec: &ResourceSpec,
        known: &BTreeMap<String, Known>,
    ) -> Result<(Step, ResourceState), ProvisionError> {
        let kind = self.registry.get(spec)?;
        let o = self.observe(spec, known).await?;
        if o.unknown {
            return Err(ProvisionError::invalid(
                &spec.id,
                "a value it references is still unknown (a dependency was not applied)",
            ));
        }
        let what = format!("{} ({})", kind.label(), spec.name());
        let started = Instant::now();
        let outputs = match (&o.change, &o.seen) {
            (Change::Same, Some(seen)) => seen.outputs.clone(),
            (Change::Update { fields }, Some(seen)) => {
                let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
                self.say(&format!("updating {what}: {}", names.join(", ")));
                kind.update(&self.cx, &o.spec, seen, &o.change).await?
            }
            (Change::Replace { field }, Some(seen)) => {
                self.say(&format!(
                    "replacing {what}: {field} cannot change in place, deleting {} first",
                    o.spec.physical_name
                ));
                kind.delete(&self.cx, seen).await?;
                kind.create(&self.cx, &o.spec).await?
            }
            _ => {
                self.say(&format!("creating {what}: {}", o.spec.physical_name));
                kind.create(&self.cx, &o.spec).await?
            }
        };
        if o.change != Change::Same {
            self.say(&format!(
                "  done: {what} in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
        Ok((
            step(kind, &o.spec, &o.change),
            ResourceState {
                spec: o.spec,
                outputs,
            },
        ))
    }

    /// Reads, diffs and applies every resource in dependency order, deletes resources no longer
    /// desired, and saves the state and outputs. Resources that depend on a failed one are
    /// skipped.
    ///
    /// # Errors
    /// When the specs cannot be ordered, the account cannot be found or the state not saved.
    /// Failures of single resources are in the report.
    pub async fn up(&self) -> anyhow::Result<Report> {
        let start = Instant::now();
        let before = self.cx.calls.counts();
        let writes_before = self.cx.calls.writes().len();
        let previous = self.state()?;
        let mut known = self.known().await?;
        let mut steps = Vec::new();
        let mut failures = Vec::new();
        let mut skipped = Vec::new();
        let mut applied: BTreeMap<String, ResourceState> = BTreeMap::new();
        for level in levels(&self.specs)? {
            if !failures.is_empty() {
                skipped.extend(level.iter().map(|s| s.id.clone()));
                continue;
            }
            let results = join_all(level.iter().map(|s| self.apply_one(s, &known))).await;
            for (spec, r) in level.iter().zip(results) {
                match r {
                    Ok((s, st)) => {
                        known.insert(spec.id.clone(), Known::Ready(st.outputs.clone()));
                        steps.push(s);
                        applied.insert(spec.id.clone(), st);
                    }
                    Err(e) => failures.push(self.failure(spec, &e)),
                }
            }
        }
        let orphans = self.orphans(previous.as_ref());
        let mut kept_orphans = Vec::new();
        if failures.is_empty() {
            let (deleted, failed) = self.delete_all(&orphans).await?;
            steps.extend(deleted);
            let failed_ids: BTreeSet<&str> = failed.iter().map(|f| f.id.as_str()).collect();
            kept_orphans = orphans
                .iter()
                .filter(|o| failed_ids.contains(o.id.as_str()))
                .cloned()
                .collect();
            failures.extend(failed);
        } else {
            kept_orphans.clone_from(&orphans);
        }
        // The new state: what was applied, what failed as it was before, orphans not deleted.
        let previous_by_id: BTreeMap<String, ResourceState> = previous
            .map(|p| {
                p.resources
                    .into_iter()
                    .map(|r| (r.spec.id.clone(), r))
                    .collect()
            })
            .unwrap_or_default();
        let mut resources: Vec<ResourceState> = self
            .specs
            .iter()
            .filter_map(|s| {
                applied
                    .remove(&s.id)
                    .or_else(|| previous_by_id.get(&s.id).cloned())
            })
            .collect();
        resources.extend(
            kept_orphans
                .iter()
                .filter_map(|o| previous_by_id.get(&o.id).cloned()),
        );
        let outputs = self.save(resources)?;
        Ok(self.report(
            "up",
            steps,
            failures,
            skipped,
            before,
            writes_before,
            start,
            Some(outputs),
        ))
    }

    fn save(&self, resources: Vec<ResourceState>) -> anyhow::Result<StackOutputs> {
        let by_id: BTreeMap<String, Outputs> = resources
            .iter()
            .map(|r| (r.spec.id.clone(), r.outputs.clone()))
            .collect();
        let outputs = stack_outputs(self.provider.as_ref(), &self.cx.config, &by_id);
        let path = self.cx.config.state_file();
        if resources.is_empty() {
            StackState::remove(&path)?;
        } else {
            StackState {
                stack: self.cx.config.stack,
                updated_at: chrono::Utc::now().to_rfc3339(),
                outputs: outputs.clone(),
                resources,
            }
            .save(&path)?;
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_outputs_are_unknown_and_ready_ones_are_known() {
        let known = BTreeMap::from([
            (
                "a".to_owned(),
                Known::Ready(Outputs::from([("arn".to_owned(), "x".to_owned())])),
            ),
            ("b".to_owned(), Known::Pending(Outputs::new())),
        ]);
        assert_eq!(lookup(&known, "a", "arn"), Some(Lookup::Known("x".into())));
        assert_eq!(lookup(&known, "a", "nope"), None);
        assert_eq!(lookup(&known, "b", "arn"), Some(Lookup::Unknown));
    }
}
