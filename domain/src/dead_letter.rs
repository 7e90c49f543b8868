//! Dead letters: records that could not be used, kept with the reason so nothing is lost silently.
//!
//! A dead letter must always be storable, whatever the record was: its payload keeps the record's
//! bytes exactly (as text when they are printable UTF-8, else base64), at most
//! [`MAX_PAYLOAD_BYTES`] of them, and its reason and origin are bounded too, so the serialized
//! letter stays far below DynamoDB's 400 KB item limit even for a 1 MiB record of control bytes.
//! A truncated letter says so and keeps the record's full size; the record itself is still where
//! its origin points (a stream position, a file line).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most bytes of a record a dead letter keeps (64 KiB: a click event is a few hundred bytes;
/// base64 or JSON escaping at most doubles it).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The most characters of a reason a dead letter keeps.
pub const MAX_REASON_CHARS: usize = 2_048;
/// The most characters of an origin a dead letter keeps.
pub const MAX_ORIGIN_CHARS: usize = 512;

/// How [`DeadLetter::payload`] holds the record's bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadEncoding {
    /// The bytes were UTF-8 without control characters (other than tab and line breaks): the
    /// text itself.
    #[default]
    Text,
    /// Anything else: standard base64 of the bytes.
    Base64,
}

/// A record set aside, with why and where from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The component that refused it (`stream-processor`, `lake-sink`, ...).
    pub source: String,
    /// The rule it broke (a stable, low-cardinality code).
    pub code: String,
    /// Detail for a human.
    pub reason: String,
    /// Where it came from (shard and sequence number, file and line, ...).
    pub origin: String,
    /// The record's bytes (at most [`MAX_PAYLOAD_BYTES`] of them), encoded as
    /// [`Self::payload_encoding`] says; [`Self::payload_raw`] gives them back exactly.
    pub payload: String,
    /// How `payload` holds the bytes.
    #[serde(default)]
    pub payload_encoding: PayloadEncoding,
    /// The record's full size in bytes, when the letter was built by [`Self::new`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_size: Option<u64>,
    /// True when `payload` holds only the first [`MAX_PAYLOAD_BYTES`] of the record.
    #[serde(default)]
    pub payload_truncated: bool,
    /// When it was set aside.
    pub at: DateTime<Utc>,
}

impl DeadLetter {
    /// A dead letter for `record`, bounded so that it can always be stored (see the module).
    #[must_use]
    pub fn new(
        source: &str,
        code: &str,
        reason: &str,
        origin: &str,
        record: &[u8],
        at: DateTime<Utc>,
    ) -> Self {
        let truncated = record.len() > MAX_PAYLOAD_BYTES;
        let kept = record.get(..MAX_PAYLOAD_BYTES).unwrap_or(record);
        let (payload, payload_encoding) = match std::str::from_utf8(kept) {
            Ok(text) if is_printable(text) => (text.to_owned(), PayloadEncoding::Text),
            _ => (BASE64.encode(kept), PayloadEncoding::Base64),
        };
        Self {
            source: bounded(source, 64),
            code: bounded(code, 64),
            reason: bounded(reason, MAX_REASON_CHARS),
            origin: bounded(origin, MAX_ORIGIN_CHARS),
            payload,
            payload_encoding,
            payload_size: u64::try_from(record.len()).ok(),
            payload_truncated: truncated,
            at,
        }
    }

    /// A stable identity for idempotent storage: the same record refused twice for the same
    /// reason is one dead letter.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.source, self.origin, self.code)
    }

    /// The record's bytes as kept (all of them unless [`Self::payload_truncated`]).
    ///
    /// # Errors
    /// When a base64 payload does not decode (a letter edited by hand).
    pub fn payload_raw(&self) -> Result<Vec<u8>, base64::DecodeError> {
        match self.payload_encoding {
            PayloadEncoding::Text => Ok(self.payload.as_bytes().to_vec()),
            PayloadEncoding::Base64 => BASE64.decode(&self.payload),
        }
    }
}

/// True when JSON would keep the text short: no control characters but tab and line breaks
/// (each other one would be escaped to six bytes).
fn is_printable(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => {
            let mut out = text.get(..end).unwrap_or(text).to_owned();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    #[test]
    fn printable_records_are_kept_as_text_and_others_as_exact_base64() {
        let text = DeadLetter::new("s", "malformed", "r", "o", b"{broken \xe2\x82\xac}", at());
        assert_eq!(text.payload_encoding, PayloadEncoding::Text);
        assert_eq!(text.payload, "{broken \u{20ac}}");
        let raw: Vec<u8> = (0..=255).collect();
        let bin = DeadLetter::new("s", "malformed", "r", "o", &raw, at());
        assert_eq!(bin.payload_encoding, PayloadEncoding::Base64);
        assert_eq!(
            bin.payload_raw().unwrap(),
            raw,
            "bytes kept exactly, not lossy UTF-8"
        );
        assert!(!bin.payload_truncated);
        assert_eq!(bin.payload_size, Some(256));
    }

    #[test]
    fn a_huge_record_of_control_bytes_still_makes_a_small_letter() {
        // 1 MiB of control bytes: escaped as JSON text it would be 6 MiB; DynamoDB takes 400 KB.
        let record = vec![1_u8; 1024 * 1024];
        let letter = DeadLetter::new("s", "too_large", &"why ".repeat(10_000), "o", &record, at());
        let json = serde_json::to_vec(&letter).unwrap();
        assert!(json.len() < 100 * 1024, "{} bytes", json.len());
        assert!(letter.payload_truncated);
        assert_eq!(letter.payload_size, Some(1024 * 1024));
        assert_eq!(
            letter.payload_raw().unwrap(),
            record[..MAX_PAYLOAD_BYTES].to_vec()
        );
        assert!(letter.reason.chars().count() <= MAX_REASON_CHARS + 1);
    }

    #[test]
    fn letters_stored_before_the_encoding_field_still_read_as_text() {
        let old = r#"{"source":"s","code":"c","reason":"r","origin":"o","payload":"{x","at":"1970-01-01T00:00:00Z"}"#;
        let letter: DeadLetter = serde_json::from_str(old).unwrap();
        assert_eq!(letter.payload_raw().unwrap(), b"{x");
        assert!(!letter.payload_truncated);
    }
}
