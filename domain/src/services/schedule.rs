//! The local stack's scheduler, as pure time arithmetic: which jobs fall due between two instants.
//! The daily job runs at a local time (00:01 by default) in the store's time zone for the previous
//! local day; the trainer runs every `trainer_period`. The caller owns the clock (real or simulated)
//! and remembers the instant up to which every due job has run: windows that touch neither skip
//! nor repeat a job.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::calendar::StoreDay;

/// A job that fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Due {
    /// Run the daily job for this store day, at `at`.
    DailyJob {
        /// The store day to process (the day before `at`, locally).
        day: NaiveDate,
        /// When it fell due.
        at: DateTime<Utc>,
    },
    /// Train a model, at `at`.
    Train {
        /// When it fell due.
        at: DateTime<Utc>,
    },
}

impl Due {
    /// When the job fell due.
    #[must_use]
    pub const fn at(&self) -> DateTime<Utc> {
        match self {
            Self::DailyJob { at, .. } | Self::Train { at } => *at,
        }
    }
}

/// When jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The store's time zone.
    pub time_zone: Tz,
    /// Local time of the daily job.
    pub daily_at: NaiveTime,
    /// Training period (aligned to the Unix epoch, so every process agrees).
    pub trainer_period: Duration,
}

impl Schedule {
    /// 00:01 store time and training every six hours.
    #[must_use]
    pub fn new(time_zone: Tz) -> Self {
        Self {
            time_zone,
            daily_at: NaiveTime::from_hms_opt(0, 1, 0).unwrap_or(NaiveTime::MIN),
            trainer_period: Duration::hours(6),
        }
    }

    /// The daily job's run instant on local date `d` (the first valid instant on DST days).
    fn daily_instant(&self, d: NaiveDate) -> Option<DateTime<Utc>> {
        let mut t = d.and_time(self.daily_at);
        for _ in 0..180 {
            if let Some(x) = self.time_zone.from_local_datetime(&t).earliest() {
                return Some(x.with_timezone(&Utc));
            }
            t = t.checked_add_signed(Duration::minutes(1))?;
        }
        None
    }

    /// Jobs due in `(after, until]`, in time order (daily job before training at the same instant).
    #[must_use]
    pub fn due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Due> {
        let mut out = Vec::new();
        if until <= after {
            return out;
        }
        let mut d = after.with_timezone(&self.time_zone).date_naive();
        let last = until.with_timezone(&self.time_zone).date_naive();
        while d <= last {
            if let Some(at) = self.daily_instant(d)
                && at > after
                && at <= until
            {
                out.push(Due::DailyJob {
                    day: StoreDay::yesterday(at, self.time_zone).date,
                    at,
                });
            }
            let Some(next) = d.succ_opt() else {
                break;
            };
            d = next;
        }
        let period = self.trainer_period.num_seconds().max(60);
        let mut k = after.timestamp().div_euclid(period).checked_add(1);
        while let Some(at) = k
            .and_then(|k| k.checked_mul(period))
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
        {
            if at > until {
                break;
            }
            out.push(Due::Train { at });
            k = k.and_then(|k| k.checked_add(1));
        }
        out.sort_by_key(|j| (j.at(), matches!(j, Due::Train { .. })));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_job_runs_at_00_01_store_time_for_the_previous_local_day() {
        let s = Schedule {
            trainer_period: Duration::days(365),
            ..Schedule::new(chrono_tz::Asia::Ho_Chi_Minh)
        };
        // 16:00 to 18:00 UTC on 25 Nov covers 00:01 on 26 Nov in Ho Chi Minh City (UTC+7).
        let due = s.due(
            "2026-11-25T16:00:00Z".parse().unwrap(),
            "2026-11-25T18:00:00Z".parse().unwrap(),
        );
        assert_eq!(
            due,
            vec![Due::DailyJob {
                day: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                at: "2026-11-25T17:01:00Z".parse().unwrap()
            }]
        );
    }

    #[test]
    fn windows_that_touch_never_repeat_or_skip_a_run() {
        let s = Schedule::new(Tz::UTC);
        let t0: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        let whole = s.due(t0, t0 + Duration::days(3));
        let mut pieces = Vec::new();
        let mut t = t0;
        while t < t0 + Duration::days(3) {
            pieces.extend(s.due(t, t + Duration::minutes(37)));
            t += Duration::minutes(37);
        }
        pieces.retain(|j| j.at() <= t0 + Duration::days(3));
        assert_eq!(whole, pieces);
        assert_eq!(
            whole
                .iter()
                .filter(|j| matches!(j, Due::DailyJob { .. }))
                .count(),
            3
        );
        assert_eq!(
            whole
                .iter()
                .filter(|j| matches!(j, Due::Train { .. }))
                .count(),
            12
        );
    }
}
