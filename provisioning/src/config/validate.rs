//! Validation of a stack's configuration: every problem found, reported at once.

use anyhow::bail;

use super::{EMULATOR_ENDPOINT_VARS, MIN_AWS_BACKUP_RETENTION_DAYS, StackConfig, StackName};

/// The most records Lambda's Kinesis event-source mapping delivers in one batch.
pub const MAX_KINESIS_BATCH: i32 = 10_000;

impl StackConfig {
    /// Checks every setting, reporting all problems at once.
    ///
    /// # Errors
    /// The list of problems.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                problems.push(msg);
            }
        };
        let p = &self.name_prefix;
        check(
            !p.is_empty()
                && p.len() <= 24
                && p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !p.ends_with('-'),
            format!("name_prefix {p:?}: 1 to 24 of a-z, 0-9 and '-', starting with a letter"),
        );
        check(
            self.time_zone.parse::<chrono_tz::Tz>().is_ok(),
            format!("time_zone {:?} is not an IANA time zone", self.time_zone),
        );
        if self.stack.is_aws() {
            check(!self.region.is_empty(), "region is empty".to_owned());
            check(
                (1..=500).contains(&self.stream.shards),
                format!("stream.shards {} not in 1..=500", self.stream.shards),
            );
            check(
                (24..=8760).contains(&self.stream.retention_hours),
                format!(
                    "stream.retention_hours {} not in 24..=8760",
                    self.stream.retention_hours
                ),
            );
            check(
                (60..=900).contains(&self.sink.buffer_interval_secs),
                format!(
                    "sink.buffer_interval_secs {} not in 60..=900",
                    self.sink.buffer_interval_secs
                ),
            );
            check(
                (64..=128).contains(&self.sink.buffer_size_mib),
                format!(
                    "sink.buffer_size_mib {} not in 64..=128 (Parquet conversion needs at least 64)",
                    self.sink.buffer_size_mib
                ),
            );
            let esm = &self.stream_processor;
            // A replayed batch changes nothing whatever its size: each customer's activity
            // remembers the stream position of its newest applied record. Kinesis allows up to
            // 10 000 records per batch.
            check(
                (1..=MAX_KINESIS_BATCH).contains(&esm.batch_size),
                format!(
                    "stream_processor.batch_size {} not in 1..={MAX_KINESIS_BATCH} (Kinesis's \
                     limit for an event-source mapping)",
                    esm.batch_size
                ),
            );
            check(
                (0..=300).contains(&esm.batching_window_secs),
                format!(
                    "stream_processor.batching_window_secs {} not in 0..=300",
                    esm.batching_window_secs
                ),
            );
            check(
                (-1..=10_000).contains(&esm.max_retries),
                format!(
                    "stream_processor.max_retries {} not in -1..=10000",
                    esm.max_retries
                ),
            );
            check(
                esm.max_record_age_secs == -1 || (60..=604_800).contains(&esm.max_record_age_secs),
                format!(
                    "stream_processor.max_record_age_secs {}: -1 or 60..=604800",
                    esm.max_record_age_secs
                ),
            );
            check(
                (1..=10).contains(&esm.parallelization_factor),
                format!(
                    "stream_processor.parallelization_factor {} not in 1..=10",
                    esm.parallelization_factor
                ),
            );
            check(
                matches!(esm.starting_position.as_str(), "TRIM_HORIZON" | "LATEST"),
                format!(
                    "stream_processor.starting_position {:?}: TRIM_HORIZON or LATEST",
                    esm.starting_position
                ),
            );
            for (name, expr) in [
                ("schedule.daily_job", &self.schedule.daily_job),
                ("schedule.trainer", &self.schedule.trainer),
            ] {
                check(
                    (expr.starts_with("cron(") || expr.starts_with("rate(")) && expr.ends_with(')'),
                    format!("{name} {expr:?}: a cron(...) or rate(...) expression"),
                );
            }
            check(
                matches!(self.functions.architecture.as_str(), "arm64" | "x86_64"),
                format!(
                    "functions.architecture {:?}: arm64 or x86_64",
                    self.functions.architecture
                ),
            );
            for (name, f) in self.function_configs() {
                check(
                    (128..=10_240).contains(&f.memory_mb),
                    format!(
                        "functions.{name}.memory_mb {} not in 128..=10240",
                        f.memory_mb
                    ),
                );
                check(
                    (1..=900).contains(&f.timeout_secs),
                    format!(
                        "functions.{name}.timeout_secs {} not in 1..=900",
                        f.timeout_secs
                    ),
                );
            }
            for (name, days) in [
                ("lake.raw_expiry_days", self.lake.raw_expiry_days),
                (
                    "lake.quarantine_retention_days",
                    self.lake.quarantine_retention_days,
                ),
                (
                    "lake.athena_results_expiry_days",
                    self.lake.athena_results_expiry_days,
                ),
                (
                    "lake.dead_letter_expiry_days",
                    self.lake.dead_letter_expiry_days,
                ),
                (
                    "lake.abort_incomplete_upload_days",
                    self.lake.abort_incomplete_upload_days,
                ),
                (
                    "lake.noncurrent_version_expiry_days",
                    self.lake.noncurrent_version_expiry_days,
                ),
            ] {
                check(days >= 1, format!("{name} {days} must be at least 1"));
            }
            for (name, prefix) in [
                ("lake.prefix", &self.lake.prefix),
                ("lake.raw_prefix", &self.lake.raw_prefix),
            ] {
                check(
                    prefix.ends_with('/') && !prefix.starts_with('/') && prefix.len() > 1,
                    format!("{name} {prefix:?} must look like \"name/\""),
                );
            }
            check(
                self.athena.bytes_scanned_cutoff >= 10 * 1024 * 1024,
                "athena.bytes_scanned_cutoff must be at least 10 MiB".to_owned(),
            );
            check(
                (20..=65_536).contains(&self.database.allocated_storage_gib),
                format!(
                    "database.allocated_storage_gib {} not in 20..=65536",
                    self.database.allocated_storage_gib
                ),
            );
            check(
                (0..=35).contains(&self.database.backup_retention_days),
                format!(
                    "database.backup_retention_days {} not in 0..=35",
                    self.database.backup_retention_days
                ),
            );
        }
        if self.stack == StackName::Aws {
            // Production data: these protections cannot be switched off by configuration.
            check(
                self.database.deletion_protection,
                "database.deletion_protection must be true on the aws stack (to delete the \
                 database on purpose, turn its protection off outside this tool)"
                    .to_owned(),
            );
            check(
                self.database.backup_retention_days >= MIN_AWS_BACKUP_RETENTION_DAYS,
                format!(
                    "database.backup_retention_days {} must be at least {MIN_AWS_BACKUP_RETENTION_DAYS} on the aws stack",
                    self.database.backup_retention_days
                ),
            );
            check(
                self.lake.require_tls,
                "lake.require_tls must be true on the aws stack (the buckets deny plain HTTP)"
                    .to_owned(),
            );
        }
        if self.stack == StackName::Emulator {
            check(
                self.endpoint_url.as_deref().is_some_and(|u| !u.is_empty()),
                format!(
                    "the emulator stack needs an endpoint: set {} (scripts/services starts moto and sets {})",
                    EMULATOR_ENDPOINT_VARS[0], EMULATOR_ENDPOINT_VARS[1]
                ),
            );
        }
        if self.stack == StackName::Local {
            check(
                !self.local.data_dir.as_os_str().is_empty(),
                "local.data_dir is empty".to_owned(),
            );
            check(
                (1..=1024).contains(&self.stream.shards),
                format!("stream.shards {} not in 1..=1024", self.stream.shards),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!(
                "invalid {} stack configuration:\n  - {}",
                self.stack,
                problems.join("\n  - ")
            )
        }
    }

    /// On the aws stack, why the daily job could not reach the orders database: RDS is never
    /// public, so the function must run in the database's VPC, and this stack creates no VPC.
    /// `None` when it can (or on a stack without a private database).
    #[must_use]
    pub fn unreachable_database(&self) -> Option<String> {
        if self.stack != StackName::Aws {
            return None;
        }
        let n = &self.network;
        let missing: Vec<&str> = [
            ("network.subnet_ids", n.subnet_ids.is_empty()),
            (
                "network.security_group_ids",
                n.security_group_ids.is_empty(),
            ),
            ("network.db_subnet_group", n.db_subnet_group.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, empty)| empty.then_some(name))
        .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the daily job cannot reach the orders database: the database is private and \
                 this stack creates no VPC, so name an existing VPC's private subnets, the \
                 security groups shared with the database and its DB subnet group ({} not set) \
                 in provisioning/stacks/aws.toml or the FASHION_PROVISION_NETWORK__* variables",
                missing.join(", ")
            )
        })
    }
}
