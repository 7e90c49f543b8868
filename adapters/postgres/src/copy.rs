//! PostgreSQL's binary `COPY` format, read as it streams: a header, then rows of length-prefixed
//! fields, then a trailer. [`CopyRows`] cuts rows out of `CopyData` messages however the server
//! splits them, and [`CopyFeed`] turns a `COPY … TO STDOUT` stream into typed rows one at a time.

use std::collections::VecDeque;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use fashion_domain::ports::PurchaseStoreError;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use sqlx::postgres::PgConnection;

/// The binary `COPY` signature, followed by a flags word and a header-extension length.
pub(super) const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One row's fields (`None` for SQL NULL), borrowed from the message buffer.
pub(super) type Fields<'a, const N: usize> = [Option<&'a [u8]>; N];

/// Turns one row's fields into a value.
pub(super) type RowDecoder<T, const N: usize> =
    for<'a> fn(&Fields<'a, N>) -> Result<T, PurchaseStoreError>;

pub(super) fn bad_copy(message: impl std::fmt::Display) -> PurchaseStoreError {
    PurchaseStoreError::Unexpected(anyhow!("unexpected binary COPY data: {message}"))
}

/// Where the header-extension length sits: after the signature and the flags word.
const EXTENSION_LENGTH_AT: usize = SIGNATURE.len() + 4;

/// The header's fixed part: signature, flags word, header-extension length.
const HEADER_LEN: usize = SIGNATURE.len() + 8;

/// The `N` bytes at `at` and the offset after them, or `None` when `buf` ends first (a header
/// or row cut by the message boundary, completed by the next message).
fn take<const N: usize>(buf: &[u8], at: usize) -> Option<([u8; N], usize)> {
    let end = at.checked_add(N)?;
    let bytes = <[u8; N]>::try_from(buf.get(at..end)?).ok()?;
    Some((bytes, end))
}

/// A non-null `bigint`.
pub(super) fn int8(field: Option<&[u8]>, name: &str) -> Result<i64, PurchaseStoreError> {
    opt_int8(field, name)?.ok_or_else(|| bad_copy(format!("{name} is null")))
}

/// A nullable `bigint`.
pub(super) fn opt_int8(
    field: Option<&[u8]>,
    name: &str,
) -> Result<Option<i64>, PurchaseStoreError> {
    field
        .map(|b| {
            <[u8; 8]>::try_from(b)
                .map(i64::from_be_bytes)
                .map_err(|_| bad_copy(format!("{name} has {} bytes, not 8", b.len())))
        })
        .transpose()
}

/// A non-null `integer`.
pub(super) fn int4(field: Option<&[u8]>, name: &str) -> Result<i32, PurchaseStoreError> {
    let b = field.ok_or_else(|| bad_copy(format!("{name} is null")))?;
    <[u8; 4]>::try_from(b)
        .map(i32::from_be_bytes)
        .map_err(|_| bad_copy(format!("{name} has {} bytes, not 4", b.len())))
}

/// A non-null `timestamptz`. PostgreSQL's `infinity` and `-infinity` (and instants beyond the
/// years chrono represents) become the latest and earliest instants, so that the row reaches the
/// cleaner, which quarantines it as outside the day, instead of failing the whole extraction.
pub(super) fn timestamptz(
    field: Option<&[u8]>,
    name: &str,
) -> Result<DateTime<Utc>, PurchaseStoreError> {
    let micros = int8(field, name)?;
    Ok(micros
        .checked_add(PG_EPOCH_MICROS)
        .and_then(DateTime::from_timestamp_micros)
        .unwrap_or(if micros < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        }))
}

/// A non-null `text`.
pub(super) fn text(field: Option<&[u8]>, name: &str) -> Result<String, PurchaseStoreError> {
    let b = field.ok_or_else(|| bad_copy(format!("{name} is null")))?;
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|e| bad_copy(format!("{name} is not UTF-8: {e}")))
}

/// What is left of `buf` after the `used` bytes [`CopyRows::parse`] consumed.
fn rest_after(buf: &[u8], used: usize) -> Result<&[u8], PurchaseStoreError> {
    buf.get(used..).ok_or_else(|| {
        bad_copy(format!(
            "the row parser consumed {used} bytes of a {}-byte buffer",
            buf.len()
        ))
    })
}

/// Cuts rows of `N` columns out of a binary `COPY` byte stream.
pub(super) struct CopyRows<T, const N: usize> {
    decode: RowDecoder<T, N>,
    /// Bytes of an incomplete header or row, kept until the next message completes them.
    carry: Vec<u8>,
    header_done: bool,
    trailer_seen: bool,
}

impl<T, const N: usize> CopyRows<T, N> {
    pub(super) const fn new(decode: RowDecoder<T, N>) -> Self {
        Self {
            decode,
            carry: Vec::new(),
            header_done: false,
            trailer_seen: false,
        }
    }

    /// Decodes one `CopyData` message, appending every row it completes to `out`.
    pub(super) fn feed(
        &mut self,
        data: &[u8],
        out: &mut VecDeque<T>,
    ) -> Result<(), PurchaseStoreError> {
        if self.carry.is_empty() {
            // The usual case: the message holds whole rows and nothing needs copying.
            let used = self.parse(data, out)?;
            self.carry.extend_from_slice(rest_after(data, used)?);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(data);
            let used = self.parse(&buf, out)?;
            // Checks `used <= buf.len()`, so the drain cannot panic.
            rest_after(&buf, used)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Checks the stream ended cleanly, after its trailer.
    pub(super) fn finish(&self) -> Result<(), PurchaseStoreError> {
        if !self.carry.is_empty() || !self.trailer_seen {
            return Err(bad_copy(
                "the stream ended inside a row or before its trailer",
            ));
        }
        Ok(())
    }

    /// Parses complete rows from `buf`; returns how many bytes were used.
    fn parse(&mut self, buf: &[u8], out: &mut VecDeque<T>) -> Result<usize, PurchaseStoreError> {
        let mut pos = 0;
        if !self.header_done {
            if buf.len() < HEADER_LEN {
                return Ok(0);
            }
            if !buf.starts_with(SIGNATURE) {
                return Err(bad_copy("missing PGCOPY signature"));
            }
            let Some((ext, _)) = take::<4>(buf, EXTENSION_LENGTH_AT) else {
                return Ok(0);
            };
            let ext = usize::try_from(i32::from_be_bytes(ext))
                .map_err(|_| bad_copy("negative header extension length"))?;
            // At most `i32::MAX` past the fixed part: only overflows on 32-bit targets.
            let header_end = HEADER_LEN
                .checked_add(ext)
                .ok_or_else(|| bad_copy(format!("header extension of {ext} bytes is too long")))?;
            if buf.len() < header_end {
                return Ok(0);
            }
            pos = header_end;
            self.header_done = true;
        }
        let mut fields: Fields<'_, N> = [None; N];
        loop {
            if self.trailer_seen {
                return if pos == buf.len() {
                    Ok(pos)
                } else {
                    Err(bad_copy("data after the trailer"))
                };
            }
            let Some((count, after_count)) = take::<2>(buf, pos) else {
                return Ok(pos);
            };
            let count = i16::from_be_bytes(count);
            if count == -1 {
                self.trailer_seen = true;
                pos = after_count;
                continue;
            }
            if usize::try_from(count).ok() != Some(N) {
                return Err(bad_copy(format!("{count} columns, expected {N}")));
            }
            // Find every field of the row first: a row cut by the message boundary waits.
            let mut at = after_count;
            for slot in &mut fields {
                let Some((len, value_at)) = take::<4>(buf, at) else {
                    return Ok(pos);
                };
                let len = i32::from_be_bytes(len);
                at = value_at;
                if len < 0 {
                    *slot = None;
                } else {
                    let end = at.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                    let Some(value) = buf.get(at..end) else {
                        return Ok(pos);
                    };
                    *slot = Some(value);
                    at = end;
                }
            }
            out.push_back((self.decode)(&fields)?);
            pos = at;
        }
    }
}

/// A `COPY … TO STDOUT (FORMAT binary)` being read row by row: rows are decoded when asked for,
/// so an unread feed leaves the server waiting on TCP back-pressure.
pub(super) struct CopyFeed<'c, T, const N: usize> {
    stream: BoxStream<'c, Result<bytes::Bytes, sqlx::Error>>,
    rows: CopyRows<T, N>,
    ready: VecDeque<T>,
    done: bool,
    what: &'static str,
}

impl<'c, T, const N: usize> CopyFeed<'c, T, N> {
    /// Starts `statement` on `conn`.
    pub(super) async fn start(
        conn: &'c mut PgConnection,
        statement: &'static str,
        decode: RowDecoder<T, N>,
        what: &'static str,
    ) -> Result<Self, PurchaseStoreError> {
        let stream = conn
            .copy_out_raw(statement)
            .await
            .map_err(|e| super::pg_err(e, what))?;
        Ok(Self {
            stream,
            rows: CopyRows::new(decode),
            ready: VecDeque::new(),
            done: false,
            what,
        })
    }

    /// Reads messages until a row is ready or the stream ends; true when a row is ready.
    async fn fill(&mut self) -> Result<bool, PurchaseStoreError> {
        while self.ready.is_empty() && !self.done {
            match self
                .stream
                .try_next()
                .await
                .map_err(|e| super::pg_err(e, self.what))?
            {
                Some(bytes) => self.rows.feed(&bytes, &mut self.ready)?,
                None => {
                    self.rows.finish()?;
                    self.done = true;
                }
            }
        }
        Ok(!self.ready.is_empty())
    }

    /// The next row, `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<T>, PurchaseStoreError> {
        self.fill().await?;
        Ok(self.ready.pop_front())
    }

    /// The next row without taking it.
    pub(super) async fn peek(&mut self) -> Result<Option<&T>, PurchaseStoreError> {
        self.fill().await?;
        Ok(self.ready.front())
    }

    /// Reads the rest of the stream, discarding it; returns how many rows were left.
    pub(super) async fn drain(&mut self) -> Result<u64, PurchaseStoreError> {
        let mut n = 0u64;
        while self.fill().await? {
            n = n.checked_add(self.ready.len() as u64).ok_or_else(|| {
                bad_copy(format!(
                    "the count of rows left in {} overflows u64",
                    self.what
                ))
            })?;
            self.ready.clear();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(f: &Fields<'_, 2>) -> Result<(i64, Option<String>), PurchaseStoreError> {
        Ok((int8(f[0], "a")?, f[1].map(|_| text(f[1], "b")).transpose()?))
    }

    fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }

    fn sample() -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        for (a, s) in [(7i64, Some("x")), (-2, None), (1 << 40, Some("ünïcode"))] {
            b.extend_from_slice(&2i16.to_be_bytes());
            field(&mut b, Some(&a.to_be_bytes()));
            field(&mut b, s.map(str::as_bytes));
        }
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    fn decode(messages: &[&[u8]]) -> Result<Vec<(i64, Option<String>)>, PurchaseStoreError> {
        let mut rows = CopyRows::<_, 2>::new(pair);
        let mut out = VecDeque::new();
        for m in messages {
            rows.feed(m, &mut out)?;
        }
        rows.finish()?;
        Ok(out.into())
    }

    #[test]
    fn rows_are_decoded_with_nulls_and_text() {
        assert_eq!(
            decode(&[&sample()]).unwrap(),
            vec![
                (7, Some("x".to_owned())),
                (-2, None),
                (1 << 40, Some("ünïcode".to_owned()))
            ]
        );
    }

    #[test]
    fn rows_are_the_same_however_the_bytes_are_split() {
        let bytes = sample();
        let whole = decode(&[&bytes]).unwrap();
        for cut in 1..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(decode(&[a, b]).unwrap(), whole, "split at {cut}");
        }
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(decode(&bytewise).unwrap(), whole);
    }

    #[test]
    fn truncated_streams_and_foreign_layouts_are_refused() {
        let bytes = sample();
        assert!(decode(&[&bytes[..bytes.len() - 2]]).is_err(), "no trailer");
        assert!(decode(&[&bytes[..bytes.len() - 5]]).is_err(), "cut row");
        let mut three = SIGNATURE.to_vec();
        three.extend_from_slice(&[0; 8]);
        three.extend_from_slice(&3i16.to_be_bytes());
        assert!(decode(&[&three]).is_err(), "three columns");
        assert!(decode(&[b"NOTCOPY-DATA-AT-ALL"]).is_err());
        let mut after = bytes;
        after.push(0);
        assert!(decode(&[&after]).is_err(), "data after the trailer");
    }

    #[test]
    fn fields_of_the_wrong_width_are_refused() {
        assert!(int8(Some(&[0; 4]), "x").is_err());
        assert!(int4(Some(&[0; 8]), "x").is_err());
        assert!(int4(None, "x").is_err());
        assert!(text(Some(&[0xff, 0xfe]), "x").is_err());
        assert_eq!(
            timestamptz(Some(&0i64.to_be_bytes()), "t").unwrap(),
            "2000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
