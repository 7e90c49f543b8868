//! `provisioning preview|up|destroy|outputs --stack local|emulator|aws [--json] [--yes] [--diff]`:
//! reads the stack's configuration, builds the engine and runs one verb. `up` and `destroy`
//! show the plan and ask before changing anything, unless `--yes`; without a terminal to ask on,
//! they refuse.

// No panic reachable from input: these are denied outside tests.
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

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::render;
use provisioning::engine::state::StackState;
use provisioning::engine::{Engine, Report};
use provisioning::package;

/// Infrastructure as Rust code for the fashion-store pipeline.
#[derive(Debug, Parser)]
#[command(name = "provisioning", version, about)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Read every resource and print what `up` would change.
    Preview(Args),
    /// Create or update every resource in dependency order, then save the outputs.
    Up(Args),
    /// Delete every resource of the stack in reverse dependency order.
    Destroy(Args),
    /// Print the outputs saved by the last `up`.
    Outputs(Args),
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Which stack.
    #[arg(long, value_enum, default_value_t = StackName::Local)]
    stack: StackName,
    /// One JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Apply without asking for confirmation.
    #[arg(long)]
    yes: bool,
    /// Show every property a create sets and each changed value whole (policies and
    /// environments as line diffs), not only the changed fields' names and short values.
    #[arg(long)]
    diff: bool,
}

/// Exit code when the user declined or confirmation was impossible.
const EXIT_REFUSED: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.verb).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(report: &Report, args: &Args) -> anyhow::Result<()> {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).context("failed to serialize the report")?
        );
    } else {
        print!("{}", render::report_with(report, args.detail()));
    }
    Ok(())
}

impl Args {
    const fn detail(&self) -> render::Detail {
        if self.diff {
            render::Detail::Diff
        } else {
            render::Detail::Brief
        }
    }
}

fn exit(report: &Report) -> ExitCode {
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Asks on the terminal; refuses (with the reason) when there is none.
fn confirm(verb: &str, stack: StackName) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "refusing to {verb} the {stack} stack without confirmation: stdin is not a terminal, \
             so nobody can answer. Review the plan above and run again with --yes to apply it."
        );
        return Ok(false);
    }
    eprint!("Do you want to {verb} the {stack} stack as shown above? Type \"yes\" to continue: ");
    std::io::stderr()
        .flush()
        .context("failed to write the prompt")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("failed to read the answer")?;
    let yes = answer.trim() == "yes";
    if !yes {
        eprintln!("nothing changed");
    }
    Ok(yes)
}

fn outputs(args: &Args) -> anyhow::Result<ExitCode> {
    let config = StackConfig::load(args.stack)?;
    let Some(state) = StackState::load(&config.state_file())? else {
        anyhow::bail!(
            "no outputs for the {} stack in {}: run `cargo run -p provisioning -- up --stack {}` first",
            config.stack,
            config.state_file().display(),
            config.stack
        );
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&state.outputs)
                .context("failed to serialize the outputs")?
        );
    } else {
        print!("{}", render::outputs(&state.outputs));
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine of the stack `args` name; preview and up (`planning`) refuse an aws stack whose
/// daily job could not reach its database, before any AWS call.
async fn engine(args: &Args, planning: bool) -> anyhow::Result<Engine> {
    let config = StackConfig::load(args.stack)?;
    if planning && let Some(problem) = config.unreachable_database() {
        anyhow::bail!("{problem}");
    }
    provisioning::providers::connect(config).await
}

/// Builds the functions' packages before `up` on an AWS stack when any is missing or older than
/// its sources, with the repository's packaging script (the working directory must be inside the
/// repository); packages named by hand in the configuration are only checked.
fn build_packages(stack: StackName) -> anyhow::Result<()> {
    if !stack.is_aws() {
        return Ok(());
    }
    let config = StackConfig::load(stack)?;
    let here = std::env::current_dir().context("failed to read the working directory")?;
    let Some(root) = package::repository_root(&here) else {
        let missing: Vec<String> = config
            .functions_named()
            .iter()
            .filter(|(_, f)| !f.zip.is_file())
            .map(|(name, f)| format!("{name} ({})", f.zip.display()))
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "the Lambda packages {} are missing, and {} is not inside the repository whose \
             {} would build them",
            missing.join(", "),
            here.display(),
            package::PACKAGE_SCRIPT
        );
        return Ok(());
    };
    let stale = package::stale_packages(&config, &root);
    if stale.is_empty() {
        return Ok(());
    }
    let Some(out) = package::script_output_dir(&config) else {
        anyhow::bail!(
            "the Lambda packages of {} are missing or older than their sources, and the \
             configuration names them by hand: build them, then run up again",
            stale.join(", ")
        );
    };
    eprintln!(
        "Building the Lambda packages ({} missing or older than their sources) with {} ...",
        stale.join(", "),
        package::PACKAGE_SCRIPT
    );
    let status = std::process::Command::new(root.join(package::PACKAGE_SCRIPT))
        .arg(&out)
        .current_dir(&root)
        .status()
        .with_context(|| format!("failed to run {}", package::PACKAGE_SCRIPT))?;
    anyhow::ensure!(
        status.success(),
        "{} failed ({status}): nothing was provisioned",
        package::PACKAGE_SCRIPT
    );
    let still = package::stale_packages(&config, &root);
    anyhow::ensure!(
        still.is_empty(),
        "{} left the packages of {} missing or stale",
        package::PACKAGE_SCRIPT,
        still.join(", ")
    );
    Ok(())
}

async fn run(verb: Verb) -> anyhow::Result<ExitCode> {
    match verb {
        Verb::Outputs(args) => outputs(&args),
        Verb::Preview(args) => {
            let plan = engine(&args, true).await?.preview().await?;
            print(&plan, &args)?;
            Ok(exit(&plan))
        }
        Verb::Up(args) => {
            build_packages(args.stack)?;
            let engine = engine(&args, true).await?;
            if !args.yes {
                let plan = engine.preview().await?;
                if !plan.is_ok() {
                    print(&plan, &args)?;
                    eprintln!("not applying: the plan has failures");
                    return Ok(ExitCode::FAILURE);
                }
                if plan.has_changes() {
                    if !args.json {
                        print!("{}", render::report_with(&plan, args.detail()));
                    }
                    if !confirm("apply changes to", args.stack)? {
                        return Ok(ExitCode::from(EXIT_REFUSED));
                    }
                }
            }
            let report = engine.up().await?;
            print(&report, &args)?;
            Ok(exit(&report))
        }
        Verb::Destroy(args) => {
            let engine = engine(&args, false).await?;
            if !args.yes {
                let plan = engine.preview_destroy().await?;
                if plan.has_changes() {
                    if !args.json {
                        print!("{}", render::report_with(&plan, args.detail()));
                    }
                    if !confirm("destroy", args.stack)? {
                        return Ok(ExitCode::from(EXIT_REFUSED));
                    }
                }
            }
            let report = engine.destroy().await?;
            print(&report, &args)?;
            Ok(exit(&report))
        }
    }
}
