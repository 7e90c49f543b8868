//! The local stack in a temporary data directory: `up` creates the directories and migrated
//! databases the apps open, a second `up` changes nothing, drift is repaired, `destroy` removes
//! everything.

use fashion_local::StateDb;
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::Op;
use provisioning::engine::render;

use crate::support::engine;

fn local_config(dir: &std::path::Path) -> StackConfig {
    let mut cfg = StackConfig::builtin(StackName::Local).unwrap();
    cfg.local.data_dir = dir.join("fashion-data");
    cfg.state_dir = dir.join(".state");
    cfg.validate().unwrap();
    cfg
}

#[tokio::test]
async fn local_up_creates_the_data_directory_and_a_second_up_writes_nothing() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let engine = engine(cfg.clone()).await;

    // Act
    let first = engine.up().await.unwrap();
    let second = engine.up().await.unwrap();

    // Assert
    assert!(first.is_ok(), "{}", render::report(&first));
    assert_eq!(first.count(Op::Create), engine.specs().len());
    assert_eq!(second.calls.writes, 0, "{:?}", second.write_calls);
    assert!(!second.has_changes());
    let data = cfg.local.data_dir;
    for path in ["lake/orders", "lake/clickstream", "models", "generated"] {
        assert!(data.join(path).is_dir(), "{path}");
    }
    // The databases are the apps' own, created and migrated: they open as they are.
    StateDb::open(&data.join("state.db")).await.unwrap();
    let outputs = engine.state().unwrap().unwrap().outputs;
    assert!(outputs.lake_url.unwrap().ends_with("fashion-data/lake/"));
}

#[tokio::test]
async fn local_drift_is_repaired_and_destroy_removes_everything() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let engine = engine(cfg.clone()).await;
    assert!(engine.up().await.unwrap().is_ok());
    let data = cfg.local.data_dir.clone();
    std::fs::remove_dir_all(data.join("lake/quarantine")).unwrap();
    std::fs::remove_file(data.join("store.db")).unwrap();

    // Act
    let preview = engine.preview().await.unwrap();
    let repair = engine.up().await.unwrap();
    let repaired = data.join("store.db").is_file() && data.join("lake/quarantine").is_dir();
    let destroyed = engine.destroy().await.unwrap();

    // Assert
    assert_eq!(preview.count(Op::Create), 2, "{}", render::report(&preview));
    assert_eq!(preview.calls.writes, 0);
    assert_eq!(repair.count(Op::Create), 2);
    assert!(repaired, "up recreated what was deleted");
    assert!(destroyed.is_ok(), "{}", render::report(&destroyed));
    assert!(!data.exists(), "the data directory is gone");
    assert!(engine.state().unwrap().is_none());
}
