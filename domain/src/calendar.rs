//! The store's calendar: "yesterday" is a day in the store's time zone, not in UTC.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// One store-local calendar day and the UTC instants that bound it, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreDay {
    /// The local date.
    pub date: NaiveDate,
    /// First instant of the day.
    pub start: DateTime<Utc>,
    /// First instant of the next day.
    pub end: DateTime<Utc>,
}

/// Why a time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as Asia/Ho_Chi_Minh or UTC")]
pub struct UnknownTimeZone(pub String);

/// Parses an IANA time zone name.
///
/// # Errors
/// [`UnknownTimeZone`] for names the tz database does not know.
pub fn parse_time_zone(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.parse().map_err(|_| UnknownTimeZone(name.to_owned()))
}

/// The first instant at or after local midnight of `date` (midnight may not exist on DST days).
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let start = date.and_time(NaiveTime::MIN);
    // Skipped by a DST jump (or a whole skipped day, as Samoa's 30 December 2011): try the next
    // minutes, at most a day and a half of them.
    for m in 0..(36 * 60) {
        let Some(local) = start.checked_add_signed(chrono::Duration::minutes(m)) else {
            break;
        };
        if let Some(dt) = tz.from_local_datetime(&local).earliest() {
            return dt.with_timezone(&Utc);
        }
    }
    // Unreachable for real zones; fall back to the UTC reading of the local midnight.
    start.and_utc()
}

impl StoreDay {
    /// The day `date` in `tz`.
    #[must_use]
    pub fn new(date: NaiveDate, tz: Tz) -> Self {
        let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
        Self {
            date,
            start: local_midnight(tz, date),
            end: local_midnight(tz, next),
        }
    }

    /// The store-local day before the one containing `now`.
    #[must_use]
    pub fn yesterday(now: DateTime<Utc>, tz: Tz) -> Self {
        let today = now.with_timezone(&tz).date_naive();
        Self::new(today.pred_opt().unwrap_or(today), tz)
    }

    /// The store-local day containing `at`.
    #[must_use]
    pub fn containing(at: DateTime<Utc>, tz: Tz) -> Self {
        Self::new(at.with_timezone(&tz).date_naive(), tz)
    }

    /// True when `at` falls within the day.
    #[must_use]
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yesterday_is_the_previous_local_day_not_the_previous_utc_day() {
        let tz = parse_time_zone("Asia/Ho_Chi_Minh").unwrap();
        // 00:01 on 26 Nov in Ho Chi Minh City is still 25 Nov in UTC.
        let now: DateTime<Utc> = "2026-11-25T17:01:00Z".parse().unwrap();
        let d = StoreDay::yesterday(now, tz);
        assert_eq!(d.date, NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(
            d.start,
            "2026-11-24T17:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            d.end,
            "2026-11-25T17:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn a_day_with_a_dst_change_has_23_or_25_hours() {
        let tz = parse_time_zone("Europe/Berlin").unwrap();
        let spring = StoreDay::new(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(), tz);
        assert_eq!((spring.end - spring.start).num_hours(), 23);
        let autumn = StoreDay::new(NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(), tz);
        assert_eq!((autumn.end - autumn.start).num_hours(), 25);
    }

    #[test]
    fn a_day_a_zone_skipped_entirely_still_has_bounds() {
        // Samoa skipped 30 December 2011 when it moved across the date line.
        let tz = parse_time_zone("Pacific/Apia").unwrap();
        let d = StoreDay::new(NaiveDate::from_ymd_opt(2011, 12, 30).unwrap(), tz);
        assert!(d.start <= d.end);
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
