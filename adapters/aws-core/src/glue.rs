//! A lake table as the Glue catalog holds it: a Parquet external table whose columns, partition
//! keys and parameters follow from the domain's definition. The lake catalog (fashion-aws) and
//! provisioning build their Glue calls from [`ParquetTable::of`].

use std::collections::BTreeMap;

use fashion_domain::lake::{TableDef, tables};
use serde::{Deserialize, Serialize};

/// Tables a delivery service writes straight under `dt=…/hour=…/` prefixes (Firehose's dynamic
/// partitioning), registering no partition: the catalog projects their partitions (Athena's
/// partition projection) and readers list their prefixes instead of asking Glue.
pub const DELIVERED_TABLES: &[&str] = &[tables::CLICKSTREAM];

/// True when `table` is one of [`DELIVERED_TABLES`].
#[must_use]
pub fn is_delivered(table: &str) -> bool {
    DELIVERED_TABLES.contains(&table)
}

/// Hive's Parquet input format.
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Hive's Parquet output format.
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
/// Hive's Parquet SerDe.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// Table parameter listing the columns that may be null (Hive types carry no nullability):
/// the lake catalog compares a table with the domain's definition through it.
pub const NULLABLE_COLUMNS_PARAM: &str = "fashion.nullable_columns";
/// Partition parameter: number of data files.
pub const NUM_FILES_PARAM: &str = "numFiles";
/// Partition parameter: number of rows.
pub const NUM_ROWS_PARAM: &str = "numRows";
/// Partition parameter: total bytes of the data files.
pub const TOTAL_SIZE_PARAM: &str = "totalSize";
/// An external table: dropping it leaves the data.
pub const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";
/// The Hive type of every partition key.
pub const PARTITION_KEY_TYPE: &str = "string";

/// One column: name and Hive type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HiveColumn {
    /// Column name.
    pub name: String,
    /// Hive type name (`bigint`, `decimal(18,2)`, ...).
    #[serde(rename = "type")]
    pub ty: String,
}

/// A lake table's Glue shape (without its location, which depends on the bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetTable {
    /// Data columns, in file order.
    pub columns: Vec<HiveColumn>,
    /// Partition keys, outermost first.
    pub partition_keys: Vec<HiveColumn>,
    /// The table parameters: Parquet classification, external, nullable columns.
    pub parameters: BTreeMap<String, String>,
}

impl ParquetTable {
    /// The Glue shape of the domain's table `def`; the schema is not retyped here.
    #[must_use]
    pub fn of(def: &TableDef) -> Self {
        let nullable: Vec<&str> = def
            .columns
            .iter()
            .filter(|c| c.nullable)
            .map(|c| c.name.as_str())
            .collect();
        Self {
            columns: def
                .columns
                .iter()
                .map(|c| HiveColumn {
                    name: c.name.clone(),
                    ty: c.ty.hive_name().to_owned(),
                })
                .collect(),
            partition_keys: def
                .partition_keys
                .iter()
                .map(|k| HiveColumn {
                    name: k.clone(),
                    ty: PARTITION_KEY_TYPE.to_owned(),
                })
                .collect(),
            parameters: BTreeMap::from([
                ("classification".to_owned(), "parquet".to_owned()),
                ("EXTERNAL".to_owned(), "TRUE".to_owned()),
                (NULLABLE_COLUMNS_PARAM.to_owned(), nullable.join(",")),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use fashion_domain::lake::{TableDef, tables};

    use super::*;

    #[test]
    fn a_lake_table_is_catalogued_with_its_columns_string_partition_keys_and_nullable_list() {
        // Arrange
        let def = TableDef::named(tables::ORDERS).unwrap();
        // Act
        let shape = ParquetTable::of(&def);
        // Assert
        let names: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
        let expected: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, expected);
        assert!(
            shape
                .partition_keys
                .iter()
                .all(|k| k.ty == PARTITION_KEY_TYPE)
        );
        assert_eq!(shape.partition_keys.len(), def.partition_keys.len());
        let nullable: Vec<&str> = def
            .columns
            .iter()
            .filter(|c| c.nullable)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(shape.parameters[NULLABLE_COLUMNS_PARAM], nullable.join(","));
        assert_eq!(shape.parameters["classification"], "parquet");
    }
}
