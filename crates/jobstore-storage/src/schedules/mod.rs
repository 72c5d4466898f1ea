//! Schedule storage (seed 002): cron definitions, constraints, actions and their links
//! ([`crate::ScheduleRepository`], in `definitions`), runs, violations and statistics
//! ([`crate::RunRepository`], in `runs`), and what schedulers call ([`crate::SchedulerRepository`],
//! in `firing`).
//!
//! The domain decides every change (`jobstore_domain::plan_firing`, `Run::follow`, ...); `runs`
//! is the one writer of `schedule_runs`, and the jobs writer calls it so that a run follows its
//! job in the job's own transaction.

mod definitions;
mod firing;
pub(crate) mod rows;
pub(crate) mod runs;

use diesel::prelude::*;
use jobstore_domain::{
    Action, Constraint, ConstraintId, Run, RunStatus, Schedule, ScheduleAction, ScheduleId,
    TenantId, Trigger,
};

use crate::{
    DbConnection, Entity, StorageError, dialect,
    rows::stored,
    schedules::rows::{
        ActionRow, ConstraintRow, RunActionRow, RunRow, ScheduleActionRow, ScheduleRow,
    },
    schema::{actions, constraints, schedule_actions, schedule_runs, schedules},
};

fn schedule_not_found(tenant: &TenantId, id: &ScheduleId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Schedule,
        id: format!("{tenant}/{id}"),
    }
}

/// Reads a schedule of a tenant.
fn read_schedule(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &ScheduleId,
) -> Result<Schedule, StorageError> {
    schedules::table
        .find((tenant.as_str(), id.as_str()))
        .select(ScheduleRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| schedule_not_found(tenant, id))?
        .try_into()
}

/// Reads and locks a schedule of a tenant until the transaction ends.
fn lock_schedule(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &ScheduleId,
) -> Result<Schedule, StorageError> {
    dialect::lock_schedule(conn, tenant.as_str(), id.as_str())?
        .ok_or_else(|| schedule_not_found(tenant, id))?
        .try_into()
}

/// Reads a constraint of a tenant.
fn read_constraint(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &ConstraintId,
) -> Result<Constraint, StorageError> {
    constraints::table
        .find((tenant.as_str(), id.as_str()))
        .select(ConstraintRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StorageError::NotFound {
            entity: Entity::Constraint,
            id: format!("{tenant}/{id}"),
        })?
        .try_into()
}

/// The constraint a schedule names, if any.
fn constraint_of(
    conn: &mut DbConnection,
    schedule: &Schedule,
) -> Result<Option<Constraint>, StorageError> {
    schedule
        .constraint_id
        .as_ref()
        .map(|id| read_constraint(conn, &schedule.tenant_id, id))
        .transpose()
}

/// Who takes the actions a call fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The call returns them: recorded as taken.
    Returned,
    /// No caller can take them (a run following its job): queued for
    /// [`crate::SchedulerRepository::take_actions`].
    Queued,
}

/// Fires the actions linked to `run`'s schedule for `trigger` (for violations, of
/// `constraint`): records each in `run_actions`, taken at once or queued as `delivery` says,
/// and returns them by action id.
fn fire_actions(
    conn: &mut DbConnection,
    run: &Run,
    trigger: Trigger,
    constraint: Option<&ConstraintId>,
    delivery: Delivery,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Action>, StorageError> {
    let linked: Vec<(ScheduleActionRow, ActionRow)> = schedule_actions::table
        .inner_join(
            actions::table.on(actions::tenant_id
                .eq(schedule_actions::tenant_id)
                .and(actions::action_id.eq(schedule_actions::action_id))),
        )
        .filter(schedule_actions::tenant_id.eq(run.tenant_id.as_str()))
        .filter(schedule_actions::schedule_id.eq(run.schedule_id.as_str()))
        .filter(schedule_actions::trigger_on.eq(trigger.as_str()))
        .order(schedule_actions::action_id)
        .select((ScheduleActionRow::as_select(), ActionRow::as_select()))
        .load(conn)?;
    let mut firing = Vec::new();
    for (link, action) in linked {
        if ScheduleAction::try_from(link)?.fires_on(trigger, constraint) {
            firing.push(Action::try_from(action)?);
        }
    }
    let taken_at = (delivery == Delivery::Returned).then(|| stored(now));
    let rows: Vec<RunActionRow> = firing
        .iter()
        .map(|action| RunActionRow {
            tenant_id: run.tenant_id.to_string(),
            run_action_id: jobstore_domain::RunId::generate().to_string(),
            run_id: run.run_id.to_string(),
            schedule_id: run.schedule_id.to_string(),
            action_id: action.id.to_string(),
            trigger_on: trigger.as_str().to_owned(),
            fired_at: stored(now),
            taken_at,
        })
        .collect();
    if !rows.is_empty() {
        dialect::insert_run_actions(conn, &rows)?;
    }
    Ok(firing)
}

/// Pauses every unpaused schedule of a tenant being soft-deleted, so that no scheduler fires
/// them (the schedulers' query reads no tenant, so that it locks schedules alone).
pub(crate) fn pause_tenant_schedules(
    conn: &mut DbConnection,
    tenant: &TenantId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StorageError> {
    let unpaused: Vec<Schedule> = schedules::table
        .filter(schedules::tenant_id.eq(tenant.as_str()))
        .filter(schedules::paused.eq(false))
        .select(ScheduleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Schedule::try_from)
        .collect::<Result<_, _>>()?;
    for before in &unpaused {
        let after = before.paused(Some(jobstore_domain::TENANT_DELETED), now)?;
        definitions::replace_schedule(conn, before, &after)?;
    }
    Ok(())
}

/// Cancels the unfinished runs of a tenant being soft-deleted (its jobs are hidden, and would
/// never move them on).
pub(crate) fn cancel_tenant_runs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StorageError> {
    let live = RunStatus::UNFINISHED.map(RunStatus::as_str);
    let unfinished: Vec<Run> = schedule_runs::table
        .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
        .filter(schedule_runs::status.eq_any(live))
        .order((schedule_runs::schedule_id, schedule_runs::scheduled_at))
        .select(RunRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Run::try_from)
        .collect::<Result<_, _>>()?;
    for run in &unfinished {
        runs::store_run(conn, &run.cancel(jobstore_domain::TENANT_DELETED, now)?)?;
    }
    Ok(())
}

/// Deletes a tenant's schedules, with their runs and links (a purge, before its cascade).
pub(crate) fn delete_tenant_schedules(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> Result<(), StorageError> {
    diesel::delete(schedules::table.filter(schedules::tenant_id.eq(tenant.as_str())))
        .execute(conn)?;
    Ok(())
}

/// What a violation's `action_taken` says: the types of the actions returned for it.
fn actions_taken(actions: &[Action]) -> Option<String> {
    (!actions.is_empty()).then(|| {
        actions
            .iter()
            .map(|a| a.kind.type_name())
            .collect::<Vec<_>>()
            .join(",")
    })
}
