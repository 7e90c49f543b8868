//! Parquet encoding of the lake's tables, shared by every lake adapter (local disk, S3) so that
//! all of them write byte-compatible files: the same Arrow schema for a [`TableDef`], money as
//! `decimal(18,2)`, instants as UTC microsecond timestamps, zstd compression.
//!
//! Rows go to Arrow and back through the domain's one row codec ([`Cell`](fashion_domain::lake::Cell)):
//! [`record_batch`] and [`decode_batch`] know column types, never tables. [`read_rows`] reads a
//! lake file back as domain rows; the local and S3 histories read the lake through it. [`hive`]
//! writes the shape Firehose's record format conversion delivers (INT96 timestamps, all optional).

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

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use fashion_domain::lake::{ColumnType, TableDef, TableRows};
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

mod codec;
pub mod hive;
pub use codec::{Skipped, decode_batch, read_rows, record_batch};

fn schema_err(e: impl std::fmt::Display) -> LakeError {
    LakeError::Schema {
        message: e.to_string(),
    }
}

/// Writer properties every lake file uses: zstd at level 1, which on the lake's rows compresses
/// about as well as level 3 for less CPU (the JSON → Parquet benchmark measured the same output
/// size and a faster write).
#[must_use]
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
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
    use arrow::array::{Array, ArrayRef, Decimal128Array, RecordBatch, StringArray};
    use fashion_domain::lake::{PartitionKey, tables};
    use fashion_tests::fixtures::{event_id, product, view};
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

    fn no_partition() -> PartitionKey {
        PartitionKey(Vec::new())
    }

    #[test]
    fn rows_read_back_exactly_through_the_codec() {
        let clicks = TableDef::named(tables::CLICKSTREAM).unwrap();
        let mut page = view(3, 2, 9, 30);
        page.product_id = None;
        page.event_type = fashion_domain::event::EventType::PageView;
        let written = TableRows::Clickstream(vec![view(1, 1, 5, 0), view(2, 1, 6, 10), page]);
        let bytes = bytes::Bytes::from(encode(&clicks, std::slice::from_ref(&written)).unwrap());
        let (read, skipped) = read_rows(&clicks, &no_partition(), "clicks", bytes).unwrap();
        assert_eq!(read, written);
        assert_eq!(skipped, Skipped::default());

        let products = TableDef::named(tables::PRODUCTS).unwrap();
        let written = TableRows::Products((1..=10).map(product).collect());
        let bytes = bytes::Bytes::from(encode(&products, std::slice::from_ref(&written)).unwrap());
        let (read, _) = read_rows(&products, &no_partition(), "products", bytes).unwrap();
        assert_eq!(read, written, "nulls, commas and exact money");
    }

    /// A clickstream file as another engine may write it: Int32 user ids, nanosecond instants
    /// without a zone, large strings, no `utc_offset_minutes`, an extra column, and one row the
    /// domain refuses.
    fn foreign_clickstream() -> Vec<u8> {
        use arrow::array::{Int32Array, Int64Array, LargeStringArray, TimestampNanosecondArray};
        let id = |n: u64| event_id(n).to_string();
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::LargeUtf8, false),
            Field::new("event_type", DataType::LargeUtf8, false),
            Field::new("user_id", DataType::Int32, false),
            Field::new("session_id", DataType::LargeUtf8, false),
            Field::new("product_id", DataType::Int64, true),
            Field::new(
                "occurred_at",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("device", DataType::LargeUtf8, false),
            Field::new("schema_version", DataType::Int32, false),
            Field::new("extra", DataType::Int32, false),
        ]));
        let at = fashion_tests::fixtures::t0();
        let nanos = at.timestamp_nanos_opt().unwrap();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(LargeStringArray::from(vec![id(1), "not-a-uuid".to_owned()])),
            Arc::new(LargeStringArray::from(vec!["click", "click"])),
            Arc::new(Int32Array::from(vec![7, 7])),
            Arc::new(LargeStringArray::from(vec!["s-1", "s-1"])),
            Arc::new(Int64Array::from(vec![Some(5), Some(5)])),
            Arc::new(TimestampNanosecondArray::from(vec![nanos, nanos])),
            Arc::new(LargeStringArray::from(vec!["mobile", "mobile"])),
            Arc::new(Int32Array::from(vec![1, 1])),
            Arc::new(Int32Array::from(vec![0, 0])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut w = ArrowWriter::try_new(Vec::new(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn files_of_other_writers_are_cast_and_refused_rows_counted_with_their_reason() {
        let clicks = TableDef::named(tables::CLICKSTREAM).unwrap();
        let bytes = bytes::Bytes::from(foreign_clickstream());
        let (read, skipped) = read_rows(&clicks, &no_partition(), "f", bytes).unwrap();
        let TableRows::Clickstream(events) = read else {
            panic!("clickstream rows")
        };
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].user_id.as_i64(), 7);
        assert_eq!(events[0].occurred_utc(), fashion_tests::fixtures::t0());
        assert_eq!(
            events[0].occurred_at.offset().local_minus_utc(),
            0,
            "no offset: UTC"
        );
        assert_eq!(skipped.rows, 1);
        assert!(
            skipped.first.as_deref().unwrap().contains("event_id"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_missing_required_column_refuses_every_row_and_a_damaged_file_is_an_error() {
        let orders = TableDef::named(tables::ORDERS).unwrap();
        let bytes = bytes::Bytes::from(foreign_clickstream());
        let (read, skipped) = read_rows(&orders, &no_partition(), "f", bytes).unwrap();
        assert!(read.is_empty());
        assert_eq!(skipped.rows, 2);
        assert!(skipped.first.unwrap().contains("order_id"));
        let junk = bytes::Bytes::from_static(b"PAR1 not really");
        assert!(matches!(
            read_rows(&orders, &no_partition(), "f", junk),
            Err(LakeError::Unexpected(_))
        ));
    }

    #[test]
    fn every_table_has_an_arrow_schema_and_an_empty_file_is_valid() {
        for t in fashion_domain::lake::all_tables() {
            let bytes = encode(&t, &[]).unwrap();
            assert!(read(bytes).is_empty(), "{}", t.name);
        }
    }
}
