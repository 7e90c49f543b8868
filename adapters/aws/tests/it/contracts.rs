//! Every AWS adapter against its port's contract suite, on the backend the test command chose
//! (`FASHION_TEST_AWS_BACKEND`): moto server on loopback by default, LocalStack, or real AWS
//! (`scripts/test-aws`). Each test creates its own uniquely named resources and, passed or failed,
//! deletes them afterwards ([`common::cleaned_up`]).

use crate::common;

use common::{cleaned_up, create_bucket, create_stream, test_aws, unique};
use fashion_tests::contract;

#[tokio::test]
async fn kinesis_clickstream_honours_the_stream_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        // Arrange
        let stream = unique("clicks");
        create_stream(&aws, &stream, 3).await;
        let kinesis = aws.kinesis_clickstream(&stream);

        // Act + Assert
        contract::stream_contract(&kinesis, &kinesis).await;
    })
    .await;
}

#[tokio::test]
async fn dynamodb_checkpoints_honour_the_checkpoint_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        contract::checkpoint_store_contract(&common::checkpoint_store(&aws).await).await;
    })
    .await;
}

#[tokio::test]
async fn dynamodb_recommendations_honour_the_recommendation_store_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        let (_, store) = common::recommendation_store(&aws).await;
        contract::recommendation_store_contract(&store).await;
    })
    .await;
}

#[tokio::test]
async fn dynamodb_activity_honours_the_user_activity_store_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        let (_, store) = common::activity_store(&aws).await;
        contract::user_activity_store_contract(&store).await;
    })
    .await;
}

#[tokio::test]
async fn dynamodb_catalog_honours_the_product_catalog_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        contract::product_catalog_contract(&common::product_catalog(&aws).await).await;
    })
    .await;
}

#[tokio::test]
async fn dynamodb_dead_letters_honour_the_dead_letter_sink_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        contract::dead_letter_sink_contract(&common::dead_letter_sink(&aws).await).await;
    })
    .await;
}

#[tokio::test]
async fn s3_models_honour_the_model_store_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        let bucket = unique("models");
        create_bucket(&aws, &bucket).await;
        contract::model_store_contract(&aws.s3_model_store(&bucket, "models/recommender")).await;
    })
    .await;
}

#[tokio::test]
async fn s3_history_through_glue_honours_the_history_source_contract() {
    let aws = test_aws().await;
    cleaned_up(&aws, async {
        // Arrange
        let bucket = unique("lake");
        create_bucket(&aws, &bucket).await;
        let database = common::create_glue_database(&aws).await;
        let lake = aws.s3_lake_writer(&database, &bucket, "lake");
        let catalog = aws.glue_table_catalog(&database, &bucket, "lake");
        // One object at a time, so that the order files are read in cannot hide a dedup bug.
        let history = aws
            .s3_history_source(&database, &bucket, "lake")
            .with_concurrency(1);

        // Act + Assert
        contract::history::history_source_contract(&lake, &catalog, &history).await;
    })
    .await;
}
