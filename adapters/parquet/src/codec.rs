//! Domain rows ↔ Arrow record batches, through the domain's row codec: rows become
//! [`Cell`]s in column order, cells become Arrow builders' values by column type, and back.
//! Nothing here knows a table; a new table or column is declared once, in the domain.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Decimal128Builder, Float64Array, Float64Builder,
    Int32Array, Int32Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use chrono::DateTime;
use fashion_domain::lake::{
    Cell, CellError, Column, ColumnType, PartitionKey, RowDecoder, TableDef, TableRows,
};
use fashion_domain::money::Cents;
use fashion_domain::ports::LakeError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::{MONEY_PRECISION, MONEY_SCALE, arrow_schema, arrow_type, schema_err};

/// Rows per decoded record batch.
const READ_BATCH_ROWS: usize = 8_192;

/// One column's builder.
enum Builder {
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    Money(Decimal128Builder),
}

impl Builder {
    fn new(ty: ColumnType, capacity: usize) -> Result<Self, LakeError> {
        Ok(match ty {
            ColumnType::Int32 => Self::I32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => Self::I64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float64 => Self::F64(Float64Builder::with_capacity(capacity)),
            ColumnType::Utf8 => Self::Str(StringBuilder::with_capacity(
                capacity,
                capacity.saturating_mul(16),
            )),
            ColumnType::TimestampMicros => {
                Self::Ts(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
            ColumnType::Money => Self::Money(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
                    .map_err(schema_err)?,
            ),
        })
    }

    fn push(&mut self, cell: &Cell<'_>) -> Result<(), LakeError> {
        match (self, cell) {
            (Self::I32(b), Cell::Null) => b.append_null(),
            (Self::I64(b), Cell::Null) => b.append_null(),
            (Self::F64(b), Cell::Null) => b.append_null(),
            (Self::Str(b), Cell::Null) => b.append_null(),
            (Self::Ts(b), Cell::Null) => b.append_null(),
            (Self::Money(b), Cell::Null) => b.append_null(),
            (Self::I32(b), Cell::Int32(v)) => b.append_value(*v),
            (Self::I64(b), Cell::Int64(v)) => b.append_value(*v),
            (Self::F64(b), Cell::Float64(v)) => b.append_value(*v),
            (Self::Str(b), Cell::Utf8(v)) => b.append_value(v),
            (Self::Ts(b), Cell::Timestamp(t)) => b.append_value(t.timestamp_micros()),
            (Self::Money(b), Cell::Money(c)) => b.append_value(i128::from(c.get())),
            _ => return Err(schema_err("a value does not match its column type")),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::I32(mut b) => Arc::new(b.finish()),
            Self::I64(mut b) => Arc::new(b.finish()),
            Self::F64(mut b) => Arc::new(b.finish()),
            Self::Str(mut b) => Arc::new(b.finish()),
            Self::Ts(mut b) => Arc::new(b.finish()),
            Self::Money(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Converts rows of a table to one Arrow record batch with [`arrow_schema`]`(table)`.
///
/// # Errors
/// [`LakeError::Schema`] when the rows belong to another table or do not fit its columns (a
/// null in a column that requires a value included).
pub fn record_batch(table: &TableDef, rows: &TableRows) -> Result<RecordBatch, LakeError> {
    if rows.table() != table.name {
        return Err(schema_err(format!(
            "rows of {} written to table {}",
            rows.table(),
            table.name
        )));
    }
    let mut builders = table
        .columns
        .iter()
        .map(|c| Builder::new(c.ty, rows.len()))
        .collect::<Result<Vec<_>, _>>()?;
    rows.try_for_each_row(|cells| {
        if cells.len() != builders.len() {
            return Err(schema_err(format!(
                "row has {} values for {} columns",
                cells.len(),
                builders.len()
            )));
        }
        builders
            .iter_mut()
            .zip(cells)
            .try_for_each(|(b, c)| b.push(c))
    })?;
    RecordBatch::try_new(
        arrow_schema(table),
        builders.into_iter().map(Builder::finish).collect(),
    )
    .map_err(schema_err)
}

/// One column of a batch being read, as its declared type.
enum Values {
    /// A column the file does not have (written before the column existed, or by a writer that
    /// leaves it out): null in every row, which the domain accepts or refuses per row, as it
    /// does a null value (a click's offset reads as UTC; a missing id refuses the row).
    Absent,
    I32(Int32Array),
    I64(Int64Array),
    F64(Float64Array),
    Str(StringArray),
    Ts(TimestampMicrosecondArray),
    Money(Decimal128Array),
}

impl Values {
    /// The column `col` of `batch`, cast to its declared type (files written by other engines may
    /// use other widths or units: Int32 ids, nanosecond timestamps, large strings or views).
    /// Timestamps keep their zone annotation, or its absence (INT96 files of Hive-style
    /// writers): the stored values count from the Unix epoch in UTC either way.
    fn of(col: &Column, batch: &RecordBatch) -> Result<Self, LakeError> {
        let Some(array) = batch.column_by_name(&col.name) else {
            return Ok(Self::Absent);
        };
        let target = match (col.ty, array.data_type()) {
            (ColumnType::TimestampMicros, DataType::Timestamp(_, tz)) => {
                DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
            }
            (ColumnType::TimestampMicros, other) => {
                return Err(schema_err(format!(
                    "column {} is {other}, not a timestamp",
                    col.name
                )));
            }
            (ty, _) => arrow_type(ty),
        };
        let array = if array.data_type() == &target {
            Arc::clone(array)
        } else {
            cast(array, &target).map_err(|e| schema_err(format!("column {}: {e}", col.name)))?
        };
        let typed = match col.ty {
            ColumnType::Int32 => array
                .as_primitive_opt::<Int32Type>()
                .cloned()
                .map(Self::I32),
            ColumnType::Int64 => array
                .as_primitive_opt::<Int64Type>()
                .cloned()
                .map(Self::I64),
            ColumnType::Float64 => array
                .as_primitive_opt::<Float64Type>()
                .cloned()
                .map(Self::F64),
            ColumnType::Utf8 => array.as_string_opt::<i32>().cloned().map(Self::Str),
            ColumnType::TimestampMicros => array
                .as_primitive_opt::<TimestampMicrosecondType>()
                .cloned()
                .map(Self::Ts),
            ColumnType::Money => array
                .as_primitive_opt::<Decimal128Type>()
                .cloned()
                .map(Self::Money),
        };
        typed.ok_or_else(|| schema_err(format!("column {} could not be read", col.name)))
    }

    /// Row `r`'s value; an error names what the domain cannot hold.
    fn cell(&self, r: usize) -> Result<Cell<'_>, &'static str> {
        let null = match self {
            Self::Absent => true,
            Self::I32(a) => a.is_null(r),
            Self::I64(a) => a.is_null(r),
            Self::F64(a) => a.is_null(r),
            Self::Str(a) => a.is_null(r),
            Self::Ts(a) => a.is_null(r),
            Self::Money(a) => a.is_null(r),
        };
        if null {
            return Ok(Cell::Null);
        }
        Ok(match self {
            Self::Absent => Cell::Null,
            Self::I32(a) => Cell::Int32(a.value(r)),
            Self::I64(a) => Cell::Int64(a.value(r)),
            Self::F64(a) => Cell::Float64(a.value(r)),
            Self::Str(a) => Cell::Utf8(a.value(r).into()),
            Self::Ts(a) => Cell::Timestamp(
                DateTime::from_timestamp_micros(a.value(r)).ok_or("instant out of range")?,
            ),
            Self::Money(a) => Cell::Money(Cents(
                i64::try_from(a.value(r)).map_err(|_| "amount out of range")?,
            )),
        })
    }
}

/// Rows a reader could not turn into domain rows: how many, and why the first one was refused.
/// A file this project wrote never has any (the writers validate first); a file written by
/// another tool may.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Rows refused.
    pub rows: u64,
    /// The first refused row, its column and the reason.
    pub first: Option<String>,
}

impl Skipped {
    fn add(&mut self, def: &TableDef, row: usize, e: &CellError) {
        self.rows = self.rows.saturating_add(1);
        if self.first.is_none() {
            let name = def.columns.get(e.column).map_or("?", |c| c.name.as_str());
            self.first = Some(format!("row {row}, column {name}: {}", e.reason));
        }
    }
}

/// Decodes a batch of `def`'s columns into `into`, counting the rows the domain refuses.
///
/// # Errors
/// [`LakeError::Schema`] when a column cannot be cast to its declared type.
pub fn decode_batch(
    def: &TableDef,
    batch: &RecordBatch,
    into: &mut RowDecoder,
    skipped: &mut Skipped,
) -> Result<(), LakeError> {
    let columns = def
        .columns
        .iter()
        .map(|c| Values::of(c, batch))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cells: Vec<Cell<'_>> = Vec::with_capacity(columns.len());
    for r in 0..batch.num_rows() {
        cells.clear();
        let mut refused = None;
        for (i, values) in columns.iter().enumerate() {
            match values.cell(r) {
                Ok(c) => cells.push(c),
                Err(reason) => {
                    refused = Some(CellError {
                        column: i,
                        reason: reason.to_owned(),
                    });
                    break;
                }
            }
        }
        let pushed = match refused {
            Some(e) => Err(e),
            None => into.push(&cells),
        };
        if let Err(e) = pushed {
            skipped.add(def, r, &e);
        }
    }
    Ok(())
}

/// Reads one lake file of `def`, stored in `partition`, back as domain rows: only the table's
/// columns are decoded; columns the file has beyond them are ignored.
///
/// # Errors
/// [`LakeError::Unexpected`] for a file that is not Parquet or is damaged (named by `name`);
/// [`LakeError::Schema`] as [`decode_batch`].
pub fn read_rows<R: ChunkReader + 'static>(
    def: &TableDef,
    partition: &PartitionKey,
    name: &str,
    file: R,
) -> Result<(TableRows, Skipped), LakeError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        LakeError::Unexpected(anyhow::anyhow!("failed to decode {name}: {e}"))
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(&e))?;
    let mask = ProjectionMask::columns(
        builder.parquet_schema(),
        def.columns.iter().map(|c| c.name.as_str()),
    );
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(&e))?;
    let mut rows = RowDecoder::new(&def.name, partition)
        .ok_or_else(|| schema_err(format!("the lake has no table {}", def.name)))?;
    let mut skipped = Skipped::default();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        decode_batch(def, &batch, &mut rows, &mut skipped).map_err(|e| match e {
            LakeError::Schema { message } => schema_err(format!("{name}: {message}")),
            other => other,
        })?;
    }
    Ok((rows.finish(), skipped))
}
