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

/// How much of each change a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Changed fields of updates, values cut at [`MAX_VALUE_CHARS`].
    Brief,
    /// `--diff`: every property a create or replacement sets, and each changed value whole,
    /// multi-line values (policies, environments) as a line diff.
    Diff,
}

/// One line per resource (changed fields under updates), then a summary line.
#[must_use]
pub fn report(r: &Report) -> String {
    report_with(r, Detail::Brief)
}

/// Lines of `text`, each indented by `indent` and led by `mark`.
fn push_lines(out: &mut String, indent: &str, mark: &str, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{indent}{mark}{line}");
    }
}

/// A value as JSON, spread over lines when it is an object or an array.
fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// `from` → `to` as a line diff: unchanged lines led by two spaces, removed by `- `, added by
/// `+ ` (the longest common subsequence of lines; values here are at most a few hundred lines).
fn line_diff(from: &str, to: &str) -> Vec<(char, String)> {
    let a: Vec<&str> = from.lines().collect();
    let b: Vec<&str> = to.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len().saturating_add(1)]; a.len().saturating_add(1)];
    for (i, x) in a.iter().enumerate().rev() {
        for (j, y) in b.iter().enumerate().rev() {
            let next = if x == y {
                lcs.get(i.saturating_add(1))
                    .and_then(|r| r.get(j.saturating_add(1)))
                    .map_or(0, |n| n.saturating_add(1))
            } else {
                let down = lcs.get(i.saturating_add(1)).and_then(|r| r.get(j)).copied();
                let right = lcs.get(i).and_then(|r| r.get(j.saturating_add(1))).copied();
                down.unwrap_or(0).max(right.unwrap_or(0))
            };
            if let Some(cell) = lcs.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = next;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                out.push((' ', (*x).to_owned()));
                i = i.saturating_add(1);
                j = j.saturating_add(1);
            }
            (Some(x), Some(_)) if at(i.saturating_add(1), j) >= at(i, j.saturating_add(1)) => {
                out.push(('-', (*x).to_owned()));
                i = i.saturating_add(1);
            }
            (_, Some(y)) => {
                out.push(('+', (*y).to_owned()));
                j = j.saturating_add(1);
            }
            (Some(x), None) => {
                out.push(('-', (*x).to_owned()));
                i = i.saturating_add(1);
            }
            (None, None) => break,
        }
    }
    out
}

/// What `--diff` adds under a step: the properties a create sets, each change whole.
fn push_details(out: &mut String, s: &crate::engine::Step) {
    const INDENT: &str = "               ";
    for (field, v) in &s.desired {
        let text = pretty(v);
        if text.contains('\n') {
            let _ = writeln!(out, "{INDENT}{field} =");
            push_lines(out, INDENT, "    ", &text);
        } else {
            let _ = writeln!(out, "{INDENT}{field} = {text}");
        }
    }
    for c in &s.changes {
        let (from, to) = (pretty(&c.from), pretty(&c.to));
        if from.contains('\n') || to.contains('\n') {
            let _ = writeln!(out, "{INDENT}{}:", c.field);
            for (mark, line) in line_diff(&from, &to) {
                let _ = writeln!(out, "{INDENT}  {mark} {line}");
            }
        } else {
            let _ = writeln!(out, "{INDENT}{}: {from} → {to}", c.field);
        }
    }
}

/// [`report`], with the detail asked for.
#[must_use]
pub fn report_with(r: &Report, detail: Detail) -> String {
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
        if detail == Detail::Diff {
            push_details(&mut out, s);
            continue;
        }
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
            desired: std::collections::BTreeMap::new(),
        }
    }

    /// Issue 12: `preview --diff` shows what a create sets and each change whole, a policy as
    /// a line diff, where the brief form cuts values at 70 characters.
    #[test]
    fn the_diff_form_shows_created_properties_and_whole_changes() {
        // Arrange
        let mut create = step(Op::Create, "clickstream");
        create.desired = [
            ("shard_count".to_owned(), json!(2)),
            ("tags".to_owned(), json!({ "project": "fashion" })),
        ]
        .into();
        let mut update = step(Op::Update, "daily-job");
        let long = "x".repeat(100);
        update.changes = vec![
            FieldChange {
                field: "description".into(),
                from: json!(long),
                to: json!(format!("{long}y")),
            },
            FieldChange {
                field: "policy".into(),
                from: json!({ "Action": ["s3:GetObject"], "Effect": "Allow" }),
                to: json!({ "Action": ["s3:GetObject", "s3:PutObject"], "Effect": "Allow" }),
            },
        ];
        let r = Report {
            stack: StackName::Aws,
            verb: "preview",
            steps: vec![create, update],
            failures: vec![],
            skipped: vec![],
            calls: CallCounts::default(),
            write_calls: vec![],
            elapsed_ms: 10,
            outputs: None,
        };

        // Act
        let brief = report(&r);
        let diff = report_with(&r, Detail::Diff);

        // Assert
        assert!(!brief.contains("shard_count"), "{brief}");
        assert!(brief.contains('…'), "the brief form cuts: {brief}");
        assert!(diff.contains("shard_count = 2"), "{diff}");
        assert!(diff.contains("\"project\": \"fashion\""), "{diff}");
        assert!(
            diff.contains(&format!("\"{long}y\"")),
            "whole values: {diff}"
        );
        let marked = |mark: char, text: &str| {
            diff.lines().any(|l| {
                let l = l.trim_start();
                l.starts_with(mark) && l.contains(text)
            })
        };
        assert!(marked('+', "\"s3:PutObject\""), "{diff}");
        assert!(
            marked('-', "\"s3:GetObject\"") && marked('+', "\"s3:GetObject\","),
            "{diff}"
        );
        assert!(diff.contains("\"Effect\": \"Allow\""), "{diff}");
        assert!(
            !marked('-', "\"Effect\""),
            "unchanged lines are kept: {diff}"
        );
    }

    #[test]
    fn a_line_diff_keeps_the_common_lines_and_marks_the_rest() {
        let d = line_diff("a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(
            d,
            vec![
                (' ', "a".to_owned()),
                ('-', "b".to_owned()),
                (' ', "c".to_owned()),
                ('+', "d".to_owned()),
            ]
        );
        assert!(line_diff("", "").is_empty());
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
