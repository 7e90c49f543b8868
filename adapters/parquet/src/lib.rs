//! Parquet encoding of the lake's tables, shared by every lake adapter (local disk, S3) so that
//! all of them write byte-compatible files: the same Arrow schema for a [`TableDef`], money as
//! `decimal(18,2)`, instants as UTC microsecond timestamps, zstd compression.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use fashion_domain::lake::{ColumnType, TableDef, TableRows};
use fashion_domain::money::Cents;
use fashion_domain::ports::LakeError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Precision and scale of money columns.
pub const MONEY_PRECISION: u8 = 18;
/// Two decimal places: the stored integer is the number of cents.
pub const MONEY_SCALE: i8 = 2;

/// The Arrow type of a column type.
#[must_use]
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::TimestampMicros => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        ColumnType::Money => DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE),
    }
}

/// The Arrow schema of a table's data columns (partition keys live in paths, not in files).
#[must_use]
pub fn arrow_schema(table: &TableDef) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.ty), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

fn schema_err(e: impl std::fmt::Display) -> LakeError {
    LakeError::Schema {
        message: e.to_string(),
    }
}

/// Column builders in table order; each row pushes one value per column.
struct Columns {
    builders: Vec<Builder>,
}

enum Builder {
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    Money(Decimal128Builder),
}

/// One value of a row.
enum V<'a> {
    I32(Option<i32>),
    I64(Option<i64>),
    Str(Option<&'a str>),
    Ts(DateTime<Utc>),
    Money(Option<Cents>),
}

impl Columns {
    fn new(table: &TableDef, capacity: usize) -> Result<Self, LakeError> {
        let builders = table
            .columns
            .iter()
            .map(|c| {
                Ok(match c.ty {
                    ColumnType::Int32 => Builder::I32(Int32Builder::with_capacity(capacity)),
                    ColumnType::Int64 => Builder::I64(Int64Builder::with_capacity(capacity)),
                    ColumnType::Float64 => Builder::F64(Float64Builder::with_capacity(capacity)),
                    ColumnType::Utf8 => Builder::Str(StringBuilder::with_capacity(
                        capacity,
                        capacity.saturating_mul(16),
                    )),
                    ColumnType::TimestampMicros => Builder::Ts(
                        TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
                    ),
                    ColumnType::Money => Builder::Money(
                        Decimal128Builder::with_capacity(capacity)
                            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
                            .map_err(schema_err)?,
                    ),
                })
            })
            .collect::<Result<_, LakeError>>()?;
        Ok(Self { builders })
    }

    fn push(&mut self, row: &[V<'_>]) -> Result<(), LakeError> {
        if row.len() != self.builders.len() {
            return Err(schema_err(format!(
                "row has {} values for {} columns",
                row.len(),
                self.builders.len()
            )));
        }
        for (b, v) in self.builders.iter_mut().zip(row) {
            match (b, v) {
                (Builder::I32(b), V::I32(x)) => b.append_option(*x),
                (Builder::I64(b), V::I64(x)) => b.append_option(*x),
                (Builder::Str(b), V::Str(x)) => b.append_option(*x),
                (Builder::Ts(b), V::Ts(t)) => b.append_value(t.timestamp_micros()),
                (Builder::Money(b), V::Money(c)) => b.append_option(c.map(|c| i128::from(c.get()))),
                _ => return Err(schema_err("a value does not match its column type")),
            }
        }
        Ok(())
    }

    fn finish(self) -> Vec<ArrayRef> {
        self.builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::I32(mut b) => Arc::new(b.finish()),
                    Builder::I64(mut b) => Arc::new(b.finish()),
                    Builder::F64(mut b) => Arc::new(b.finish()),
                    Builder::Str(mut b) => Arc::new(b.finish()),
                    Builder::Ts(mut b) => Arc::new(b.finish()),
                    Builder::Money(mut b) => Arc::new(b.finish()),
                }
            })
            .collect()
    }
}

/// Converts rows of a table to one Arrow record batch with [`arrow_schema`]`(table)`.
///
/// # Errors
/// [`LakeError::Schema`] when the rows belong to another table or do not fit its columns.
pub fn record_batch(table: &TableDef, rows: &TableRows) -> Result<RecordBatch, LakeError> {
    if rows.table() != table.name {
        return Err(schema_err(format!(
            "rows of {} written to table {}",
            rows.table(),
            table.name
        )));
    }
    let mut cols = Columns::new(table, rows.len())?;
    match rows {
        TableRows::Clickstream(r) => {
            for e in r {
                let offset_minutes = e.occurred_at.offset().local_minus_utc() / 60;
                cols.push(&[
                    V::Str(Some(&e.event_id.to_string())),
                    V::Str(Some(e.event_type.as_str())),
                    V::I64(Some(e.user_id.as_i64())),
                    V::Str(Some(e.session_id.as_str())),
                    V::I64(e.product_id.map(|p| i64::from(p.get()))),
                    V::Ts(e.occurred_utc()),
                    V::I32(Some(offset_minutes)),
                    V::Str(Some(e.device.as_str())),
                    V::I32(Some(i32::from(e.schema_version))),
                ])?;
            }
        }
        TableRows::Orders(r) => {
            for o in r {
                cols.push(&[
                    V::I64(Some(o.order_id.as_i64())),
                    V::I64(Some(o.customer_id.as_i64())),
                    V::Ts(o.ordered_at),
                    V::Str(Some(o.status.as_str())),
                    V::I32(i32::try_from(o.item_count).ok()),
                    V::I64(Some(o.units)),
                    V::Money(Some(o.total)),
                    V::Str(Some(&o.currency)),
                ])?;
            }
        }
        TableRows::OrderItems(r) => {
            for l in r {
                cols.push(&[
                    V::I64(Some(l.order_id.as_i64())),
                    V::I32(i32::try_from(l.line_no).ok()),
                    V::I64(Some(l.customer_id.as_i64())),
                    V::I64(Some(i64::from(l.product_id.get()))),
                    V::I32(i32::try_from(l.quantity).ok()),
                    V::Money(Some(l.unit_price)),
                    V::Money(Some(l.line_total)),
                    V::Ts(l.ordered_at),
                ])?;
            }
        }
        TableRows::DailySales(r) => {
            for s in r {
                cols.push(&[
                    V::I64(Some(i64::from(s.product_id.get()))),
                    V::Str(Some(&s.article_type)),
                    V::Str(Some(&s.colour)),
                    V::Str(Some(&s.gender)),
                    V::Str(Some(&s.master_category)),
                    V::Str(Some(&s.city)),
                    V::I64(Some(s.units)),
                    V::Money(Some(s.revenue)),
                    V::I64(Some(s.orders)),
                    V::I64(Some(s.distinct_customers)),
                ])?;
            }
        }
        TableRows::CustomerDaily(r) => {
            for c in r {
                cols.push(&[
                    V::I64(Some(c.customer_id.as_i64())),
                    V::Str(Some(&c.city)),
                    V::I64(Some(c.orders)),
                    V::I64(Some(c.units)),
                    V::Money(Some(c.revenue)),
                ])?;
            }
        }
        TableRows::Quarantine(r) => {
            for q in r {
                cols.push(&[
                    V::Str(Some(q.rule.as_str())),
                    V::Str(Some(&q.record_key)),
                    V::Str(Some(&q.detail)),
                    V::Str(Some(&q.record)),
                ])?;
            }
        }
        TableRows::Products(r) => {
            for p in r {
                cols.push(&[
                    V::I64(Some(i64::from(p.id.get()))),
                    V::Str(Some(&p.gender)),
                    V::Str(Some(&p.master_category)),
                    V::Str(Some(&p.sub_category)),
                    V::Str(Some(&p.article_type)),
                    V::Str(p.base_colour.as_deref()),
                    V::Str(p.season.as_deref()),
                    V::I32(p.year.map(i32::from)),
                    V::Str(p.usage.as_deref()),
                    V::Str(Some(&p.product_display_name)),
                    V::Money(p.price),
                ])?;
            }
        }
        TableRows::Customers(r) => {
            for c in r {
                cols.push(&[
                    V::I64(Some(c.id.as_i64())),
                    V::Str(Some(&c.city)),
                    V::Str(Some(&c.country)),
                    V::Str(Some(&c.segment)),
                    V::Ts(c.signed_up_at),
                ])?;
            }
        }
    }
    RecordBatch::try_new(arrow_schema(table), cols.finish()).map_err(schema_err)
}

/// Writer properties every lake file uses.
#[must_use]
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_created_by("fashion-pipeline".to_owned())
        .build()
}

/// Streams a table's rows into one Parquet file.
pub struct ParquetFileWriter<W: Write + Send> {
    table: TableDef,
    writer: ArrowWriter<W>,
    rows: u64,
}

impl<W: Write + Send> ParquetFileWriter<W> {
    /// Starts a file for `table` on `sink`.
    ///
    /// # Errors
    /// [`LakeError::Unexpected`] when the writer cannot start.
    pub fn new(table: &TableDef, sink: W) -> Result<Self, LakeError> {
        let writer = ArrowWriter::try_new(sink, arrow_schema(table), Some(writer_properties()))
            .map_err(|e| LakeError::Unexpected(anyhow_like(&e)))?;
        Ok(Self {
            table: table.clone(),
            writer,
            rows: 0,
        })
    }

    /// Appends rows.
    ///
    /// # Errors
    /// [`LakeError::Schema`] for rows of another table; [`LakeError::Unexpected`] on IO errors.
    pub fn write(&mut self, rows: &TableRows) -> Result<(), LakeError> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = record_batch(&self.table, rows)?;
        self.writer
            .write(&batch)
            .map_err(|e| LakeError::Unexpected(anyhow_like(&e)))?;
        self.rows = self.rows.saturating_add(rows.len() as u64);
        Ok(())
    }

    /// Rows written so far.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes written so far (including buffered row groups).
    #[must_use]
    pub fn bytes_in_progress(&self) -> usize {
        self.writer
            .in_progress_size()
            .saturating_add(self.writer.bytes_written())
    }

    /// Writes the footer and returns the sink.
    ///
    /// # Errors
    /// [`LakeError::Unexpected`] on IO errors.
    pub fn finish(self) -> Result<W, LakeError> {
        self.writer
            .into_inner()
            .map_err(|e| LakeError::Unexpected(anyhow_like(&e)))
    }
}

fn anyhow_like(e: &parquet::errors::ParquetError) -> anyhow::Error {
    anyhow::anyhow!("parquet: {e}")
}

/// Encodes rows into one in-memory Parquet file.
///
/// # Errors
/// As [`ParquetFileWriter::write`].
pub fn encode(table: &TableDef, batches: &[TableRows]) -> Result<Vec<u8>, LakeError> {
    let mut w = ParquetFileWriter::new(table, Vec::new())?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Decimal128Array, StringArray};
    use fashion_domain::lake::tables;
    use fashion_tests::fixtures::{product, view};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read(bytes: Vec<u8>) -> Vec<RecordBatch> {
        ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    #[test]
    fn products_round_trip_with_exact_money_nulls_and_commas() {
        let table = TableDef::named(tables::PRODUCTS).unwrap();
        let rows = TableRows::Products((1..=10).map(product).collect());
        let batches = read(encode(&table, &[rows]).unwrap());
        let b = &batches[0];
        assert_eq!(b.num_rows(), 10);
        assert_eq!(b.schema(), arrow_schema(&table));
        let price = b
            .column_by_name("price")
            .unwrap()
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(price.value_as_string(4), "10.05");
        let year = b.column_by_name("year").unwrap();
        assert!(year.is_null(4), "product 5 has no year");
        let name = b
            .column_by_name("product_display_name")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(name.value(4), "Brand 5, Comma Name");
    }

    #[test]
    fn rows_of_another_table_are_a_schema_error() {
        let table = TableDef::named(tables::PRODUCTS).unwrap();
        let err = encode(&table, &[TableRows::Clickstream(vec![view(1, 1, 1, 0)])]).unwrap_err();
        assert!(matches!(err, LakeError::Schema { .. }));
    }

    #[test]
    fn every_table_has_an_arrow_schema_and_an_empty_file_is_valid() {
        for t in fashion_domain::lake::all_tables() {
            let bytes = encode(&t, &[]).unwrap();
            assert!(read(bytes).is_empty(), "{}", t.name);
        }
    }
}
