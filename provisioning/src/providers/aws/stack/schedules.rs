//! Schedules: EventBridge Scheduler runs the daily job and the trainer in the store's time
//! zone, with a role that may invoke exactly those two functions.

use serde_json::json;

use super::common::function_arn;
use super::identity::{role_arn, role_policy, service_role};
use crate::engine::desired::{Builder, tags};
use crate::layout::names;
use crate::providers::aws::iam::allow;
use crate::providers::aws::scheduler::{self, GroupProps, ScheduleProps};

/// The scheduler's role and policy, the group, the two schedules.
pub fn declare(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    service_role(
        b,
        names::SCHEDULER,
        "scheduler.amazonaws.com",
        "aws:SourceAccount",
        "Invokes the daily job and the trainer on schedule",
    );
    let targets = [names::DAILY_JOB, names::TRAINER]
        .into_iter()
        .flat_map(|name| {
            let arn = function_arn(b, name);
            [arn.clone(), format!("{arn}:*")]
        })
        .collect::<Vec<_>>();
    let statement = allow(
        "InvokeScheduledFunctions",
        &["lambda:InvokeFunction"],
        &targets,
    );
    let policy = role_policy(b, names::SCHEDULER, &[statement]);
    let group = cfg.name_prefix.clone();
    let group_id = b.add(
        scheduler::GROUP_KIND,
        names::SCHEDULES,
        group.clone(),
        &GroupProps { tags: tags(cfg) },
        &[],
    );
    for (name, expression, description) in [
        (
            names::DAILY_JOB,
            cfg.schedule.daily_job.clone(),
            "Yesterday's orders into the lake, just after midnight store time",
        ),
        (
            names::TRAINER,
            cfg.schedule.trainer.clone(),
            "Retrains neighbours and trend scores",
        ),
    ] {
        let input = json!({
            "job": name,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "time_zone": cfg.time_zone,
        });
        b.add(
            scheduler::SCHEDULE_KIND,
            name,
            cfg.physical(name),
            &ScheduleProps {
                group: group.clone(),
                expression,
                time_zone: cfg.time_zone.clone(),
                description: description.into(),
                target_arn: function_arn(b, name),
                role_arn: role_arn(b, names::SCHEDULER),
                input: input.to_string(),
                max_retries: cfg.schedule.max_retries,
                max_event_age_secs: 3600,
                state: "ENABLED".into(),
            },
            &[group_id.clone(), policy.clone()],
        );
    }
}
