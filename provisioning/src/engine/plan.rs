//! Resource specs, field changes, and dependency ordering.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One desired resource: `stack::kind::name` (the logical id), a deterministic physical name,
/// the fields a provider compares, and what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Logical id, `stack::kind::name`.
    pub id: String,
    /// Resource kind (`aws:s3:bucket`, `local:directory`, ...).
    pub kind: String,
    /// Physical name, derived from the stack's prefix, never random.
    pub physical_name: String,
    /// Desired fields.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Logical ids this resource needs first.
    pub depends_on: Vec<String>,
}

impl ResourceSpec {
    /// The logical name: the last `::` segment of the id (`clickstream` in
    /// `aws::aws:kinesis:stream::clickstream`).
    #[must_use]
    pub fn name(&self) -> &str {
        self.id.rsplit("::").next().unwrap_or(&self.id)
    }
}

/// A field whose observed value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field name.
    pub field: String,
    /// Observed value (`null` when absent).
    pub from: serde_json::Value,
    /// Desired value.
    pub to: serde_json::Value,
}

/// What applying a spec would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Observed equals desired.
    Same,
    /// Absent: create it.
    Create,
    /// Present with different fields that can change in place.
    Update {
        /// The differing fields.
        fields: Vec<FieldChange>,
    },
    /// Present with a field that cannot change in place: delete and create.
    Replace {
        /// The field that forces replacement.
        field: String,
    },
}

/// Compares desired and observed fields: `Replace` if any differing field is in
/// `replace_on`, `Update` if others differ, `Same` otherwise. Fields the provider did not report
/// count as different.
#[must_use]
pub fn diff_fields(
    desired: &BTreeMap<String, serde_json::Value>,
    observed: &BTreeMap<String, serde_json::Value>,
    replace_on: &[&str],
) -> Change {
    let changes: Vec<FieldChange> = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| FieldChange {
            field: k.clone(),
            from: observed.get(k).cloned().unwrap_or(serde_json::Value::Null),
            to: v.clone(),
        })
        .collect();
    if let Some(c) = changes
        .iter()
        .find(|c| replace_on.contains(&c.field.as_str()))
    {
        return Change::Replace {
            field: c.field.clone(),
        };
    }
    if changes.is_empty() {
        Change::Same
    } else {
        Change::Update { fields: changes }
    }
}

/// Why specs cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A spec depends on an id no spec has.
    #[error("{from} depends on unknown resource {missing}")]
    UnknownDependency {
        /// The dependent.
        from: String,
        /// The missing id.
        missing: String,
    },
    /// Two specs share a logical id.
    #[error("two resources share the id {0}")]
    Duplicate(String),
    /// Dependencies form a cycle.
    #[error("dependency cycle among {0:?}")]
    Cycle(Vec<String>),
}

/// Orders specs so that every resource comes after what it depends on (ties by id, so the order
/// is deterministic). `destroy` uses the reverse.
///
/// # Errors
/// [`OrderError`] for unknown dependencies or cycles.
pub fn apply_order(specs: &[ResourceSpec]) -> Result<Vec<&ResourceSpec>, OrderError> {
    Ok(levels(specs)?.into_iter().flatten().collect())
}

/// Groups specs into levels: every spec of a level depends only on specs of earlier levels, so a
/// level's resources can be read or applied concurrently (Pulumi's antichains). Within a level,
/// specs are sorted by id.
///
/// # Errors
/// [`OrderError`] for unknown dependencies or cycles.
pub fn levels(specs: &[ResourceSpec]) -> Result<Vec<Vec<&ResourceSpec>>, OrderError> {
    let by_id: BTreeMap<&str, &ResourceSpec> = specs.iter().map(|s| (s.id.as_str(), s)).collect();
    if by_id.len() < specs.len() {
        let mut seen = BTreeSet::new();
        if let Some(d) = specs.iter().find(|s| !seen.insert(s.id.as_str())) {
            return Err(OrderError::Duplicate(d.id.clone()));
        }
    }
    for s in specs {
        if let Some(m) = s
            .depends_on
            .iter()
            .find(|d| !by_id.contains_key(d.as_str()))
        {
            return Err(OrderError::UnknownDependency {
                from: s.id.clone(),
                missing: m.clone(),
            });
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out: Vec<Vec<&ResourceSpec>> = Vec::new();
    while done.len() < by_id.len() {
        let ready: Vec<&str> = by_id
            .iter()
            .filter(|(id, s)| {
                !done.contains(*id) && s.depends_on.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            let stuck = by_id
                .keys()
                .filter(|id| !done.contains(*id))
                .map(|s| (*s).to_owned())
                .collect();
            return Err(OrderError::Cycle(stuck));
        }
        out.push(
            ready
                .iter()
                .filter_map(|id| by_id.get(id).copied())
                .collect(),
        );
        done.extend(ready);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(id: &str, deps: &[&str]) -> ResourceSpec {
        ResourceSpec {
            id: id.into(),
            kind: "test".into(),
            physical_name: id.into(),
            fields: BTreeMap::new(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn dependencies_come_first_and_cycles_are_refused() {
        let specs = vec![spec("c", &["b"]), spec("a", &[]), spec("b", &["a"])];
        let order: Vec<&str> = apply_order(&specs)
            .unwrap()
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c"]);
        let two = vec![spec("b", &[]), spec("a", &[]), spec("c", &["a", "b"])];
        let grouped: Vec<Vec<&str>> = levels(&two)
            .unwrap()
            .iter()
            .map(|l| l.iter().map(|s| s.id.as_str()).collect())
            .collect();
        assert_eq!(grouped, vec![vec!["a", "b"], vec!["c"]]);
        let cyclic = vec![spec("x", &["y"]), spec("y", &["x"])];
        assert!(matches!(apply_order(&cyclic), Err(OrderError::Cycle(_))));
        assert!(matches!(
            apply_order(&[spec("z", &["nope"])]),
            Err(OrderError::UnknownDependency { .. })
        ));
    }

    #[test]
    fn diff_finds_same_update_and_replace() {
        let desired: BTreeMap<String, serde_json::Value> = [
            ("shards".to_owned(), json!(2)),
            ("encryption".to_owned(), json!("KMS")),
        ]
        .into();
        assert_eq!(diff_fields(&desired, &desired, &["name"]), Change::Same);
        let mut seen = desired.clone();
        seen.insert("shards".into(), json!(1));
        assert_eq!(
            diff_fields(&desired, &seen, &[]),
            Change::Update {
                fields: vec![FieldChange {
                    field: "shards".into(),
                    from: json!(1),
                    to: json!(2)
                }]
            }
        );
        assert_eq!(
            diff_fields(&desired, &seen, &["shards"]),
            Change::Replace {
                field: "shards".into()
            }
        );
        assert_eq!(
            diff_fields(&desired, &BTreeMap::new(), &[]),
            Change::Update {
                fields: vec![
                    FieldChange {
                        field: "encryption".into(),
                        from: serde_json::Value::Null,
                        to: json!("KMS")
                    },
                    FieldChange {
                        field: "shards".into(),
                        from: serde_json::Value::Null,
                        to: json!(2)
                    },
                ]
            }
        );
    }
}
