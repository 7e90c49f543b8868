//! What the provisioning tests share: the emulator's endpoint (a missing one fails the test),
//! unique name prefixes, tiny Lambda packages, stack configurations in temporary directories,
//! and SDK clients of their own for out-of-band changes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fashion_aws_core::sdk::Sdk;
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::Engine;
use provisioning::package::bootstrap_zip;

/// The variable the test command (`scripts/services`) sets to the moto server's URL.
pub const ENDPOINT_VAR: &str = "FASHION_TEST_AWS_ENDPOINT";

/// The variable that picks the AWS test backend (`scripts/lib/services.sh`).
pub const BACKEND_VAR: &str = "FASHION_TEST_AWS_BACKEND";

/// The emulator's endpoint; a test that needs it fails (never skips) without it, and on real AWS
/// (`FASHION_TEST_AWS_BACKEND=aws`), where only the AWS adapters' contract suites run.
pub fn endpoint() -> String {
    assert!(
        !std::env::var(BACKEND_VAR).is_ok_and(|b| b.trim() == "aws"),
        "{BACKEND_VAR}=aws: these tests provision an emulator stack and need an AWS emulator \
         (moto or LocalStack); they do not run on real AWS. Run them with \
         `scripts/services cargo nextest run -p provisioning`."
    );
    std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{ENDPOINT_VAR} is not set: these tests need an AWS emulator. Run them with \
             `scripts/services cargo nextest run -p provisioning`, which starts a moto server on \
             loopback and sets {ENDPOINT_VAR}."
            )
        })
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name prefix no other test (or earlier run against the same emulator) uses.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("t{tag}-{:x}{n}", nanos ^ std::process::id())
}

/// An emulator stack with a unique prefix, its state and packages in `dir`.
pub fn emulator_config(tag: &str, dir: &Path) -> StackConfig {
    let mut cfg = StackConfig::builtin(StackName::Emulator).unwrap();
    cfg.endpoint_url = Some(endpoint());
    cfg.name_prefix = unique_prefix(tag);
    cfg.state_dir = dir.join(".state");
    // The policy is part of what the tests check (see stacks/emulator.toml for why the stack
    // itself leaves it off).
    cfg.lake.require_tls = true;
    for (name, f) in cfg.functions_by_name() {
        let zip = dir.join(format!("{name}.zip"));
        std::fs::write(
            &zip,
            bootstrap_zip(format!("#!/bin/sh\necho {name}\n").as_bytes()).unwrap(),
        )
        .unwrap();
        f.zip = zip;
    }
    cfg.validate().unwrap();
    cfg
}

/// An engine whose progress lines go nowhere (set `TEST_LOG` to see them).
pub async fn engine(cfg: StackConfig) -> Engine {
    let quiet = std::env::var_os("TEST_LOG").is_none();
    provisioning::providers::connect(cfg)
        .await
        .unwrap()
        .with_progress(Arc::new(move |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        }))
}

/// SDK configuration for out-of-band clients, loaded as the emulator stack loads its own (not the
/// engine's clients: their calls are not counted).
pub async fn other_sdk() -> Sdk {
    let mut cfg = StackConfig::builtin(StackName::Emulator).unwrap();
    cfg.endpoint_url = Some(endpoint());
    provisioning::providers::aws::sdk_config(&cfg)
        .await
        .unwrap()
}
