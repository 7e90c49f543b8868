//! The functions' configuration loader (the environment Lambda gives each function) on arbitrary
//! variables: it never panics, refuses with one line per problem, and what it accepts is within
//! the documented bounds (so no duration built from it can overflow).
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use fashion_lambda::settings::{
    self, ApiSettings, DailyJobSettings, LOOKBACK_DAYS, MAX_TTL_DAYS, REFRESH_SECS,
    StreamProcessorSettings, TrainerSettings,
};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 18] = [
    settings::ACTIVITY_TABLE,
    settings::RECOMMENDATIONS_TABLE,
    settings::CATALOG_TABLE,
    settings::DEAD_LETTERS_TABLE,
    settings::MODELS_BUCKET,
    settings::MODELS_PREFIX,
    settings::ACTIVITY_TTL_DAYS,
    settings::MODEL_REFRESH_SECS,
    settings::DATABASE_URL,
    settings::DATABASE_SECRET_ARN,
    settings::TIME_ZONE,
    settings::GLUE_DATABASE,
    settings::LAKE_BUCKET,
    settings::LAKE_PREFIX,
    settings::TRAINER_LOOKBACK_DAYS,
    settings::CLICKSTREAM_STREAM,
    settings::ATHENA_WORKGROUP,
    "AWS_REGION",
];

#[derive(Debug, Arbitrary)]
struct Environment {
    variables: Vec<(u8, String)>,
}

fn secs(range: &std::ops::RangeInclusive<u64>) -> std::ops::RangeInclusive<Duration> {
    Duration::from_secs(*range.start())..=Duration::from_secs(*range.end())
}

fn days(range: &std::ops::RangeInclusive<u64>) -> std::ops::RangeInclusive<Duration> {
    Duration::from_secs(range.start() * 86_400)..=Duration::from_secs(range.end() * 86_400)
}

fuzz_target!(|env: Environment| {
    let vars: HashMap<&str, String> = env
        .variables
        .into_iter()
        .map(|(i, v)| (NAMES[usize::from(i) % NAMES.len()], v))
        .collect();
    let lookup = |name: &str| vars.get(name).cloned();

    match StreamProcessorSettings::from_lookup(&lookup) {
        Ok(s) => {
            assert!(days(&MAX_TTL_DAYS).contains(&s.activity_ttl), "{s:?}");
            assert!(secs(&REFRESH_SECS).contains(&s.model_refresh), "{s:?}");
            assert!(!s.activity_table.trim().is_empty());
        }
        Err(e) => assert!(!e.problems.is_empty()),
    }
    match DailyJobSettings::from_lookup(&lookup) {
        Ok(s) => assert!(!s.glue_database.trim().is_empty()),
        Err(e) => assert!(!e.problems.is_empty()),
    }
    match TrainerSettings::from_lookup(&lookup) {
        Ok(s) => assert!(LOOKBACK_DAYS.contains(&u64::from(s.lookback_days)), "{s:?}"),
        Err(e) => assert!(!e.problems.is_empty()),
    }
    match ApiSettings::from_lookup(&lookup) {
        Ok(s) => assert!(secs(&REFRESH_SECS).contains(&s.model_refresh), "{s:?}"),
        Err(e) => assert!(!e.problems.is_empty()),
    }
});
