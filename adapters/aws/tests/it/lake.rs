//! The lake on the emulator: the S3 lake writer, the Glue catalog and Athena against the lake
//! contract, then the S3 objects and Glue partitions checked directly (what Athena would read),
//! and large partitions uploaded in parts and split into files.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, Decimal128Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::start_query_execution::{
    StartQueryExecutionInput, StartQueryExecutionOutput,
};
use aws_sdk_athena::types::{
    AthenaError, QueryExecution, QueryExecutionState, QueryExecutionStatus,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use chrono::NaiveDate;
use common::{create_bucket, emulator, unique};
use fashion_aws::{AthenaQueryEngine, AwsConfig, PollSettings};
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{LakeWriter, TableCatalog, WriteMode};
use fashion_domain::sales::{QuarantineRule, QuarantinedRow};
use fashion_tests::contract;
use fashion_tests::fixtures::product;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// Statement keywords Athena's parser accepts at the start of a query.
const ATHENA_STATEMENTS: &[&str] = &[
    "SELECT",
    "WITH",
    "VALUES",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "CREATE",
    "DROP",
    "ALTER",
    "INSERT",
    "MSCK",
    "UNLOAD",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "USE",
    "DELETE",
    "UPDATE",
    "MERGE",
    "OPTIMIZE",
    "VACUUM",
];

/// Marks, in an operation's config bag, a query Athena would fail to parse.
#[derive(Debug, Clone)]
struct Unparsable;

impl Storable for Unparsable {
    type Storer = StoreReplace<Self>;
}

/// Stands in for Athena's SQL parser, which moto does not have (every query "succeeds" there):
/// a query that does not start with a statement keyword still goes to moto, but its status comes
/// back as Athena reports a syntax error (`FAILED`, user error category 2). Everything else is
/// moto's answer, untouched.
#[derive(Debug, Default, Clone)]
struct AthenaParser {
    failed: Arc<Mutex<HashSet<String>>>,
}

impl Intercept for AthenaParser {
    fn name(&self) -> &'static str {
        "AthenaParser"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<StartQueryExecutionInput>() {
            let first = input
                .query_string()
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            if !ATHENA_STATEMENTS.contains(&first.as_str()) {
                cfg.interceptor_state().store_put(Unparsable);
            }
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        if cfg.load::<Unparsable>().is_some()
            && let Some(started) = output.downcast_ref::<StartQueryExecutionOutput>()
            && let Some(id) = started.query_execution_id()
        {
            self.failed.lock().expect("lock").insert(id.to_owned());
        }
        let failed_id = output
            .downcast_ref::<GetQueryExecutionOutput>()
            .and_then(|o| o.query_execution())
            .and_then(|e| e.query_execution_id())
            .filter(|id| self.failed.lock().expect("lock").contains(*id))
            .map(str::to_owned);
        if let Some(id) = failed_id {
            let reason =
                "line 1:1: mismatched input. Expecting: 'ALTER', 'ANALYZE', 'CALL', ..., <query>";
            *output = Output::erase(
                GetQueryExecutionOutput::builder()
                    .query_execution(
                        QueryExecution::builder()
                            .query_execution_id(id)
                            .status(
                                QueryExecutionStatus::builder()
                                    .state(QueryExecutionState::Failed)
                                    .state_change_reason(reason)
                                    .athena_error(
                                        AthenaError::builder()
                                            .error_category(2)
                                            .error_type(1001)
                                            .retryable(false)
                                            .error_message(reason)
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            );
        }
        Ok(())
    }
}

fn count_result(n: u64) -> Value {
    common::athena_result(&[("_col0", "bigint")], &[vec![Some(&n.to_string())]])
}

/// The rows Athena would return to the lake contract's queries, in the order it asks them.
fn contract_answers() -> Vec<Value> {
    let p = product(5);
    let year = p.year.map(|y| y.to_string());
    let price = p.price.map(|c| c.to_string());
    let product_row = common::athena_result(
        &[
            ("product_id", "bigint"),
            ("gender", "varchar"),
            ("master_category", "varchar"),
            ("sub_category", "varchar"),
            ("article_type", "varchar"),
            ("base_colour", "varchar"),
            ("season", "varchar"),
            ("year", "integer"),
            ("usage", "varchar"),
            ("product_display_name", "varchar"),
            ("price", "decimal(18,2)"),
            ("dt", "varchar"),
        ],
        &[vec![
            Some("5"),
            Some(&p.gender),
            Some(&p.master_category),
            Some(&p.sub_category),
            Some(&p.article_type),
            p.base_colour.as_deref(),
            p.season.as_deref(),
            year.as_deref(),
            p.usage.as_deref(),
            Some(&p.product_display_name),
            price.as_deref(),
            Some("2026-11-24"),
        ]],
    );
    vec![
        count_result(40), // products dt=2026-11-24 after the first replace
        count_result(12), // ... after the second replace
        count_result(5),  // products dt=2026-11-25
        count_result(12), // dt=2026-11-24 after an aborted write
        count_result(7),  // clickstream after two appends
        count_result(7),  // ... after a retried append
        product_row,      // SELECT * FROM products WHERE product_id = 5
    ]
}

async fn create_database(aws: &AwsConfig) -> String {
    let database = unique("lake").replace('-', "_");
    fashion_tests::aws::create_glue_database(&aws.glue_client(), &database).await;
    database
}

fn read_parquet(bytes: Vec<u8>) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .expect("a Parquet file")
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches")
}

/// The Parquet files of a catalogued partition, by location `s3://bucket/key/`.
async fn partition_files(aws: &AwsConfig, location: &str) -> Vec<(String, Vec<RecordBatch>)> {
    let (bucket, prefix) = location
        .trim_start_matches("s3://")
        .split_once('/')
        .expect("s3 location");
    let mut out = Vec::new();
    for key in common::list_keys(aws, bucket, prefix).await {
        if key.ends_with(".parquet") {
            let batches = read_parquet(common::get_object(aws, bucket, &key).await);
            out.push((key, batches));
        }
    }
    out
}

/// The version directories under a partition's prefix.
async fn versions(aws: &AwsConfig, bucket: &str, partition_prefix: &str) -> HashSet<String> {
    common::list_keys(aws, bucket, partition_prefix)
        .await
        .iter()
        .filter_map(|k| {
            k.strip_prefix(partition_prefix)
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn s3_lake_with_glue_and_athena_honours_the_lake_contract() {
    // Arrange: Athena's answers come from moto's API (below), and its parser from `AthenaParser`.
    common::require_moto("Athena's answers are preloaded through moto's API");
    let aws = emulator().await;
    let bucket = unique("lake");
    create_bucket(&aws, &bucket).await;
    let database = create_database(&aws).await;
    let workgroup = unique("wg");
    common::create_workgroup(&aws, &workgroup, &format!("s3://{bucket}/athena/")).await;
    let catalog = aws.glue_table_catalog(&database, &bucket, "warehouse");
    let lake = aws.s3_lake_writer(&database, &bucket, "warehouse");
    let athena = aws_sdk_athena::Client::from_conf(
        aws_sdk_athena::config::Builder::from(aws.sdk_config())
            .interceptor(AthenaParser::default())
            .build(),
    );
    let engine = AthenaQueryEngine::new(athena, &database, &workgroup, None).with_poll_settings(
        PollSettings {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
            timeout: Duration::from_secs(30),
        },
    );
    // Moto runs no SQL: Athena's answers to the contract's queries are preloaded through moto's
    // API (`POST /moto-api/static/athena/query-results`), under a lock so that no other test
    // takes them. What those answers claim is then checked against S3 and Glue below.
    let _athena = common::athena_lock().await;
    common::drain_athena(&engine).await;
    common::preload_athena(contract_answers()).await;

    // Act + Assert: the contract.
    contract::lake_contract(&lake, &catalog, &engine).await;

    // Assert: S3 and Glue hold what Athena would have read.
    let d1 = PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"));
    let parts = catalog
        .partitions(tables::PRODUCTS)
        .await
        .expect("partitions");
    let mut total = 0;
    for part in &parts {
        let files = partition_files(&aws, &part.location).await;
        let rows: usize = files
            .iter()
            .flat_map(|(_, b)| b.iter().map(RecordBatch::num_rows))
            .sum();
        assert_eq!(rows as u64, part.rows, "{part:?}");
        assert_eq!(files.len() as u64, part.files);
        assert!(
            part.location.starts_with(&format!(
                "s3://{bucket}/warehouse/products/{}/v-",
                part.key.path()
            )),
            "Hive-style key with a version directory: {}",
            part.location
        );
        total += rows;
    }
    assert_eq!(total, 12 + 5, "the replaced rows are gone from the lake");
    assert_eq!(
        versions(&aws, &bucket, &format!("warehouse/products/{}/", d1.path()))
            .await
            .len(),
        1,
        "replaced and aborted versions are deleted"
    );
    let d1_files = partition_files(&aws, &parts[0].location).await;
    let batch = &d1_files[0].1[0];
    let ids = batch
        .column_by_name("product_id")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .expect("product_id");
    let row = (0..ids.len())
        .find(|&i| ids.value(i) == 5)
        .expect("product 5");
    let names = batch
        .column_by_name("product_display_name")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("product_display_name");
    assert_eq!(names.value(row), "Brand 5, Comma Name");
    let prices = batch
        .column_by_name("price")
        .and_then(|c| c.as_any().downcast_ref::<Decimal128Array>())
        .expect("price");
    assert_eq!(prices.value_as_string(row), "10.05");
    assert!(
        batch.column_by_name("year").expect("year").is_null(row),
        "a missing year is null"
    );

    let clicks = catalog
        .partitions(tables::CLICKSTREAM)
        .await
        .expect("partitions");
    assert_eq!(clicks.len(), 1);
    let mut names: Vec<String> = partition_files(&aws, &clicks[0].location)
        .await
        .into_iter()
        .map(|(k, _)| k.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["part-flush-1-00000.parquet", "part-flush-2-00000.parquet"],
        "a retried append replaced its own file"
    );
    assert_eq!(clicks[0].rows, 7);
}

/// Glue as seen through a connection that breaks after the request was applied: every
/// `UpdatePartition` reaches Glue and succeeds there, but the caller gets an error.
#[derive(Debug)]
struct AppliedButFailed;

impl Intercept for AppliedButFailed {
    fn name(&self) -> &'static str {
        "AppliedButFailed"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(result) = context.output_or_error_mut()
            && result.as_ref().is_ok_and(|o| {
                o.downcast_ref::<aws_sdk_glue::operation::update_partition::UpdatePartitionOutput>()
                    .is_some()
            })
        {
            *result = Err(OrchestratorError::other(
                "injected: connection reset after UpdatePartition was applied",
            ));
        }
        Ok(())
    }
}

/// Issue 14, defect 4: a catalog update that errors after Glue applied it does not delete the
/// version the catalog now points at, so the partition stays readable and later writes work.
#[tokio::test]
async fn an_update_partition_applied_but_reported_failed_keeps_the_partition_whole() {
    // Arrange: a partition written once; then a writer whose Glue updates all "fail" after
    // being applied.
    let aws = emulator().await;
    let bucket = unique("lake");
    create_bucket(&aws, &bucket).await;
    let database = create_database(&aws).await;
    let catalog = aws.glue_table_catalog(&database, &bucket, "warehouse");
    let table = TableDef::named(tables::QUARANTINE).expect("quarantine");
    catalog.ensure_table(&table).await.expect("ensure_table");
    let key = PartitionKey::quarantine(
        tables::ORDERS,
        NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"),
    );
    let write = |lake: fashion_aws::S3LakeWriter, mode, id: &'static str, rows: usize| {
        let (table, key) = (table.clone(), key.clone());
        async move {
            let mut w = lake.open(&table, &key, mode, id).await.expect("open");
            w.write(TableRows::Quarantine(quarantined(rows, 16)))
                .await
                .expect("write");
            w.commit().await
        }
    };
    let healthy = || aws.s3_lake_writer(&database, &bucket, "warehouse");
    write(healthy(), WriteMode::Replace, "daily-1", 3)
        .await
        .expect("first commit");
    let glue = aws_sdk_glue::Client::from_conf(
        aws_sdk_glue::config::Builder::from(aws.sdk_config())
            .interceptor(AppliedButFailed)
            .build(),
    );
    let flaky = fashion_aws::S3LakeWriter::new(
        aws.s3_client(),
        fashion_aws::GlueTableCatalog::new(
            glue,
            &database,
            fashion_aws::S3Location::new(&bucket, "warehouse"),
        ),
    );

    // Act: the rerun's commit "fails" after the switch; then the next write appends.
    let rerun = write(flaky, WriteMode::Replace, "daily-2", 5).await;
    let location = catalog
        .partition_location(tables::QUARANTINE, &key)
        .await
        .expect("location")
        .expect("catalogued");
    let append = write(healthy(), WriteMode::Append, "late-1", 2).await;

    // Assert
    let rerun = rerun.expect("an applied switch is a commit, whatever the response said");
    assert_eq!(location, rerun.location);
    let append = append.expect("the catalogued version has its manifest: appends still work");
    assert_eq!(append.rows, 7, "the rerun's 5 rows and the append's 2");
    let read: usize = partition_files(&aws, &append.location)
        .await
        .iter()
        .flat_map(|(_, b)| b.iter().map(RecordBatch::num_rows))
        .sum();
    assert_eq!(read, 7);
    assert_eq!(rerun.rows, 5);
}

fn quarantined(n: usize, payload_bytes: usize) -> Vec<QuarantinedRow> {
    (0..n)
        .map(|i| {
            let mut record = String::with_capacity(payload_bytes);
            while record.len() < payload_bytes {
                record.push_str(&uuid::Uuid::new_v4().simple().to_string());
            }
            QuarantinedRow {
                source_table: tables::ORDERS.into(),
                rule: QuarantineRule::TotalMismatch,
                record_key: format!("order {i}"),
                detail: "total differs from the lines".into(),
                record,
            }
        })
        .collect()
}

#[tokio::test]
async fn large_partitions_are_uploaded_in_parts_and_split_into_files() {
    // Arrange
    let aws = emulator().await;
    let bucket = unique("lake");
    create_bucket(&aws, &bucket).await;
    let database = create_database(&aws).await;
    let catalog = aws.glue_table_catalog(&database, &bucket, "warehouse");
    let table = TableDef::named(tables::QUARANTINE).expect("quarantine");
    catalog.ensure_table(&table).await.expect("ensure_table");
    let day = |d| {
        PartitionKey::quarantine(
            tables::ORDERS,
            NaiveDate::from_ymd_opt(2026, 11, d).expect("date"),
        )
    };
    // About 16 MiB of hex text, 8 MiB once compressed: more than one 5 MiB part.
    let rows = quarantined(4000, 4096);

    // Act: one file uploaded in parts; then the same rows in files of at most ~1 MiB.
    let big = aws
        .s3_lake_writer(&database, &bucket, "warehouse")
        .with_part_size(fashion_aws::lake::MIN_PART_SIZE);
    let mut w = big
        .open(&table, &day(24), WriteMode::Replace, "daily-1")
        .await
        .expect("open");
    for chunk in rows.chunks(500) {
        w.write(TableRows::Quarantine(chunk.to_vec()))
            .await
            .expect("write");
    }
    let one = w.commit().await.expect("commit");
    let small = aws
        .s3_lake_writer(&database, &bucket, "warehouse")
        .with_max_file_bytes(1024 * 1024);
    let mut w = small
        .open(&table, &day(25), WriteMode::Replace, "daily-1")
        .await
        .expect("open");
    for chunk in rows.chunks(100) {
        w.write(TableRows::Quarantine(chunk.to_vec()))
            .await
            .expect("write");
    }
    let many = w.commit().await.expect("commit");

    // Assert
    assert_eq!((one.files, one.rows), (1, 4000));
    let key = format!("warehouse/quarantine/{}/", day(24).path());
    let big_key = common::list_keys(&aws, &bucket, &key)
        .await
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .expect("the data file");
    let head = aws
        .s3_client()
        .head_object()
        .bucket(&bucket)
        .key(&big_key)
        .send()
        .await
        .expect("head");
    assert!(
        head.e_tag().is_some_and(|t| t.contains('-')),
        "a multipart upload's ETag names its parts: {:?}",
        head.e_tag()
    );
    assert!(head.content_length().unwrap_or(0) > 5 * 1024 * 1024);
    let read: usize = partition_files(&aws, &one.location)
        .await
        .iter()
        .flat_map(|(_, b)| b.iter().map(RecordBatch::num_rows))
        .sum();
    assert_eq!(read, 4000, "the multipart object is one whole Parquet file");

    assert!(
        many.files > 1,
        "files are split at the size limit: {many:?}"
    );
    assert_eq!(many.rows, 4000);
    let files = partition_files(&aws, &many.location).await;
    assert_eq!(files.len() as u64, many.files);
    let read: usize = files
        .iter()
        .flat_map(|(_, b)| b.iter().map(RecordBatch::num_rows))
        .sum();
    assert_eq!(read, 4000);
    assert_eq!(
        catalog
            .partitions(tables::QUARANTINE)
            .await
            .expect("partitions"),
        vec![one, many],
        "commit makes partitions visible in the catalog"
    );
}
