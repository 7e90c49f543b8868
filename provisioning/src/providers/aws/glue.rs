//! The Glue Data Catalog: the lake's database (`aws:glue:database`) and its tables
//! (`aws:glue:table`), declared from `fashion_domain::lake::all_tables()` with Parquet storage
//! descriptors and Hive-style partition keys.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use fashion_domain::lake::TableDef;
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if, reread,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The database kind id.
pub const DATABASE_KIND: &str = "aws:glue:database";
/// The table kind id.
pub const TABLE_KIND: &str = "aws:glue:table";
use fashion_aws_core::glue::{EXTERNAL_TABLE, ParquetTable};
pub use fashion_aws_core::glue::{
    HiveColumn, NULLABLE_COLUMNS_PARAM, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE,
};

const NOT_FOUND: &[&str] = &["EntityNotFoundException"];

/// Desired (and observed) settings of a database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseProps {
    /// One line for the catalog.
    pub description: String,
    /// Default location of its tables.
    pub location: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Desired (and observed) settings of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProps {
    /// The database it belongs to.
    pub database: String,
    /// One line for the catalog.
    pub description: String,
    /// `EXTERNAL_TABLE`: dropping the table leaves the data.
    pub table_type: String,
    /// Where its files live (`s3://bucket/lake/orders/`).
    pub location: String,
    /// Data columns, in file order.
    pub columns: Vec<HiveColumn>,
    /// Partition keys, outermost first.
    pub partition_keys: Vec<HiveColumn>,
    /// Input format class.
    pub input_format: String,
    /// Output format class.
    pub output_format: String,
    /// SerDe class.
    pub serde: String,
    /// Table parameters we manage (others, such as those Athena adds, are not compared).
    pub parameters: BTreeMap<String, String>,
    /// A view's definition as Athena stores it (`/* Presto View: <base64 JSON> */`); none for
    /// a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_original_text: Option<String>,
    /// A view's expanded text (`/* Presto View */`); none for a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_expanded_text: Option<String>,
}

impl TableProps {
    /// A Parquet table of the lake from its domain definition: the schema is not retyped here.
    #[must_use]
    pub fn parquet(
        def: &TableDef,
        database: &str,
        location: String,
        extra_parameters: BTreeMap<String, String>,
    ) -> Self {
        let shape = ParquetTable::of(def);
        let mut parameters = shape.parameters;
        parameters.extend(extra_parameters);
        Self {
            database: database.to_owned(),
            description: def.description.clone(),
            table_type: EXTERNAL_TABLE.to_owned(),
            location,
            columns: shape.columns,
            partition_keys: shape.partition_keys,
            input_format: PARQUET_INPUT_FORMAT.to_owned(),
            output_format: PARQUET_OUTPUT_FORMAT.to_owned(),
            serde: PARQUET_SERDE.to_owned(),
            parameters,
            view_original_text: None,
            view_expanded_text: None,
        }
    }

    /// An Athena view over the lake, stored in Glue the way Athena's `CREATE VIEW` stores it: a
    /// `VIRTUAL_VIEW` whose columns are `columns` (Hive types; `partition` ones included, as a
    /// view has no partition keys) and whose text is `sql`, run in `database`.
    #[must_use]
    pub fn athena_view(
        database: &str,
        description: &str,
        columns: Vec<HiveColumn>,
        sql: &str,
    ) -> Self {
        use base64::Engine as _;
        let presto: Vec<serde_json::Value> = columns
            .iter()
            .map(|c| serde_json::json!({ "name": c.name, "type": presto_type(&c.ty) }))
            .collect();
        let definition = serde_json::json!({
            "originalSql": sql,
            "catalog": "awsdatacatalog",
            "schema": database,
            "columns": presto,
        });
        // A JSON value always serializes.
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&definition).unwrap_or_default());
        Self {
            database: database.to_owned(),
            description: description.to_owned(),
            table_type: VIRTUAL_VIEW.to_owned(),
            location: String::new(),
            columns,
            partition_keys: Vec::new(),
            input_format: String::new(),
            output_format: String::new(),
            serde: String::new(),
            parameters: BTreeMap::from([
                ("presto_view".to_owned(), "true".to_owned()),
                ("comment".to_owned(), "Presto View".to_owned()),
            ]),
            view_original_text: Some(format!("/* Presto View: {encoded} */")),
            view_expanded_text: Some("/* Presto View */".to_owned()),
        }
    }
}

/// Glue's table type of a view.
pub const VIRTUAL_VIEW: &str = "VIRTUAL_VIEW";

/// The name Athena's views give a Hive type (the same name for `bigint`, `double` and
/// `decimal(p,s)`, the other types the lake uses).
fn presto_type(hive: &str) -> String {
    match hive {
        "string" => "varchar".to_owned(),
        "int" => "integer".to_owned(),
        "timestamp" => "timestamp(3)".to_owned(),
        other => other.to_owned(),
    }
}

/// The Glue database kind.
#[derive(Debug, Default)]
pub struct GlueDatabase;

fn database_arn(cx: &Cx, catalog: &str, name: &str) -> String {
    format!(
        "arn:{}:glue:{}:{catalog}:database/{name}",
        cx.config.partition(),
        cx.config.region
    )
}

#[async_trait]
impl ResourceKind for GlueDatabase {
    fn kind(&self) -> &'static str {
        DATABASE_KIND
    }

    fn label(&self) -> &'static str {
        "Glue database"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let g = &clients(cx)?.glue;
        let name = &spec.physical_name;
        let out = absent_if(
            g.get_database()
                .name(name)
                .send()
                .await
                .map_err(aws_err("read Glue database", name)),
            NOT_FOUND,
        )?;
        let Some(db) = out.as_ref().and_then(|o| o.database()) else {
            return Ok(None);
        };
        let catalog = match db.catalog_id() {
            Some(c) => c.to_owned(),
            None => clients(cx)?.account_id().await?,
        };
        let arn = database_arn(cx, &catalog, name);
        let tags = g
            .get_tags()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(aws_err("read the tags of Glue database", name))?;
        let seen = DatabaseProps {
            description: db.description().unwrap_or_default().to_owned(),
            location: db.location_uri().unwrap_or_default().to_owned(),
            tags: comparable_tags(
                tags.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), arn),
                ("catalog_id".to_owned(), catalog),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: DatabaseProps = from_fields(spec)?;
        let name = &spec.physical_name;
        clients(cx)?
            .glue
            .create_database()
            .database_input(
                DatabaseInput::builder()
                    .name(name)
                    .description(&p.description)
                    .location_uri(&p.location)
                    .build()?,
            )
            .set_tags(Some(p.tags.into_iter().collect()))
            .send()
            .await
            .map_err(aws_err("create Glue database", name))?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: DatabaseProps = from_fields(spec)?;
        let g = &clients(cx)?.glue;
        let name = &spec.physical_name;
        if changes_field(change, "description") || changes_field(change, "location") {
            g.update_database()
                .name(name)
                .database_input(
                    DatabaseInput::builder()
                        .name(name)
                        .description(&p.description)
                        .location_uri(&p.location)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_err("update Glue database", name))?;
        }
        if changes_field(change, "tags") {
            let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
            let (add, remove) = super::tag_changes(&p.tags, &super::seen_tags(seen));
            if !remove.is_empty() {
                g.untag_resource()
                    .resource_arn(&arn)
                    .set_tags_to_remove(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag Glue database", name))?;
            }
            if !add.is_empty() {
                g.tag_resource()
                    .resource_arn(&arn)
                    .set_tags_to_add(Some(add.into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_err("tag Glue database", name))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        gone_if(
            clients(cx)?
                .glue
                .delete_database()
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete Glue database", name)),
            NOT_FOUND,
        )
    }
}

/// The Glue table kind. Its physical name is the table's name; the database is a field.
#[derive(Debug, Default)]
pub struct GlueTable;

fn columns(cols: &[HiveColumn]) -> Result<Vec<Column>, ProvisionError> {
    cols.iter()
        .map(|c| Column::builder().name(&c.name).r#type(&c.ty).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ProvisionError::from)
}

fn table_input(name: &str, p: &TableProps) -> Result<TableInput, ProvisionError> {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    // A view (Athena's shape) has no location, formats or SerDe.
    let serde = match some(&p.serde) {
        Some(library) => SerDeInfo::builder()
            .serialization_library(library)
            .parameters("serialization.format", "1")
            .build(),
        None => SerDeInfo::builder().build(),
    };
    Ok(TableInput::builder()
        .name(name)
        .description(&p.description)
        .table_type(&p.table_type)
        .set_parameters(Some(p.parameters.clone().into_iter().collect()))
        .set_partition_keys(Some(columns(&p.partition_keys)?))
        .set_view_original_text(p.view_original_text.clone())
        .set_view_expanded_text(p.view_expanded_text.clone())
        .storage_descriptor(
            StorageDescriptor::builder()
                .set_columns(Some(columns(&p.columns)?))
                .set_location(some(&p.location))
                .set_input_format(some(&p.input_format))
                .set_output_format(some(&p.output_format))
                .serde_info(serde)
                .build(),
        )
        .build()?)
}

fn hive_columns(cols: &[Column]) -> Vec<HiveColumn> {
    cols.iter()
        .map(|c| HiveColumn {
            name: c.name().to_owned(),
            ty: c.r#type().unwrap_or_default().to_owned(),
        })
        .collect()
}

#[async_trait]
impl ResourceKind for GlueTable {
    fn kind(&self) -> &'static str {
        TABLE_KIND
    }

    fn label(&self) -> &'static str {
        "Glue table"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: TableProps = from_fields(spec)?;
        let g = &clients(cx)?.glue;
        let name = &spec.physical_name;
        let out = absent_if(
            g.get_table()
                .database_name(&want.database)
                .name(name)
                .send()
                .await
                .map_err(aws_err("read Glue table", name)),
            NOT_FOUND,
        )?;
        let Some(t) = out.as_ref().and_then(|o| o.table()) else {
            return Ok(None);
        };
        let sd = t.storage_descriptor();
        let seen = TableProps {
            database: t.database_name().unwrap_or(&want.database).to_owned(),
            description: t.description().unwrap_or_default().to_owned(),
            table_type: t.table_type().unwrap_or_default().to_owned(),
            location: sd.and_then(|s| s.location()).unwrap_or_default().to_owned(),
            columns: hive_columns(sd.map(StorageDescriptor::columns).unwrap_or_default()),
            partition_keys: hive_columns(t.partition_keys()),
            input_format: sd
                .and_then(|s| s.input_format())
                .unwrap_or_default()
                .to_owned(),
            output_format: sd
                .and_then(|s| s.output_format())
                .unwrap_or_default()
                .to_owned(),
            serde: sd
                .and_then(|s| s.serde_info())
                .and_then(|s| s.serialization_library())
                .unwrap_or_default()
                .to_owned(),
            parameters: t
                .parameters()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            view_original_text: t.view_original_text().map(str::to_owned),
            view_expanded_text: t.view_expanded_text().map(str::to_owned),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                ("database".to_owned(), want.database.clone()),
                ("location".to_owned(), seen.location.clone()),
            ]),
        }))
    }

    /// Parameters others add (Athena's `transient_lastDdlTime`, statistics) are not ours to
    /// remove: only the keys we declare are compared.
    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        let mut seen_fields = seen.fields.clone();
        if let (Some(serde_json::Value::Object(want)), Some(serde_json::Value::Object(got))) =
            (spec.fields.get("parameters"), seen.fields.get("parameters"))
        {
            let ours: serde_json::Map<String, serde_json::Value> = got
                .iter()
                .filter(|(k, _)| want.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            seen_fields.insert("parameters".to_owned(), serde_json::Value::Object(ours));
        }
        diff_fields(&spec.fields, &seen_fields, &["database", "partition_keys"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: TableProps = from_fields(spec)?;
        let name = &spec.physical_name;
        clients(cx)?
            .glue
            .create_table()
            .database_name(&p.database)
            .table_input(table_input(name, &p)?)
            .send()
            .await
            .map_err(aws_err("create Glue table", name))?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        // UpdateTable replaces the whole definition; partitions are kept.
        let p: TableProps = from_fields(spec)?;
        let name = &spec.physical_name;
        clients(cx)?
            .glue
            .update_table()
            .database_name(&p.database)
            .table_input(table_input(name, &p)?)
            .send()
            .await
            .map_err(aws_err("update Glue table", name))?;
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        let database = seen
            .fields
            .get("database")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_owned();
        gone_if(
            clients(cx)?
                .glue
                .delete_table()
                .database_name(database)
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete Glue table", name)),
            NOT_FOUND,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;
    use fashion_domain::lake::{TableDef, tables};
    use serde_json::json;

    fn orders() -> TableProps {
        TableProps::parquet(
            &TableDef::named(tables::ORDERS).unwrap(),
            "lake",
            "s3://b/lake/orders/".into(),
            BTreeMap::new(),
        )
    }

    fn spec(p: &TableProps) -> ResourceSpec {
        fixtures::declared("aws::aws:glue:table::orders", TABLE_KIND, "orders", p)
    }

    fn seen(p: &TableProps) -> Observed {
        fixtures::observed("orders", p)
    }

    #[test]
    fn a_view_is_stored_as_athena_stores_one_and_its_text_decodes_to_the_sql() {
        use base64::Engine as _;
        let columns = vec![
            HiveColumn {
                name: "event_id".into(),
                ty: "string".into(),
            },
            HiveColumn {
                name: "occurred_at".into(),
                ty: "timestamp".into(),
            },
        ];
        let v = TableProps::athena_view("lake", "d", columns.clone(), "SELECT 1");
        assert_eq!(v.table_type, VIRTUAL_VIEW);
        assert_eq!(v.columns, columns);
        assert!(v.partition_keys.is_empty() && v.location.is_empty());
        assert_eq!(v.parameters["presto_view"], "true");
        let text = v.view_original_text.as_deref().unwrap();
        let encoded = text
            .strip_prefix("/* Presto View: ")
            .and_then(|t| t.strip_suffix(" */"))
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["originalSql"], "SELECT 1");
        assert_eq!(json["schema"], "lake");
        assert_eq!(
            json["columns"],
            json!([
                {"name": "event_id", "type": "varchar"},
                {"name": "occurred_at", "type": "timestamp(3)"}
            ])
        );
        let input = table_input("v", &v).unwrap();
        let sd = input.storage_descriptor().unwrap();
        assert_eq!(sd.location(), None, "a view has no location");
        assert_eq!(input.view_expanded_text(), Some("/* Presto View */"));
    }

    #[test]
    fn tables_take_hive_types_from_the_domain_definition() {
        let p = orders();
        let total = p.columns.iter().find(|c| c.name == "total").unwrap();
        assert_eq!(total.ty, "decimal(18,2)");
        assert_eq!(
            p.partition_keys,
            [HiveColumn {
                name: "dt".into(),
                ty: "string".into()
            }]
        );
        assert_eq!(p.serde, PARQUET_SERDE);
    }

    #[test]
    fn nullable_columns_are_listed_as_the_lake_adapter_reads_them() {
        let products = TableProps::parquet(
            &TableDef::named(tables::PRODUCTS).unwrap(),
            "lake",
            "s3://b/lake/products/".into(),
            BTreeMap::new(),
        );
        assert_eq!(
            products.parameters[NULLABLE_COLUMNS_PARAM],
            "base_colour,season,year,usage,price"
        );
        assert_eq!(orders().parameters[NULLABLE_COLUMNS_PARAM], "");
    }

    #[test]
    fn table_diff_ignores_parameters_added_by_others() {
        // Arrange
        let mut touched = orders();
        touched
            .parameters
            .insert("transient_lastDdlTime".into(), "1700000000".into());
        // Act / Assert
        assert_eq!(
            GlueTable.diff(&spec(&orders()), &seen(&touched)),
            Change::Same
        );
    }

    #[test]
    fn table_diff_updates_a_retyped_column_and_replaces_new_partition_keys() {
        let mut retyped = orders();
        retyped.columns[0].ty = "string".into();
        let Change::Update { fields } = GlueTable.diff(&spec(&orders()), &seen(&retyped)) else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "columns");
        let mut repartitioned = orders();
        repartitioned.partition_keys.clear();
        assert_eq!(
            GlueTable.diff(&spec(&orders()), &seen(&repartitioned)),
            Change::Replace {
                field: "partition_keys".into()
            }
        );
        assert_eq!(
            spec(&orders()).fields["table_type"],
            json!("EXTERNAL_TABLE")
        );
    }

    #[test]
    fn database_diff_updates_changed_tags() {
        let p = DatabaseProps {
            description: "lake".into(),
            location: "s3://b/lake/".into(),
            tags: BTreeMap::from([("stack".into(), "aws".into())]),
        };
        let mut untagged = p.clone();
        untagged.tags.clear();
        let s = ResourceSpec {
            id: "aws::aws:glue:database::lake".into(),
            kind: DATABASE_KIND.into(),
            physical_name: "lake".into(),
            fields: to_fields(&p).unwrap(),
            depends_on: vec![],
        };
        let o = Observed {
            physical_name: "lake".into(),
            fields: to_fields(&untagged).unwrap(),
            outputs: Outputs::new(),
        };
        assert!(matches!(GlueDatabase.diff(&s, &o), Change::Update { .. }));
    }
}
