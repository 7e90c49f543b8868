//! `fashion etl run [--date D]` and `fashion etl backfill --from D --to D`.

use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use fashion_domain::calendar::StoreDay;
use fashion_domain::ports::{Clock, SystemClock};
use fashion_domain::services::catalog_sync::{CatalogSync, sync_catalog};
use fashion_domain::services::daily_job::{DailyJob, DailyJobReport};
use serde::Serialize;

use crate::output::print_json;
use crate::ports::{Ports, transactional};
use crate::settings::{Settings, StackKind};

fn print_report(r: &DailyJobReport) {
    let quarantined = r.quarantined_total();
    println!(
        "{}: extracted {} orders / {} lines; wrote {} orders, {} lines, {} daily_sales rows; quarantined {} orders / {} lines; dropped {} duplicate lines; {} ms.",
        r.date,
        r.extracted.orders,
        r.extracted.lines,
        r.written_to(fashion_domain::lake::tables::ORDERS),
        r.written_to(fashion_domain::lake::tables::ORDER_ITEMS),
        r.written_to(fashion_domain::lake::tables::DAILY_SALES),
        quarantined.orders,
        quarantined.lines,
        r.duplicate_lines_dropped,
        r.duration_ms
    );
    for (rule, n) in &r.quarantined {
        println!(
            "  quarantined {:<24} {} orders, {} lines",
            rule.as_str(),
            n.orders,
            n.lines
        );
    }
}

/// One day's run: the job, and on the AWS stacks the catalog's sync after it (as the daily-job
/// function does: the stream processor enriches from DynamoDB, the order system writes RDS).
#[derive(Debug, Serialize)]
pub struct EtlRun {
    /// The day's job.
    #[serde(flatten)]
    pub job: DailyJobReport,
    /// The product catalog's sync (not on the local stack, whose catalog `catalog import` and
    /// `generate` write directly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogSync>,
    /// The deployed function that ran the day (`--invoke`); none when it ran here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
}

/// Where the daily job runs: in this process, or the stack's deployed function (`--invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The daily-job service, run from where the command line runs.
    Here,
    /// The stack's deployed daily-job function (see `invoke`).
    Deployed,
}

impl Runner {
    /// From the `--invoke` flag.
    #[must_use]
    pub const fn of(invoke: bool) -> Self {
        if invoke { Self::Deployed } else { Self::Here }
    }
}

/// Runs the daily job for each day on the configured stack, in order, stopping at the first
/// failure.
pub async fn run_days(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    days: &[StoreDay],
    runner: Runner,
) -> anyhow::Result<Vec<EtlRun>> {
    if runner == Runner::Deployed {
        return invoke(settings, days).await;
    }
    let ports = Ports::open(settings, clock.clone()).await?;
    let db = transactional(settings).await?;
    let job = DailyJob::new(db.clone(), ports.lake.clone(), ports.tables.clone()).with_clock(clock);
    let mut out = Vec::with_capacity(days.len());
    for day in days {
        let report = job
            .run(*day)
            .await
            .with_context(|| format!("the daily job for {} failed", day.date))?;
        let catalog = if ports.stack == StackKind::Local {
            None
        } else {
            Some(
                sync_catalog(db.as_ref(), ports.products.as_ref())
                    .await
                    .context("the catalog's sync after the daily job failed")?,
            )
        };
        out.push(EtlRun {
            job: report,
            catalog,
            function: None,
        });
    }
    Ok(out)
}

async fn invoke(settings: &Settings, days: &[StoreDay]) -> anyhow::Result<Vec<EtlRun>> {
    anyhow::ensure!(
        settings.stack != StackKind::Local,
        "--invoke runs the stack's deployed daily-job function, and the local stack has none: \
         drop --invoke, or choose --stack emulator|aws"
    );
    #[cfg(feature = "aws")]
    return Ok(crate::invoke::daily_job(settings, days)
        .await?
        .into_iter()
        .map(|i| EtlRun {
            job: i.job,
            catalog: Some(i.catalog),
            function: Some(i.function),
        })
        .collect());
    #[cfg(not(feature = "aws"))]
    anyhow::bail!(
        "--invoke needs the AWS stacks, which this build lacks: build with `--features aws` \
         ({} days asked)",
        days.len()
    )
}

fn print_run(r: &EtlRun) {
    if let Some(f) = &r.function {
        println!("ran by the deployed function {f}:");
    }
    print_report(&r.job);
    if let Some(c) = &r.catalog {
        println!(
            "  catalog: {} products in the store, {} new or changed written to the catalog",
            c.in_store, c.written
        );
    }
}

pub async fn run(
    settings: &Settings,
    date: Option<NaiveDate>,
    runner: Runner,
    json: bool,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tz = settings.tz();
    let day = date.map_or_else(
        || StoreDay::yesterday(clock.now(), tz),
        |d| StoreDay::new(d, tz),
    );
    let runs = run_days(settings, clock, &[day], runner).await?;
    let run = runs.first().context("the daily job ran no day")?;
    if json {
        return print_json(run);
    }
    print_run(run);
    Ok(())
}

/// The most days one backfill runs (a year and a day): a longer range is most likely a typo,
/// and would hold the job for hours.
pub const MAX_BACKFILL_DAYS: u32 = 366;

/// The days of `from..=to`, refused when the range is reversed, ends after `today` or is longer
/// than [`MAX_BACKFILL_DAYS`].
///
/// # Errors
/// Naming the flag at fault.
pub fn backfill_days(
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> anyhow::Result<Vec<NaiveDate>> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    anyhow::ensure!(
        to <= today,
        "--to {to} is after today ({today}): there is nothing to run yet"
    );
    let span = to.signed_duration_since(from).num_days();
    anyhow::ensure!(
        span < i64::from(MAX_BACKFILL_DAYS),
        "--from {from} --to {to} spans {} days; a backfill runs at most {MAX_BACKFILL_DAYS} (split the range)",
        span.saturating_add(1)
    );
    Ok(from.iter_days().take_while(|d| *d <= to).collect())
}

pub async fn backfill(
    settings: &Settings,
    from: NaiveDate,
    to: NaiveDate,
    runner: Runner,
    json: bool,
) -> anyhow::Result<()> {
    let tz = settings.tz();
    let today = StoreDay::yesterday(chrono::Utc::now(), tz)
        .date
        .succ_opt()
        .unwrap_or(NaiveDate::MAX);
    let days: Vec<StoreDay> = backfill_days(from, to, today)?
        .into_iter()
        .map(|d| StoreDay::new(d, tz))
        .collect();
    let runs = run_days(settings, Arc::new(SystemClock), &days, runner).await?;
    if json {
        return print_json(&runs);
    }
    for r in &runs {
        print_run(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Issue 14: an unbounded date range is refused before anything runs.
    #[test]
    fn backfill_ranges_are_bounded_and_end_by_today() {
        let today = d("2026-12-04");
        assert_eq!(
            backfill_days(d("2026-11-30"), d("2026-12-02"), today).unwrap(),
            vec![d("2026-11-30"), d("2026-12-01"), d("2026-12-02")]
        );
        assert_eq!(
            backfill_days(d("2025-12-04"), today, today).unwrap().len(),
            366
        );
        for (from, to, says) in [
            ("2026-12-02", "2026-11-30", "is after --to"),
            ("2026-12-01", "2026-12-05", "after today"),
            ("0001-01-01", "2026-12-01", "at most 366"),
            ("2025-12-03", "2026-12-04", "at most 366"),
        ] {
            let err = backfill_days(d(from), d(to), today)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{from}..{to}: {err}");
        }
    }
}
