//! The schedule tables' rows and their conversions to and from the domain's types. Durations
//! are whole seconds, hooks, dependencies, templates and details the seed's JSON; a row that
//! cannot be read back is [`StorageError::CorruptRow`].

use std::collections::HashMap;

use chrono_tz::Tz;
use diesel::prelude::*;
use jobstore_domain::{
    Action, ActionId, ActionKind, Constraint, ConstraintId, ConstraintViolation, CronExpr,
    Dependency, DomainError, Hook, JobId, JobTemplate, OrchestratorStats, Run, RunId, Schedule,
    ScheduleAction, ScheduleId, SchedulerStats, StatsPeriodId, TenantId, TimeSpan,
    ViolationDetails, ViolationId, parse_time_zone,
};

use crate::{
    Entity, StorageError,
    rows::{corrupt, stored, utc},
    schema::{
        actions, constraint_violations, constraints, orchestrator_stats, run_actions,
        schedule_actions, schedule_runs, scheduler_stats, schedules,
    },
    stamp::Stamp,
};

fn span(field: &'static str, seconds: Option<i64>) -> Result<Option<TimeSpan>, DomainError> {
    seconds
        .map(|s| TimeSpan::from_seconds(field, s))
        .transpose()
}

fn count(field: &'static str, value: Option<i32>) -> Result<Option<u32>, DomainError> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| DomainError::Validation {
                field,
                reason: format!("{v} is negative"),
            })
        })
        .transpose()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = constraints, primary_key(tenant_id, constraint_id))]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub(crate) struct ConstraintRow {
    pub(crate) tenant_id: String,
    pub(crate) constraint_id: String,
    pub(crate) max_concurrent_runs: Option<i32>,
    pub(crate) catch_up: Option<bool>,
    pub(crate) catch_up_window_seconds: Option<i64>,
    pub(crate) max_catch_up_runs: Option<i32>,
    pub(crate) max_expected_run_seconds: Option<i64>,
    pub(crate) max_allowed_run_seconds: Option<i64>,
    pub(crate) pre_run_hook: Option<String>,
    pub(crate) post_run_hook: Option<String>,
    pub(crate) require_previous_success: Option<String>,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
}

impl From<&Constraint> for ConstraintRow {
    fn from(c: &Constraint) -> Self {
        let int = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        Self {
            tenant_id: c.tenant_id.to_string(),
            constraint_id: c.id.to_string(),
            max_concurrent_runs: int(c.max_concurrent_runs),
            catch_up: c.catch_up,
            catch_up_window_seconds: c.catch_up_window.map(TimeSpan::seconds),
            max_catch_up_runs: int(c.max_catch_up_runs),
            max_expected_run_seconds: c.max_expected_run_time.map(TimeSpan::seconds),
            max_allowed_run_seconds: c.max_allowed_run_time.map(TimeSpan::seconds),
            pre_run_hook: c.pre_run_hook.as_ref().map(Hook::to_json),
            post_run_hook: c.post_run_hook.as_ref().map(Hook::to_json),
            require_previous_success: c.require_previous_success.as_ref().map(Dependency::to_json),
            version: c.version,
            created_at: stored(c.created_at),
            updated_at: stored(c.updated_at),
        }
    }
}

impl TryFrom<ConstraintRow> for Constraint {
    type Error = StorageError;

    fn try_from(row: ConstraintRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Constraint,
            format!("{}/{}", row.tenant_id, row.constraint_id),
        );
        let hook =
            |field, json: Option<String>| json.map(|j| Hook::from_json(field, &j)).transpose();
        Ok(Constraint {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: ConstraintId::new(row.constraint_id).map_err(&bad)?,
            max_concurrent_runs: count("max_concurrent_runs", row.max_concurrent_runs)
                .map_err(&bad)?,
            catch_up: row.catch_up,
            catch_up_window: span("catch_up_window", row.catch_up_window_seconds).map_err(&bad)?,
            max_catch_up_runs: count("max_catch_up_runs", row.max_catch_up_runs).map_err(&bad)?,
            max_expected_run_time: span("max_expected_run_time", row.max_expected_run_seconds)
                .map_err(&bad)?,
            max_allowed_run_time: span("max_allowed_run_time", row.max_allowed_run_seconds)
                .map_err(&bad)?,
            pre_run_hook: hook("pre_run_hook", row.pre_run_hook).map_err(&bad)?,
            post_run_hook: hook("post_run_hook", row.post_run_hook).map_err(&bad)?,
            require_previous_success: row
                .require_previous_success
                .map(|j| Dependency::from_json("require_previous_success", &j))
                .transpose()
                .map_err(&bad)?,
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedules, primary_key(tenant_id, schedule_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ScheduleRow {
    pub(crate) tenant_id: String,
    pub(crate) schedule_id: String,
    pub(crate) name: String,
    pub(crate) cron: String,
    pub(crate) time_zone: String,
    pub(crate) job_template: Option<String>,
    pub(crate) pod_spec: Option<String>,
    pub(crate) constraint_id: Option<String>,
    pub(crate) paused: bool,
    pub(crate) pause_note: Option<String>,
    pub(crate) last_scheduled_at: Option<Stamp>,
    pub(crate) next_due_at: Option<Stamp>,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
}

impl From<&Schedule> for ScheduleRow {
    fn from(s: &Schedule) -> Self {
        Self {
            tenant_id: s.tenant_id.to_string(),
            schedule_id: s.id.to_string(),
            name: s.name.clone(),
            cron: s.cron.as_str().to_owned(),
            time_zone: s.time_zone.name().to_owned(),
            job_template: s.template.as_ref().map(JobTemplate::to_json),
            pod_spec: s.pod_spec.clone(),
            constraint_id: s.constraint_id.as_ref().map(ToString::to_string),
            paused: s.paused,
            pause_note: s.pause_note.clone(),
            last_scheduled_at: s.last_scheduled_at.map(stored),
            next_due_at: s.next_due_at.map(stored),
            version: s.version,
            created_at: stored(s.created_at),
            updated_at: stored(s.updated_at),
        }
    }
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StorageError;

    fn try_from(row: ScheduleRow) -> Result<Self, StorageError> {
        row.into_schedule(&mut ParsedCrons::default())
    }
}

/// Expressions and zones parsed while reading many schedules: schedules share a few of each,
/// and a scheduler reloads them all often, so each is parsed once per read.
#[derive(Default)]
pub(crate) struct ParsedCrons {
    crons: HashMap<String, CronExpr>,
    zones: HashMap<String, Tz>,
}

impl ScheduleRow {
    /// The schedule this row holds, parsing its expression and zone through `parsed`.
    pub(crate) fn into_schedule(self, parsed: &mut ParsedCrons) -> Result<Schedule, StorageError> {
        let row = self;
        let bad = corrupt(
            Entity::Schedule,
            format!("{}/{}", row.tenant_id, row.schedule_id),
        );
        let cron = match parsed.crons.get(&row.cron) {
            Some(cron) => cron.clone(),
            None => {
                let cron = CronExpr::parse(&row.cron).map_err(&bad)?;
                parsed.crons.insert(row.cron.clone(), cron.clone());
                cron
            }
        };
        let time_zone = match parsed.zones.get(&row.time_zone) {
            Some(zone) => *zone,
            None => {
                let zone = parse_time_zone(&row.time_zone).map_err(&bad)?;
                parsed.zones.insert(row.time_zone.clone(), zone);
                zone
            }
        };
        Ok(Schedule {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: ScheduleId::new(row.schedule_id).map_err(&bad)?,
            name: row.name,
            cron,
            time_zone,
            template: row
                .job_template
                .map(|j| JobTemplate::from_json(&j))
                .transpose()
                .map_err(&bad)?,
            pod_spec: row.pod_spec,
            constraint_id: row
                .constraint_id
                .map(ConstraintId::new)
                .transpose()
                .map_err(&bad)?,
            paused: row.paused,
            pause_note: row.pause_note,
            last_scheduled_at: row.last_scheduled_at.map(utc),
            next_due_at: row.next_due_at.map(utc),
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = actions, primary_key(tenant_id, action_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ActionRow {
    pub(crate) tenant_id: String,
    pub(crate) action_id: String,
    pub(crate) name: String,
    pub(crate) action_type: String,
    pub(crate) config: Option<String>,
    pub(crate) created_at: Stamp,
}

impl From<&Action> for ActionRow {
    fn from(a: &Action) -> Self {
        Self {
            tenant_id: a.tenant_id.to_string(),
            action_id: a.id.to_string(),
            name: a.name.clone(),
            action_type: a.kind.type_name().to_owned(),
            config: a.kind.config_json(),
            created_at: stored(a.created_at),
        }
    }
}

impl TryFrom<ActionRow> for Action {
    type Error = StorageError;

    fn try_from(row: ActionRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Action,
            format!("{}/{}", row.tenant_id, row.action_id),
        );
        Ok(Action {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: ActionId::new(row.action_id).map_err(&bad)?,
            name: row.name,
            kind: ActionKind::from_parts(&row.action_type, row.config.as_deref()).map_err(&bad)?,
            created_at: utc(row.created_at),
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_actions, primary_key(tenant_id, schedule_id, action_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ScheduleActionRow {
    pub(crate) tenant_id: String,
    pub(crate) schedule_id: String,
    pub(crate) action_id: String,
    pub(crate) trigger_on: String,
    pub(crate) constraint_id: Option<String>,
}

impl From<&ScheduleAction> for ScheduleActionRow {
    fn from(l: &ScheduleAction) -> Self {
        Self {
            tenant_id: l.tenant_id.to_string(),
            schedule_id: l.schedule_id.to_string(),
            action_id: l.action_id.to_string(),
            trigger_on: l.trigger.as_str().to_owned(),
            constraint_id: l.constraint_id.as_ref().map(ToString::to_string),
        }
    }
}

impl TryFrom<ScheduleActionRow> for ScheduleAction {
    type Error = StorageError;

    fn try_from(row: ScheduleActionRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::ScheduleAction,
            format!("{}/{}/{}", row.tenant_id, row.schedule_id, row.action_id),
        );
        Ok(ScheduleAction {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            schedule_id: ScheduleId::new(row.schedule_id).map_err(&bad)?,
            action_id: ActionId::new(row.action_id).map_err(&bad)?,
            trigger: row.trigger_on.parse().map_err(&bad)?,
            constraint_id: row
                .constraint_id
                .map(ConstraintId::new)
                .transpose()
                .map_err(&bad)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_runs, primary_key(tenant_id, schedule_id, scheduled_at))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct RunRow {
    pub(crate) tenant_id: String,
    pub(crate) schedule_id: String,
    pub(crate) scheduled_at: Stamp,
    pub(crate) run_id: String,
    pub(crate) status: String,
    pub(crate) started_at: Option<Stamp>,
    pub(crate) completed_at: Option<Stamp>,
    pub(crate) success: Option<bool>,
    pub(crate) error: Option<String>,
    pub(crate) skip_reason: Option<String>,
    pub(crate) job_id: Option<String>,
    pub(crate) overdue_at: Option<Stamp>,
    pub(crate) fire_token: String,
    pub(crate) version: i64,
    pub(crate) created_at: Stamp,
    pub(crate) updated_at: Stamp,
}

impl RunRow {
    /// A run as inserted by the call holding `token`.
    pub(crate) fn new(run: &Run, token: &str) -> Self {
        Self {
            tenant_id: run.tenant_id.to_string(),
            schedule_id: run.schedule_id.to_string(),
            scheduled_at: stored(run.scheduled_at),
            run_id: run.run_id.to_string(),
            status: run.status.as_str().to_owned(),
            started_at: run.started_at.map(stored),
            completed_at: run.completed_at.map(stored),
            success: run.success,
            error: run.error.clone(),
            skip_reason: run.skip_reason.map(|r| r.as_str().to_owned()),
            job_id: run.job_id.as_ref().map(ToString::to_string),
            overdue_at: run.overdue_at.map(stored),
            fire_token: token.to_owned(),
            version: run.version,
            created_at: stored(run.created_at),
            updated_at: stored(run.updated_at),
        }
    }
}

impl TryFrom<RunRow> for Run {
    type Error = StorageError;

    fn try_from(row: RunRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::Run, row.run_id.clone());
        Ok(Run {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            schedule_id: ScheduleId::new(row.schedule_id).map_err(&bad)?,
            run_id: RunId::new(row.run_id.as_str()).map_err(&bad)?,
            scheduled_at: utc(row.scheduled_at),
            status: row.status.parse().map_err(&bad)?,
            started_at: row.started_at.map(utc),
            completed_at: row.completed_at.map(utc),
            success: row.success,
            error: row.error,
            skip_reason: row
                .skip_reason
                .map(|r| r.parse())
                .transpose()
                .map_err(&bad)?,
            job_id: row.job_id.map(JobId::new).transpose().map_err(&bad)?,
            overdue_at: row.overdue_at.map(utc),
            version: row.version,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

/// The columns a run update sets: all that the state machine moves.
#[derive(AsChangeset)]
#[diesel(table_name = schedule_runs, treat_none_as_null = true)]
pub(crate) struct RunChangesRow {
    pub(crate) status: String,
    pub(crate) started_at: Option<Stamp>,
    pub(crate) completed_at: Option<Stamp>,
    pub(crate) success: Option<bool>,
    pub(crate) error: Option<String>,
    pub(crate) skip_reason: Option<String>,
    pub(crate) overdue_at: Option<Stamp>,
    pub(crate) version: i64,
    pub(crate) updated_at: Stamp,
}

impl From<&Run> for RunChangesRow {
    fn from(run: &Run) -> Self {
        Self {
            status: run.status.as_str().to_owned(),
            started_at: run.started_at.map(stored),
            completed_at: run.completed_at.map(stored),
            success: run.success,
            error: run.error.clone(),
            skip_reason: run.skip_reason.map(|r| r.as_str().to_owned()),
            overdue_at: run.overdue_at.map(stored),
            version: run.version,
            updated_at: stored(run.updated_at),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = constraint_violations, primary_key(tenant_id, violation_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ViolationRow {
    pub(crate) tenant_id: String,
    pub(crate) violation_id: String,
    pub(crate) run_id: String,
    pub(crate) constraint_id: String,
    pub(crate) kind: String,
    pub(crate) violation_time: Stamp,
    pub(crate) action_taken: Option<String>,
    pub(crate) details: String,
}

impl From<&ConstraintViolation> for ViolationRow {
    fn from(v: &ConstraintViolation) -> Self {
        Self {
            tenant_id: v.tenant_id.to_string(),
            violation_id: v.id.to_string(),
            run_id: v.run_id.to_string(),
            constraint_id: v.constraint_id.to_string(),
            kind: v.kind.as_str().to_owned(),
            violation_time: stored(v.violation_time),
            action_taken: v.action_taken.clone(),
            details: v.details.to_json(),
        }
    }
}

impl TryFrom<ViolationRow> for ConstraintViolation {
    type Error = StorageError;

    fn try_from(row: ViolationRow) -> Result<Self, StorageError> {
        let bad = corrupt(
            Entity::Violation,
            format!("{}/{}", row.tenant_id, row.violation_id),
        );
        Ok(ConstraintViolation {
            tenant_id: TenantId::new(row.tenant_id).map_err(&bad)?,
            id: ViolationId::new(row.violation_id).map_err(&bad)?,
            run_id: RunId::new(row.run_id).map_err(&bad)?,
            constraint_id: ConstraintId::new(row.constraint_id).map_err(&bad)?,
            kind: row.kind.parse().map_err(&bad)?,
            violation_time: utc(row.violation_time),
            action_taken: row.action_taken,
            details: ViolationDetails::from_json(&row.details).map_err(&bad)?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = scheduler_stats, primary_key(stats_period_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct SchedulerStatsRow {
    pub(crate) stats_period_id: String,
    pub(crate) start_time: Stamp,
    pub(crate) end_time: Stamp,
    pub(crate) iterations: i64,
    pub(crate) run_jobs: i64,
    pub(crate) late_jobs: i64,
    pub(crate) time_passed_run_time: i64,
    pub(crate) missed_jobs: i64,
    pub(crate) time_passed_grace_period: i64,
    pub(crate) jobs_cancelled: i64,
    pub(crate) min_inbox_length: Option<i64>,
    pub(crate) max_inbox_length: Option<i64>,
    pub(crate) avg_inbox_length: Option<f64>,
    pub(crate) empty_inbox_time: Option<i64>,
    pub(crate) avg_time_in_inbox: Option<f64>,
    pub(crate) min_time_in_inbox: Option<i64>,
    pub(crate) max_time_in_inbox: Option<i64>,
}

impl From<&SchedulerStats> for SchedulerStatsRow {
    fn from(s: &SchedulerStats) -> Self {
        Self {
            stats_period_id: s.stats_period_id.to_string(),
            start_time: stored(s.start_time),
            end_time: stored(s.end_time),
            iterations: s.iterations,
            run_jobs: s.run_jobs,
            late_jobs: s.late_jobs,
            time_passed_run_time: s.time_passed_run_time,
            missed_jobs: s.missed_jobs,
            time_passed_grace_period: s.time_passed_grace_period,
            jobs_cancelled: s.jobs_cancelled,
            min_inbox_length: s.min_inbox_length,
            max_inbox_length: s.max_inbox_length,
            avg_inbox_length: s.avg_inbox_length,
            empty_inbox_time: s.empty_inbox_time,
            avg_time_in_inbox: s.avg_time_in_inbox,
            min_time_in_inbox: s.min_time_in_inbox,
            max_time_in_inbox: s.max_time_in_inbox,
        }
    }
}

impl TryFrom<SchedulerStatsRow> for SchedulerStats {
    type Error = StorageError;

    fn try_from(row: SchedulerStatsRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::Stats, row.stats_period_id.clone());
        Ok(SchedulerStats {
            stats_period_id: StatsPeriodId::new(row.stats_period_id).map_err(&bad)?,
            start_time: utc(row.start_time),
            end_time: utc(row.end_time),
            iterations: row.iterations,
            run_jobs: row.run_jobs,
            late_jobs: row.late_jobs,
            time_passed_run_time: row.time_passed_run_time,
            missed_jobs: row.missed_jobs,
            time_passed_grace_period: row.time_passed_grace_period,
            jobs_cancelled: row.jobs_cancelled,
            min_inbox_length: row.min_inbox_length,
            max_inbox_length: row.max_inbox_length,
            avg_inbox_length: row.avg_inbox_length,
            empty_inbox_time: row.empty_inbox_time,
            avg_time_in_inbox: row.avg_time_in_inbox,
            min_time_in_inbox: row.min_time_in_inbox,
            max_time_in_inbox: row.max_time_in_inbox,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orchestrator_stats, primary_key(run_id))]
pub(crate) struct OrchestratorStatsRow {
    pub(crate) run_id: String,
    pub(crate) stats_period_id: String,
    pub(crate) runtime: i64,
    pub(crate) constraints_checked: i64,
    pub(crate) actions_taken: i64,
}

impl From<&OrchestratorStats> for OrchestratorStatsRow {
    fn from(s: &OrchestratorStats) -> Self {
        Self {
            run_id: s.run_id.to_string(),
            stats_period_id: s.stats_period_id.to_string(),
            runtime: s.runtime,
            constraints_checked: s.constraints_checked,
            actions_taken: s.actions_taken,
        }
    }
}

impl TryFrom<OrchestratorStatsRow> for OrchestratorStats {
    type Error = StorageError;

    fn try_from(row: OrchestratorStatsRow) -> Result<Self, StorageError> {
        let bad = corrupt(Entity::Stats, row.run_id.clone());
        Ok(OrchestratorStats {
            run_id: RunId::new(row.run_id).map_err(&bad)?,
            stats_period_id: StatsPeriodId::new(row.stats_period_id).map_err(&bad)?,
            runtime: row.runtime,
            constraints_checked: row.constraints_checked,
            actions_taken: row.actions_taken,
        })
    }
}

/// An action fired for a run, as stored in the queue of `run_actions`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = run_actions, primary_key(tenant_id, run_action_id))]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct RunActionRow {
    pub(crate) tenant_id: String,
    pub(crate) run_action_id: String,
    pub(crate) run_id: String,
    pub(crate) schedule_id: String,
    pub(crate) action_id: String,
    pub(crate) trigger_on: String,
    pub(crate) fired_at: Stamp,
    pub(crate) taken_at: Option<Stamp>,
}
