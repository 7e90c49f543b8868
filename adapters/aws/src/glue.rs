//! The lake's table catalog in Glue: external Parquet tables built from the domain's
//! [`TableDef`]s (Hive types from [`ColumnType::hive_name`]), and partitions with the Hive
//! statistics `numFiles`, `numRows` and `totalSize`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::types::{
    Column as GlueColumn, PartitionInput, SerDeInfo, StorageDescriptor, Table, TableInput,
};
use fashion_domain::lake::{Column, ColumnType, PartitionInfo, PartitionKey, TableDef};
use fashion_domain::ports::{LakeError, TableCatalog};

use crate::error::{AwsFailure, Class, lake_err};
use crate::s3::S3Location;

use fashion_aws_core::glue::{EXTERNAL_TABLE, HiveColumn, ParquetTable};
pub use fashion_aws_core::glue::{
    NULLABLE_COLUMNS_PARAM, NUM_FILES_PARAM, NUM_ROWS_PARAM, PARQUET_INPUT_FORMAT,
    PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, TOTAL_SIZE_PARAM,
};

/// Most partitions in one `BatchCreatePartition` call.
pub const MAX_PARTITIONS_PER_BATCH: usize = 100;

/// Tables and partitions of one Glue database; tables live under `s3://bucket/prefix/<table>/`.
#[derive(Clone, Debug)]
pub struct GlueTableCatalog {
    client: Client,
    database: String,
    lake: S3Location,
}

fn build_err(e: aws_smithy_types::error::operation::BuildError) -> LakeError {
    LakeError::Unexpected(anyhow::Error::new(e).context("failed to build a Glue request"))
}

fn glue_columns(columns: &[HiveColumn]) -> Result<Vec<GlueColumn>, LakeError> {
    columns
        .iter()
        .map(|c| GlueColumn::builder().name(&c.name).r#type(&c.ty).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_err)
}

fn column_type(hive: &str) -> Option<ColumnType> {
    use ColumnType::{Float64, Int32, Int64, Money, TimestampMicros, Utf8};
    [Int32, Int64, Float64, Utf8, TimestampMicros, Money]
        .into_iter()
        .find(|t| t.hive_name().eq_ignore_ascii_case(&hive.replace(' ', "")))
}

impl GlueTableCatalog {
    /// The catalog of `database`, whose tables live under `lake`.
    #[must_use]
    pub fn new(client: Client, database: &str, lake: S3Location) -> Self {
        Self {
            client,
            database: database.to_owned(),
            lake,
        }
    }

    /// The Glue database.
    #[must_use]
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The lake's bucket and prefix.
    #[must_use]
    pub fn lake(&self) -> &S3Location {
        &self.lake
    }

    /// The location the catalog gives a partition, `None` when it is not catalogued (or its
    /// table does not exist).
    ///
    /// # Errors
    /// [`LakeError::Unavailable`] on throttling or timeout.
    pub async fn partition_location(
        &self,
        table: &str,
        key: &PartitionKey,
    ) -> Result<Option<String>, LakeError> {
        match self
            .client
            .get_partition()
            .database_name(&self.database)
            .table_name(table)
            .set_partition_values(Some(key.values()))
            .send()
            .await
        {
            Ok(out) => Ok(out
                .partition()
                .and_then(|p| p.storage_descriptor())
                .and_then(StorageDescriptor::location)
                .map(str::to_owned)),
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("EntityNotFoundException") {
                    Ok(None)
                } else {
                    Err(f.into_lake(&format!("read partition {key} of Glue table {table}")))
                }
            }
        }
    }

    /// Where a table's data lives: `s3://bucket/prefix/<table>/`.
    #[must_use]
    pub fn table_location(&self, table: &str) -> String {
        self.lake.url(&format!("{table}/"))
    }

    fn storage(
        &self,
        columns: &[HiveColumn],
        location: String,
    ) -> Result<StorageDescriptor, LakeError> {
        Ok(StorageDescriptor::builder()
            .set_columns(Some(glue_columns(columns)?))
            .location(location)
            .input_format(PARQUET_INPUT_FORMAT)
            .output_format(PARQUET_OUTPUT_FORMAT)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(PARQUET_SERDE)
                    .parameters("serialization.format", "1")
                    .build(),
            )
            .build())
    }

    fn table_input(&self, table: &TableDef) -> Result<TableInput, LakeError> {
        let shape = ParquetTable::of(table);
        TableInput::builder()
            .name(&table.name)
            .description(&table.description)
            .table_type(EXTERNAL_TABLE)
            .set_parameters(Some(shape.parameters.into_iter().collect()))
            .storage_descriptor(self.storage(&shape.columns, self.table_location(&table.name))?)
            .set_partition_keys(Some(glue_columns(&shape.partition_keys)?))
            .build()
            .map_err(build_err)
    }

    async fn glue_table(&self, name: &str) -> Result<Option<Table>, LakeError> {
        match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.table().cloned()),
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("EntityNotFoundException") {
                    Ok(None)
                } else {
                    Err(f.into_lake(&format!("read Glue table {}.{name}", self.database)))
                }
            }
        }
    }

    /// Records several partitions of one table: `BatchCreatePartition` in batches of 100, then
    /// `UpdatePartition` for those that already existed. Idempotent.
    ///
    /// # Errors
    /// [`LakeError::NotFound`] for a table never ensured, [`LakeError::Schema`] for partition keys
    /// that are not the table's, [`LakeError::Unavailable`] on throttling or timeout.
    pub async fn put_partitions(
        &self,
        table: &str,
        parts: &[PartitionInfo],
    ) -> Result<(), LakeError> {
        let Some(glue) = self.glue_table(table).await? else {
            return Err(LakeError::NotFound {
                what: format!("Glue table {}.{table}", self.database),
            });
        };
        let def = to_table_def(&glue)?;
        let columns = ParquetTable::of(&def).columns;
        let mut inputs = Vec::with_capacity(parts.len());
        for p in parts {
            let names: Vec<&str> = p.key.0.iter().map(|(k, _)| k.as_str()).collect();
            if p.table != table
                || names
                    != def
                        .partition_keys
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
            {
                return Err(LakeError::Schema {
                    message: format!(
                        "partition {} of {} does not match the keys {:?} of table {table}",
                        p.key, p.table, def.partition_keys
                    ),
                });
            }
            let input = PartitionInput::builder()
                .set_values(Some(p.key.values()))
                .storage_descriptor(self.storage(&columns, p.location.clone())?)
                .parameters(NUM_FILES_PARAM, p.files.to_string())
                .parameters(NUM_ROWS_PARAM, p.rows.to_string())
                .parameters(TOTAL_SIZE_PARAM, p.bytes.to_string())
                .build();
            inputs.push(input);
        }
        for chunk in inputs.chunks(MAX_PARTITIONS_PER_BATCH) {
            let out = self
                .client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(table)
                .set_partition_input_list(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    lake_err(
                        &e,
                        &format!("create partitions of Glue table {}.{table}", self.database),
                    )
                })?;
            for err in out.errors() {
                let code = err
                    .error_detail()
                    .and_then(|d| d.error_code())
                    .unwrap_or_default();
                let values = err.partition_values().to_vec();
                if code != "AlreadyExistsException" {
                    let message = err
                        .error_detail()
                        .and_then(|d| d.error_message())
                        .unwrap_or_default()
                        .to_owned();
                    return Err(match crate::error::classify_code(Some(code), None) {
                        Class::Retryable => LakeError::Unavailable { message },
                        Class::NotFound => LakeError::NotFound {
                            what: format!("partition {values:?} of {table}: {message}"),
                        },
                        _ => LakeError::Unexpected(anyhow::anyhow!(
                            "failed to create partition {values:?} of {table}: {code}: {message}"
                        )),
                    });
                }
                let Some(input) = chunk.iter().find(|i| i.values() == values.as_slice()) else {
                    continue;
                };
                self.client
                    .update_partition()
                    .database_name(&self.database)
                    .table_name(table)
                    .set_partition_value_list(Some(values.clone()))
                    .partition_input(input.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        lake_err(
                            &e,
                            &format!("update partition {values:?} of Glue table {table}"),
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// A Glue table as the domain describes it.
fn to_table_def(t: &Table) -> Result<TableDef, LakeError> {
    let params = t.parameters().cloned().unwrap_or_default();
    let nullable: Vec<&str> = params
        .get(NULLABLE_COLUMNS_PARAM)
        .map(|v| v.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let columns = t
        .storage_descriptor()
        .map(StorageDescriptor::columns)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let hive = c.r#type().unwrap_or_default();
            let ty = column_type(hive).ok_or_else(|| LakeError::Schema {
                message: format!(
                    "column {} of {} has the unsupported type {hive:?}",
                    c.name(),
                    t.name()
                ),
            })?;
            Ok(Column {
                name: c.name().to_owned(),
                ty,
                nullable: nullable.contains(&c.name()),
            })
        })
        .collect::<Result<Vec<_>, LakeError>>()?;
    Ok(TableDef {
        name: t.name().to_owned(),
        columns,
        partition_keys: t
            .partition_keys()
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
        description: t.description().unwrap_or_default().to_owned(),
    })
}

fn stat(params: Option<&HashMap<String, String>>, name: &str) -> u64 {
    params
        .and_then(|p| p.get(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl TableCatalog for GlueTableCatalog {
    #[tracing::instrument(skip_all, fields(database = %self.database, table = %table.name), err)]
    async fn ensure_table(&self, table: &TableDef) -> Result<(), LakeError> {
        let input = self.table_input(table)?;
        match Box::pin(self.glue_table(&table.name)).await? {
            None => {
                // Boxed: the SDK's futures are large, and this function awaits several.
                let created = Box::pin(
                    self.client
                        .create_table()
                        .database_name(&self.database)
                        .table_input(input.clone())
                        .send(),
                )
                .await;
                match created {
                    Ok(_) => {
                        tracing::info!(table = %table.name, "Created Glue table.");
                        Ok(())
                    }
                    Err(e) => {
                        let f = AwsFailure::of(&e);
                        if !f.is_code("AlreadyExistsException") {
                            return Err(f.into_lake(&format!(
                                "create Glue table {}.{}",
                                self.database, table.name
                            )));
                        }
                        // Someone else created it meanwhile: make it ours.
                        Box::pin(
                            self.client
                                .update_table()
                                .database_name(&self.database)
                                .table_input(input)
                                .send(),
                        )
                        .await
                        .map_err(|e| lake_err(&e, &format!("update Glue table {}", table.name)))?;
                        Ok(())
                    }
                }
            }
            Some(existing) => {
                let same_location = existing
                    .storage_descriptor()
                    .and_then(StorageDescriptor::location)
                    == Some(self.table_location(&table.name).as_str());
                if same_location && to_table_def(&existing).ok().as_ref() == Some(table) {
                    return Ok(());
                }
                Box::pin(
                    self.client
                        .update_table()
                        .database_name(&self.database)
                        .table_input(input)
                        .send(),
                )
                .await
                .map_err(|e| lake_err(&e, &format!("update Glue table {}", table.name)))?;
                tracing::info!(table = %table.name, "Updated Glue table schema.");
                Ok(())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(database = %self.database, table = %name), err)]
    async fn table(&self, name: &str) -> Result<Option<TableDef>, LakeError> {
        self.glue_table(name)
            .await?
            .as_ref()
            .map(to_table_def)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(database = %self.database, table = %partition.table, partition = %partition.key), err)]
    async fn put_partition(&self, partition: &PartitionInfo) -> Result<(), LakeError> {
        self.put_partitions(&partition.table, std::slice::from_ref(partition))
            .await
    }

    #[tracing::instrument(skip_all, fields(database = %self.database, table = %table), err)]
    async fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, LakeError> {
        self.partitions_where(table, None).await
    }
}

impl GlueTableCatalog {
    /// The table's partitions that match a Glue partition `expression` (`dt >= '2026-11-01'`;
    /// every partition for `None`), ordered by key; empty for a table that does not exist. The
    /// expression is sent as is: build it from trusted values only.
    ///
    /// # Errors
    /// [`LakeError::Unavailable`] on throttling or timeout; [`LakeError::Unexpected`] for an
    /// expression Glue refuses.
    pub async fn partitions_where(
        &self,
        table: &str,
        expression: Option<&str>,
    ) -> Result<Vec<PartitionInfo>, LakeError> {
        let Some(glue) = self.glue_table(table).await? else {
            return Ok(Vec::new());
        };
        let keys: Vec<String> = glue
            .partition_keys()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_partitions()
                .database_name(&self.database)
                .table_name(table)
                .set_expression(expression.map(str::to_owned))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| lake_err(&e, &format!("list partitions of Glue table {table}")))?;
            for p in page.partitions() {
                let key = PartitionKey(
                    keys.iter()
                        .cloned()
                        .zip(p.values().iter().cloned())
                        .collect(),
                );
                out.push(PartitionInfo {
                    table: table.to_owned(),
                    key,
                    location: p
                        .storage_descriptor()
                        .and_then(StorageDescriptor::location)
                        .unwrap_or_default()
                        .to_owned(),
                    files: stat(p.parameters(), NUM_FILES_PARAM),
                    rows: stat(p.parameters(), NUM_ROWS_PARAM),
                    bytes: stat(p.parameters(), TOTAL_SIZE_PARAM),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use fashion_domain::lake::all_tables;

    use super::*;

    #[test]
    fn every_lake_table_survives_the_trip_through_a_glue_table() {
        let catalog = GlueTableCatalog::new(
            aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::Config::builder()
                    .behavior_version(aws_sdk_glue::config::BehaviorVersion::latest())
                    .build(),
            ),
            "db",
            S3Location::new("bucket", "lake"),
        );
        for def in all_tables() {
            let input = catalog.table_input(&def).unwrap();
            let table = Table::builder()
                .name(input.name())
                .set_description(input.description().map(str::to_owned))
                .set_parameters(input.parameters().cloned())
                .set_storage_descriptor(input.storage_descriptor().cloned())
                .set_partition_keys(Some(input.partition_keys().to_vec()))
                .build()
                .unwrap();
            assert_eq!(to_table_def(&table).unwrap(), def);
            assert_eq!(
                input
                    .storage_descriptor()
                    .and_then(StorageDescriptor::location),
                Some(format!("s3://bucket/lake/{}/", def.name).as_str())
            );
        }
    }

    #[test]
    fn hive_type_names_map_back_to_column_types() {
        assert_eq!(column_type("decimal(18, 2)"), Some(ColumnType::Money));
        assert_eq!(column_type("BIGINT"), Some(ColumnType::Int64));
        assert_eq!(column_type("map<string,int>"), None);
    }
}
