//! The functions' settings, read from the environment only (a Lambda function has no config
//! files), validated at cold start with every problem reported at once. Region, credentials and
//! endpoints come from the standard AWS variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).

use std::str::FromStr;
use std::time::Duration;

use chrono_tz::Tz;
use fashion_domain::calendar::parse_time_zone;
use secrecy::SecretString;

pub use fashion_aws_core::vars::{
    ACTIVITY_TABLE, ACTIVITY_TTL_DAYS, ATHENA_WORKGROUP, CATALOG_TABLE, CLICKSTREAM_STREAM,
    DATABASE_SECRET_ARN, DATABASE_URL, DEAD_LETTERS_TABLE, GLUE_DATABASE, LAKE_BUCKET, LAKE_PREFIX,
    MODEL_REFRESH_SECS, MODELS_BUCKET, MODELS_PREFIX, RECOMMENDATIONS_TABLE, TIME_ZONE,
    TRAINER_LOOKBACK_DAYS,
};

/// Every problem found in the environment.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {}", problems.join("; "))]
pub struct SettingsError {
    /// One line per missing or invalid variable.
    pub problems: Vec<String>,
}

/// Reads variables through `lookup`, collecting problems instead of stopping at the first.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is not set"));
            String::new()
        })
    }

    fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A whole number in `range`, or `default` when unset.
    fn bounded(&mut self, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
        let v = self.parsed(name, default);
        if range.contains(&v) {
            v
        } else {
            self.problems.push(format!(
                "{name}={v} is not in {}..={}",
                range.start(),
                range.end()
            ));
            default
        }
    }

    fn parsed<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name}={v:?} is not valid"));
                default
            }),
        }
    }

    fn finish<T>(self, value: T) -> Result<T, SettingsError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(SettingsError {
                problems: self.problems,
            })
        }
    }
}

/// The activity time-to-live may be 1 day to 10 years.
pub const MAX_TTL_DAYS: std::ops::RangeInclusive<u64> = 1..=3650;
/// The activity time-to-live when `FASHION_ACTIVITY_TTL_DAYS` is not set.
const DEFAULT_TTL_DAYS: u64 = 30;
/// [`DEFAULT_TTL_DAYS`] as a duration, for readers of the table that never write it.
pub const DEFAULT_ACTIVITY_TTL: Duration = Duration::from_secs(DEFAULT_TTL_DAYS * 24 * 3600);
/// The model may be re-checked every second to once a day.
pub const REFRESH_SECS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// The trainer may read 1 day to 10 years of history.
pub const LOOKBACK_DAYS: std::ops::RangeInclusive<u64> = 1..=3650;

/// `n` days (bounded by the ranges above, so the product cannot overflow).
fn days(n: u64) -> Duration {
    Duration::from_secs(n.saturating_mul(24 * 3600))
}

fn from_process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What the Firehose transformation needs: where invalid records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseTransformSettings {
    /// Dead-letter table.
    pub dead_letters_table: String,
}

impl FirehoseTransformSettings {
    /// From the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&from_process_env)
    }

    /// From any variable lookup.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let settings = Self {
            dead_letters_table: r.required(DEAD_LETTERS_TABLE),
        };
        r.finish(settings)
    }
}

/// What the stream processor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProcessorSettings {
    /// Activity table.
    pub activity_table: String,
    /// Recommendations table.
    pub recommendations_table: String,
    /// Catalog table.
    pub catalog_table: String,
    /// Dead-letter table.
    pub dead_letters_table: String,
    /// Models bucket.
    pub models_bucket: String,
    /// Models prefix.
    pub models_prefix: String,
    /// Activity time-to-live.
    pub activity_ttl: Duration,
    /// Interval between checks for a newer model.
    pub model_refresh: Duration,
}

impl StreamProcessorSettings {
    /// From the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&from_process_env)
    }

    /// From any variable lookup.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let settings = Self {
            activity_table: r.required(ACTIVITY_TABLE),
            recommendations_table: r.required(RECOMMENDATIONS_TABLE),
            catalog_table: r.required(CATALOG_TABLE),
            dead_letters_table: r.required(DEAD_LETTERS_TABLE),
            models_bucket: r.required(MODELS_BUCKET),
            models_prefix: r.or(MODELS_PREFIX, "models"),
            activity_ttl: days(r.bounded(ACTIVITY_TTL_DAYS, DEFAULT_TTL_DAYS, MAX_TTL_DAYS)),
            model_refresh: Duration::from_secs(r.bounded(MODEL_REFRESH_SECS, 300, REFRESH_SECS)),
        };
        r.finish(settings)
    }
}

/// What the daily job needs.
#[derive(Debug, Clone)]
pub struct DailyJobSettings {
    /// The transactional database.
    pub database_url: SecretString,
    /// The secret holding the database's credentials, when they are not in the URL.
    pub database_secret: Option<String>,
    /// The store's time zone.
    pub time_zone: Tz,
    /// Glue database of the lake.
    pub glue_database: String,
    /// Lake bucket.
    pub lake_bucket: String,
    /// Lake prefix.
    pub lake_prefix: String,
    /// The product catalog the job keeps in step with the database's products.
    pub catalog_table: String,
}

impl DailyJobSettings {
    /// From the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&from_process_env)
    }

    /// From any variable lookup.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let zone = r.required(TIME_ZONE);
        let time_zone = if zone.is_empty() {
            Tz::UTC
        } else {
            parse_time_zone(&zone).unwrap_or_else(|e| {
                r.problems.push(format!("{TIME_ZONE}: {e}"));
                Tz::UTC
            })
        };
        let settings = Self {
            database_url: SecretString::from(r.required(DATABASE_URL)),
            database_secret: r.get(DATABASE_SECRET_ARN),
            time_zone,
            glue_database: r.required(GLUE_DATABASE),
            lake_bucket: r.required(LAKE_BUCKET),
            lake_prefix: r.or(LAKE_PREFIX, "lake"),
            catalog_table: r.required(CATALOG_TABLE),
        };
        r.finish(settings)
    }
}

/// What the trainer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainerSettings {
    /// Catalog table (the products the model describes).
    pub catalog_table: String,
    /// Activity table (where customers' recent purchases are kept).
    pub activity_table: String,
    /// Activity time-to-live (as the stream processor's).
    pub activity_ttl: Duration,
    /// Models bucket.
    pub models_bucket: String,
    /// Models prefix.
    pub models_prefix: String,
    /// Glue database of the lake.
    pub glue_database: String,
    /// Lake bucket.
    pub lake_bucket: String,
    /// Lake prefix.
    pub lake_prefix: String,
    /// Days of history read, ending at training time.
    pub lookback_days: u32,
}

impl TrainerSettings {
    /// From the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&from_process_env)
    }

    /// From any variable lookup.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let lookback_days = r.bounded(TRAINER_LOOKBACK_DAYS, 90, LOOKBACK_DAYS);
        let settings = Self {
            catalog_table: r.required(CATALOG_TABLE),
            activity_table: r.required(ACTIVITY_TABLE),
            activity_ttl: days(r.bounded(ACTIVITY_TTL_DAYS, DEFAULT_TTL_DAYS, MAX_TTL_DAYS)),
            models_bucket: r.required(MODELS_BUCKET),
            models_prefix: r.or(MODELS_PREFIX, "models"),
            glue_database: r.required(GLUE_DATABASE),
            lake_bucket: r.required(LAKE_BUCKET),
            lake_prefix: r.or(LAKE_PREFIX, "lake"),
            // Within LOOKBACK_DAYS, so it fits.
            lookback_days: u32::try_from(lookback_days).unwrap_or(90),
        };
        r.finish(settings)
    }
}

/// What the API function (the front door behind a function URL) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The clickstream's Kinesis stream.
    pub stream: String,
    /// Recommendations table.
    pub recommendations_table: String,
    /// Catalog table.
    pub catalog_table: String,
    /// Activity table (read: what a customer bought stays out of their fallback list).
    pub activity_table: String,
    /// Dead-letter table.
    pub dead_letters_table: String,
    /// Models bucket.
    pub models_bucket: String,
    /// Models prefix.
    pub models_prefix: String,
    /// Glue database of the lake.
    pub glue_database: String,
    /// Lake bucket.
    pub lake_bucket: String,
    /// Lake prefix.
    pub lake_prefix: String,
    /// Athena workgroup (its own result location is used).
    pub athena_workgroup: String,
    /// The store's time zone.
    pub time_zone: Tz,
    /// Interval between checks for a newer model.
    pub model_refresh: Duration,
}

impl ApiSettings {
    /// From the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&from_process_env)
    }

    /// From any variable lookup.
    ///
    /// # Errors
    /// [`SettingsError`] listing every missing or invalid variable.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let zone = r.or(TIME_ZONE, "UTC");
        let time_zone = parse_time_zone(&zone).unwrap_or_else(|e| {
            r.problems.push(format!("{TIME_ZONE}: {e}"));
            Tz::UTC
        });
        let settings = Self {
            stream: r.required(CLICKSTREAM_STREAM),
            recommendations_table: r.required(RECOMMENDATIONS_TABLE),
            catalog_table: r.required(CATALOG_TABLE),
            activity_table: r.required(ACTIVITY_TABLE),
            dead_letters_table: r.required(DEAD_LETTERS_TABLE),
            models_bucket: r.required(MODELS_BUCKET),
            models_prefix: r.or(MODELS_PREFIX, "models"),
            glue_database: r.required(GLUE_DATABASE),
            lake_bucket: r.required(LAKE_BUCKET),
            lake_prefix: r.or(LAKE_PREFIX, "lake"),
            athena_workgroup: r.required(ATHENA_WORKGROUP),
            time_zone,
            model_refresh: Duration::from_secs(r.bounded(MODEL_REFRESH_SECS, 300, REFRESH_SECS)),
        };
        r.finish(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn every_missing_or_invalid_variable_is_reported_at_once() {
        let err = StreamProcessorSettings::from_lookup(&env(&[
            (ACTIVITY_TABLE, "a"),
            (ACTIVITY_TTL_DAYS, "soon"),
        ]))
        .expect_err("incomplete");
        assert_eq!(err.problems.len(), 5, "{err}");
        assert!(err.to_string().contains(RECOMMENDATIONS_TABLE));
        assert!(err.to_string().contains(ACTIVITY_TTL_DAYS));
    }

    /// Issue 14, defect 8: durations that would overflow (or make no sense) are refused with
    /// their variable named, not multiplied into a wrapped or "expire now" value.
    #[test]
    fn durations_out_of_range_are_refused_by_name() {
        let base = [
            (ACTIVITY_TABLE, "a"),
            (RECOMMENDATIONS_TABLE, "r"),
            (CATALOG_TABLE, "c"),
            (DEAD_LETTERS_TABLE, "d"),
            (MODELS_BUCKET, "m"),
        ];
        for (name, value) in [
            (ACTIVITY_TTL_DAYS, "213503982334601"),
            (ACTIVITY_TTL_DAYS, "0"),
            (MODEL_REFRESH_SECS, "18446744073709551615"),
            (MODEL_REFRESH_SECS, "0"),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            let err = StreamProcessorSettings::from_lookup(&env(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let mut pairs = base.to_vec();
        pairs.push((ACTIVITY_TTL_DAYS, "3650"));
        let s = StreamProcessorSettings::from_lookup(&env(&pairs)).unwrap();
        assert_eq!(s.activity_ttl, Duration::from_secs(3650 * 24 * 3600));
    }

    #[test]
    fn defaults_fill_what_is_optional() {
        let s = StreamProcessorSettings::from_lookup(&env(&[
            (ACTIVITY_TABLE, "a"),
            (RECOMMENDATIONS_TABLE, "r"),
            (CATALOG_TABLE, "c"),
            (DEAD_LETTERS_TABLE, "d"),
            (MODELS_BUCKET, "m"),
        ]))
        .expect("complete");
        assert_eq!(s.models_prefix, "models");
        assert_eq!(s.activity_ttl, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(s.model_refresh, Duration::from_secs(300));
    }

    #[test]
    fn the_trainer_reports_every_missing_variable_and_fills_defaults() {
        let err = TrainerSettings::from_lookup(&env(&[(TRAINER_LOOKBACK_DAYS, "0")]))
            .expect_err("incomplete");
        assert_eq!(err.problems.len(), 6, "{err}");
        for var in [
            CATALOG_TABLE,
            ACTIVITY_TABLE,
            MODELS_BUCKET,
            GLUE_DATABASE,
            LAKE_BUCKET,
            TRAINER_LOOKBACK_DAYS,
        ] {
            assert!(err.to_string().contains(var), "{var} in {err}");
        }
        let s = TrainerSettings::from_lookup(&env(&[
            (CATALOG_TABLE, "c"),
            (ACTIVITY_TABLE, "a"),
            (MODELS_BUCKET, "m"),
            (GLUE_DATABASE, "g"),
            (LAKE_BUCKET, "l"),
        ]))
        .expect("complete");
        assert_eq!(
            (
                s.models_prefix.as_str(),
                s.lake_prefix.as_str(),
                s.lookback_days
            ),
            ("models", "lake", 90)
        );
        assert_eq!(s.activity_ttl, Duration::from_secs(30 * 24 * 3600));
    }

    #[test]
    fn the_daily_job_needs_a_known_time_zone() {
        let err = DailyJobSettings::from_lookup(&env(&[
            (DATABASE_URL, "postgres://x@db/store"),
            (TIME_ZONE, "Mars/Olympus"),
            (GLUE_DATABASE, "lake"),
            (LAKE_BUCKET, "b"),
            (CATALOG_TABLE, "products"),
        ]))
        .expect_err("unknown zone");
        assert_eq!(err.problems.len(), 1, "{err}");
    }
}
