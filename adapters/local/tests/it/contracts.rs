//! Every local adapter against its port's contract suite.

use std::sync::Arc;

use fashion_domain::ports::SystemClock;
use fashion_local::{
    DataFusionEngine, FileModelStore, LocalHistory, LocalLake, SqlitePurchaseStore,
    SqliteStreamLog, StateDb,
};
use fashion_tests::contract;

async fn state() -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("open state.db");
    (dir, db)
}

#[tokio::test]
async fn sqlite_stream_log_honours_the_stream_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = SqliteStreamLog::open(&dir.path().join("stream.db"), 4, Arc::new(SystemClock))
        .await
        .expect("open");
    contract::stream_contract(&log, &log).await;
}

#[tokio::test]
async fn sqlite_checkpoints_honour_the_checkpoint_contract() {
    let (_dir, db) = state().await;
    contract::checkpoint_store_contract(&db.checkpoints()).await;
}

#[tokio::test]
async fn sqlite_recommendations_honour_the_recommendation_store_contract() {
    let (_dir, db) = state().await;
    contract::recommendation_store_contract(&db.recommendations()).await;
}

#[tokio::test]
async fn sqlite_activity_honours_the_user_activity_store_contract() {
    let (_dir, db) = state().await;
    contract::user_activity_store_contract(&db.activity()).await;
}

#[tokio::test]
async fn sqlite_catalog_honours_the_product_catalog_contract() {
    let (_dir, db) = state().await;
    contract::product_catalog_contract(&db.catalog()).await;
}

#[tokio::test]
async fn sqlite_dead_letters_honour_the_dead_letter_sink_contract() {
    let (_dir, db) = state().await;
    contract::dead_letter_sink_contract(&db.dead_letters()).await;
}

#[tokio::test]
async fn file_models_honour_the_model_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    contract::model_store_contract(&FileModelStore::new(dir.path().join("models"))).await;
}

#[tokio::test]
async fn sqlite_purchases_honour_the_purchase_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = SqlitePurchaseStore::open(&dir.path().join("store.db"))
        .await
        .expect("open store.db");
    contract::purchase_store_contract(&db, &db).await;
}

#[tokio::test]
async fn parquet_lake_with_catalog_and_datafusion_honours_the_lake_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("open state.db");
    let lake = LocalLake::new(dir.path().join("lake"));
    let catalog = std::sync::Arc::new(db.table_catalog());
    let engine = DataFusionEngine::new(lake.clone(), catalog.clone());
    contract::lake_contract(&lake, catalog.as_ref(), &engine).await;
}

#[tokio::test]
async fn parquet_lake_history_honours_the_history_source_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("open state.db");
    let lake = LocalLake::new(dir.path().join("lake"));
    let catalog = Arc::new(db.table_catalog());
    let history = LocalHistory::new(lake.clone(), catalog.clone());
    contract::history::history_source_contract(&lake, catalog.as_ref(), &history).await;
}

/// Issue 14: `fashion query` is read-only: DataFusion's DDL and DML, which could read or write
/// any path the process can, are refused before anything runs.
#[tokio::test]
async fn the_query_engine_refuses_ddl_dml_and_statements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("open state.db");
    let lake = LocalLake::new(dir.path().join("lake"));
    let engine = DataFusionEngine::new(lake, Arc::new(db.table_catalog()));
    let outside = dir.path().join("stolen.parquet");
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "a\n1\n").expect("write");
    for sql in [
        format!("COPY (SELECT 1 AS x) TO '{}'", outside.display()),
        format!(
            "CREATE EXTERNAL TABLE s STORED AS CSV LOCATION '{}'",
            secret.display()
        ),
        "CREATE TABLE t AS SELECT 1 AS x".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
    ] {
        let err = fashion_domain::ports::QueryEngine::query(&engine, &sql, &[])
            .await
            .expect_err(&sql);
        assert!(
            matches!(err, fashion_domain::ports::LakeError::Query { .. }),
            "{sql}: {err}"
        );
    }
    assert!(!outside.exists(), "nothing was written");
    let ok = fashion_domain::ports::QueryEngine::query(&engine, "SELECT 1 AS x", &[])
        .await
        .expect("a plain query still runs");
    assert_eq!(ok.rows.len(), 1);
}
