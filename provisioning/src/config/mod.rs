//! Stack configuration: which stack, its name prefix, region, time zone, and every knob the
//! desired resources are computed from.
//!
//! Layers, later wins: built-in defaults ([`StackConfig::default_for`]), then
//! `provisioning/stacks/<stack>.toml` (compiled in, so `cargo run` picks up edits), then an
//! optional extra file named by `FASHION_PROVISION_CONFIG`, then environment variables
//! `FASHION_PROVISION_<KEY>` with `__` between nested keys
//! (`FASHION_PROVISION_STREAM__SHARDS=2` sets `stream.shards`). Every problem is reported at once.

mod validate;

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Prefix of the environment variables that override a stack's configuration.
pub const ENV_PREFIX: &str = "FASHION_PROVISION_";
/// Environment variable naming an extra TOML file layered over the stack's file.
pub const ENV_CONFIG_FILE: &str = "FASHION_PROVISION_CONFIG";
/// Environment variables the `emulator` stack reads its endpoint from, in order.
pub const EMULATOR_ENDPOINT_VARS: [&str; 2] = ["AWS_ENDPOINT_URL", "FASHION_TEST_AWS_ENDPOINT"];

/// Fewest days of automated database backups the aws stack accepts.
pub const MIN_AWS_BACKUP_RETENTION_DAYS: i32 = 7;

const LOCAL_TOML: &str = include_str!("../../stacks/local.toml");
const EMULATOR_TOML: &str = include_str!("../../stacks/emulator.toml");
const AWS_TOML: &str = include_str!("../../stacks/aws.toml");

/// The three ways the system runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(clap::ValueEnum)]
pub enum StackName {
    /// Embedded: directories and SQLite databases under the data directory.
    Local,
    /// The AWS code against an AWS-compatible emulator on loopback.
    Emulator,
    /// Real AWS through the default credential chain.
    Aws,
}

impl StackName {
    /// The name used in ids, tags and file names.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Emulator => "emulator",
            Self::Aws => "aws",
        }
    }

    /// Whether this stack provisions AWS resources (real or emulated).
    #[must_use]
    pub const fn is_aws(self) -> bool {
        matches!(self, Self::Emulator | Self::Aws)
    }

    fn toml(self) -> &'static str {
        match self {
            Self::Local => LOCAL_TOML,
            Self::Emulator => EMULATOR_TOML,
            Self::Aws => AWS_TOML,
        }
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StackName {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "emulator" => Ok(Self::Emulator),
            "aws" => Ok(Self::Aws),
            other => bail!("unknown stack {other:?}: expected local, emulator or aws"),
        }
    }
}

/// Everything the desired resources of a stack are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// Which stack.
    pub stack: StackName,
    /// Prefix of every physical name (`fashion-dev` gives `fashion-dev-clickstream`).
    pub name_prefix: String,
    /// AWS region.
    pub region: String,
    /// The store's time zone (IANA name): the daily job runs at 00:01 here.
    pub time_zone: String,
    /// Directory holding `<stack>.json` (outputs and the last applied state).
    pub state_dir: PathBuf,
    /// Endpoint of an AWS-compatible emulator (the `emulator` stack only; filled from
    /// `AWS_ENDPOINT_URL` or `FASHION_TEST_AWS_ENDPOINT` when empty).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The S3 data lake.
    pub lake: LakeConfig,
    /// The clickstream (Kinesis).
    pub stream: StreamConfig,
    /// The micro-batch sink (Firehose).
    pub sink: SinkConfig,
    /// The Lambda functions.
    pub functions: FunctionsConfig,
    /// The stream processor's Kinesis event-source mapping.
    pub stream_processor: EventSourceConfig,
    /// Schedules of the daily job and the trainer.
    pub schedule: ScheduleConfig,
    /// The Athena workgroup.
    pub athena: AthenaConfig,
    /// The transactional database (RDS PostgreSQL).
    pub database: DatabaseConfig,
    /// Existing network to place the database and the daily job in (no VPC is created here).
    pub network: NetworkConfig,
    /// The embedded stack (`local`).
    pub local: LocalConfig,
}

/// The S3 data lake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// Bucket name; empty means `<prefix>-lake-<region>` (bucket names are global: pick a unique
    /// prefix on AWS).
    pub bucket: String,
    /// Prefix under which every lake table lives (`lake/` gives `s3://bucket/lake/orders/`).
    pub prefix: String,
    /// The raw zone: landed data before cleaning (Firehose error output, raw extracts).
    pub raw_prefix: String,
    /// Days after which objects of the raw zone expire.
    pub raw_expiry_days: i32,
    /// Days quarantined rows are kept.
    pub quarantine_retention_days: i32,
    /// Days Athena query results are kept.
    pub athena_results_expiry_days: i32,
    /// Days failed stream batches are kept in the dead-letter bucket.
    pub dead_letter_expiry_days: i32,
    /// Days after which incomplete multipart uploads are aborted.
    pub abort_incomplete_upload_days: i32,
    /// Days a lake object's old version is kept after it was overwritten or deleted (the window
    /// in which a bad backfill or a mistaken delete can be undone).
    pub noncurrent_version_expiry_days: i32,
    /// Bucket policies deny every request not made over TLS. Off on the emulator stack: moto
    /// answers over plain HTTP and enforces a bucket policy's Deny on object calls, so the apps
    /// could not read or write the lake there.
    pub require_tls: bool,
}

/// Capacity mode of the Kinesis stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// A fixed number of shards.
    Provisioned,
    /// Kinesis scales shards itself.
    OnDemand,
}

/// The clickstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Capacity mode.
    pub mode: StreamMode,
    /// Shards (provisioned mode; also the embedded stream's shard count).
    pub shards: i32,
    /// Hours records are kept (24 to 8760).
    pub retention_hours: i32,
    /// Server-side encryption with the AWS-managed KMS key.
    pub encrypted: bool,
}

/// Firehose buffering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Flush at least this often (60 to 900 s).
    pub buffer_interval_secs: i32,
    /// Flush at this size (64 to 128 MiB: the minimum with Parquet conversion and dynamic
    /// partitioning).
    pub buffer_size_mib: i32,
}

/// One Lambda function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// The packaged zip (a `bootstrap` executable inside).
    pub zip: PathBuf,
    /// Memory, MiB.
    pub memory_mb: i32,
    /// Timeout, seconds.
    pub timeout_secs: i32,
}

/// The Lambda functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionsConfig {
    /// Runtime of every function.
    pub runtime: String,
    /// `x86_64` or `arm64`, as the packages were built (the packaging script builds for the
    /// host, x86_64).
    pub architecture: String,
    /// Validate, enrich, recommend.
    pub stream_processor: FunctionConfig,
    /// The lake's rules on the delivery stream (Firehose's data transformation).
    pub firehose_transform: FunctionConfig,
    /// Yesterday's orders into the lake.
    pub daily_job: FunctionConfig,
    /// Neighbours and trends into a model artifact.
    pub trainer: FunctionConfig,
    /// The HTTP API behind a function URL.
    pub api: FunctionConfig,
    /// `RUST_LOG` of every function.
    pub log_level: String,
}

/// The Kinesis event-source mapping of the stream processor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSourceConfig {
    /// Records per invocation.
    pub batch_size: i32,
    /// Seconds to gather a batch.
    pub batching_window_secs: i32,
    /// Retries of a failing batch (bisected each time) before it goes to the dead-letter bucket.
    pub max_retries: i32,
    /// Records older than this go to the dead-letter bucket (-1: never).
    pub max_record_age_secs: i32,
    /// Concurrent batches per shard.
    pub parallelization_factor: i32,
    /// `TRIM_HORIZON` or `LATEST`.
    pub starting_position: String,
}

/// Schedules (EventBridge Scheduler expressions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The daily job, in the store's time zone.
    pub daily_job: String,
    /// The trainer.
    pub trainer: String,
    /// Retries of a failed invocation.
    pub max_retries: i32,
}

/// The Athena workgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthenaConfig {
    /// Queries scanning more than this many bytes are cancelled.
    pub bytes_scanned_cutoff: i64,
}

/// The RDS PostgreSQL instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Instance class.
    pub instance_class: String,
    /// Major engine version (`17`); AWS picks the minor one.
    pub engine_version: String,
    /// Storage, GiB.
    pub allocated_storage_gib: i32,
    /// Days of automated backups.
    pub backup_retention_days: i32,
    /// Refuse deletion (then `destroy` fails until it is turned off).
    pub deletion_protection: bool,
    /// Delete without a final snapshot.
    pub skip_final_snapshot: bool,
    /// Standby in a second availability zone.
    pub multi_az: bool,
    /// Master user name (its password is generated and kept by AWS Secrets Manager).
    pub username: String,
    /// Initial database.
    pub name: String,
}

/// An existing network (not created here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// DB subnet group of the database; empty: the default VPC's.
    pub db_subnet_group: String,
    /// Security groups of the database and of the daily job.
    pub security_group_ids: Vec<String>,
    /// Subnets the daily job runs in; empty: outside any VPC (it cannot reach a private database).
    pub subnet_ids: Vec<String>,
}

/// The embedded stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The data directory (the CLI's `data_dir`).
    pub data_dir: PathBuf,
}

impl StackConfig {
    /// Built-in defaults for a stack, before its TOML file and the environment.
    #[must_use]
    pub fn default_for(stack: StackName) -> Self {
        // Where `apps/lambda/scripts/package` writes the zips: `$CARGO_TARGET_DIR/lambda/`, with
        // the same default target directory as the project's scripts.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".cache/fashion-pipeline/target"))
            })
            .unwrap_or_else(|| PathBuf::from("target"));
        let function = |name: &str, memory_mb, timeout_secs| FunctionConfig {
            zip: target.join("lambda").join(format!("{name}.zip")),
            memory_mb,
            timeout_secs,
        };
        Self {
            stack,
            name_prefix: "fashion-dev".to_owned(),
            region: "us-east-1".to_owned(),
            time_zone: "UTC".to_owned(),
            state_dir: PathBuf::from(".state"),
            endpoint_url: None,
            lake: LakeConfig {
                bucket: String::new(),
                prefix: "lake/".to_owned(),
                raw_prefix: "raw/".to_owned(),
                raw_expiry_days: 30,
                quarantine_retention_days: 365,
                athena_results_expiry_days: 30,
                dead_letter_expiry_days: 30,
                abort_incomplete_upload_days: 7,
                noncurrent_version_expiry_days: 30,
                require_tls: true,
            },
            stream: StreamConfig {
                mode: StreamMode::Provisioned,
                shards: 4,
                retention_hours: 24,
                encrypted: true,
            },
            sink: SinkConfig {
                buffer_interval_secs: 300,
                buffer_size_mib: 64,
            },
            functions: FunctionsConfig {
                runtime: "provided.al2023".to_owned(),
                architecture: "x86_64".to_owned(),
                stream_processor: function("stream-processor", 512, 60),
                firehose_transform: function("firehose-transform", 256, 60),
                daily_job: function("daily-job", 2048, 900),
                trainer: function("trainer", 2048, 900),
                api: function("api", 256, 10),
                log_level: "info".to_owned(),
            },
            stream_processor: EventSourceConfig {
                batch_size: 100,
                batching_window_secs: 5,
                max_retries: 3,
                max_record_age_secs: 21_600,
                parallelization_factor: 1,
                starting_position: "TRIM_HORIZON".to_owned(),
            },
            schedule: ScheduleConfig {
                daily_job: "cron(1 0 * * ? *)".to_owned(),
                trainer: "rate(6 hours)".to_owned(),
                max_retries: 2,
            },
            athena: AthenaConfig {
                bytes_scanned_cutoff: 10 * 1024 * 1024 * 1024,
            },
            database: DatabaseConfig {
                instance_class: "db.t4g.micro".to_owned(),
                engine_version: "17".to_owned(),
                allocated_storage_gib: 20,
                backup_retention_days: MIN_AWS_BACKUP_RETENTION_DAYS,
                // On for production; the emulator and local stacks must be able to destroy.
                deletion_protection: stack == StackName::Aws,
                skip_final_snapshot: false,
                multi_az: false,
                username: "fashion".to_owned(),
                name: "fashion".to_owned(),
            },
            network: NetworkConfig::default(),
            local: LocalConfig {
                data_dir: PathBuf::from("fashion-data"),
            },
        }
    }

    /// The built-in defaults with the stack's TOML file over them, before the environment (not
    /// validated: the emulator's endpoint, for one, comes from the environment).
    ///
    /// # Errors
    /// When the stack file does not parse.
    pub fn builtin(stack: StackName) -> anyhow::Result<Self> {
        let mut cfg: Self = Figment::from(Serialized::defaults(Self::default_for(stack)))
            .merge(Toml::string(stack.toml()))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid stacks/{stack}.toml: {e}"))?;
        cfg.stack = stack;
        Ok(cfg)
    }

    /// Loads a stack's configuration: defaults, its TOML file, `FASHION_PROVISION_CONFIG`, then
    /// `FASHION_PROVISION_…` variables; validates it.
    ///
    /// # Errors
    /// Every invalid setting, reported together.
    pub fn load(stack: StackName) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Self::builtin(stack)?));
        if let Some(extra) = std::env::var_os(ENV_CONFIG_FILE) {
            figment = figment.merge(Toml::file_exact(PathBuf::from(extra)));
        }
        let mut cfg: Self = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
            .extract()
            .map_err(|e| {
                let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
                anyhow::anyhow!(
                    "invalid {stack} stack configuration:\n  - {}",
                    all.join("\n  - ")
                )
            })?;
        cfg.stack = stack;
        if stack == StackName::Emulator && cfg.endpoint_url.as_deref().is_none_or(str::is_empty) {
            cfg.endpoint_url = EMULATOR_ENDPOINT_VARS
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The functions' settings with their config keys.
    #[must_use]
    pub fn function_configs(&self) -> [(&'static str, &FunctionConfig); 5] {
        [
            ("stream_processor", &self.functions.stream_processor),
            ("firehose_transform", &self.functions.firehose_transform),
            ("daily_job", &self.functions.daily_job),
            ("trainer", &self.functions.trainer),
            ("api", &self.functions.api),
        ]
    }

    /// The functions' settings by function name (`stream-processor`, …: the packages' names).
    #[must_use]
    pub fn functions_named(&self) -> [(&'static str, &FunctionConfig); 5] {
        use crate::layout::names;
        let f = &self.functions;
        [
            (names::STREAM_PROCESSOR, &f.stream_processor),
            (names::FIREHOSE_TRANSFORM, &f.firehose_transform),
            (names::DAILY_JOB, &f.daily_job),
            (names::TRAINER, &f.trainer),
            (names::API, &f.api),
        ]
    }

    /// The functions' settings by function name (which is also their package's name), to
    /// point them at packages.
    pub fn functions_by_name(&mut self) -> [(&'static str, &mut FunctionConfig); 5] {
        use crate::layout::names;
        let f = &mut self.functions;
        [
            (names::STREAM_PROCESSOR, &mut f.stream_processor),
            (names::FIREHOSE_TRANSFORM, &mut f.firehose_transform),
            (names::DAILY_JOB, &mut f.daily_job),
            (names::TRAINER, &mut f.trainer),
            (names::API, &mut f.api),
        ]
    }

    /// The AWS partition of the region (`aws`, `aws-cn`, `aws-us-gov`).
    #[must_use]
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// `<prefix>-<suffix>`: every physical name is derived this way, never random.
    #[must_use]
    pub fn physical(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name_prefix)
    }

    /// The lake bucket's name.
    #[must_use]
    pub fn lake_bucket(&self) -> String {
        if self.lake.bucket.is_empty() {
            self.physical(&format!("lake-{}", self.region))
        } else {
            self.lake.bucket.clone()
        }
    }

    /// Where the delivery stream puts the clickstream: the table's prefix in the lake with
    /// Firehose's expressions for the `dt` and `hour` keys the transformation function returns
    /// (`!{partitionKeyFromLambda:dt}`), which Firehose replaces per record.
    #[must_use]
    pub fn clickstream_delivery_prefix(&self) -> String {
        format!(
            "{}{}/dt=!{{partitionKeyFromLambda:dt}}/hour=!{{partitionKeyFromLambda:hour}}/",
            self.lake.prefix,
            fashion_domain::lake::tables::CLICKSTREAM
        )
    }

    /// The Glue database's name (Glue wants lower case, digits and underscores).
    #[must_use]
    pub fn glue_database(&self) -> String {
        format!("{}_lake", self.name_prefix.replace('-', "_"))
    }

    /// Where `<stack>.json` lives.
    #[must_use]
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join(format!("{}.json", self.stack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stack_file_loads_and_validates() {
        for stack in [StackName::Local, StackName::Aws] {
            StackConfig::builtin(stack).unwrap().validate().unwrap();
        }
        // The emulator's endpoint comes from the environment; give it one directly.
        let mut emu = StackConfig::builtin(StackName::Emulator).unwrap();
        emu.endpoint_url = Some("http://127.0.0.1:1".into());
        emu.validate().unwrap();
        assert_eq!(
            StackConfig::builtin(StackName::Aws)
                .unwrap()
                .stream
                .retention_hours,
            48
        );
    }

    #[test]
    fn invalid_settings_are_all_reported_together() {
        // Arrange
        let mut cfg = StackConfig::default_for(StackName::Aws);
        cfg.name_prefix = "Bad_Prefix".into();
        cfg.time_zone = "Mars/Olympus".into();
        cfg.sink.buffer_size_mib = 5;
        // Act
        let err = cfg.validate().unwrap_err().to_string();
        // Assert
        assert!(err.contains("name_prefix"), "{err}");
        assert!(err.contains("time_zone"), "{err}");
        assert!(err.contains("buffer_size_mib"), "{err}");
    }

    /// A replayed batch is recognised by position whatever its size (issue 13 lifted issue
    /// 14's cap at the remembered ids), so the limit is Kinesis's own.
    #[test]
    fn a_batch_beyond_kinesis_limit_is_refused() {
        let mut cfg = StackConfig::default_for(StackName::Aws);
        cfg.stream_processor.batch_size = validate::MAX_KINESIS_BATCH;
        cfg.validate().unwrap();
        cfg.stream_processor.batch_size = validate::MAX_KINESIS_BATCH + 1;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("stream_processor.batch_size 10001"), "{err}");
        cfg.stream_processor.batch_size = 0;
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn the_api_function_is_packaged_next_to_the_others_and_validated_like_them() {
        // Arrange
        let mut cfg = StackConfig::builtin(StackName::Aws).unwrap();
        // Act
        let keys: Vec<&str> = cfg.function_configs().iter().map(|(k, _)| *k).collect();
        // Assert
        assert_eq!(
            keys,
            [
                "stream_processor",
                "firehose_transform",
                "daily_job",
                "trainer",
                "api"
            ]
        );
        let api = &cfg.functions.api;
        assert_eq!(api.zip.file_name().unwrap(), "api.zip");
        assert_eq!(api.zip.parent(), cfg.functions.trainer.zip.parent());
        assert_eq!((api.memory_mb, api.timeout_secs), (256, 10));
        cfg.functions.api.timeout_secs = 0;
        cfg.functions.api.memory_mb = 64;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("functions.api.timeout_secs 0"), "{err}");
        assert!(err.contains("functions.api.memory_mb 64"), "{err}");
    }

    #[test]
    fn the_aws_stack_refuses_to_switch_off_deletion_protection_backups_or_tls() {
        // Arrange
        let cfg = StackConfig::builtin(StackName::Aws).unwrap();
        assert!(cfg.database.deletion_protection);
        assert!(cfg.database.backup_retention_days >= 7);
        assert!(cfg.lake.require_tls);
        let mut weakened = cfg.clone();
        weakened.database.deletion_protection = false;
        weakened.database.backup_retention_days = 6;
        weakened.lake.require_tls = false;
        // Act
        let err = weakened.validate().unwrap_err().to_string();
        // Assert
        assert!(err.contains("database.deletion_protection"), "{err}");
        assert!(err.contains("database.backup_retention_days 6"), "{err}");
        assert!(err.contains("lake.require_tls"), "{err}");
        // Seven days is accepted; the emulator may still turn TLS and protection off.
        let mut seven = cfg;
        seven.database.backup_retention_days = 7;
        seven.validate().unwrap();
        let mut emu = StackConfig::builtin(StackName::Emulator).unwrap();
        emu.endpoint_url = Some("http://127.0.0.1:1".into());
        assert!(!emu.lake.require_tls && !emu.database.deletion_protection);
        emu.validate().unwrap();
    }

    #[test]
    fn the_emulator_stack_without_an_endpoint_says_which_variable_to_set() {
        let cfg = StackConfig::default_for(StackName::Emulator);
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    }

    #[test]
    fn physical_names_are_derived_from_the_prefix() {
        let cfg = StackConfig::default_for(StackName::Aws);
        assert_eq!(cfg.physical("clickstream"), "fashion-dev-clickstream");
        assert_eq!(cfg.lake_bucket(), "fashion-dev-lake-us-east-1");
        assert_eq!(cfg.glue_database(), "fashion_dev_lake");
        assert_eq!(cfg.partition(), "aws");
    }

    #[test]
    fn the_aws_stack_refuses_to_plan_a_daily_job_that_cannot_reach_its_database() {
        let mut cfg = StackConfig::builtin(StackName::Aws).unwrap();
        let problem = cfg.unreachable_database().expect("no network is set");
        for setting in [
            "network.subnet_ids",
            "network.security_group_ids",
            "network.db_subnet_group",
        ] {
            assert!(problem.contains(setting), "{problem}");
        }
        cfg.network.subnet_ids = vec!["subnet-1".into(), "subnet-2".into()];
        cfg.network.security_group_ids = vec!["sg-1".into()];
        let problem = cfg.unreachable_database().expect("no subnet group");
        assert!(!problem.contains("network.subnet_ids"), "{problem}");
        cfg.network.db_subnet_group = "orders".into();
        assert_eq!(cfg.unreachable_database(), None);
        let emulator = StackConfig::builtin(StackName::Emulator).unwrap();
        assert_eq!(
            emulator.unreachable_database(),
            None,
            "the emulator has no VPC"
        );
    }
}
