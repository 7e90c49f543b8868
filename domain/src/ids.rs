//! Validated identifiers: products, customers, orders, events and sessions.
//!
//! Every identifier that crosses a boundary (a CSV row, a JSON event, a database row) is parsed
//! into one of these newtypes once, so the rest of the code never sees an invalid id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is empty or only whitespace.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The text is not a positive integer.
    #[error("{kind} must be a positive integer, got {value:?}")]
    NotPositiveInteger {
        /// Which identifier.
        kind: &'static str,
        /// The offending text (truncated).
        value: String,
    },
    /// The text is not a UUID.
    #[error("{kind} must be a UUID, got {value:?}")]
    NotUuid {
        /// Which identifier.
        kind: &'static str,
        /// The offending text (truncated).
        value: String,
    },
    /// The number is larger than every store the id goes to can hold (SQL `bigint`, the lake's
    /// `int64` columns): [`i64::MAX`].
    #[error("{kind} {value} is larger than the largest storable id, {max}", max = i64::MAX)]
    OutOfRange {
        /// Which identifier.
        kind: &'static str,
        /// The offending number.
        value: String,
    },
    /// The text is longer than allowed.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

macro_rules! numeric_id {
    ($(#[$meta:meta])* $name:ident, $repr:ty, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($repr);

        impl $name {
            /// Builds the id from a number; zero is not an id, and neither is a number above
            /// [`i64::MAX`], which SQL `bigint` and the lake's `int64` columns cannot hold (an id
            /// accepted here is storable everywhere it goes).
            ///
            /// # Errors
            /// [`IdError::NotPositiveInteger`] when `value` is zero, [`IdError::OutOfRange`] when
            /// it is above [`i64::MAX`].
            pub fn new(value: $repr) -> Result<Self, IdError> {
                if value == 0 {
                    return Err(IdError::NotPositiveInteger { kind: $kind, value: "0".into() });
                }
                if i64::try_from(value).is_err() {
                    return Err(IdError::OutOfRange { kind: $kind, value: value.to_string() });
                }
                Ok(Self(value))
            }

            /// Parses a decimal id, ignoring surrounding whitespace.
            ///
            /// # Errors
            /// [`IdError::Empty`] or [`IdError::NotPositiveInteger`].
            pub fn parse(text: &str) -> Result<Self, IdError> {
                let t = text.trim();
                if t.is_empty() {
                    return Err(IdError::Empty { kind: $kind });
                }
                let v: $repr = t
                    .parse()
                    .map_err(|_| IdError::NotPositiveInteger { kind: $kind, value: excerpt(t) })?;
                Self::new(v)
            }

            /// Builds the id from a signed integer as stored by SQL databases.
            ///
            /// # Errors
            /// [`IdError::NotPositiveInteger`] when `value` is not positive or does not fit.
            pub fn from_i64(value: i64) -> Result<Self, IdError> {
                let v = <$repr>::try_from(value).map_err(|_| IdError::NotPositiveInteger {
                    kind: $kind,
                    value: value.to_string(),
                })?;
                Self::new(v)
            }

            /// The number.
            #[must_use]
            pub const fn get(self) -> $repr {
                self.0
            }

            /// The number as a signed integer for SQL and lake columns (exact: [`Self::new`]
            /// refuses numbers above [`i64::MAX`]).
            #[must_use]
            #[allow(clippy::cast_possible_wrap)] // new() refuses values above i64::MAX
            pub const fn as_i64(self) -> i64 {
                self.0 as i64
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u64(u64::from(self.0))
            }
        }

        // Accepts a number or a numeric string: websites send both.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Num(u64),
                    Text(String),
                }
                match Raw::deserialize(d)? {
                    Raw::Num(n) => <$repr>::try_from(n)
                        .map_err(|_| IdError::NotPositiveInteger { kind: $kind, value: n.to_string() })
                        .and_then(Self::new),
                    Raw::Text(t) => Self::parse(&t),
                }
                .map_err(serde::de::Error::custom)
            }
        }
    };
}

numeric_id!(
    /// A catalog product (the `id` column of `styles.csv`).
    ProductId, u32, "product id"
);
numeric_id!(
    /// A store customer (the clickstream's `user_id`).
    CustomerId, u64, "customer id"
);
numeric_id!(
    /// An order in the transactional database.
    OrderId, u64, "order id"
);

/// The idempotency key of a clickstream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(Uuid);

impl EventId {
    /// Wraps a UUID.
    #[must_use]
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses the canonical hyphenated (or simple) UUID text.
    ///
    /// # Errors
    /// [`IdError::NotUuid`] when the text is not a UUID.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        Uuid::parse_str(text.trim())
            .map(Self)
            .map_err(|_| IdError::NotUuid {
                kind: "event id",
                value: excerpt(text),
            })
    }

    /// The UUID.
    #[must_use]
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A browsing session as the website names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Longest session id we accept.
    pub const MAX_LEN: usize = 128;

    /// Validates a session id: non-blank and at most [`Self::MAX_LEN`] characters.
    ///
    /// # Errors
    /// [`IdError::Empty`] or [`IdError::TooLong`].
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(IdError::Empty { kind: "session id" });
        }
        if t.chars().count() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                kind: "session id",
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(t.to_owned()))
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_id_parses_positive_integers_and_refuses_the_rest() {
        assert_eq!(ProductId::parse(" 15970 ").unwrap().get(), 15970);
        assert!(matches!(ProductId::parse(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            ProductId::parse("0"),
            Err(IdError::NotPositiveInteger { .. })
        ));
        assert!(matches!(
            ProductId::parse("-3"),
            Err(IdError::NotPositiveInteger { .. })
        ));
        assert!(matches!(
            ProductId::parse("12a"),
            Err(IdError::NotPositiveInteger { .. })
        ));
    }

    #[test]
    fn customer_id_deserializes_from_a_number_or_a_string() {
        let a: CustomerId = serde_json::from_str("42").unwrap();
        let b: CustomerId = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<CustomerId>("0").is_err());
        assert!(serde_json::from_str::<CustomerId>("\"x\"").is_err());
    }

    #[test]
    fn ids_above_i64_max_are_refused_because_no_store_could_hold_them() {
        let max = i64::MAX.unsigned_abs();
        assert_eq!(CustomerId::new(max).unwrap().as_i64(), i64::MAX);
        assert!(matches!(
            CustomerId::new(max + 1),
            Err(IdError::OutOfRange { .. })
        ));
        assert!(matches!(
            OrderId::parse(&u64::MAX.to_string()),
            Err(IdError::OutOfRange { .. })
        ));
        let err = serde_json::from_str::<CustomerId>("9223372036854775808").unwrap_err();
        assert!(err.to_string().contains("largest storable id"), "{err}");
    }

    #[test]
    fn session_id_refuses_blank_and_overlong_text() {
        assert!(SessionId::parse("  ").is_err());
        assert!(SessionId::parse(&"s".repeat(129)).is_err());
        assert_eq!(SessionId::parse(" abc ").unwrap().as_str(), "abc");
    }
}
