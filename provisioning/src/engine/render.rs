//! How plans, reports and outputs read on a terminal (the JSON form is the serialized report).
//!
//! ```text
//!   + create   Kinesis stream (clickstream)          fashion-emu-clickstream
//!   ~ update   DynamoDB table (user-activity)        fashion-emu-user-activity
//!                ttl_attribute: null → "expires_at"
//!   ± replace  Glue table (orders)                   orders (partition_keys cannot change in place)
//!   - delete   S3 bucket (old)                       fashion-emu-old
//!     same     S3 bucket (lake)                      fashion-emu-lake-us-east-1
//! ```

use std::fmt::Write as _;

use crate::engine::state::StackOutputs;
use crate::engine::{Op, Report};

/// Longest rendering of a changed value before it is cut.
const MAX_VALUE_CHARS: usize = 70;

fn value(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > MAX_VALUE_CHARS {
        let cut: String = s.chars().take(MAX_VALUE_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Same => "    same   ",
        Op::Create => "  + create ",
        Op::Update => "  ~ update ",
        Op::Replace => "  ± replace",
        Op::Delete => "  - delete ",
    }
}

/// One line per resource (changed fields under updates), then a summary line.
#[must_use]
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    let width = r
        .steps
        .iter()
        .map(|s| s.label.len().saturating_add(s.name.len()).saturating_add(3))
        .max()
        .unwrap_or(0);
    for s in &r.steps {
        let what = format!("{} ({})", s.label, s.name);
        let _ = write!(
            out,
            "{}  {what:<width$}  {}",
            op_text(s.op),
            s.physical_name
        );
        if let Some(f) = &s.replace_field {
            let _ = write!(out, " ({f} cannot change in place)");
        }
        out.push('\n');
        for c in &s.changes {
            let _ = writeln!(
                out,
                "               {}: {} → {}",
                c.field,
                value(&c.from),
                value(&c.to)
            );
        }
    }
    for f in &r.failures {
        let _ = writeln!(out, "  ! failed   {}: {}", f.resource, f.error);
    }
    for id in &r.skipped {
        let _ = writeln!(out, "  . skipped  {id} (a dependency failed)");
    }
    out.push_str(&summary(r));
    out.push('\n');
    out
}

/// The last line: counts per operation, provider calls and time.
#[must_use]
pub fn summary(r: &Report) -> String {
    let secs = r.elapsed_ms as f64 / 1000.0;
    let calls = format!(
        "{} write calls, {} read calls, {secs:.1} s",
        r.calls.writes, r.calls.reads
    );
    let failed = if r.failures.is_empty() {
        String::new()
    } else {
        format!(", {} failed", r.failures.len())
    };
    match r.verb {
        "preview" => format!(
            "preview of stack {}: {} to create, {} to update, {} to replace, {} to delete, {} unchanged{failed} ({calls})",
            r.stack,
            r.count(Op::Create),
            r.count(Op::Update),
            r.count(Op::Replace),
            r.count(Op::Delete),
            r.count(Op::Same),
        ),
        "up" if !r.has_changes() && r.is_ok() => format!(
            "stack {}: everything unchanged, {} resources ({calls})",
            r.stack,
            r.count(Op::Same)
        ),
        "up" => format!(
            "up of stack {}: {} created, {} updated, {} replaced, {} deleted, {} unchanged{failed}{} ({calls})",
            r.stack,
            r.count(Op::Create),
            r.count(Op::Update),
            r.count(Op::Replace),
            r.count(Op::Delete),
            r.count(Op::Same),
            if r.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", r.skipped.len())
            },
        ),
        "destroy-preview" => format!(
            "destroy of stack {} would delete {} resources{failed} ({calls})",
            r.stack,
            r.count(Op::Delete)
        ),
        _ => format!(
            "destroy of stack {}: {} deleted{failed} ({calls})",
            r.stack,
            r.count(Op::Delete)
        ),
    }
}

/// Outputs, one `kind name key = value` line each.
#[must_use]
pub fn outputs(o: &StackOutputs) -> String {
    let mut out = String::new();
    if let Some(s) = o.stack {
        let _ = writeln!(out, "stack      {s}");
    }
    for (k, v) in [
        ("region", &o.region),
        ("endpoint", &o.endpoint_url),
        ("lake_url", &o.lake_url),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{k:<10} {v}");
        }
    }
    for (kind, by_name) in &o.resources {
        for (name, values) in by_name {
            for (key, v) in values {
                let _ = writeln!(out, "{kind} {name} {key} = {v}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StackName;
    use crate::engine::Step;
    use crate::engine::plan::FieldChange;
    use crate::engine::resource::CallCounts;
    use serde_json::json;

    fn step(op: Op, name: &str) -> Step {
        Step {
            id: format!("emulator::k::{name}"),
            kind: "k".into(),
            label: "DynamoDB table".into(),
            name: name.into(),
            physical_name: format!("p-{name}"),
            op,
            changes: vec![],
            replace_field: None,
        }
    }

    #[test]
    fn a_plan_shows_every_operation_and_the_changed_fields() {
        // Arrange
        let mut update = step(Op::Update, "user-activity");
        update.changes = vec![FieldChange {
            field: "ttl_attribute".into(),
            from: serde_json::Value::Null,
            to: json!("expires_at"),
        }];
        let mut replace = step(Op::Replace, "checkpoints");
        replace.replace_field = Some("key".into());
        let r = Report {
            stack: StackName::Emulator,
            verb: "preview",
            steps: vec![
                step(Op::Create, "products"),
                update,
                replace,
                step(Op::Same, "recs"),
            ],
            failures: vec![],
            skipped: vec![],
            calls: CallCounts {
                reads: 7,
                writes: 0,
            },
            write_calls: vec![],
            elapsed_ms: 1500,
            outputs: None,
        };
        // Act
        let text = report(&r);
        // Assert
        assert!(
            text.contains("  + create   DynamoDB table (products)"),
            "{text}"
        );
        assert!(
            text.contains("ttl_attribute: null → \"expires_at\""),
            "{text}"
        );
        assert!(text.contains("(key cannot change in place)"), "{text}");
        assert!(
            text.contains("    same     DynamoDB table (recs)"),
            "{text}"
        );
        assert!(
            text.contains("1 to create, 1 to update, 1 to replace, 0 to delete, 1 unchanged (0 write calls, 7 read calls, 1.5 s)"),
            "{text}"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = json!("x".repeat(200));
        assert_eq!(value(&long).chars().count(), MAX_VALUE_CHARS);
    }
}
