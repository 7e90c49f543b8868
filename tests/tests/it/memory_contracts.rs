//! Every port's contract suite against the in-memory adapters.

use fashion_memory::{
    InMemoryCheckpointStore, InMemoryDeadLetterSink, InMemoryLake, InMemoryModelStore,
    InMemoryProductCatalog, InMemoryPurchaseStore, InMemoryRecommendationStore, InMemoryStream,
    InMemoryUserActivityStore,
};
use fashion_tests::contract;

#[tokio::test]
async fn memory_stream_honours_the_stream_contract() {
    let stream = InMemoryStream::new(4);
    contract::stream_contract(&stream, &stream).await;
}

#[tokio::test]
async fn memory_checkpoints_honour_the_checkpoint_contract() {
    contract::checkpoint_store_contract(&InMemoryCheckpointStore::new()).await;
}

#[tokio::test]
async fn memory_recommendations_honour_the_recommendation_store_contract() {
    contract::recommendation_store_contract(&InMemoryRecommendationStore::new()).await;
}

#[tokio::test]
async fn memory_activity_honours_the_user_activity_store_contract() {
    contract::user_activity_store_contract(&InMemoryUserActivityStore::new()).await;
}

#[tokio::test]
async fn memory_catalog_honours_the_product_catalog_contract() {
    contract::product_catalog_contract(&InMemoryProductCatalog::new()).await;
}

#[tokio::test]
async fn memory_models_honour_the_model_store_contract() {
    contract::model_store_contract(&InMemoryModelStore::new()).await;
}

#[tokio::test]
async fn memory_dead_letters_honour_the_dead_letter_sink_contract() {
    contract::dead_letter_sink_contract(&InMemoryDeadLetterSink::new()).await;
}

#[tokio::test]
async fn memory_purchases_honour_the_purchase_store_contract() {
    let db = InMemoryPurchaseStore::new();
    contract::purchase_store_contract(&db, &db).await;
}

#[tokio::test]
async fn memory_lake_honours_the_lake_contract() {
    let lake = InMemoryLake::new();
    contract::lake_contract(&lake, &lake, &lake.query_engine()).await;
}

#[tokio::test]
async fn memory_lake_honours_the_history_source_contract() {
    let lake = InMemoryLake::new();
    contract::history::history_source_contract(&lake, &lake, &lake).await;
}
