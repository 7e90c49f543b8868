//! The desired state of every stack, from the built-in configurations, against a recorded copy:
//! restructuring provisioning must not change one resource, field or dependency. A deliberate
//! change re-records the copies with `FASHION_RECORD_PLANS=1` and shows up in the diff.

use std::path::PathBuf;

use provisioning::config::{StackConfig, StackName};
use provisioning::providers::desired;

fn check(stack: StackName) {
    let cfg = StackConfig::builtin(stack).unwrap();
    // The packages' directory is the build's (`$CARGO_TARGET_DIR/lambda`), not the plan's.
    let packages = cfg
        .functions
        .stream_processor
        .zip
        .parent()
        .unwrap()
        .display()
        .to_string();
    // Declaration order is not part of the plan (the engine orders by dependencies).
    let mut specs = desired(&cfg).unwrap();
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    let rendered =
        (serde_json::to_string_pretty(&specs).unwrap() + "\n").replace(&packages, "<packages>");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{stack}-plan.json"));
    if std::env::var_os("FASHION_RECORD_PLANS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let recorded = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record with FASHION_RECORD_PLANS=1)",
            path.display()
        )
    });
    assert!(
        rendered == recorded,
        "the {stack} stack's desired state differs from {}",
        path.display()
    );
}

#[test]
fn the_aws_stack_plans_what_was_recorded() {
    check(StackName::Aws);
}

#[test]
fn the_emulator_stack_plans_what_was_recorded() {
    check(StackName::Emulator);
}

#[test]
fn the_local_stack_plans_what_was_recorded() {
    check(StackName::Local);
}
