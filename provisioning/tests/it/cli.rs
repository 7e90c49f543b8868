//! The `provisioning` binary: exact usage, JSON output, and no change without confirmation when
//! nobody can be asked.

use std::process::{Command, Stdio};

fn provisioning(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .args(args)
        .current_dir(dir)
        // Piped stdin: not a terminal, as in CI.
        .stdin(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn up_without_yes_and_without_a_terminal_refuses_and_says_why() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let refused = provisioning(dir.path(), &["up", "--stack", "local"]);

    // Assert
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("stdin is not a terminal"), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(stdout.contains("+ create   directory (data)"), "{stdout}");
    assert!(
        !dir.path().join("fashion-data").exists(),
        "nothing was created"
    );
}

#[test]
fn every_verb_speaks_json_and_up_then_destroy_round_trips() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let preview = provisioning(dir.path(), &["preview", "--stack", "local", "--json"]);
    let up = provisioning(dir.path(), &["up", "--stack", "local", "--json", "--yes"]);
    let outputs = provisioning(dir.path(), &["outputs", "--stack", "local", "--json"]);
    let destroy = provisioning(
        dir.path(),
        &["destroy", "--stack", "local", "--json", "--yes"],
    );

    // Assert
    for (name, out) in [
        ("preview", &preview),
        ("up", &up),
        ("outputs", &outputs),
        ("destroy", &destroy),
    ] {
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap()
    };
    assert_eq!(json(&preview)["verb"], "preview");
    assert_eq!(json(&up)["calls"]["writes"], 15);
    assert_eq!(json(&outputs)["stack"], "local");
    assert!(
        json(&outputs)["lake_url"]
            .as_str()
            .unwrap()
            .starts_with("file://")
    );
    assert_eq!(json(&destroy)["steps"].as_array().unwrap().len(), 15);
    assert!(!dir.path().join("fashion-data").exists());
    assert!(!dir.path().join(".state/local.json").exists());
}

#[test]
fn outputs_before_any_up_say_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = provisioning(dir.path(), &["outputs", "--stack", "local"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cargo run -p provisioning -- up --stack local"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_stack_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = provisioning(dir.path(), &["preview", "--stack", "moon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("local, emulator, aws"));
}
