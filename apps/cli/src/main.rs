//! `fashion`: reads the configuration, builds the configured stack's adapters, and runs one
//! command. All logic lives in the domain services; this file only wires.

mod cli;
mod commands;
mod demo_stack;
#[cfg(feature = "aws")]
mod emulator;
mod output;
mod settings;
mod stack;
mod telemetry;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    telemetry::init(cli.verbose);
    let settings = match settings::Settings::load(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    match commands::run(cli, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error.cause_chain = ?e, "Command failed.");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
