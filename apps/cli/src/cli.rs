//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The fashion-store data pipeline: clickstream to recommendations, a lake for trends, and the
/// daily purchases job, on one machine or on AWS.
#[derive(Debug, Parser)]
#[command(name = "fashion", version, about, long_about = None)]
pub struct Cli {
    /// Where the local stack keeps its data [default: ./fashion-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,

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
}
