//! Parquet as Hive's Parquet SerDe writes a table, which is what Firehose's record format
//! conversion delivers into the lake: the Glue table's data columns in order, every column
//! optional, `string` as UTF-8 binary, `timestamp` as INT96 (nanoseconds of the day, then the
//! Julian day, in UTC), Snappy compression. Input rows are JSON objects, one member per column,
//! read as the OpenX JSON SerDe reads them: a missing member or `null` is null, and a value of
//! the wrong type is refused with its row and column (Firehose then writes the record under its
//! error prefix). `decimal` columns are not converted: no table Firehose delivers has one.
//!
//! The emulator's Firehose stand-in writes with this, and tests use it for files in exactly the
//! shape the delivery stream leaves; the lake's readers ([`crate::read_rows`]) read it back.

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use fashion_domain::lake::{Column, ColumnType, TableDef};
use parquet::basic::Compression;
use parquet::data_type::{
    ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type, Int96, Int96Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{Map, Value};

/// Julian day of the Unix epoch, which INT96 timestamps count from.
const JULIAN_EPOCH_DAY: i64 = 2_440_588;
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// An instant as Hive's INT96: nanoseconds of the day (low word first), then the Julian day.
/// `None` past the years INT96 nanoseconds can hold (about 1677 to 2262).
#[must_use]
pub fn int96(at: DateTime<Utc>) -> Option<Int96> {
    let nanos = at.timestamp_nanos_opt()?;
    let day = nanos
        .checked_div_euclid(NANOS_PER_DAY)?
        .checked_add(JULIAN_EPOCH_DAY)?;
    let of_day = u64::try_from(nanos.checked_rem_euclid(NANOS_PER_DAY)?).ok()?;
    let mut v = Int96::new();
    v.set_data(
        u32::try_from(of_day & 0xffff_ffff).ok()?,
        u32::try_from(of_day.checked_shr(32)?).ok()?,
        u32::try_from(day).ok()?,
    );
    Some(v)
}

/// The Parquet type of a column as Hive writes it.
fn hive_type(c: &Column) -> anyhow::Result<&'static str> {
    Ok(match c.ty {
        ColumnType::Int32 => "int32",
        ColumnType::Int64 => "int64",
        ColumnType::Float64 => "double",
        ColumnType::Utf8 => "binary",
        ColumnType::TimestampMicros => "int96",
        ColumnType::Money => bail!(
            "column {}: Hive's decimal is not converted here (no delivered table has one)",
            c.name
        ),
    })
}

/// One column's values, nulls apart: the values present and a definition level per row.
struct Values<T> {
    present: Vec<T>,
    defined: Vec<i16>,
}

impl<T> Values<T> {
    /// Reads `column` of every row with `read` (`Ok(None)` for a value of the wrong type).
    fn of(
        rows: &[Map<String, Value>],
        column: &str,
        read: impl Fn(&Value) -> Option<T>,
        expected: &str,
    ) -> anyhow::Result<Self> {
        let mut present = Vec::with_capacity(rows.len());
        let mut defined = Vec::with_capacity(rows.len());
        for (n, row) in rows.iter().enumerate() {
            match row.get(column) {
                None | Some(Value::Null) => defined.push(0),
                Some(v) => {
                    let Some(x) = read(v) else {
                        bail!("row {n}, column {column}: {v} is not {expected}");
                    };
                    present.push(x);
                    defined.push(1);
                }
            }
        }
        Ok(Self { present, defined })
    }
}

/// Writes `rows` as one Parquet file of `table`'s data columns, the way Hive's SerDe does.
///
/// # Errors
/// A value of the wrong type (naming its row and column), a `decimal` column, or the encoder's
/// error.
pub fn write_json_rows(table: &TableDef, rows: &[Map<String, Value>]) -> anyhow::Result<Vec<u8>> {
    let mut fields = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        let annotation = if c.ty == ColumnType::Utf8 {
            " (STRING)"
        } else {
            ""
        };
        fields.push(format!(
            "optional {} {}{annotation};",
            hive_type(c)?,
            c.name
        ));
    }
    let schema = Arc::new(
        parse_message_type(&format!("message hive_schema {{ {} }}", fields.join(" ")))
            .context("the table's Hive schema")?,
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut file = SerializedFileWriter::new(&mut out, schema, props)?;
    let mut group = file.next_row_group()?;
    let mut columns = table.columns.iter();
    while let Some(mut writer) = group.next_column()? {
        let c = columns
            .next()
            .context("the schema has more columns than the table")?;
        let name = c.name.as_str();
        match c.ty {
            ColumnType::Int32 => {
                let v = Values::of(
                    rows,
                    name,
                    |v| v.as_i64().and_then(|n| i32::try_from(n).ok()),
                    "an int",
                )?;
                writer
                    .typed::<Int32Type>()
                    .write_batch(&v.present, Some(&v.defined), None)?;
            }
            ColumnType::Int64 => {
                let v = Values::of(rows, name, Value::as_i64, "a bigint")?;
                writer
                    .typed::<Int64Type>()
                    .write_batch(&v.present, Some(&v.defined), None)?;
            }
            ColumnType::Float64 => {
                let v = Values::of(rows, name, Value::as_f64, "a double")?;
                writer
                    .typed::<DoubleType>()
                    .write_batch(&v.present, Some(&v.defined), None)?;
            }
            ColumnType::Utf8 => {
                let v = Values::of(rows, name, |v| v.as_str().map(ByteArray::from), "a string")?;
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&v.present, Some(&v.defined), None)?;
            }
            ColumnType::TimestampMicros => {
                let v = Values::of(
                    rows,
                    name,
                    |v| {
                        let at = DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
                        int96(at.with_timezone(&Utc))
                    },
                    "a timestamp (RFC 3339)",
                )?;
                writer
                    .typed::<Int96Type>()
                    .write_batch(&v.present, Some(&v.defined), None)?;
            }
            ColumnType::Money => bail!("column {name}: decimal is not converted"),
        }
        writer.close()?;
    }
    group.close()?;
    file.close()?;
    Ok(out)
}

/// The columns of a Parquet file as Hive's Parquet SerDe (Athena's reader of a Glue table)
/// maps them: each leaf column's name and the Hive type its physical and logical types read as
/// (`INT96` and timestamp `INT64` as `timestamp`, UTF-8 binary as `string`, ...), in file order.
/// Compared with a Glue table's columns, it says whether the table reads the file.
///
/// # Errors
/// When the footer cannot be read, or a column has a type Hive has no reading for here.
pub fn hive_columns(file: bytes::Bytes) -> anyhow::Result<Vec<(String, String)>> {
    use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
    use parquet::file::reader::FileReader as _;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file)
        .context("not a Parquet file")?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    schema
        .columns()
        .iter()
        .map(|c| {
            let ty = match (c.physical_type(), c.logical_type_ref(), c.converted_type()) {
                (_, Some(LogicalType::Decimal(d)), _) => {
                    format!("decimal({},{})", d.precision, d.scale)
                }
                (Physical::INT96, _, _)
                | (Physical::INT64, Some(LogicalType::Timestamp { .. }), _) => "timestamp".into(),
                (Physical::INT32, Some(LogicalType::Date), _) => "date".into(),
                (Physical::INT32, None | Some(LogicalType::Integer { .. }), _) => "int".into(),
                (Physical::INT64, None | Some(LogicalType::Integer { .. }), _) => "bigint".into(),
                (Physical::DOUBLE, None, _) => "double".into(),
                (Physical::FLOAT, None, _) => "float".into(),
                (Physical::BOOLEAN, None, _) => "boolean".into(),
                (Physical::BYTE_ARRAY, Some(LogicalType::String), _)
                | (Physical::BYTE_ARRAY, None, ConvertedType::UTF8) => "string".into(),
                (Physical::BYTE_ARRAY, None, _) => "binary".into(),
                (physical, logical, _) => bail!(
                    "column {}: no Hive reading of {physical:?} ({logical:?})",
                    c.name()
                ),
            };
            Ok((c.name().to_lowercase(), ty))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fashion_domain::lake::{TableRows, tables};
    use fashion_tests::fixtures::view;

    #[test]
    fn rows_written_as_hive_does_read_back_as_the_same_events() {
        // Arrange: events with and without a product, one in another UTC offset.
        let mut events = vec![view(1, 42, 7, 0), view(2, 43, 8, 3_700)];
        events[1].product_id = None;
        events[1].event_type = fashion_domain::event::EventType::PageView;
        events[1].occurred_at = events[1]
            .occurred_at
            .with_timezone(&chrono::FixedOffset::east_opt(-5 * 3600).unwrap());
        let table = TableDef::named(tables::CLICKSTREAM).unwrap();
        let rows = TableRows::Clickstream(events.clone()).json_rows();

        // Act
        let file = write_json_rows(&table, &rows).unwrap();

        // Assert: INT96 and optional columns, as Firehose writes them, decode to the events.
        let meta = parquet::file::serialized_reader::SerializedFileReader::new(bytes::Bytes::from(
            file.clone(),
        ))
        .map(|r| parquet::file::reader::FileReader::metadata(&r).clone())
        .unwrap();
        let schema = meta.file_metadata().schema_descr();
        let occurred = schema
            .columns()
            .iter()
            .find(|c| c.name() == "occurred_at")
            .unwrap();
        assert_eq!(occurred.physical_type(), parquet::basic::Type::INT96);
        assert!(schema.columns().iter().all(|c| c.max_def_level() == 1));
        let partition = fashion_domain::lake::PartitionKey::hour_of(events[0].occurred_utc());
        let (back, skipped) =
            crate::read_rows(&table, &partition, "hive", bytes::Bytes::from(file)).unwrap();
        assert_eq!(skipped.rows, 0);
        assert_eq!(back, TableRows::Clickstream(events));
    }

    /// What Hive reads a file Firehose's conversion writes as is the Glue table's own columns.
    #[test]
    fn hive_reads_the_converted_file_as_the_tables_columns() {
        let table = TableDef::named(tables::CLICKSTREAM).unwrap();
        let rows = TableRows::Clickstream(vec![view(1, 42, 7, 0)]).json_rows();
        let file = write_json_rows(&table, &rows).unwrap();
        let expected: Vec<(String, String)> = table
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.hive_name().to_owned()))
            .collect();
        assert_eq!(hive_columns(bytes::Bytes::from(file)).unwrap(), expected);
        assert!(hive_columns(bytes::Bytes::from_static(b"not parquet")).is_err());
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_with_its_row_and_column() {
        let table = TableDef::named(tables::CLICKSTREAM).unwrap();
        let mut rows =
            TableRows::Clickstream(vec![view(1, 42, 7, 0), view(2, 42, 7, 1)]).json_rows();
        rows[1].insert("user_id".into(), Value::from("forty-two"));
        let err = write_json_rows(&table, &rows).unwrap_err().to_string();
        assert!(err.contains("row 1, column user_id"), "{err}");
    }

    #[test]
    fn int96_counts_julian_days_and_nanoseconds_of_the_day() {
        let at = DateTime::parse_from_rfc3339("1970-01-02T00:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        let v = int96(at).unwrap();
        assert_eq!(v.data(), &[1_000_000_000, 0, 2_440_589]);
    }
}
