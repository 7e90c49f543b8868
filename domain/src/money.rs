//! Money as integer cents: amounts never pass through floating point, so they never lose precision
//! or silently become null on the way to the lake.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul};

use serde::{Deserialize, Serialize};

/// An amount in the store's currency, in cents (hundredths). In JSON it is an exact decimal
/// string (`"46.95"`), never a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

impl Serialize for Cents {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal amount with at most two fraction digits: {0:?}")]
pub struct MoneyParseError(pub String);

impl Cents {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Parses `"12"`, `"12.3"`, `"12.34"` or `"-0.50"` exactly.
    ///
    /// # Errors
    /// [`MoneyParseError`] for anything else (three fraction digits, exponents, garbage).
    pub fn parse(text: &str) -> Result<Self, MoneyParseError> {
        let t = text.trim();
        let err = || MoneyParseError(t.chars().take(40).collect());
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(err());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 2
        {
            return Err(err());
        }
        let w: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let f: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| err())? * 10,
            _ => frac.parse().map_err(|_| err())?,
        };
        let v = w
            .checked_mul(100)
            .and_then(|c| c.checked_add(f))
            .ok_or_else(err)?;
        Ok(Self(if neg { -v } else { v }))
    }

    /// The raw number of cents.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }

    /// True when the amount is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Add for Cents {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, rhs: Self) {
        self.0 += rhs.0;
    }
}

impl Mul<i64> for Cents {
    type Output = Self;
    fn mul(self, rhs: i64) -> Self {
        Self(self.0 * rhs)
    }
}

impl Sum for Cents {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.map(|c| c.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_reads_whole_and_fractional_amounts_exactly() {
        assert_eq!(Cents::parse("12").unwrap(), Cents(1200));
        assert_eq!(Cents::parse("12.3").unwrap(), Cents(1230));
        assert_eq!(Cents::parse("12.34").unwrap(), Cents(1234));
        assert_eq!(Cents::parse("-0.50").unwrap(), Cents(-50));
        assert_eq!(Cents::parse(".5").unwrap(), Cents(50));
    }

    #[test]
    fn parse_refuses_amounts_that_would_lose_precision_or_are_not_numbers() {
        for bad in ["", "1.234", "1e3", "abc", "1.2.3", "-", "."] {
            assert!(Cents::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn json_carries_amounts_as_exact_decimal_strings() {
        assert_eq!(serde_json::to_string(&Cents(4695)).unwrap(), "\"46.95\"");
        assert_eq!(
            serde_json::from_str::<Cents>("\"-0.05\"").unwrap(),
            Cents(-5)
        );
        assert!(serde_json::from_str::<Cents>("46.95").is_err());
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(c in -1_000_000_000i64..1_000_000_000) {
            prop_assert_eq!(Cents::parse(&Cents(c).to_string()).unwrap(), Cents(c));
        }
    }
}
