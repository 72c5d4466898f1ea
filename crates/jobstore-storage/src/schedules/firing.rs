//! What schedulers call ([`SchedulerRepository`]): firing due times, the overdue sweep, the
//! kill and skip actions, and pruning. Any number of processes call these at once, with no
//! leader: due schedules are shared out by row locks that skip each other (where the backend
//! has them), and every due time's run key is unique, so a time fires once whoever gets there.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use diesel::prelude::*;
use jobstore_domain::{
    ActionKind, Constraint, ConstraintId, Job, NewViolation, Run, RunId, RunStatus, Schedule,
    ScheduleId, SkipReason, TenantId, Trigger, ViolationKind, check_limit, dedup_horizon,
    due_times, plan_firing,
};

use super::{
    Delivery, actions_taken, constraint_of, fire_actions, lock_schedule,
    rows::{ConstraintRow, ParsedCrons, RunRow},
    runs::{self, fire_token, insert_runs, insert_violation, store_run},
};
use crate::{
    DbConnection, DueAction, Fired, SchedulerRepository, StorageError, Swept, dialect,
    rows::stored,
    schema::{constraints, run_actions, schedule_runs, schedules},
    store::{Session, Settings},
    trace::Call,
    writer,
};

/// Runs read per page when pruning.
const PRUNE_PAGE: i64 = 500;

/// How many due times `skip_next_instance` looks past for one without a run.
const SKIP_SEARCH: usize = 1000;

impl<S: Session> SchedulerRepository for S {
    fn fire_due(&self, limit: u32) -> Result<Fired, StorageError> {
        self.write(Call::new("fire_due"), |conn, settings| {
            check_limit(limit)?;
            fire_due(conn, settings, limit)
        })
    }

    fn sweep_overdue(&self, limit: u32) -> Result<Swept, StorageError> {
        self.write(Call::new("sweep_overdue"), |conn, settings| {
            check_limit(limit)?;
            sweep_overdue(conn, settings, limit)
        })
    }

    fn take_actions(&self, limit: u32) -> Result<Vec<DueAction>, StorageError> {
        self.write(Call::new("take_actions"), |conn, settings| {
            check_limit(limit)?;
            let now = settings.now();
            let queued = dialect::lock_queued_actions(conn, limit)?;
            let mut due = Vec::with_capacity(queued.len());
            for row in queued {
                let tenant = TenantId::new(row.tenant_id.as_str())?;
                let taken = diesel::update(
                    run_actions::table.find((row.tenant_id.as_str(), row.run_action_id.as_str())),
                )
                .filter(run_actions::taken_at.is_null())
                .set(run_actions::taken_at.eq(stored(now)))
                .execute(conn)?;
                if taken == 0 {
                    continue;
                }
                let run = runs::read_run(conn, &tenant, &RunId::new(row.run_id.as_str())?)?;
                let action = super::definitions::read_action(
                    conn,
                    &tenant,
                    &jobstore_domain::ActionId::new(row.action_id.as_str())?,
                )?;
                due.push(DueAction {
                    run,
                    trigger: row.trigger_on.parse()?,
                    action,
                    fired_at: crate::rows::utc(row.fired_at),
                });
            }
            Ok(due)
        })
    }

    fn skip_next_instance(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Run, StorageError> {
        self.write(
            Call::new("skip_next_instance").tenant(tenant),
            |conn, settings| {
                let now = settings.now();
                let schedule = lock_schedule(conn, tenant, schedule)?;
                // From the first due time not fired yet: its run, once written, keeps every
                // scheduler from firing it.
                let candidates = match schedule.next_due_at {
                    Some(next) => due_times(
                        &schedule,
                        next - TimeDelta::seconds(1),
                        far(next),
                        SKIP_SEARCH,
                    ),
                    None => Vec::new(),
                };
                let token = fire_token();
                for at in candidates {
                    let skipped = Run::skipped(&schedule, at, SkipReason::Action, now);
                    if let Some(run) = insert_runs(conn, &[skipped], &token)?.pop() {
                        return Ok(run);
                    }
                }
                Err(jobstore_domain::DomainError::Validation {
                    field: "schedule",
                    reason: format!("{} has no due time left to skip", schedule.id),
                }
                .into())
            },
        )
    }

    fn kill_latest_instance(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Option<Run>, StorageError> {
        self.write(
            Call::new("kill_latest_instance").tenant(tenant),
            |conn, settings| {
                super::read_schedule(conn, tenant, schedule)?;
                let latest = unfinished_runs(conn, tenant, schedule)?.into_iter().next();
                latest
                    .map(|run| {
                        runs::cancel(
                            conn,
                            settings,
                            &run,
                            ActionKind::KillLatestInstance.type_name(),
                            settings.now(),
                        )
                    })
                    .transpose()
            },
        )
    }

    fn kill_all_instances(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Vec<Run>, StorageError> {
        self.write(
            Call::new("kill_all_instances").tenant(tenant),
            |conn, settings| {
                super::read_schedule(conn, tenant, schedule)?;
                unfinished_runs(conn, tenant, schedule)?
                    .iter()
                    .map(|run| {
                        runs::cancel(
                            conn,
                            settings,
                            run,
                            ActionKind::KillAllInstances.type_name(),
                            settings.now(),
                        )
                    })
                    .collect()
            },
        )
    }

    fn prune_runs(&self, older_than: TimeDelta, limit: u32) -> Result<u64, StorageError> {
        self.write(Call::new("prune_runs"), |conn, settings| {
            check_limit(limit)?;
            if older_than < TimeDelta::zero() {
                return Err(jobstore_domain::DomainError::Validation {
                    field: "older_than",
                    reason: "must not be negative".to_owned(),
                }
                .into());
            }
            prune(conn, settings, older_than, limit)
        })
    }
}

/// The far end of a search for due times: searches are bounded by count, so it can be far.
fn far(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    now + TimeDelta::days(366 * 5)
}

fn fire_due(
    conn: &mut DbConnection,
    settings: &Settings,
    limit: u32,
) -> Result<Fired, StorageError> {
    let now = settings.now();
    let mut parsed = ParsedCrons::default();
    let locked: Vec<Schedule> = dialect::lock_due_schedules(conn, now, limit)?
        .into_iter()
        .map(|row| row.into_schedule(&mut parsed))
        .collect::<Result<_, _>>()?;
    // A full batch may leave more behind; the next call finds out (locking one row more to
    // know would keep it from the other schedulers until this commits).
    let more = locked.len() == limit as usize;
    // Tenants locked after their schedules (the order a soft delete takes too), so that none is
    // soft-deleted while its jobs are written. A schedule of a tenant deleted meanwhile is
    // left alone: its deletion pauses it.
    let mut tenants: Vec<&str> = locked.iter().map(|s| s.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let live = dialect::lock_live_tenants(conn, &tenants)?;
    let locked: Vec<Schedule> = locked
        .into_iter()
        .filter(|s| live.iter().any(|t| t == s.tenant_id.as_str()))
        .collect();
    let constraints = constraints_of(conn, &locked)?;
    let mut planned = Vec::new();
    let mut fired_schedules = 0;
    for schedule in &locked {
        let policy = schedule
            .constraint_id
            .as_ref()
            .and_then(|id| constraints.get(&(schedule.tenant_id.clone(), id.clone())))
            .map(Constraint::catch_up_policy)
            .unwrap_or_default();
        let firing = plan_firing(schedule, &policy, now);
        if firing.is_empty() {
            // Nothing to run, but a cursor that was not on a due time moves on: a schedule
            // left due would be locked and planned again by every call.
            if firing.next_due_at != schedule.next_due_at {
                super::definitions::replace_schedule(conn, schedule, &schedule.fired(&firing))?;
            }
            continue;
        }
        planned.extend(firing.run.iter().map(|at| Run::pending(schedule, *at, now)));
        planned.extend(
            firing
                .skip
                .iter()
                .map(|(at, reason)| Run::skipped(schedule, *at, *reason, now)),
        );
        super::definitions::replace_schedule(conn, schedule, &schedule.fired(&firing))?;
        fired_schedules += 1;
    }
    let ours = insert_runs(conn, &planned, &fire_token())?;
    let (runs, skipped): (Vec<Run>, Vec<Run>) = ours
        .into_iter()
        .partition(|run| run.status == RunStatus::Pending);
    let mut jobs: Vec<Job> = Vec::new();
    for run in &runs {
        let Some(schedule) = locked
            .iter()
            .find(|s| s.tenant_id == run.tenant_id && s.id == run.schedule_id)
        else {
            continue;
        };
        if let Some(template) = &schedule.template {
            jobs.push(template.job_for(run, now)?);
        }
    }
    if !jobs.is_empty() {
        writer::insert_jobs(conn, settings, &jobs)?;
    }
    Ok(Fired {
        runs,
        skipped,
        jobs,
        schedules: fired_schedules,
        more,
    })
}

/// The constraints the schedules name, by (tenant, id).
fn constraints_of(
    conn: &mut DbConnection,
    schedules: &[Schedule],
) -> Result<BTreeMap<(TenantId, ConstraintId), Constraint>, StorageError> {
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for schedule in schedules {
        if let Some(id) = &schedule.constraint_id {
            wanted
                .entry(schedule.tenant_id.as_str())
                .or_default()
                .push(id.as_str());
        }
    }
    let mut found = BTreeMap::new();
    for (tenant, ids) in wanted {
        let rows: Vec<ConstraintRow> = constraints::table
            .filter(constraints::tenant_id.eq(tenant))
            .filter(constraints::constraint_id.eq_any(ids))
            .select(ConstraintRow::as_select())
            .load(conn)?;
        for row in rows {
            let constraint = Constraint::try_from(row)?;
            found.insert(
                (constraint.tenant_id.clone(), constraint.id.clone()),
                constraint,
            );
        }
    }
    Ok(found)
}

/// Candidates read per page of the sweep.
const SWEEP_PAGE: i64 = 200;

fn sweep_overdue(
    conn: &mut DbConnection,
    settings: &Settings,
    limit: u32,
) -> Result<Swept, StorageError> {
    let now = settings.now();
    let mut swept = Swept::default();
    let mut judged = 0;
    let mut after: Option<(crate::stamp::Stamp, String)> = None;
    let mut constraints: BTreeMap<(TenantId, ScheduleId), Option<Constraint>> = BTreeMap::new();
    // Candidates: RUNNING runs whose schedule's constraint has a time limit, oldest start
    // first, a page at a time, read without locks. Only a run the domain finds overdue is
    // locked and judged again (another sweeper may have got there first).
    loop {
        let mut page = schedule_runs::table
            .inner_join(
                schedules::table.on(schedules::tenant_id
                    .eq(schedule_runs::tenant_id)
                    .and(schedules::schedule_id.eq(schedule_runs::schedule_id))),
            )
            .inner_join(
                constraints::table.on(constraints::tenant_id.eq(schedules::tenant_id).and(
                    constraints::constraint_id
                        .nullable()
                        .eq(schedules::constraint_id),
                )),
            )
            .filter(schedule_runs::status.eq(RunStatus::Running.as_str()))
            .filter(schedule_runs::started_at.le(stored(now)))
            .filter(
                constraints::max_allowed_run_seconds.is_not_null().or(
                    constraints::max_expected_run_seconds
                        .is_not_null()
                        .and(schedule_runs::overdue_at.is_null()),
                ),
            )
            .order((schedule_runs::started_at, schedule_runs::run_id))
            .limit(SWEEP_PAGE)
            .select(RunRow::as_select())
            .into_boxed();
        if let Some((at, id)) = &after {
            page = page.filter(
                schedule_runs::started_at
                    .gt(*at)
                    .or(schedule_runs::started_at
                        .eq(*at)
                        .and(schedule_runs::run_id.gt(id.clone()))),
            );
        }
        let candidates: Vec<RunRow> = page.load(conn)?;
        let Some(last) = candidates.last() else {
            return Ok(swept);
        };
        after = last.started_at.map(|at| (at, last.run_id.clone()));
        for row in candidates {
            let seen = Run::try_from(row)?;
            let key = (seen.tenant_id.clone(), seen.schedule_id.clone());
            if !constraints.contains_key(&key) {
                let schedule = super::read_schedule(conn, &seen.tenant_id, &seen.schedule_id)?;
                constraints.insert(key.clone(), constraint_of(conn, &schedule)?);
            }
            let Some(Some(constraint)) = constraints.get(&key) else {
                continue;
            };
            if constraint.overdue(&seen, now).is_none() {
                continue;
            }
            match conn.transaction(|conn| judge(conn, settings, &seen, constraint, now)) {
                Ok(Some(outcome)) => {
                    swept.timed_out.extend(outcome.timed_out);
                    swept.violations.extend(outcome.violations);
                    for action in outcome.actions {
                        if !swept.actions.contains(&action) {
                            swept.actions.push(action);
                        }
                    }
                    judged += 1;
                    if judged >= limit {
                        return Ok(swept);
                    }
                }
                Ok(None)
                | Err(StorageError::Conflict { .. })
                | Err(StorageError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if after.is_none() {
            return Ok(swept);
        }
    }
}

/// Judges one overdue run again under locks and stores what the domain decided: its job is
/// locked before it, as a worker's report locks them. `None` when it is no longer overdue.
fn judge(
    conn: &mut DbConnection,
    settings: &Settings,
    seen: &Run,
    constraint: &Constraint,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Swept>, StorageError> {
    if let Some(job) = &seen.job_id {
        dialect::lock_job(conn, seen.tenant_id.as_str(), job.as_str())?;
    }
    let run = runs::read_run(conn, &seen.tenant_id, &seen.run_id)?;
    let Some(overdue) = constraint.overdue(&run, now) else {
        return Ok(None);
    };
    let mut swept = Swept::default();
    let mut actions = fire_actions(
        conn,
        &run,
        Trigger::OnViolation,
        Some(&constraint.id),
        Delivery::Returned,
        now,
    )?;
    if overdue.kind == ViolationKind::MaxAllowedRunTime {
        let update = run.time_out(&overdue.details.message, now)?;
        store_run(conn, &update)?;
        runs::cancel_job_of(conn, settings, &run, &overdue.details.message, now)?;
        actions.extend(fire_actions(
            conn,
            &update.run,
            Trigger::OnTimeout,
            None,
            Delivery::Returned,
            now,
        )?);
        swept.timed_out.push(update.run);
    } else {
        store_run(conn, &run.mark_overdue(now)?)?;
    }
    let violation = NewViolation {
        tenant_id: run.tenant_id.clone(),
        run_id: run.run_id.clone(),
        constraint_id: constraint.id.clone(),
        kind: overdue.kind,
        action_taken: actions_taken(&actions),
        details: overdue.details,
    }
    .into_violation(now)?;
    insert_violation(conn, &violation)?;
    swept.violations.push(violation);
    swept.actions = actions;
    Ok(Some(swept))
}

/// A schedule's PENDING and RUNNING runs, newest due time first.
fn unfinished_runs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    schedule: &ScheduleId,
) -> Result<Vec<Run>, StorageError> {
    let live = RunStatus::UNFINISHED.map(RunStatus::as_str);
    schedule_runs::table
        .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
        .filter(schedule_runs::schedule_id.eq(schedule.as_str()))
        .filter(schedule_runs::status.eq_any(live))
        .order(schedule_runs::scheduled_at.desc())
        .select(RunRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Run::try_from)
        .collect()
}

fn prune(
    conn: &mut DbConnection,
    settings: &Settings,
    older_than: TimeDelta,
    limit: u32,
) -> Result<u64, StorageError> {
    let now = settings.now();
    let cutoff = now.checked_sub_signed(older_than).ok_or_else(|| {
        jobstore_domain::DomainError::Validation {
            field: "older_than",
            reason: "reaches before any time a database stores".to_owned(),
        }
    })?;
    let live = RunStatus::UNFINISHED.map(RunStatus::as_str);
    let mut deleted = 0;
    let mut after: Option<(crate::stamp::Stamp, String)> = None;
    // A page at a time, oldest first, so that runs kept for their horizon never stop the
    // pruning of older ones behind them.
    while deleted < limit as usize {
        let mut page = schedule_runs::table
            .inner_join(
                schedules::table.on(schedules::tenant_id
                    .eq(schedule_runs::tenant_id)
                    .and(schedules::schedule_id.eq(schedule_runs::schedule_id))),
            )
            .left_join(
                constraints::table.on(constraints::tenant_id.eq(schedules::tenant_id).and(
                    constraints::constraint_id
                        .nullable()
                        .eq(schedules::constraint_id),
                )),
            )
            .filter(schedule_runs::scheduled_at.lt(stored(cutoff)))
            .filter(schedule_runs::status.ne_all(live))
            // Never a run the schedule's cursor has not passed: a skipped time not fired yet
            // must keep its row, or a scheduler would fire it.
            .filter(
                schedule_runs::scheduled_at
                    .nullable()
                    .le(schedules::last_scheduled_at),
            )
            .order((schedule_runs::scheduled_at, schedule_runs::run_id))
            .limit(PRUNE_PAGE)
            .select((RunRow::as_select(), Option::<ConstraintRow>::as_select()))
            .into_boxed();
        if let Some((at, id)) = &after {
            page = page.filter(
                schedule_runs::scheduled_at
                    .gt(*at)
                    .or(schedule_runs::scheduled_at
                        .eq(*at)
                        .and(schedule_runs::run_id.gt(id.clone()))),
            );
        }
        let candidates: Vec<(RunRow, Option<ConstraintRow>)> = page.load(conn)?;
        let Some((last, _)) = candidates.last() else {
            break;
        };
        after = Some((last.scheduled_at, last.run_id.clone()));
        let mut doomed = Vec::new();
        for (run, constraint) in candidates {
            let run = Run::try_from(run)?;
            let constraint = constraint.map(Constraint::try_from).transpose()?;
            // A de-duplication record is kept while a late scheduler could still plan its time.
            if run.scheduled_at + dedup_horizon(constraint.as_ref()) < now
                && doomed.len() + deleted < limit as usize
            {
                doomed.push(run.run_id.to_string());
            }
        }
        if !doomed.is_empty() {
            deleted +=
                diesel::delete(schedule_runs::table.filter(schedule_runs::run_id.eq_any(&doomed)))
                    .execute(conn)?;
        }
    }
    crate::trace::wrote(deleted);
    Ok(deleted as u64)
}
