//! `fashion dead-letters list|replay`: what was set aside and why, and the replay of the click
//! events that are valid now (the domain's `replay`).

use std::collections::BTreeMap;

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::event::parse_timestamp;
use fashion_domain::ports::{DeadLetterReader, SystemClock};
use fashion_domain::services::replay::replay;
use serde::Serialize;

use crate::cli::{DeadLetterFilter, DeadLettersCommand};
use crate::output::print_json;
use crate::ports::Ports;
use crate::settings::Settings;

/// The letters the filter selects, oldest first.
async fn select(
    store: &dyn DeadLetterReader,
    filter: &DeadLetterFilter,
) -> anyhow::Result<Vec<DeadLetter>> {
    let since: Option<DateTime<Utc>> = filter
        .since
        .as_deref()
        .map(|s| {
            parse_timestamp(s)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("--since {s:?} is not an RFC 3339 instant"))
        })
        .transpose()?;
    Ok(store
        .list(filter.limit)
        .await
        .context("failed to read the dead letters")?
        .into_iter()
        .filter(|l| filter.code.as_ref().is_none_or(|c| &l.code == c))
        .filter(|l| filter.source.as_ref().is_none_or(|s| &l.source == s))
        .filter(|l| since.is_none_or(|t| l.at >= t))
        .collect())
}

#[derive(Serialize)]
struct Listing {
    total_stored: u64,
    selected: usize,
    by_rule: BTreeMap<String, u64>,
    letters: Vec<DeadLetter>,
}

pub async fn run(cmd: DeadLettersCommand, settings: &Settings, json: bool) -> anyhow::Result<()> {
    let ports = Ports::open(settings, Arc::new(SystemClock)).await?;
    let store = ports.dead_letters.as_ref();
    match cmd {
        DeadLettersCommand::List(filter) => {
            let letters = select(store, &filter).await?;
            let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
            for l in &letters {
                let n = by_rule
                    .entry(format!("{}/{}", l.source, l.code))
                    .or_default();
                *n = n.saturating_add(1);
            }
            let listing = Listing {
                total_stored: store
                    .count()
                    .await
                    .context("failed to count dead letters")?,
                selected: letters.len(),
                by_rule,
                letters,
            };
            if json {
                return print_json(&listing);
            }
            for l in &listing.letters {
                let reason: String = l.reason.chars().take(80).collect();
                println!(
                    "{}  {:<16} {:<20} {:<28} {reason}",
                    l.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    l.source,
                    l.code,
                    l.origin
                );
            }
            println!(
                "{} of {} stored dead letters",
                listing.selected, listing.total_stored
            );
            for (rule, n) in &listing.by_rule {
                println!("  {rule:<40} {n:>8}");
            }
            Ok(())
        }
        DeadLettersCommand::Replay { filter, dry_run } => {
            let letters = select(store, &filter).await?;
            let report = replay(
                &letters,
                ports.products.as_ref(),
                ports.stream.as_ref(),
                dry_run,
            )
            .await?;
            if json {
                return print_json(&report);
            }
            let verb = if dry_run { "would replay" } else { "replayed" };
            println!(
                "{verb} {} of {} letters; {} truncated (cannot be replayed)",
                report.replayed, report.examined, report.truncated
            );
            for (rule, n) in &report.still_invalid {
                println!("  still {rule:<30} {n:>8}");
            }
            for f in &report.failed {
                println!("  refused by the stream: {f}");
            }
            anyhow::ensure!(
                report.failed.is_empty(),
                "{} records were refused by the stream",
                report.failed.len()
            );
            Ok(())
        }
    }
}
