//! EventBridge Scheduler: a schedule group (`aws:scheduler:schedule-group`, the taggable
//! container) and schedules (`aws:scheduler:schedule`) that invoke a Lambda function through a
//! role, in the store's time zone (the daily job at 00:01 store-local time).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleGroupState, ScheduleState,
    Tag, Target,
};
use serde::{Deserialize, Serialize};

use super::{
    IAM_PROPAGATION_TIMEOUT, OUT_ARN, OUT_NAME, absent_if, aws_err, clients, comparable_tags,
    gone_if, is_role_propagation, reread, retry_transient, seen_tags, tag_changes, wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The schedule group kind id.
pub const GROUP_KIND: &str = "aws:scheduler:schedule-group";
/// The schedule kind id.
pub const SCHEDULE_KIND: &str = "aws:scheduler:schedule";
/// A deleted schedule group (and its schedules) is gone within this.
pub const GROUP_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Desired (and observed) settings of a schedule group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProps {
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Desired (and observed) settings of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleProps {
    /// The group it belongs to.
    pub group: String,
    /// `cron(...)` or `rate(...)`.
    pub expression: String,
    /// IANA time zone the expression is read in.
    pub time_zone: String,
    /// What it is for.
    pub description: String,
    /// The function it invokes.
    pub target_arn: String,
    /// The role the scheduler invokes it with.
    pub role_arn: String,
    /// JSON the function receives.
    pub input: String,
    /// Retries of a failed invocation.
    pub max_retries: i32,
    /// An invocation not delivered within this many seconds is dropped.
    pub max_event_age_secs: i32,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
}

/// The schedule group kind.
#[derive(Debug, Default)]
pub struct ScheduleGroup;

#[async_trait]
impl ResourceKind for ScheduleGroup {
    fn kind(&self) -> &'static str {
        GROUP_KIND
    }

    fn label(&self) -> &'static str {
        "schedule group"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let s = &clients(cx)?.scheduler;
        let name = &spec.physical_name;
        let out = absent_if(
            s.get_schedule_group()
                .name(name)
                .send()
                .await
                .map_err(aws_err("read schedule group", name)),
            NOT_FOUND,
        )?;
        let Some(g) = out else { return Ok(None) };
        if g.state() == Some(&ScheduleGroupState::Deleting) {
            return Ok(None);
        }
        let arn = g.arn().unwrap_or_default().to_owned();
        let tags = s
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(aws_err("read the tags of schedule group", name))?;
        let seen = GroupProps {
            tags: comparable_tags(
                tags.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), arn),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: GroupProps = from_fields(spec)?;
        let name = &spec.physical_name;
        self.wait_gone(cx, name).await?;
        let tags = p
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        clients(cx)?
            .scheduler
            .create_schedule_group()
            .name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_err("create schedule group", name))?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: GroupProps = from_fields(spec)?;
        let s = &clients(cx)?.scheduler;
        let name = &spec.physical_name;
        let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
        let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
        if !remove.is_empty() {
            s.untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map_err(aws_err("untag schedule group", name))?;
        }
        if !add.is_empty() {
            let tags = add
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()?;
            s.tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(aws_err("tag schedule group", name))?;
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        gone_if(
            clients(cx)?
                .scheduler
                .delete_schedule_group()
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete schedule group", name)),
            NOT_FOUND,
        )?;
        self.wait_gone(cx, name).await
    }
}

impl ScheduleGroup {
    /// Group deletion is asynchronous (DELETING, then gone); a new group of the same name must
    /// wait for it.
    async fn wait_gone(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let s = &clients(cx)?.scheduler;
        wait_until(name, "deleted", GROUP_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                s.get_schedule_group()
                    .name(name)
                    .send()
                    .await
                    .map_err(aws_err("read schedule group", name)),
                NOT_FOUND,
            )?
            .is_none())
        })
        .await
    }
}

/// The schedule kind. Physical name: the schedule's name (unique within its group).
#[derive(Debug, Default)]
pub struct Schedule;

impl Schedule {
    async fn put(&self, cx: &Cx, spec: &ResourceSpec, create: bool) -> Result<(), ProvisionError> {
        let p: ScheduleProps = from_fields(spec)?;
        let s = &clients(cx)?.scheduler;
        let name = &spec.physical_name;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()?;
        let target = Target::builder()
            .arn(&p.target_arn)
            .role_arn(&p.role_arn)
            .input(&p.input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(p.max_retries)
                    .maximum_event_age_in_seconds(p.max_event_age_secs)
                    .build(),
            )
            .build()?;
        let state = ScheduleState::from(p.state.as_str());
        // The scheduler checks that it may assume the role; a new role needs a moment.
        retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
            if create {
                s.create_schedule()
                    .name(name)
                    .group_name(&p.group)
                    .schedule_expression(&p.expression)
                    .schedule_expression_timezone(&p.time_zone)
                    .description(&p.description)
                    .flexible_time_window(window.clone())
                    .target(target.clone())
                    .state(state.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("create schedule", name))
            } else {
                s.update_schedule()
                    .name(name)
                    .group_name(&p.group)
                    .schedule_expression(&p.expression)
                    .schedule_expression_timezone(&p.time_zone)
                    .description(&p.description)
                    .flexible_time_window(window.clone())
                    .target(target.clone())
                    .state(state.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(aws_err("update schedule", name))
            }
        })
        .await
    }
}

#[async_trait]
impl ResourceKind for Schedule {
    fn kind(&self) -> &'static str {
        SCHEDULE_KIND
    }

    fn label(&self) -> &'static str {
        "schedule"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: ScheduleProps = from_fields(spec)?;
        let name = &spec.physical_name;
        let out = absent_if(
            clients(cx)?
                .scheduler
                .get_schedule()
                .group_name(&want.group)
                .name(name)
                .send()
                .await
                .map_err(aws_err("read schedule", name)),
            NOT_FOUND,
        )?;
        let Some(o) = out else { return Ok(None) };
        let target = o.target();
        let retry = target.and_then(|t| t.retry_policy());
        let seen = ScheduleProps {
            group: o.group_name().unwrap_or_default().to_owned(),
            expression: o.schedule_expression().unwrap_or_default().to_owned(),
            time_zone: o.schedule_expression_timezone().unwrap_or("UTC").to_owned(),
            description: o.description().unwrap_or_default().to_owned(),
            target_arn: target.map(|t| t.arn()).unwrap_or_default().to_owned(),
            role_arn: target.map(|t| t.role_arn()).unwrap_or_default().to_owned(),
            input: target
                .and_then(|t| t.input())
                .unwrap_or_default()
                .to_owned(),
            max_retries: retry
                .and_then(|r| r.maximum_retry_attempts())
                .unwrap_or(185),
            max_event_age_secs: retry
                .and_then(|r| r.maximum_event_age_in_seconds())
                .unwrap_or(86_400),
            state: o
                .state()
                .map_or("ENABLED", ScheduleState::as_str)
                .to_owned(),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), o.arn().unwrap_or_default().to_owned()),
            ]),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["group"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        self.put(cx, spec, true).await?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        // UpdateSchedule replaces every setting.
        self.put(cx, spec, false).await?;
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let group = seen
            .fields
            .get("group")
            .and_then(|g| g.as_str())
            .unwrap_or_default()
            .to_owned();
        gone_if(
            clients(cx)?
                .scheduler
                .delete_schedule()
                .group_name(group)
                .name(&seen.physical_name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete schedule", &seen.physical_name)),
            NOT_FOUND,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn props() -> ScheduleProps {
        ScheduleProps {
            group: "g".into(),
            expression: "cron(1 0 * * ? *)".into(),
            time_zone: "Asia/Ho_Chi_Minh".into(),
            description: "daily job".into(),
            target_arn: "arn:aws:lambda:us-east-1:1:function:daily".into(),
            role_arn: "arn:aws:iam::1:role/scheduler".into(),
            input: "{}".into(),
            max_retries: 2,
            max_event_age_secs: 3600,
            state: "ENABLED".into(),
        }
    }

    fn spec<T: Serialize>(kind: &str, p: &T) -> ResourceSpec {
        fixtures::declared(&format!("aws::{kind}::x"), kind, "x", p)
    }

    fn seen<T: Serialize>(p: &T) -> Observed {
        fixtures::observed("x", p)
    }

    #[test]
    fn schedule_diff_updates_a_schedule_moved_to_utc() {
        let mut utc = props();
        utc.time_zone = "UTC".into();
        assert_eq!(
            Schedule.diff(&spec(SCHEDULE_KIND, &props()), &seen(&props())),
            Change::Same
        );
        let Change::Update { fields } = Schedule.diff(&spec(SCHEDULE_KIND, &props()), &seen(&utc))
        else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "time_zone");
    }

    #[test]
    fn schedule_diff_replaces_a_schedule_in_another_group() {
        let mut moved = props();
        moved.group = "h".into();
        assert_eq!(
            Schedule.diff(&spec(SCHEDULE_KIND, &props()), &seen(&moved)),
            Change::Replace {
                field: "group".into()
            }
        );
    }

    #[test]
    fn group_diff_updates_missing_tags() {
        let want = GroupProps {
            tags: BTreeMap::from([("stack".into(), "aws".into())]),
        };
        let got = GroupProps {
            tags: BTreeMap::new(),
        };
        assert!(matches!(
            ScheduleGroup.diff(&spec(GROUP_KIND, &want), &seen(&got)),
            Change::Update { .. }
        ));
    }
}
