//! `fashion etl run [--date D]` and `fashion etl backfill --from D --to D`.

use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use fashion_domain::calendar::StoreDay;
use fashion_domain::ports::{Clock, SystemClock};
use fashion_domain::services::daily_job::DailyJobReport;

use crate::output::print_json;
use crate::settings::Settings;
use crate::stack::LocalStack;

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

/// Runs the daily job for each day, in order, stopping at the first failure.
pub async fn run_days(
    stack: &LocalStack,
    days: &[StoreDay],
) -> anyhow::Result<Vec<DailyJobReport>> {
    let job = stack.daily_job();
    let mut out = Vec::with_capacity(days.len());
    for day in days {
        let report = job
            .run(*day)
            .await
            .with_context(|| format!("the daily job for {} failed", day.date))?;
        out.push(report);
    }
    Ok(out)
}

pub async fn run(settings: &Settings, date: Option<NaiveDate>, json: bool) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tz = settings.tz();
    let day = date.map_or_else(
        || StoreDay::yesterday(clock.now(), tz),
        |d| StoreDay::new(d, tz),
    );
    let stack = LocalStack::open(settings, clock).await?;
    let reports = run_days(&stack, &[day]).await?;
    if json {
        return print_json(&reports[0]);
    }
    print_report(&reports[0]);
    Ok(())
}

pub async fn backfill(
    settings: &Settings,
    from: NaiveDate,
    to: NaiveDate,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    let tz = settings.tz();
    let days: Vec<StoreDay> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| StoreDay::new(d, tz))
        .collect();
    let stack = LocalStack::open(settings, Arc::new(SystemClock)).await?;
    let reports = run_days(&stack, &days).await?;
    if json {
        return print_json(&reports);
    }
    for r in &reports {
        print_report(r);
    }
    Ok(())
}
