//! One module per command; each builds what it needs and calls the services.

mod catalog;
mod dead_letters;
pub mod demo;
mod etl;
mod generate;
mod lake;
pub mod pipeline;
mod realtime;
mod scheduler;
mod serve;

use crate::cli::{Cli, Command, EtlCommand, SchedulerCommand, SinkCommand, StreamCommand};
use crate::settings::Settings;

/// Runs the parsed command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let json = cli.json;
    if let Some(why) = crate::ports::local_only(&cli.command, settings.stack) {
        anyhow::bail!("{why}");
    }
    match cli.command {
        Command::Catalog(cmd) => catalog::run(cmd, &settings, json).await,
        Command::Generate(args) => generate::run(&args, &settings, json).await,
        Command::Demo(args) => Box::pin(demo::run(&settings, &args, json)).await,
        Command::Stream(StreamCommand::Consume { follow, batch_size }) => {
            realtime::consume(&settings, follow, usize::from(batch_size), json).await
        }
        Command::Sink(SinkCommand::Run { follow }) => realtime::sink(&settings, follow, json).await,
        Command::Train => realtime::train(&settings, json).await,
        Command::Eval => realtime::eval(&settings, json).await,
        Command::Scheduler(SchedulerCommand::Run {
            once,
            trainer_hours,
        }) => scheduler::run(&settings, once, trainer_hours, json).await,
        Command::Serve(args) => serve::run(&settings, &args).await,
        Command::Recs { user_id } => realtime::recs(&settings, &user_id, json).await,
        Command::Etl(EtlCommand::Run { date, invoke }) => {
            etl::run(&settings, date, etl::Runner::of(invoke), json).await
        }
        Command::Etl(EtlCommand::Backfill { from, to, invoke }) => {
            etl::backfill(&settings, from, to, etl::Runner::of(invoke), json).await
        }
        Command::Query(args) => lake::query(&settings, &args, json).await,
        Command::Trends(args) => lake::trends(&settings, &args, json).await,
        Command::DeadLetters(cmd) => dead_letters::run(cmd, &settings, json).await,
    }
}
