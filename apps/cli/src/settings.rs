//! The CLI's settings, in layers: built-in defaults, then `fashion.toml` (or `--config`), then
//! `FASHION_…` environment variables (`FASHION_SINK__MAX_AGE_SECS=60` sets `sink.max_age_secs`),
//! then command-line flags. Validated once at start, reporting every problem at once.

use std::path::{Path, PathBuf};

use anyhow::bail;
use chrono::NaiveDate;
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::cli::Cli;
pub use crate::cli::StackKind;

/// Everything the CLI can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Which stack the commands act on (`--stack`, `FASHION_STACK`, `stack =`).
    pub stack: StackKind,
    /// Where the local stack keeps its data.
    pub data_dir: PathBuf,
    /// Seed for everything random.
    pub seed: u64,
    /// The store's time zone (on the emulator and aws stacks, the provisioned stack's).
    pub time_zone: String,
    /// `postgres://…` to use PostgreSQL as the transactional database; SQLite in the data
    /// directory otherwise.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// The embedded stream.
    pub stream: StreamSettings,
    /// The micro-batch lake sink.
    pub sink: SinkSettings,
    /// The data generator.
    pub generator: GeneratorSettings,
}

/// The embedded stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSettings {
    /// Shards of a new stream.
    pub shards: usize,
    /// Hours records are kept.
    pub retention_hours: u32,
}

/// The micro-batch lake sink (what Firehose does on AWS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkSettings {
    /// Flush a buffer at least this often.
    pub max_age_secs: u64,
    /// Flush a buffer when it holds this many bytes.
    pub max_bytes: u64,
}

/// The data generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorSettings {
    /// First simulated day.
    pub start: NaiveDate,
    /// Days to simulate.
    pub days: u32,
    /// Customers.
    pub users: u32,
    /// Products.
    pub products: u32,
    /// Share of records made dirty.
    pub dirty_rate: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stack: StackKind::Local,
            data_dir: PathBuf::from("fashion-data"),
            seed: 42,
            time_zone: "UTC".to_owned(),
            database_url: None,
            stream: StreamSettings::default(),
            sink: SinkSettings::default(),
            generator: GeneratorSettings::default(),
        }
    }
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            shards: 4,
            retention_hours: 24,
        }
    }
}

impl Default for SinkSettings {
    fn default() -> Self {
        Self {
            max_age_secs: 300,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for GeneratorSettings {
    fn default() -> Self {
        let g = fashion_datagen::GenConfig::default();
        Self {
            start: g.start,
            days: g.days,
            users: g.users,
            products: g.products,
            dirty_rate: g.dirty_rate,
        }
    }
}

impl Settings {
    /// Loads the layers and validates the result.
    ///
    /// # Errors
    /// Every invalid setting, in one message.
    pub fn load(cli: &Cli) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Self::default()));
        let file = cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("fashion.toml"));
        if cli.config.is_some() && !file.exists() {
            bail!("configuration file {} does not exist", file.display());
        }
        fig = fig.merge(Toml::file(&file)).merge(
            Env::prefixed("FASHION_")
                .split("__")
                .ignore(&["config", "log_format"]),
        );
        let mut s: Self = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        // Whether the time zone was chosen (flag, file or variable) rather than defaulted.
        let zone_chosen = cli.time_zone.is_some()
            || Figment::from(Toml::file(&file))
                .merge(Env::prefixed("FASHION_").split("__"))
                .find_value("time_zone")
                .is_ok();
        if let Some(stack) = cli.stack {
            s.stack = stack;
        }
        if let Some(d) = &cli.data_dir {
            s.data_dir.clone_from(d);
        }
        if let Some(seed) = cli.seed {
            s.seed = seed;
        }
        if let Some(tz) = &cli.time_zone {
            s.time_zone.clone_from(tz);
        }
        if let Some(url) = &cli.database_url {
            s.database_url = Some(SecretString::from(url.clone()));
        }
        s.validate()?;
        // The demo provisions a stack of its own, in this time zone.
        #[cfg(feature = "aws")]
        if s.stack != StackKind::Local && !matches!(cli.command, crate::cli::Command::Demo(_)) {
            let stack_zone = crate::aws_stack::time_zone(s.stack)?;
            s.adopt_time_zone(&stack_zone, zone_chosen)?;
        }
        #[cfg(not(feature = "aws"))]
        let _ = zone_chosen;
        Ok(s)
    }

    /// On a provisioned stack, the store's day is the stack's (the one its schedules and
    /// functions run in, provisioning's `time_zone`): a day run from here and a day run by the
    /// deployed daily job must be the same hours. A different zone chosen for the command line
    /// is refused, naming both.
    ///
    /// # Errors
    /// When `chosen` and the zone differs from the stack's.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub fn adopt_time_zone(&mut self, stack_zone: &str, chosen: bool) -> anyhow::Result<()> {
        if chosen && self.time_zone != stack_zone {
            bail!(
                "time_zone is {} here, but the {} stack's schedules and functions run in {stack_zone} \
                 (provisioning's time_zone): drop the setting, or provision the stack in {}",
                self.time_zone,
                self.stack,
                self.time_zone
            );
        }
        stack_zone.clone_into(&mut self.time_zone);
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if let Err(e) = fashion_domain::calendar::parse_time_zone(&self.time_zone) {
            problems.push(format!("time_zone: {e}"));
        }
        if self.stream.shards == 0 || self.stream.shards > 64 {
            problems.push(format!(
                "stream.shards must be 1..=64, got {}",
                self.stream.shards
            ));
        }
        // Bounded so that no value overflows the durations and sizes built from it.
        let mut within = |name: &str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if !range.contains(&value) {
                problems.push(format!(
                    "{name} must be within {}..={}, got {value}",
                    range.start(),
                    range.end()
                ));
            }
        };
        within("sink.max_age_secs", self.sink.max_age_secs, 1..=86_400);
        within("sink.max_bytes", self.sink.max_bytes, 1024..=(1 << 30));
        within(
            "stream.retention_hours",
            u64::from(self.stream.retention_hours),
            1..=8_760,
        );
        within("generator.days", u64::from(self.generator.days), 1..=3_650);
        within(
            "generator.users",
            u64::from(self.generator.users),
            1..=10_000_000,
        );
        within(
            "generator.products",
            u64::from(self.generator.products),
            1..=1_000_000,
        );
        if !(0.0..=1.0).contains(&self.generator.dirty_rate) {
            problems.push(format!(
                "generator.dirty_rate must be within 0..=1, got {}",
                self.generator.dirty_rate
            ));
        }
        if let Some(url) = &self.database_url {
            let u = url.expose_secret();
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                problems
                    .push("database_url must start with postgres:// or postgresql://".to_owned());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid configuration:\n  - {}", problems.join("\n  - "))
        }
    }

    /// The validated time zone.
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }

    /// A path inside the data directory.
    #[must_use]
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.data_dir.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_override_the_file_and_invalid_values_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "seed = 7\ntime_zone = \"Mars/Base\"\n[stream]\nshards = 0\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["fashion", "--config", file.to_str().unwrap(), "generate"]);
        let err = Settings::load(&cli).unwrap_err().to_string();
        assert!(
            err.contains("time_zone") && err.contains("stream.shards"),
            "{err}"
        );

        std::fs::write(&file, "seed = 7\ntime_zone = \"Asia/Ho_Chi_Minh\"\n").unwrap();
        let cli = Cli::parse_from([
            "fashion",
            "--config",
            file.to_str().unwrap(),
            "--seed",
            "9",
            "generate",
        ]);
        let s = Settings::load(&cli).unwrap();
        assert_eq!(s.seed, 9);
        assert_eq!(s.tz(), chrono_tz::Asia::Ho_Chi_Minh);
    }

    /// Issue 12: on a provisioned stack the store's day is the stack's; a different zone
    /// chosen for the command line is refused rather than running other hours than the
    /// deployed daily job would.
    #[test]
    fn a_provisioned_stack_lends_its_time_zone_and_a_conflicting_choice_is_refused() {
        let mut s = Settings {
            stack: StackKind::Emulator,
            ..Settings::default()
        };
        s.adopt_time_zone("Asia/Ho_Chi_Minh", false).unwrap();
        assert_eq!(s.tz(), chrono_tz::Asia::Ho_Chi_Minh);
        s.adopt_time_zone("Asia/Ho_Chi_Minh", true).unwrap();
        s.time_zone = "Europe/Paris".into();
        let err = s
            .adopt_time_zone("Asia/Ho_Chi_Minh", true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Europe/Paris") && err.contains("Asia/Ho_Chi_Minh"),
            "{err}"
        );
    }

    /// Issue 14: values that would overflow the durations built from them are refused by name
    /// (a huge `max_age_secs` used to panic inside chrono).
    #[test]
    fn values_that_would_overflow_a_duration_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "[sink]\nmax_age_secs = 9223372036854775\n[stream]\nretention_hours = 4294967295\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["fashion", "--config", file.to_str().unwrap(), "generate"]);
        let err = Settings::load(&cli).unwrap_err().to_string();
        assert!(
            err.contains("sink.max_age_secs") && err.contains("stream.retention_hours"),
            "{err}"
        );
    }

    proptest::proptest! {
        /// Issue 14: whatever numbers and zone a configuration file holds, loading it either
        /// refuses it (naming the problem) or gives settings within their documented bounds, so
        /// that no duration, size or date range built from them can overflow.
        #[test]
        fn any_configuration_is_loaded_within_bounds_or_refused(
            shards in proptest::prelude::any::<i64>(),
            retention_hours in proptest::prelude::any::<i64>(),
            max_age_secs in proptest::prelude::any::<i64>(),
            max_bytes in proptest::prelude::any::<i64>(),
            days in proptest::prelude::any::<i64>(),
            users in proptest::prelude::any::<i64>(),
            products in proptest::prelude::any::<i64>(),
            dirty_rate in proptest::prelude::any::<f64>(),
            start_offset in -1_000_000i64..1_000_000,
            zone in proptest::sample::select(vec!["UTC", "Asia/Ho_Chi_Minh", "Mars/Base", "", "utc"]),
        ) {
            // Small values most of the time, so that some files load.
            let small = |v: i64| if v % 3 == 0 { v } else { v.rem_euclid(100) };
            let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
                + chrono::Duration::days(start_offset);
            let text = format!(
                "time_zone = {zone:?}\n\
                 [stream]\nshards = {}\nretention_hours = {}\n\
                 [sink]\nmax_age_secs = {}\nmax_bytes = {}\n\
                 [generator]\nstart = \"{start}\"\ndays = {}\nusers = {}\nproducts = {}\ndirty_rate = {dirty_rate:?}\n",
                small(shards), small(retention_hours), small(max_age_secs),
                if max_bytes % 3 == 0 { max_bytes } else { 1 << 20 },
                small(days), small(users), small(products),
            );
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("fashion.toml");
            std::fs::write(&file, &text).unwrap();
            let cli = Cli::parse_from(["fashion", "--config", file.to_str().unwrap(), "generate"]);
            match Settings::load(&cli) {
                Ok(s) => {
                    proptest::prop_assert!((1..=64).contains(&s.stream.shards), "{text}");
                    proptest::prop_assert!((1..=8_760).contains(&s.stream.retention_hours));
                    proptest::prop_assert!((1..=86_400).contains(&s.sink.max_age_secs));
                    proptest::prop_assert!((1024..=(1 << 30)).contains(&s.sink.max_bytes));
                    proptest::prop_assert!((1..=3_650).contains(&s.generator.days));
                    proptest::prop_assert!((0.0..=1.0).contains(&s.generator.dirty_rate));
                    proptest::prop_assert!(
                        s.generator
                            .start
                            .checked_add_days(chrono::Days::new(u64::from(s.generator.days) + 1))
                            .is_some(),
                        "{text}"
                    );
                    proptest::prop_assert!(fashion_domain::calendar::parse_time_zone(&s.time_zone).is_ok());
                }
                Err(e) => proptest::prop_assert!(e.to_string().contains("invalid configuration"), "{e}"),
            }
        }
    }
}
