//! Money as integer cents: amounts never pass through floating point, so they never lose precision
//! or silently become null on the way to the lake.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in the store's currency, in cents (hundredths). In JSON it is an exact decimal
/// string (`"46.95"`), never a float.
///
/// Amounts are stored as `decimal(18,2)` in the lake: [`Cents::parse`] refuses anything beyond
/// [`Cents::MAX`], and arithmetic is checked (`checked_add`, `checked_mul`), never wrapping.
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

    /// The largest amount a `decimal(18,2)` column holds: 9 999 999 999 999 999.99.
    pub const MAX: Self = Self(999_999_999_999_999_999);

    /// True when a `decimal(18,2)` column can hold the amount (`-MAX..=MAX`).
    #[must_use]
    pub const fn is_storable(self) -> bool {
        self.0 >= -Self::MAX.0 && self.0 <= Self::MAX.0
    }

    /// The sum, or `None` when it leaves the storable range.
    #[must_use]
    pub const fn checked_add(self, rhs: Self) -> Option<Self> {
        match self.0.checked_add(rhs.0) {
            Some(v) if Self(v).is_storable() => Some(Self(v)),
            _ => None,
        }
    }

    /// The amount times `n`, or `None` when it leaves the storable range.
    #[must_use]
    pub const fn checked_mul(self, n: i64) -> Option<Self> {
        match self.0.checked_mul(n) {
            Some(v) if Self(v).is_storable() => Some(Self(v)),
            _ => None,
        }
    }

    /// The sum of `amounts`, or `None` when any partial sum leaves the storable range.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Option<Self> {
        amounts
            .into_iter()
            .try_fold(Self::ZERO, |acc, c| acc.checked_add(c))
    }

    /// Parses `"12"`, `"12.3"`, `"12.34"` or `"-0.50"` exactly.
    ///
    /// # Errors
    /// [`MoneyParseError`] for anything else (three fraction digits, exponents, garbage, an
    /// amount beyond [`Cents::MAX`]).
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
            1 => frac
                .parse::<i64>()
                .ok()
                .and_then(|d| d.checked_mul(10))
                .ok_or_else(err)?,
            _ => frac.parse().map_err(|_| err())?,
        };
        let v = w
            .checked_mul(100)
            .and_then(|c| c.checked_add(f))
            .filter(|v| *v <= Self::MAX.0)
            .ok_or_else(err)?;
        // v is in 0..=MAX, so its negation cannot overflow.
        Ok(Self(if neg { v.saturating_neg() } else { v }))
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
    fn amounts_beyond_decimal_18_2_are_refused_and_sums_are_checked() {
        assert_eq!(
            Cents::parse("9999999999999999.99").unwrap(),
            Cents::MAX,
            "the largest decimal(18,2)"
        );
        assert!(Cents::parse("10000000000000000.00").is_err());
        assert!(Cents::parse("-10000000000000000").is_err());
        assert_eq!(Cents::MAX.checked_add(Cents(1)), None);
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None, "no wrap");
        assert_eq!(Cents(5).checked_mul(3), Some(Cents(15)));
        assert_eq!(Cents::MAX.checked_mul(2), None);
        assert_eq!(Cents::checked_sum([Cents(1), Cents(2)]), Some(Cents(3)));
        assert_eq!(Cents::checked_sum([Cents::MAX, Cents(1), Cents(-1)]), None);
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
