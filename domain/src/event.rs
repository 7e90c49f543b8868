//! Clickstream events: the JSON the website sends, its validation, and the enriched form the
//! recommender works on.

use std::fmt;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, EventId, ProductId, SessionId};
use crate::money::Cents;
use crate::product::Product;

/// The only schema version this code reads.
pub const SCHEMA_VERSION: u16 = 1;

/// How far ahead of its arrival an event's own time may be (clock skew of phones).
pub const MAX_FUTURE_SKEW: Duration = Duration::hours(1);

/// How long before its arrival an event's own time may be (an app's offline queue, a stream's
/// retention): older events are refused as stale.
pub const MAX_PAST_AGE: Duration = Duration::days(30);

/// Largest event we accept, in bytes (Kinesis allows 1 MiB; a click is a few hundred bytes).
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// What the customer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A page without a product (home, category list, search).
    PageView,
    /// A product detail page.
    ProductView,
    /// A click on a product tile or link.
    Click,
    /// A product put in the cart.
    AddToCart,
    /// A product taken out of the cart.
    RemoveFromCart,
}

impl EventType {
    /// Every type.
    pub const ALL: [Self; 5] = [
        Self::PageView,
        Self::ProductView,
        Self::Click,
        Self::AddToCart,
        Self::RemoveFromCart,
    ];

    /// The name used in JSON and in the lake.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PageView => "page_view",
            Self::ProductView => "product_view",
            Self::Click => "click",
            Self::AddToCart => "add_to_cart",
            Self::RemoveFromCart => "remove_from_cart",
        }
    }

    /// Parses the JSON name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// True for the types that must name a product.
    #[must_use]
    pub const fn needs_product(self) -> bool {
        !matches!(self, Self::PageView)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The device family the event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// Desktop browser.
    Desktop,
    /// Mobile browser.
    Mobile,
    /// Tablet browser.
    Tablet,
    /// The store's native app.
    App,
    /// Anything else the website reports.
    #[serde(other)]
    Other,
}

impl Device {
    /// Every device family.
    pub const ALL: [Self; 5] = [
        Self::Desktop,
        Self::Mobile,
        Self::Tablet,
        Self::App,
        Self::Other,
    ];

    /// The name used in JSON and in the lake.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::App => "app",
            Self::Other => "other",
        }
    }

    /// Parses the JSON name; unknown names are [`Device::Other`].
    #[must_use]
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .unwrap_or(Self::Other)
    }
}

/// One clickstream event, valid by construction (see [`ClickEvent::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickEvent {
    /// Idempotency key.
    pub event_id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// Who did it.
    pub user_id: CustomerId,
    /// The browsing session.
    pub session_id: SessionId,
    /// The product, absent for page views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// When it happened, with the offset the device reported: strict RFC 3339
    /// (`2026-11-25T16:59:58.123+07:00`, `…Z`), see [`parse_timestamp`].
    #[serde(deserialize_with = "deserialize_timestamp")]
    pub occurred_at: DateTime<FixedOffset>,
    /// Device family.
    pub device: Device,
    /// Event schema version.
    pub schema_version: u16,
}

/// Why an event was refused; the `code` is the counter label, the message the detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct InvalidEvent {
    /// The rule that failed.
    pub code: InvalidEventCode,
    /// Human-readable detail.
    pub message: String,
}

/// The validation rules an event can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidEventCode {
    /// Not JSON, not UTF-8, a missing or mistyped field, or a bad identifier.
    Malformed,
    /// Larger than [`MAX_EVENT_BYTES`].
    TooLarge,
    /// A schema version this code does not read.
    UnsupportedSchema,
    /// A product event without `product_id`.
    MissingProduct,
    /// `occurred_at` too far after the arrival time.
    FutureTimestamp,
    /// `occurred_at` more than [`MAX_PAST_AGE`] before the arrival time.
    StaleTimestamp,
    /// A product id that is not in the catalog.
    UnknownProduct,
    /// The event is valid, but the customer's stored state it must update cannot be read
    /// (corrupt); replay it once the record is repaired.
    UnreadableState,
}

impl InvalidEventCode {
    /// The label used in reports and dead letters.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnsupportedSchema => "unsupported_schema",
            Self::MissingProduct => "missing_product",
            Self::FutureTimestamp => "future_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UnknownProduct => "unknown_product",
            Self::UnreadableState => "unreadable_state",
        }
    }
}

impl fmt::Display for InvalidEventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InvalidEvent {
    fn new(code: InvalidEventCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl ClickEvent {
    /// Parses and validates one record's bytes.
    ///
    /// `arrived_at` is when the stream received the record; an event more than
    /// [`MAX_FUTURE_SKEW`] after it is refused.
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the first rule the record breaks.
    pub fn parse(bytes: &[u8], arrived_at: DateTime<Utc>) -> Result<Self, InvalidEvent> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(InvalidEvent::new(
                InvalidEventCode::TooLarge,
                format!("{} bytes, limit {MAX_EVENT_BYTES}", bytes.len()),
            ));
        }
        let ev: Self = serde_json::from_slice(bytes)
            .map_err(|e| InvalidEvent::new(InvalidEventCode::Malformed, e.to_string()))?;
        ev.validate(arrived_at)?;
        Ok(ev)
    }

    /// Checks the rules that the JSON shape alone cannot express.
    ///
    /// # Errors
    /// [`InvalidEvent`] naming the first rule the event breaks.
    pub fn validate(&self, arrived_at: DateTime<Utc>) -> Result<(), InvalidEvent> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(InvalidEvent::new(
                InvalidEventCode::UnsupportedSchema,
                format!(
                    "schema_version {} (this code reads {SCHEMA_VERSION})",
                    self.schema_version
                ),
            ));
        }
        if self.event_type.needs_product() && self.product_id.is_none() {
            return Err(InvalidEvent::new(
                InvalidEventCode::MissingProduct,
                format!("{} without product_id", self.event_type),
            ));
        }
        let latest = arrived_at
            .checked_add_signed(MAX_FUTURE_SKEW)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let earliest = arrived_at
            .checked_sub_signed(MAX_PAST_AGE)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if self.occurred_at.with_timezone(&Utc) > latest {
            return Err(InvalidEvent::new(
                InvalidEventCode::FutureTimestamp,
                format!(
                    "occurred_at {} is after arrival {arrived_at}",
                    self.occurred_at
                ),
            ));
        }
        if self.occurred_at.with_timezone(&Utc) < earliest {
            return Err(InvalidEvent::new(
                InvalidEventCode::StaleTimestamp,
                format!(
                    "occurred_at {} is more than {} days before arrival {arrived_at}",
                    self.occurred_at,
                    MAX_PAST_AGE.num_days()
                ),
            ));
        }
        Ok(())
    }

    /// The event time in UTC.
    #[must_use]
    pub fn occurred_utc(&self) -> DateTime<Utc> {
        self.occurred_at.with_timezone(&Utc)
    }

    /// The JSON the website sends.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an RFC 3339 timestamp like 2026-11-25T16:59:58+07:00 or 2026-11-25T09:59:58.5Z"
)]
pub struct TimestampError(pub String);

/// Parses a timestamp in the one form every path accepts: RFC 3339's `date-time` exactly, that is
/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 digits, then `Z` or `±HH:MM`, with an
/// upper-case `T` and `Z`. chrono's relaxed forms (a space for `T`, lower-case `t`/`z`, `+0700`,
/// signed or long years, a Unicode minus) are refused, so that every reader (the lake's
/// partitioning, Athena, a Python consumer) reads the same instant.
///
/// # Errors
/// [`TimestampError`] quoting (the first 40 characters of) the text.
pub fn parse_timestamp(text: &str) -> Result<DateTime<FixedOffset>, TimestampError> {
    let err = || TimestampError(text.chars().take(40).collect());
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date_time = digits(0..4)
        && at(4, b'-')
        && digits(5..7)
        && at(7, b'-')
        && digits(8..10)
        && at(10, b'T')
        && digits(11..13)
        && at(13, b':')
        && digits(14..16)
        && at(16, b':')
        && digits(17..19);
    if !date_time {
        return Err(err());
    }
    let mut rest = b.get(19..).unwrap_or_default();
    if let [b'.', tail @ ..] = rest {
        let fraction = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&fraction) {
            return Err(err());
        }
        rest = tail.get(fraction..).unwrap_or_default();
    }
    let zone = match rest {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    };
    if !zone {
        return Err(err());
    }
    DateTime::parse_from_rfc3339(text).map_err(|_| err())
}

fn deserialize_timestamp<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<DateTime<FixedOffset>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse_timestamp(&text).map_err(serde::de::Error::custom)
}

/// A click event joined with the product's attributes: what the recommender and trends work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    /// The event.
    pub event: ClickEvent,
    /// The product's attributes, when the event names a product.
    pub product: Option<std::sync::Arc<ProductAttributes>>,
}

/// The attributes of a product that enrichment copies onto an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductAttributes {
    /// Gender.
    pub gender: String,
    /// Master category.
    pub master_category: String,
    /// Sub category.
    pub sub_category: String,
    /// Article type.
    pub article_type: String,
    /// Colour (`Unknown` when missing).
    pub colour: String,
    /// Season.
    pub season: Option<String>,
    /// List price.
    pub price: Option<Cents>,
}

impl From<&Product> for ProductAttributes {
    fn from(p: &Product) -> Self {
        Self {
            gender: p.gender.clone(),
            master_category: p.master_category.clone(),
            sub_category: p.sub_category.clone(),
            article_type: p.article_type.clone(),
            colour: p.colour().to_owned(),
            season: p.season.clone(),
            price: p.price,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    const GOOD: &str = r#"{"event_id":"6f1c1f3e-8a52-4a8e-9d51-3f1e2b0c9a11","event_type":"product_view","user_id":42,"session_id":"s-1","product_id":15970,"occurred_at":"2026-11-25T16:59:58+07:00","device":"mobile","schema_version":1}"#;

    #[test]
    fn a_valid_event_parses_with_its_own_offset() {
        let ev = ClickEvent::parse(GOOD.as_bytes(), now()).unwrap();
        assert_eq!(ev.event_type, EventType::ProductView);
        assert_eq!(ev.product_id, Some(ProductId::new(15970).unwrap()));
        assert_eq!(
            ev.occurred_utc(),
            "2026-11-25T09:59:58Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(ev.occurred_at.offset().local_minus_utc(), 7 * 3600);
    }

    #[test]
    fn events_round_trip_through_json() {
        let ev = ClickEvent::parse(GOOD.as_bytes(), now()).unwrap();
        assert_eq!(ClickEvent::parse(&ev.to_json(), now()).unwrap(), ev);
    }

    fn code_of(json: &str) -> InvalidEventCode {
        ClickEvent::parse(json.as_bytes(), now()).unwrap_err().code
    }

    #[test]
    fn each_broken_rule_gets_its_own_code() {
        assert_eq!(code_of("{not json"), InvalidEventCode::Malformed);
        assert_eq!(
            code_of(&GOOD.replace("\"user_id\":42", "\"user_id\":0")),
            InvalidEventCode::Malformed
        );
        // A customer id beyond the lake's int64 column would be stored as null in a non-null
        // column and fail every Parquet batch it is in: refused at the door instead.
        assert_eq!(
            code_of(&GOOD.replace("\"user_id\":42", "\"user_id\":9223372036854775808")),
            InvalidEventCode::Malformed
        );
        assert_eq!(
            code_of(&GOOD.replace("product_view", "teleport")),
            InvalidEventCode::Malformed
        );
        assert_eq!(
            code_of(&GOOD.replace("\"schema_version\":1", "\"schema_version\":2")),
            InvalidEventCode::UnsupportedSchema
        );
        assert_eq!(
            code_of(&GOOD.replace(",\"product_id\":15970", "")),
            InvalidEventCode::MissingProduct
        );
        assert_eq!(
            code_of(&GOOD.replace("2026-11-25T16:59:58+07:00", "2026-11-26T16:59:58+07:00")),
            InvalidEventCode::FutureTimestamp
        );
        let big = format!("{}{}", GOOD, " ".repeat(MAX_EVENT_BYTES));
        assert_eq!(code_of(&big), InvalidEventCode::TooLarge);
    }

    /// Issue 14: one strict timestamp form on every path, inside a plausible window.
    #[test]
    fn timestamps_are_strict_rfc_3339_within_a_plausible_window() {
        let with = |ts: &str| GOOD.replace("2026-11-25T16:59:58+07:00", ts);
        for ok in [
            "2026-11-25T16:59:58+07:00",
            "2026-11-25T09:59:58Z",
            "2026-11-25T09:59:58.123456789Z",
            "2026-11-25T02:29:58.5-07:30",
        ] {
            assert!(
                ClickEvent::parse(with(ok).as_bytes(), now()).is_ok(),
                "{ok}"
            );
        }
        for relaxed in [
            "2026-11-25 16:59:58+07:00",
            "2026-11-25t16:59:58+07:00",
            "2026-11-25T09:59:58z",
            "2026-11-25T16:59:58+0700",
            "+2026-11-25T16:59:58+07:00",
            "02026-11-25T16:59:58+07:00",
            "2026-11-25T02:59:58\u{2212}07:00",
            "2026-11-25T16:59:58",
            "2026-11-25T16:59:58.+07:00",
            "2026-11-25T16:59:58.1234567891Z",
            "2026-11-25T16:59:58+07:00 ",
            "2026-13-25T16:59:58+07:00",
        ] {
            assert_eq!(
                code_of(&with(relaxed)),
                InvalidEventCode::Malformed,
                "{relaxed}"
            );
        }
        assert_eq!(
            code_of(&with("2026-10-25T16:59:58+07:00")),
            InvalidEventCode::StaleTimestamp
        );
        assert_eq!(
            code_of(&with("0001-01-01T00:00:00Z")),
            InvalidEventCode::StaleTimestamp
        );
    }

    #[test]
    fn page_views_need_no_product_and_unknown_devices_are_other() {
        let json = GOOD
            .replace("product_view", "page_view")
            .replace(",\"product_id\":15970", "")
            .replace("mobile", "smart_fridge");
        let ev = ClickEvent::parse(json.as_bytes(), now()).unwrap();
        assert_eq!(ev.product_id, None);
        assert_eq!(ev.device, Device::Other);
    }
}
