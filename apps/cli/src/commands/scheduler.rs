//! `fashion scheduler run`: the local stack's scheduler on the real clock. It remembers the
//! instant up to which every due job succeeded (in `scheduler.json` in the data directory), so a
//! restart runs what fell due while it was down, and a failed job is tried again (with a growing
//! pause) until it succeeds; a job that succeeded is not repeated.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use fashion_domain::calendar::StoreDay;
use fashion_domain::ports::{Clock, SystemClock};
use fashion_domain::services::schedule::{Due, Schedule};
use serde::{Deserialize, Serialize};

use crate::output::print_json;
use crate::settings::Settings;
use crate::stack::LocalStack;

const STATE_FILE: &str = "scheduler.json";
/// Longest sleep between checks.
const MAX_SLEEP: StdDuration = StdDuration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
struct SchedulerState {
    last_check: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct JobRun {
    job: Due,
    ok: bool,
    detail: String,
}

fn load(settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let path = settings.path(STATE_FILE);
    match std::fs::read(&path) {
        Ok(b) => Ok(serde_json::from_slice::<SchedulerState>(&b)
            .with_context(|| format!("failed to parse {}", path.display()))?
            .last_check),
        // First start: nothing is owed from before.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(now),
        Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
}

fn save(settings: &Settings, last_check: DateTime<Utc>) -> anyhow::Result<()> {
    let path = settings.path(STATE_FILE);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&SchedulerState { last_check })?)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("failed to write {}", path.display()))
}

async fn run_job(stack: &LocalStack, settings: &Settings, job: Due) -> JobRun {
    let result = match job {
        Due::DailyJob { day, .. } => stack
            .daily_job()
            .run(StoreDay::new(day, settings.tz()))
            .await
            .map(|r| {
                format!(
                    "{} orders, {} lines published",
                    r.written.get("orders").unwrap_or(&0),
                    r.written.get("order_items").unwrap_or(&0)
                )
            })
            .map_err(|e| e.to_string()),
        Due::Train { at } => stack
            .trainer()
            .train(at)
            .await
            .map(|(_, r)| format!("model {}", r.version))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(detail) => {
            tracing::info!(job = ?job, detail = %detail, "Ran a scheduled job.");
            JobRun {
                job,
                ok: true,
                detail,
            }
        }
        Err(detail) => {
            tracing::error!(job = ?job, error.message = %detail, "A scheduled job failed.");
            JobRun {
                job,
                ok: false,
                detail,
            }
        }
    }
}

pub async fn run(
    settings: &Settings,
    once: bool,
    trainer_hours: u32,
    json: bool,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stack = LocalStack::open(settings, clock.clone()).await?;
    let schedule = Schedule {
        trainer_period: Duration::hours(i64::from(trainer_hours.max(1))),
        ..Schedule::new(settings.tz())
    };
    let mut last = load(settings, clock.now())?;
    let mut runs = Vec::new();
    let mut retry_wait = StdDuration::from_secs(30);
    loop {
        let now = clock.now();
        // Jobs run in order; the checkpoint moves only past jobs that succeeded, so a failed job
        // (and what follows it) runs again on the next check, after a growing pause.
        let mut checked = now;
        let mut failed = false;
        for job in schedule.due(last, now) {
            let r = run_job(&stack, settings, job).await;
            if !json {
                println!(
                    "{} {:?}: {}",
                    if r.ok { "ok    " } else { "FAILED" },
                    r.job,
                    r.detail
                );
            }
            let ok = r.ok;
            runs.push(r);
            if !ok {
                checked = job
                    .at()
                    .checked_sub_signed(Duration::seconds(1))
                    .unwrap_or(checked);
                failed = true;
                break;
            }
        }
        last = checked;
        save(settings, last)?;
        if once {
            break;
        }
        let wait = if failed {
            retry_wait = retry_wait
                .saturating_mul(2)
                .min(StdDuration::from_secs(15 * 60));
            retry_wait.checked_div(2).unwrap_or_default()
        } else {
            retry_wait = StdDuration::from_secs(30);
            let next = schedule
                .due(
                    now,
                    now.checked_add_signed(Duration::days(2))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                )
                .first()
                .map(Due::at);
            next.map_or(MAX_SLEEP, |t| {
                t.signed_duration_since(now)
                    .to_std()
                    .unwrap_or_default()
                    .min(MAX_SLEEP)
            })
        };
        tokio::time::sleep(wait.max(StdDuration::from_millis(200))).await;
    }
    if json {
        return print_json(&runs);
    }
    if runs.is_empty() {
        println!("Nothing was due.");
    }
    Ok(())
}
