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

/// `up` on an AWS stack builds the packages it needs when they are missing or older than their
/// sources, with the repository's packaging script, and leaves fresh ones alone. Here the
/// "repository" is a temporary directory whose packaging script writes placeholder zips and
/// counts its runs (the real one builds the functions in release mode, minutes on a cold
/// machine).
#[test]
fn up_builds_missing_or_stale_packages_first_and_only_then() {
    // Arrange
    let endpoint = crate::support::endpoint();
    let repo = tempfile::tempdir().unwrap();
    let script = repo.path().join(provisioning::package::PACKAGE_SCRIPT);
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    let zip = provisioning::package::bootstrap_zip(b"#!/bin/sh\nexit 1\n").unwrap();
    std::fs::write(repo.path().join("placeholder.zip"), zip).unwrap();
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\nmkdir -p \"$1\"\necho run >> runs.log\n\
         for f in stream-processor firehose-transform daily-job trainer api; do\n\
           cp placeholder.zip \"$1/$f.zip\"\ndone\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    std::fs::create_dir_all(repo.path().join("domain")).unwrap();
    std::fs::write(repo.path().join("domain/lib.rs"), "x").unwrap();
    let prefix = crate::support::unique_prefix("pkg");
    let up = || {
        Command::new(env!("CARGO_BIN_EXE_provisioning"))
            .args(["up", "--stack", "emulator", "--yes"])
            .current_dir(repo.path())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("CARGO_TARGET_DIR", repo.path().join("target"))
            .env("FASHION_PROVISION_NAME_PREFIX", &prefix)
            .env("FASHION_PROVISION_STATE_DIR", repo.path().join(".state"))
            .stdin(Stdio::piped())
            .output()
            .unwrap()
    };
    let runs = || {
        std::fs::read_to_string(repo.path().join("runs.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };

    // Act + Assert: no packages yet, so the script runs before anything is provisioned.
    let first = up();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(runs(), 1);
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("Building the Lambda packages"),
        "says what it builds"
    );

    // Act + Assert: fresh packages are left alone.
    assert!(up().status.success());
    assert_eq!(runs(), 1);

    // Act + Assert: a source newer than the packages makes them stale again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(repo.path().join("domain/lib.rs"), "y").unwrap();
    assert!(up().status.success());
    assert_eq!(runs(), 2);
}
