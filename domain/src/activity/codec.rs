//! The compact binary form of a [`UserActivity`], as the DynamoDB activity store keeps it: one
//! write unit (1 KB) per update even at every cap, where the record as JSON took up to 44 KB.
//!
//! Layout (integers are LEB128 varints; signed ones zigzag-encoded first):
//!
//! ```text
//! u8      format (2)
//! varint  customer id
//! varint  event count
//! u8      flags: 1 = last event time follows, 2 = applied position follows
//! u8      time unit: 0 ns, 1 µs, 2 ms, 3 s (the coarsest that holds every time exactly)
//! [svar]  last event time, units since the epoch
//! varint  interactions; each: varint product id, u8 event type, svar units since the
//!         previous interaction's time (the first: since the epoch)
//! varint  event keys; each: 8 bytes, little-endian
//! [pos]   varint shard length, shard bytes; u8 0 then varint digit count and the digits two
//!         to a byte (a decimal sequence number, as Kinesis's are), or u8 1 then varint length
//!         and bytes
//! varint  purchased products; each: varint product id
//! ```
//!
//! Format 1 (records stored before purchases were kept) has no time unit byte (nanoseconds)
//! and no purchased products; it still decodes.
//!
//! The version is not part of it: stores keep it beside, where their conditional write checks it.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use super::{EventKey, Interaction, StreamPosition, UserActivity};
use crate::event::EventType;
use crate::ids::{CustomerId, ProductId};
use crate::stream::{SequenceNumber, ShardId};

const FORMAT: u8 = 2;
/// Records written before purchases and time units: nanoseconds, no purchases.
const FORMAT_1: u8 = 1;
/// Nanoseconds per time unit, by unit code.
const UNITS: [i64; 4] = [1, 1_000, 1_000_000, 1_000_000_000];
const HAS_LAST_EVENT: u8 = 1;
const HAS_APPLIED: u8 = 2;
const DIGITS: u8 = 0;
const RAW: u8 = 1;

/// Why bytes are not an activity record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an activity record: {0}")]
pub struct DecodeError(String);

/// Why a record cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the activity of customer {customer} cannot be encoded: {reason}")]
pub struct EncodeError {
    customer: CustomerId,
    reason: String,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        // The low seven bits, then whether more follow.
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)).cast_unsigned()
}

const fn unzigzag(v: u64) -> i64 {
    (v >> 1).cast_signed() ^ (v & 1).cast_signed().wrapping_neg()
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_varint(out, n as u64);
}

const fn type_code(t: EventType) -> u8 {
    match t {
        EventType::PageView => 0,
        EventType::ProductView => 1,
        EventType::Click => 2,
        EventType::AddToCart => 3,
        EventType::RemoveFromCart => 4,
    }
}

fn type_of(code: u8) -> Result<EventType, DecodeError> {
    Ok(match code {
        0 => EventType::PageView,
        1 => EventType::ProductView,
        2 => EventType::Click,
        3 => EventType::AddToCart,
        4 => EventType::RemoveFromCart,
        other => return Err(DecodeError(format!("event type code {other}"))),
    })
}

/// The record's bytes.
///
/// # Errors
/// A time outside the years nanoseconds since the epoch can count (about 1677 to 2262).
pub fn encode(a: &UserActivity) -> Result<Vec<u8>, EncodeError> {
    let nanos = |t: DateTime<Utc>| {
        t.timestamp_nanos_opt().ok_or_else(|| EncodeError {
            customer: a.customer_id,
            reason: format!("{t} is outside the encodable years"),
        })
    };
    let mut out = Vec::with_capacity(1024);
    out.push(FORMAT);
    put_varint(&mut out, a.customer_id.get());
    put_varint(&mut out, a.event_count);
    let mut flags = 0;
    if a.last_event_at.is_some() {
        flags |= HAS_LAST_EVENT;
    }
    if a.applied.is_some() {
        flags |= HAS_APPLIED;
    }
    out.push(flags);
    let times = a
        .last_event_at
        .iter()
        .chain(a.recent.iter().map(|it| &it.at))
        .map(|t| nanos(*t))
        .collect::<Result<Vec<i64>, _>>()?;
    let (code, unit) = coarsest_unit(&times);
    out.push(code);
    // Exact: `unit` divides every time.
    let units = |t: DateTime<Utc>| nanos(t).map(|n| n.checked_div(unit).unwrap_or(n));
    if let Some(t) = a.last_event_at {
        put_varint(&mut out, zigzag(units(t)?));
    }
    put_len(&mut out, a.recent.len());
    let mut previous = 0_i64;
    for it in &a.recent {
        let at = units(it.at)?;
        put_varint(&mut out, u64::from(it.product_id.get()));
        out.push(type_code(it.event_type));
        put_varint(&mut out, zigzag(at.wrapping_sub(previous)));
        previous = at;
    }
    put_len(&mut out, a.seen_events.len());
    for k in &a.seen_events {
        out.extend_from_slice(&k.0.to_le_bytes());
    }
    if let Some(p) = &a.applied {
        put_len(&mut out, p.shard.0.len());
        out.extend_from_slice(p.shard.0.as_bytes());
        let digits = p.sequence.0.as_bytes();
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
            out.push(DIGITS);
            put_len(&mut out, digits.len());
            for pair in digits.chunks(2) {
                // Every byte is an ASCII digit (checked above).
                let hi = pair.first().map_or(0, |d| d.wrapping_sub(b'0'));
                let lo = pair.get(1).map_or(0, |d| d.wrapping_sub(b'0'));
                out.push((hi << 4) | lo);
            }
        } else {
            out.push(RAW);
            put_len(&mut out, digits.len());
            out.extend_from_slice(digits);
        }
    }
    put_len(&mut out, a.purchased.len());
    for p in &a.purchased {
        put_varint(&mut out, u64::from(p.get()));
    }
    Ok(out)
}

/// The code and size in nanoseconds of the coarsest unit every time is a whole number of.
fn coarsest_unit(times: &[i64]) -> (u8, i64) {
    let mut best = (0, 1);
    for (code, unit) in (0_u8..).zip(UNITS) {
        if times.iter().all(|t| t.checked_rem(unit) == Some(0)) {
            best = (code, unit);
        }
    }
    best
}

/// Reads bytes front to back.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &str) -> Result<u8, DecodeError> {
        let (first, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| DecodeError(format!("ends before its {what}")))?;
        self.bytes = rest;
        Ok(*first)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError(format!("ends inside its {what}")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn varint(&mut self, what: &str) -> Result<u64, DecodeError> {
        let mut v = 0_u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError(format!("its {what} overflows 64 bits")));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError(format!("its {what} overflows 64 bits")))
    }

    /// A count of items each at least `min_bytes` long: never more than the bytes left allow.
    fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.varint(what)?)
            .map_err(|_| DecodeError(format!("its {what} is too large")))?;
        if n.saturating_mul(min_bytes.max(1)) > self.bytes.len() {
            return Err(DecodeError(format!("its {what} ({n}) exceeds its bytes")));
        }
        Ok(n)
    }
}

/// The record the bytes hold, with `version`.
///
/// # Errors
/// Bytes of another format, cut short, or holding an invalid id or event type.
pub fn decode(bytes: &[u8], version: u64) -> Result<UserActivity, DecodeError> {
    let mut r = Reader { bytes };
    let format = r.byte("format")?;
    if format != FORMAT && format != FORMAT_1 {
        return Err(DecodeError(format!(
            "format {format}, expected {FORMAT_1} or {FORMAT}"
        )));
    }
    let customer_id = CustomerId::new(r.varint("customer id")?)
        .map_err(|e| DecodeError(format!("customer id: {e}")))?;
    let event_count = r.varint("event count")?;
    let flags = r.byte("flags")?;
    if flags & !(HAS_LAST_EVENT | HAS_APPLIED) != 0 {
        return Err(DecodeError(format!("unknown flags {flags:#04x}")));
    }
    let unit = if format == FORMAT_1 {
        1
    } else {
        let code = r.byte("time unit")?;
        *UNITS
            .get(usize::from(code))
            .ok_or_else(|| DecodeError(format!("time unit {code}")))?
    };
    let time = |units: i64| {
        units
            .checked_mul(unit)
            .map(DateTime::from_timestamp_nanos)
            .ok_or_else(|| DecodeError("a time outside the encodable years".into()))
    };
    let last_event_at = if flags & HAS_LAST_EVENT != 0 {
        Some(time(unzigzag(r.varint("last event time")?))?)
    } else {
        None
    };
    let n = r.count("interaction count", 3)?;
    let mut recent = VecDeque::with_capacity(n);
    let mut previous = 0_i64;
    for _ in 0..n {
        let product = product_id(&mut r)?;
        let event_type = type_of(r.byte("event type")?)?;
        previous = previous.wrapping_add(unzigzag(r.varint("interaction time")?));
        recent.push_back(Interaction {
            product_id: product,
            event_type,
            at: time(previous)?,
        });
    }
    let n = r.count("event key count", 8)?;
    let mut seen_events = VecDeque::with_capacity(n);
    for _ in 0..n {
        let raw = r.take(8, "event key")?;
        let mut key = [0_u8; 8];
        key.copy_from_slice(raw);
        seen_events.push_back(EventKey(u64::from_le_bytes(key)));
    }
    let applied = if flags & HAS_APPLIED != 0 {
        let len = r.count("shard length", 1)?;
        let shard = String::from_utf8(r.take(len, "shard")?.to_vec())
            .map_err(|_| DecodeError("a shard that is not UTF-8".into()))?;
        let sequence = match r.byte("sequence kind")? {
            DIGITS => {
                // Two digits to a byte: `take` checks the bytes are there.
                let digits = usize::try_from(r.varint("sequence length")?)
                    .map_err(|_| DecodeError("its sequence length is too large".into()))?;
                let packed = r.take(digits.div_ceil(2), "sequence")?;
                let mut s = String::with_capacity(digits);
                for b in packed {
                    for d in [b >> 4, b & 0x0f] {
                        if s.len() < digits {
                            if d > 9 {
                                return Err(DecodeError("a sequence digit over 9".into()));
                            }
                            // d ≤ 9: an ASCII digit.
                            s.push(char::from(b'0'.wrapping_add(d)));
                        }
                    }
                }
                s
            }
            RAW => {
                let len = r.count("sequence length", 1)?;
                String::from_utf8(r.take(len, "sequence")?.to_vec())
                    .map_err(|_| DecodeError("a sequence that is not UTF-8".into()))?
            }
            other => return Err(DecodeError(format!("sequence kind {other}"))),
        };
        Some(StreamPosition {
            shard: ShardId(shard),
            sequence: SequenceNumber(sequence),
        })
    } else {
        None
    };
    let mut purchased = Vec::new();
    if format == FORMAT {
        let n = r.count("purchased count", 1)?;
        purchased.reserve(n);
        for _ in 0..n {
            purchased.push(product_id(&mut r)?);
        }
    }
    if !r.bytes.is_empty() {
        return Err(DecodeError(format!(
            "{} bytes after its end",
            r.bytes.len()
        )));
    }
    Ok(UserActivity {
        customer_id,
        recent,
        seen_events,
        applied,
        event_count,
        last_event_at,
        purchased,
        version,
    })
}

fn product_id(r: &mut Reader<'_>) -> Result<ProductId, DecodeError> {
    u32::try_from(r.varint("product id")?)
        .ok()
        .and_then(|p| ProductId::new(p).ok())
        .ok_or_else(|| DecodeError("an invalid product id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::{MAX_PURCHASED, MAX_RECENT_INTERACTIONS, MAX_SEEN_EVENTS};
    use crate::ids::EventId;
    use proptest::prelude::*;

    /// A customer at every cap: 50 interactions a day apart (to the nanosecond), 32 ids, a
    /// Kinesis position, 32 purchased products.
    fn full() -> UserActivity {
        let mut a = UserActivity::new(CustomerId::new(u64::MAX >> 1).unwrap());
        let start: DateTime<Utc> = "2026-11-01T08:00:00.123456789Z".parse().unwrap();
        for i in 0..MAX_RECENT_INTERACTIONS {
            let i = u32::try_from(i).unwrap();
            a.push_interaction(Interaction {
                product_id: ProductId::new(60_000 + i).unwrap(),
                event_type: EventType::AddToCart,
                at: start + chrono::Duration::hours(i64::from(i) * 24),
            });
        }
        for _ in 0..MAX_SEEN_EVENTS {
            a.remember(EventId::from_uuid(uuid::Uuid::new_v4()));
        }
        a.advance(
            &ShardId("shardId-000000000017".into()),
            &SequenceNumber("49656710925460612948726418238117592893458306101542584338".into()),
        );
        a.event_count = 1_000_000;
        let purchased = u32::try_from(MAX_PURCHASED).unwrap();
        assert!(a.remember_purchases((0..purchased).map(|i| ProductId::new(60_000 + i).unwrap())));
        a.version = 9;
        a
    }

    #[test]
    fn a_record_at_every_cap_round_trips_in_under_a_kilobyte() {
        let a = full();
        let bytes = encode(&a).unwrap();
        assert_eq!(decode(&bytes, 9).unwrap(), a);
        // What the DynamoDB item adds (key, version, TTL, time of the write) is under 100
        // bytes: the adapter's test checks the whole item.
        assert!(bytes.len() <= 900, "{} bytes", bytes.len());
        let json = serde_json::to_vec(&a).unwrap().len();
        assert!(
            json > 3 * bytes.len(),
            "JSON {json} bytes, binary {}",
            bytes.len()
        );
    }

    #[test]
    fn times_are_kept_in_the_coarsest_exact_unit() {
        // A record holds times to the millisecond; the codec keeps whatever it is given.
        let a = full();
        let millis = encode(&a).unwrap();
        let mut fine = a.clone();
        for (i, it) in (1..).zip(&mut fine.recent) {
            it.at += chrono::Duration::nanoseconds(i);
        }
        let nanos = encode(&fine).unwrap();
        assert_eq!(decode(&nanos, 9).unwrap(), fine);
        assert_eq!(decode(&millis, 9).unwrap(), a);
        assert!(
            millis.len() + 100 < nanos.len(),
            "milliseconds {} bytes, nanoseconds {}",
            millis.len(),
            nanos.len()
        );
    }

    #[test]
    fn records_of_the_first_format_still_decode_without_purchases() {
        // Format 1: nanoseconds, no time unit byte, nothing after the position.
        let at: DateTime<Utc> = "2026-11-01T08:00:00.123456789Z".parse().unwrap();
        let nanos = at.timestamp_nanos_opt().unwrap();
        let mut bytes = vec![FORMAT_1];
        put_varint(&mut bytes, 7);
        put_varint(&mut bytes, 3);
        bytes.push(HAS_LAST_EVENT);
        put_varint(&mut bytes, zigzag(nanos));
        put_varint(&mut bytes, 1);
        put_varint(&mut bytes, 42);
        bytes.push(type_code(EventType::AddToCart));
        put_varint(&mut bytes, zigzag(nanos));
        put_varint(&mut bytes, 0);
        let a = decode(&bytes, 4).unwrap();
        // Stored to the nanosecond, read as stored.
        let mut expected = UserActivity::new(CustomerId::new(7).unwrap());
        expected.recent.push_back(Interaction {
            product_id: ProductId::new(42).unwrap(),
            event_type: EventType::AddToCart,
            at,
        });
        expected.last_event_at = Some(at);
        expected.event_count = 3;
        expected.version = 4;
        assert_eq!(a, expected);
        assert!(a.purchased.is_empty());
    }

    #[test]
    fn damaged_bytes_are_an_error_never_a_panic_or_another_record() {
        let bytes = encode(&full()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 1).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, 1).is_err());
        let mut other = bytes;
        other[0] = 3;
        assert!(decode(&other, 1).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, 1);
        }

        #[test]
        fn any_record_round_trips(
            customer in 1_u64..u64::MAX >> 1,
            count in any::<u64>(),
            times in proptest::collection::vec(-4_000_000_000_000_000_000_i64..4_000_000_000_000_000_000, 0..60),
            keys in proptest::collection::vec(any::<u64>(), 0..40),
            sequence in "[0-9]{0,60}|[a-z:]{1,20}",
            unit in 0_usize..4,
            bought in proptest::collection::vec(1_u32..u32::MAX, 0..40),
        ) {
            let mut a = UserActivity::new(CustomerId::new(customer).unwrap());
            a.event_count = count;
            for (i, t) in times.iter().enumerate() {
                a.push_interaction(Interaction {
                    product_id: ProductId::new(u32::try_from(i).unwrap() + 1).unwrap(),
                    event_type: type_of(u8::try_from(i % 5).unwrap()).unwrap(),
                    at: DateTime::from_timestamp_nanos(t - t % UNITS[unit]),
                });
            }
            a.remember_purchases(bought.into_iter().map(|p| ProductId::new(p).unwrap()));
            a.seen_events = keys.into_iter().map(EventKey).collect();
            if !sequence.is_empty() {
                a.advance(&ShardId("s".into()), &SequenceNumber(sequence));
            }
            prop_assert_eq!(decode(&encode(&a).unwrap(), 0).unwrap(), a);
        }
    }
}
