//! One module per command; each builds what it needs and calls the services.

mod catalog;
mod generate;

use crate::cli::{Cli, Command};
use crate::settings::Settings;

/// Runs the parsed command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command {
        Command::Catalog(cmd) => catalog::run(cmd, &settings, cli.json).await,
        Command::Generate(args) => generate::run(&args, &settings, cli.json).await,
    }
}
