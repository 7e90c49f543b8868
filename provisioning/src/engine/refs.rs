//! References between resources: a string field may embed `${<logical id>.<output>}`, replaced by
//! that resource's output before the diff (Pulumi's `Output<T>`). A spec depends on every resource
//! it references. An id without `::` names a provider's pseudo resource, known before any
//! resource exists (the AWS provider's `${aws:caller.account_id}`), which is no dependency.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::engine::plan::ResourceSpec;

/// What an unresolved reference shows in a preview: its resource is yet to be created.
pub const UNKNOWN: &str = "(known after apply)";

/// `${id.key}`: a reference to an output of another resource.
#[must_use]
pub fn output_ref(id: &str, key: &str) -> String {
    format!("${{{id}.{key}}}")
}

/// Every `(id, key)` referenced in a string.
fn refs_in(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((_, after)) = rest.split_once("${") {
        let Some((inner, tail)) = after.split_once('}') else {
            break;
        };
        if let Some((id, key)) = inner.rsplit_once('.') {
            out.push((id, key));
        }
        rest = tail;
    }
    out
}

fn walk<'a>(v: &'a Value, f: &mut impl FnMut(&'a str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// The logical ids a spec's fields reference (without providers' pseudo resources).
#[must_use]
pub fn referenced_ids(fields: &BTreeMap<String, Value>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for v in fields.values() {
        walk(v, &mut |s| {
            for (id, _) in refs_in(s) {
                if id.contains("::") {
                    ids.insert(id.to_owned());
                }
            }
        });
    }
    ids
}

/// What a lookup of `id.key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The value.
    Known(String),
    /// The resource will exist after apply; its value is not known yet (preview only).
    Unknown,
}

/// A reference that names no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{from} references {id}.{key}, which is not an output of that resource")]
pub struct UnresolvedRef {
    /// The referencing spec.
    pub from: String,
    /// The referenced id.
    pub id: String,
    /// The referenced output key.
    pub key: String,
}

fn resolve_str(
    s: &str,
    from: &str,
    lookup: &impl Fn(&str, &str) -> Option<Lookup>,
    unknown: &mut bool,
) -> Result<String, UnresolvedRef> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((before, after)) = rest.split_once("${") {
        let Some((inner, tail)) = after.split_once('}') else {
            break;
        };
        out.push_str(before);
        let Some((id, key)) = inner.rsplit_once('.') else {
            out.push_str("${");
            out.push_str(inner);
            out.push('}');
            rest = tail;
            continue;
        };
        match lookup(id, key) {
            Some(Lookup::Known(v)) => out.push_str(&v),
            Some(Lookup::Unknown) => {
                *unknown = true;
                // The whole string is unknown once any part of it is.
                return Ok(UNKNOWN.to_owned());
            }
            None => {
                return Err(UnresolvedRef {
                    from: from.to_owned(),
                    id: id.to_owned(),
                    key: key.to_owned(),
                });
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve_value(
    v: &Value,
    from: &str,
    lookup: &impl Fn(&str, &str) -> Option<Lookup>,
    unknown: &mut bool,
) -> Result<Value, UnresolvedRef> {
    Ok(match v {
        Value::String(s) => Value::String(resolve_str(s, from, lookup, unknown)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve_value(x, from, lookup, unknown))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), resolve_value(x, from, lookup, unknown)?)))
                .collect::<Result<_, UnresolvedRef>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces every reference in a spec's fields. Returns the resolved spec and whether any value
/// is still unknown (only possible in a preview, when a dependency is yet to be created).
///
/// # Errors
/// [`UnresolvedRef`] when a reference names an output the resource does not have.
pub fn resolve(
    spec: &ResourceSpec,
    lookup: &impl Fn(&str, &str) -> Option<Lookup>,
) -> Result<(ResourceSpec, bool), UnresolvedRef> {
    let mut unknown = false;
    let fields = spec
        .fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), resolve_value(v, &spec.id, lookup, &mut unknown)?)))
        .collect::<Result<_, UnresolvedRef>>()?;
    Ok((
        ResourceSpec {
            fields,
            ..spec.clone()
        },
        unknown,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(fields: Value) -> ResourceSpec {
        let Value::Object(fields) = fields else {
            panic!("fields must be an object")
        };
        ResourceSpec {
            id: "s::k::a".into(),
            kind: "k".into(),
            physical_name: "a".into(),
            fields: fields.into_iter().collect(),
            depends_on: vec![],
        }
    }

    #[test]
    fn references_are_found_and_replaced_inside_nested_values() {
        // Arrange
        let s = spec(json!({
            "role": output_ref("s::iam::r", "arn"),
            "policy": {"Resource": [format!("{}/*", output_ref("s::s3::b", "arn")), output_ref("aws:caller", "account_id")]},
            "plain": "no refs here",
        }));
        // Act
        let ids = referenced_ids(&s.fields);
        let (resolved, unknown) =
            resolve(&s, &|id, key| Some(Lookup::Known(format!("<{id}|{key}>")))).unwrap();
        // Assert
        assert_eq!(
            ids,
            BTreeSet::from(["s::iam::r".to_owned(), "s::s3::b".to_owned()])
        );
        assert!(!unknown);
        assert_eq!(resolved.fields["role"], json!("<s::iam::r|arn>"));
        assert_eq!(
            resolved.fields["policy"],
            json!({"Resource": ["<s::s3::b|arn>/*", "<aws:caller|account_id>"]})
        );
        assert_eq!(resolved.fields["plain"], json!("no refs here"));
    }

    #[test]
    fn placeholders_without_an_output_key_are_left_alone() {
        // Athena's partition projection template uses `${dt}`; it is not a reference.
        let s = spec(json!({"template": "s3://b/t/dt=${dt}/hour=${hour}/"}));
        assert!(referenced_ids(&s.fields).is_empty());
        let (resolved, unknown) = resolve(&s, &|_, _| None).unwrap();
        assert!(!unknown);
        assert_eq!(
            resolved.fields["template"],
            json!("s3://b/t/dt=${dt}/hour=${hour}/")
        );
    }

    #[test]
    fn unknown_outputs_are_marked_and_missing_ones_are_errors() {
        let s = spec(json!({"role": output_ref("s::iam::r", "arn")}));
        let (resolved, unknown) = resolve(&s, &|_, _| Some(Lookup::Unknown)).unwrap();
        assert!(unknown);
        assert_eq!(resolved.fields["role"], json!(UNKNOWN));
        let err = resolve(&s, &|_, _| None).unwrap_err();
        assert_eq!(err.key, "arn");
    }
}
