//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};

/// The fashion-store data pipeline: clickstream to recommendations, a lake for trends, and the
/// daily purchases job, on one machine or on AWS.
#[derive(Debug, Parser)]
#[command(name = "fashion", version, about, long_about = None)]
pub struct Cli {
    /// Where the local stack keeps its data [default: ./fashion-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,

    /// The stack to act on: `local` (the default, embedded), `emulator` or `aws` (as
    /// provisioned by `cargo run -p provisioning -- up --stack …`). Also `FASHION_STACK` or
    /// `stack =` in fashion.toml.
    #[arg(long, global = true, value_enum)]
    pub stack: Option<StackKind>,

    /// Seed for everything random [default: 42].
    #[arg(long, global = true)]
    pub seed: Option<u64>,

    /// The store's time zone, an IANA name such as Asia/Ho_Chi_Minh [default: UTC].
    #[arg(long, global = true)]
    pub time_zone: Option<String>,

    /// The transactional database: postgres://... (default: SQLite in the data directory).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A configuration file [default: ./fashion.toml when it exists].
    #[arg(long, global = true, env = "FASHION_CONFIG")]
    pub config: Option<PathBuf>,

    /// Print one JSON object instead of human-readable text.
    #[arg(long, global = true)]
    pub json: bool,

    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import or inspect the product catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Generate a synthetic store (catalog, customers, orders, clickstream) into the stores.
    Generate(GenerateArgs),
    /// Run the whole pipeline over simulated days and print a summary: on the embedded stack, or
    /// with `--stack emulator` through the AWS adapters against an AWS emulator.
    Demo(DemoArgs),
    /// Process the stream: validate, deduplicate, enrich, update activity, recommend.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Write the stream to the lake in micro-batches (what Firehose does on AWS).
    #[command(subcommand)]
    Sink(SinkCommand),
    /// Train a recommendation model from the lake's history.
    Train,
    /// Evaluate recommendations on a time-ordered hold-out (HR@10, NDCG@10) and trend detection.
    Eval,
    /// The daily batch job: yesterday's purchases to clean, aggregated, catalogued lake partitions.
    #[command(subcommand)]
    Etl(EtlCommand),
    /// Run SQL over the lake.
    Query(QueryArgs),
    /// Print the trend report: rising article types, colours and products.
    Trends(TrendsArgs),
    /// Run the local scheduler: the daily job at 00:01 store time, the trainer every few hours.
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// Serve the HTTP API (click collector, recommendations, trends, metrics), the browser
    /// tracker and the dashboard over the stack's stores.
    Serve(ServeArgs),
    /// Print a customer's recommendations.
    Recs {
        /// Customer id.
        user_id: String,
    },
    /// List the records set aside with their reasons, or put the click events among them that
    /// are valid now back on the stream.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// The stored dead letters, oldest first.
    List(DeadLetterFilter),
    /// Put the click events that pass every check now (a fixed bug, a product added to the
    /// catalog since) back on the stream; consumers drop event ids they already applied.
    Replay {
        /// Which letters.
        #[command(flatten)]
        filter: DeadLetterFilter,
        /// Report what would be replayed, and publish nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct DeadLetterFilter {
    /// Only letters of this rule (for example `unknown_product`).
    #[arg(long)]
    pub code: Option<String>,
    /// Only letters from this component (`stream-processor`, `lake-sink`, `api`, ...).
    #[arg(long)]
    pub source: Option<String>,
    /// Only letters set aside at or after this instant (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Read at most this many letters, oldest first, before filtering.
    #[arg(long, default_value_t = 100_000)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Days to simulate [default: 7; 3 on the emulator].
    #[arg(long)]
    pub days: Option<u32>,
    /// Customers [default: 2000; 200 on the emulator].
    #[arg(long)]
    pub users: Option<u32>,
    /// Products in the catalog [default: 3000; 400 on the emulator].
    #[arg(long)]
    pub products: Option<u32>,
    /// Share of records made dirty.
    #[arg(long, default_value_t = 0.01)]
    pub dirty_rate: f64,
    /// Wipe a data directory that holds something other than a previous demo.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; the first line printed says which).
    #[arg(long, default_value = "127.0.0.1:8080", env = "FASHION_API_ADDR")]
    pub addr: std::net::SocketAddr,
}

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Consume from the last checkpoint until caught up (or keep following with --follow).
    Consume {
        /// Keep polling for new records.
        #[arg(long)]
        follow: bool,
        /// Records per batch (at most 1000).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
        batch_size: u16,
    },
}

#[derive(Debug, Subcommand)]
pub enum SinkCommand {
    /// Read the stream from the sink's checkpoint; without --follow, flush everything at the end.
    Run {
        /// Keep polling, flushing by age and size.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchedulerCommand {
    /// Run jobs as they fall due; with --once, run what is due now and exit.
    Run {
        /// Run what is due since the last check, then exit.
        #[arg(long)]
        once: bool,
        /// Hours between training runs.
        #[arg(long, default_value_t = 6)]
        trainer_hours: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum EtlCommand {
    /// Run the daily job for one store day (default: yesterday in the store's time zone).
    Run {
        /// The store day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Run the stack's deployed daily-job function instead of running the job here
        /// (emulator and aws; on the emulator, which runs no function, its handler is run here
        /// with the function's provisioned environment).
        #[arg(long)]
        invoke: bool,
    },
    /// Run the daily job for every day of a range, inclusive.
    Backfill {
        /// First day.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Run the stack's deployed daily-job function for each day (see `etl run --invoke`).
        #[arg(long)]
        invoke: bool,
    },
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement (or use --named).
    pub sql: Option<String>,
    /// A named analysis query (see --list).
    #[arg(long, conflicts_with = "sql")]
    pub named: Option<String>,
    /// List the named queries.
    #[arg(long)]
    pub list: bool,
    /// Parameters bound to $1, $2, ... (text). A named query over recent days takes its last
    /// day as $1 (YYYY-MM-DD); without it, the latest day its table holds.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// The engine: `datafusion` (the local lake; on the emulator and AWS the S3 lake, read
    /// through the SDK) or `athena` (the aws stack's workgroup). Default: athena on aws,
    /// datafusion elsewhere.
    #[arg(long, value_enum)]
    pub engine: Option<SqlEngine>,
}

/// Which engine runs `fashion query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlEngine {
    /// DataFusion in this process.
    Datafusion,
    /// Athena, on the aws stack.
    Athena,
}

#[derive(Debug, Args)]
pub struct TrendsArgs {
    /// The day the report ends with (default: the last day with clicks).
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// Signals per dimension.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Load a Kaggle-format styles.csv (with or without a price column).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Print one product.
    Show {
        /// Product id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Days to simulate.
    #[arg(long)]
    pub days: Option<u32>,
    /// Customers.
    #[arg(long)]
    pub users: Option<u32>,
    /// Products in the catalog.
    #[arg(long)]
    pub products: Option<u32>,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    pub start: Option<chrono::NaiveDate>,
    /// Share of records made dirty (0 to 1).
    #[arg(long)]
    pub dirty_rate: Option<f64>,
    /// Generate over this catalog (a Kaggle-format styles.csv, the real one or any in its
    /// format) instead of a synthetic one: customers, sessions, clicks and orders over its
    /// products, the planted trends among its article types and colours. Rows the loader
    /// refuses are reported and left out; `--products` is then ignored.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}

/// The three ways the system runs; the names are provisioning's stacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum StackKind {
    /// Embedded: SQLite stores, the embedded stream and the Parquet lake in the data directory.
    #[default]
    Local,
    /// The AWS stack provisioned on an AWS emulator (`AWS_ENDPOINT_URL`).
    Emulator,
    /// The AWS stack provisioned in an account (the default credential chain).
    Aws,
}

impl StackKind {
    /// The name provisioning and the command line use.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Emulator => "emulator",
            Self::Aws => "aws",
        }
    }
}

impl std::fmt::Display for StackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
