//! `fashion`: reads the configuration, builds the configured stack's adapters, and runs one
//! command. All logic lives in the domain services; this file only wires.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "aws")]
mod aws_stack;
mod cli;
mod commands;
mod demo_stack;
#[cfg(feature = "aws")]
mod emulator;
#[cfg(feature = "aws")]
mod invoke;
mod output;
mod ports;
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
