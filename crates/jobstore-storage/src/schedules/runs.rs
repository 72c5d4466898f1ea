//! The one writer of `schedule_runs`, and the queries behind [`RunRepository`]: runs,
//! violations and statistics.
//!
//! A run is inserted under a token that names the call inserting it; where its key (tenant,
//! schedule, due time) is taken already, the insert leaves it out, and the call learns which
//! rows are its own by reading the token back. A run changes by a [`RunUpdate`] the domain
//! decided, guarded by the version it was read at, like a job.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use jobstore_domain::{
    Change, ConstraintId, ConstraintViolation, Job, JobStatus, NewViolation, OrchestratorStats,
    Run, RunId, RunStatus, RunUpdate, ScheduleId, SchedulerStats, StatsPeriodId, TenantId, Trigger,
    check_limit,
};

use super::{
    Delivery, actions_taken, constraint_of, fire_actions, lock_schedule, read_schedule,
    rows::{OrchestratorStatsRow, RunChangesRow, RunRow, SchedulerStatsRow, ViolationRow},
};
use crate::{
    DbConnection, Entity, RunOutcome, RunRepository, RunStart, StorageError, dialect,
    rows::{JobRow, stored},
    schema::{constraint_violations, jobs, orchestrator_stats, schedule_runs, scheduler_stats},
    store::{Session, Settings},
    trace::Call,
    writer::{self, Guard},
};

/// Rows per insert: well under every backend's limit on bound parameters.
const CHUNK: usize = 500;

/// A fresh token for a call that inserts runs.
pub(crate) fn fire_token() -> String {
    RunId::generate().to_string()
}

/// Inserts `runs` under `token`, leaving out those whose key is taken, and returns the ones
/// this call inserted, in their order.
pub(crate) fn insert_runs(
    conn: &mut DbConnection,
    runs: &[Run],
    token: &str,
) -> Result<Vec<Run>, StorageError> {
    let mut ours = Vec::with_capacity(runs.len());
    for chunk in runs.chunks(CHUNK) {
        let rows: Vec<RunRow> = chunk.iter().map(|run| RunRow::new(run, token)).collect();
        dialect::insert_runs_unless_taken(conn, &rows)?;
        let ids: Vec<&str> = chunk.iter().map(|run| run.run_id.as_str()).collect();
        let mut tenants: Vec<&str> = chunk.iter().map(|run| run.tenant_id.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let inserted: Vec<String> = schedule_runs::table
            .filter(schedule_runs::tenant_id.eq_any(tenants))
            .filter(schedule_runs::run_id.eq_any(ids))
            .filter(schedule_runs::fire_token.eq(token))
            .select(schedule_runs::run_id)
            .load(conn)?;
        ours.extend(
            chunk
                .iter()
                .filter(|run| inserted.iter().any(|id| id == run.run_id.as_str()))
                .cloned(),
        );
    }
    crate::trace::wrote(ours.len());
    Ok(ours)
}

/// Stores a decided change of a run, guarded by the version it was read at.
pub(crate) fn store_run(conn: &mut DbConnection, update: &RunUpdate) -> Result<(), StorageError> {
    let run = &update.run;
    let changed = diesel::update(
        schedule_runs::table
            .filter(schedule_runs::tenant_id.eq(run.tenant_id.as_str()))
            .filter(schedule_runs::run_id.eq(run.run_id.as_str()))
            .filter(schedule_runs::version.eq(update.expected_version)),
    )
    .set(RunChangesRow::from(run))
    .execute(conn)?;
    if changed == 0 {
        return Err(StorageError::Conflict {
            entity: Entity::Run,
            id: Some(format!("{}/{}", run.tenant_id, run.run_id)),
        });
    }
    crate::trace::wrote(1);
    Ok(())
}

/// Moves the runs of `jobs` with them (the jobs writer calls this in the jobs' transaction):
/// the domain decides each ([`Run::follow`]); a run that would start is held to its
/// constraint, and when refused, its job is cancelled. Returns the jobs cancelled so.
pub(crate) fn follow_jobs(
    conn: &mut DbConnection,
    settings: &Settings,
    jobs: &[&Job],
) -> Result<Vec<Job>, StorageError> {
    let ids: Vec<&str> = jobs
        .iter()
        .filter_map(|job| job.run_id.as_ref().map(RunId::as_str))
        .collect();
    let mut cancelled = Vec::new();
    if ids.is_empty() {
        return Ok(cancelled);
    }
    let now = settings.now();
    let runs = runs_by_id(conn, jobs, &ids)?;
    // In the order of their schedules: starts lock their schedules, and two workers starting
    // jobs of the same schedules must lock them in the same order.
    let mut jobs: Vec<(&Run, &Job)> = jobs
        .iter()
        .filter_map(|job| {
            let run = runs.iter().find(|run| {
                Some(&run.run_id) == job.run_id.as_ref() && run.tenant_id == job.tenant_id
            })?;
            Some((run, *job))
        })
        .collect();
    jobs.sort_by(|(a, _), (b, _)| {
        (&a.tenant_id, &a.schedule_id, &a.scheduled_at).cmp(&(
            &b.tenant_id,
            &b.schedule_id,
            &b.scheduled_at,
        ))
    });
    for (run, job) in jobs {
        let Some(update) = run.follow(job, now) else {
            continue;
        };
        if run.status == RunStatus::Pending && update.run.status == RunStatus::Running {
            if let RunStart::Refused { .. } = start(conn, run, Delivery::Queued, now)? {
                let reason = jobstore_domain::REFUSED_AT_START;
                cancelled.extend(cancel_job(conn, settings, job, reason, now)?);
            }
        } else {
            store_run(conn, &update)?;
            // Nobody here takes the actions its outcome fires: they are queued.
            if let Some(trigger) = update.run.outcome_trigger() {
                fire_actions(conn, &update.run, trigger, None, Delivery::Queued, now)?;
            }
        }
    }
    Ok(cancelled)
}

/// The runs `ids` names, of the tenants of `jobs` (a run deleted with its schedule is not
/// found, and its job goes on alone).
fn runs_by_id(
    conn: &mut DbConnection,
    jobs: &[&Job],
    ids: &[&str],
) -> Result<Vec<Run>, StorageError> {
    let mut tenants: Vec<&str> = jobs.iter().map(|job| job.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    schedule_runs::table
        .filter(schedule_runs::tenant_id.eq_any(tenants))
        .filter(schedule_runs::run_id.eq_any(ids))
        .select(RunRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Run::try_from)
        .collect()
}

/// Starts a PENDING run unless its constraint refuses, with the schedule locked so that
/// concurrent starters count each other's runs.
fn start(
    conn: &mut DbConnection,
    run: &Run,
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<RunStart, StorageError> {
    let schedule = lock_schedule(conn, &run.tenant_id, &run.schedule_id)?;
    // Read again under the lock: another starter may have moved it meanwhile.
    let run = read_run(conn, &run.tenant_id, &run.run_id)?;
    let refusal = match constraint_of(conn, &schedule)? {
        Some(constraint) => {
            let running = count_running(conn, &run.tenant_id, &run.schedule_id)?;
            let previous = match &constraint.require_previous_success {
                Some(dependency) => latest_finished(conn, &run.tenant_id, &dependency.schedule_id)?,
                None => None,
            };
            constraint
                .start_refusal(running, previous.as_ref())
                .map(|refusal| (constraint.id, refusal))
        }
        None => None,
    };
    let Some((constraint_id, refusal)) = refusal else {
        let update = run.change(RunStatus::Running, now)?;
        store_run(conn, &update)?;
        return Ok(RunStart::Started(update.run));
    };
    let update = run.skip(refusal.skip_reason, now)?;
    store_run(conn, &update)?;
    let actions = fire_actions(
        conn,
        &run,
        Trigger::OnViolation,
        Some(&constraint_id),
        delivery,
        now,
    )?;
    let violation = NewViolation {
        tenant_id: run.tenant_id.clone(),
        run_id: run.run_id.clone(),
        constraint_id,
        kind: refusal.kind,
        action_taken: actions_taken(&actions),
        details: refusal.details,
    }
    .into_violation(now)?;
    insert_violation(conn, &violation)?;
    Ok(RunStart::Refused {
        run: update.run,
        violation: Box::new(violation),
        actions,
    })
}

fn count_running(
    conn: &mut DbConnection,
    tenant: &TenantId,
    schedule: &ScheduleId,
) -> Result<u64, StorageError> {
    let count: i64 = schedule_runs::table
        .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
        .filter(schedule_runs::schedule_id.eq(schedule.as_str()))
        .filter(schedule_runs::status.eq(RunStatus::Running.as_str()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The latest run of a schedule that ran to an end (COMPLETED, FAILED or TIMED_OUT).
fn latest_finished(
    conn: &mut DbConnection,
    tenant: &TenantId,
    schedule: &ScheduleId,
) -> Result<Option<Run>, StorageError> {
    let ran = RunStatus::RAN.map(RunStatus::as_str);
    schedule_runs::table
        .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
        .filter(schedule_runs::schedule_id.eq(schedule.as_str()))
        .filter(schedule_runs::status.eq_any(ran))
        .order(schedule_runs::scheduled_at.desc())
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .map(Run::try_from)
        .transpose()
}

/// Cancels a run, and its job when the job can still be cancelled.
pub(crate) fn cancel(
    conn: &mut DbConnection,
    settings: &Settings,
    run: &Run,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Run, StorageError> {
    // The job first, as a worker's report locks it before the run: its run follows it to
    // CANCELLED in the writer. A run without a job left to cancel is cancelled itself.
    cancel_job_of(conn, settings, run, reason, now)?;
    let current = read_run(conn, &run.tenant_id, &run.run_id)?;
    if current.status.is_finished() {
        return Ok(current);
    }
    let update = current.cancel(reason, now)?;
    store_run(conn, &update)?;
    Ok(update.run)
}

/// Cancels the job of `run`, if it has one that is not finished.
pub(crate) fn cancel_job_of(
    conn: &mut DbConnection,
    settings: &Settings,
    run: &Run,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let Some(job_id) = &run.job_id else {
        return Ok(());
    };
    let job: Option<Job> = jobs::table
        .find((run.tenant_id.as_str(), job_id.as_str()))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()?;
    match job {
        Some(job) => cancel_job(conn, settings, &job, reason, now).map(drop),
        None => Ok(()),
    }
}

/// Cancels a job that can still be cancelled, and returns it cancelled.
fn cancel_job(
    conn: &mut DbConnection,
    settings: &Settings,
    job: &Job,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<Job>, StorageError> {
    if !job.status.can_transition_to(JobStatus::Cancelled) {
        return Ok(None);
    }
    let change = Change::to(JobStatus::Cancelled)
        .reason(reason)
        .actor(jobstore_domain::SCHEDULER);
    let update = job.change(&change, now)?;
    writer::store_one(conn, settings, &update, Guard::Version)?;
    Ok(Some(update.job))
}

/// Records a violation; a second of the same kind for the same run is refused by the database.
pub(crate) fn insert_violation(
    conn: &mut DbConnection,
    violation: &ConstraintViolation,
) -> Result<(), StorageError> {
    diesel::insert_into(constraint_violations::table)
        .values(ViolationRow::from(violation))
        .execute(conn)
        .map_err(|e| {
            StorageError::from(e).already_exists(
                Entity::Violation,
                Some(format!(
                    "{} of run {}",
                    violation.kind.as_str(),
                    violation.run_id
                )),
            )
        })?;
    Ok(())
}

fn run_not_found(tenant: &TenantId, run: &RunId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Run,
        id: format!("{tenant}/{run}"),
    }
}

pub(crate) fn read_run(
    conn: &mut DbConnection,
    tenant: &TenantId,
    run: &RunId,
) -> Result<Run, StorageError> {
    schedule_runs::table
        .filter(schedule_runs::run_id.eq(run.as_str()))
        .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| run_not_found(tenant, run))?
        .try_into()
}

impl<S: Session> RunRepository for S {
    fn get_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        scheduled_at: DateTime<Utc>,
    ) -> Result<Run, StorageError> {
        self.read(Call::new("get_run").tenant(tenant), |conn, _| {
            jobstore_domain::check_time("scheduled_at", scheduled_at)?;
            schedule_runs::table
                .find((
                    tenant.as_str(),
                    schedule.as_str(),
                    stored(scheduled_at.trunc_subsecs(0)),
                ))
                .select(RunRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| StorageError::NotFound {
                    entity: Entity::Run,
                    id: format!("{tenant}/{schedule}@{}", scheduled_at.trunc_subsecs(0)),
                })?
                .try_into()
        })
    }

    fn get_run_by_id(&self, tenant: &TenantId, run: &RunId) -> Result<Run, StorageError> {
        self.read(Call::new("get_run_by_id").tenant(tenant), |conn, _| {
            read_run(conn, tenant, run)
        })
    }

    fn list_runs(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        limit: u32,
    ) -> Result<Vec<Run>, StorageError> {
        self.read(Call::new("list_runs").tenant(tenant), |conn, _| {
            check_limit(limit)?;
            read_schedule(conn, tenant, schedule)?;
            schedule_runs::table
                .filter(schedule_runs::tenant_id.eq(tenant.as_str()))
                .filter(schedule_runs::schedule_id.eq(schedule.as_str()))
                .order(schedule_runs::scheduled_at.desc())
                .limit(i64::from(limit))
                .select(RunRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Run::try_from)
                .collect()
        })
    }

    fn create_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        scheduled_at: DateTime<Utc>,
    ) -> Result<Run, StorageError> {
        self.write(Call::new("create_run").tenant(tenant), |conn, settings| {
            jobstore_domain::check_time("scheduled_at", scheduled_at)?;
            let now = settings.now();
            let schedule = read_schedule(conn, tenant, schedule)?;
            let run = Run::pending(&schedule, scheduled_at, now);
            let created = insert_runs(conn, std::slice::from_ref(&run), &fire_token())?;
            if created.is_empty() {
                return Err(StorageError::AlreadyExists {
                    entity: Entity::Run,
                    id: Some(format!("{tenant}/{}@{}", schedule.id, run.scheduled_at)),
                    source: None,
                });
            }
            if let Some(template) = &schedule.template {
                let job = template.job_for(&run, now)?;
                crate::tenants::ensure_live_tenants(conn, [tenant])?;
                writer::insert_job(conn, settings, &job)?;
            }
            Ok(run)
        })
    }

    fn update_run_status(
        &self,
        tenant: &TenantId,
        run: &RunId,
        status: RunStatus,
    ) -> Result<Run, StorageError> {
        self.write(
            Call::new("update_run_status").tenant(tenant),
            |conn, settings| {
                let now = settings.now();
                let before = read_run(conn, tenant, run)?;
                match status {
                    RunStatus::Running if before.status == RunStatus::Pending => {
                        // This call returns only the run: a refusal's actions are queued.
                        match start(conn, &before, Delivery::Queued, now)? {
                            RunStart::Started(run) | RunStart::Refused { run, .. } => Ok(run),
                        }
                    }
                    RunStatus::Cancelled => {
                        cancel(conn, settings, &before, "cancelled by a caller", now)
                    }
                    _ => {
                        let update = before.change(status, now)?;
                        store_run(conn, &update)?;
                        Ok(update.run)
                    }
                }
            },
        )
    }

    fn start_run(&self, tenant: &TenantId, run: &RunId) -> Result<RunStart, StorageError> {
        self.write(Call::new("start_run").tenant(tenant), |conn, settings| {
            let before = read_run(conn, tenant, run)?;
            // The domain refuses anything but PENDING before the schedule is locked.
            before.change(RunStatus::Running, settings.now())?;
            start(conn, &before, Delivery::Returned, settings.now())
        })
    }

    fn complete_run(
        &self,
        tenant: &TenantId,
        run: &RunId,
        success: bool,
        error: Option<String>,
    ) -> Result<RunOutcome, StorageError> {
        self.write(
            Call::new("complete_run").tenant(tenant),
            |conn, settings| {
                let before = read_run(conn, tenant, run)?;
                let update = before.complete(success, error.as_deref(), settings.now())?;
                store_run(conn, &update)?;
                let actions = match update.run.outcome_trigger() {
                    Some(trigger) => fire_actions(
                        conn,
                        &update.run,
                        trigger,
                        None,
                        Delivery::Returned,
                        settings.now(),
                    )?,
                    None => Vec::new(),
                };
                Ok(RunOutcome {
                    run: update.run,
                    actions,
                })
            },
        )
    }

    fn record_violation(
        &self,
        violation: NewViolation,
    ) -> Result<ConstraintViolation, StorageError> {
        let tenant = violation.tenant_id.clone();
        self.write(
            Call::new("record_violation").tenant(&tenant),
            |conn, settings| {
                let violation = violation.into_violation(settings.now())?;
                read_run(conn, &tenant, &violation.run_id)?;
                super::read_constraint(conn, &tenant, &violation.constraint_id)?;
                insert_violation(conn, &violation)?;
                Ok(violation)
            },
        )
    }

    fn violations_for_run(
        &self,
        tenant: &TenantId,
        run: &RunId,
    ) -> Result<Vec<ConstraintViolation>, StorageError> {
        self.read(Call::new("violations_for_run").tenant(tenant), |conn, _| {
            constraint_violations::table
                .filter(constraint_violations::run_id.eq(run.as_str()))
                .filter(constraint_violations::tenant_id.eq(tenant.as_str()))
                .order((
                    constraint_violations::violation_time,
                    constraint_violations::violation_id,
                ))
                .select(ViolationRow::as_select())
                .load(conn)?
                .into_iter()
                .map(ConstraintViolation::try_from)
                .collect()
        })
    }

    fn violations_for_constraint(
        &self,
        tenant: &TenantId,
        constraint: &ConstraintId,
        limit: u32,
    ) -> Result<Vec<ConstraintViolation>, StorageError> {
        self.read(
            Call::new("violations_for_constraint").tenant(tenant),
            |conn, _| {
                check_limit(limit)?;
                constraint_violations::table
                    .filter(constraint_violations::tenant_id.eq(tenant.as_str()))
                    .filter(constraint_violations::constraint_id.eq(constraint.as_str()))
                    .order((
                        constraint_violations::violation_time.desc(),
                        constraint_violations::violation_id.desc(),
                    ))
                    .limit(i64::from(limit))
                    .select(ViolationRow::as_select())
                    .load(conn)?
                    .into_iter()
                    .map(ConstraintViolation::try_from)
                    .collect()
            },
        )
    }

    fn record_scheduler_stats(&self, stats: &SchedulerStats) -> Result<(), StorageError> {
        self.write(Call::new("record_scheduler_stats"), |conn, _| {
            stats.validate()?;
            diesel::insert_into(scheduler_stats::table)
                .values(SchedulerStatsRow::from(stats))
                .execute(conn)
                .map_err(|e| {
                    StorageError::from(e)
                        .already_exists(Entity::Stats, Some(stats.stats_period_id.to_string()))
                })?;
            Ok(())
        })
    }

    fn scheduler_stats(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SchedulerStats>, StorageError> {
        self.read(Call::new("scheduler_stats"), |conn, _| {
            jobstore_domain::check_time("from", from)?;
            jobstore_domain::check_time("until", until)?;
            scheduler_stats::table
                .filter(scheduler_stats::start_time.lt(stored(until)))
                .filter(scheduler_stats::end_time.gt(stored(from)))
                .order((
                    scheduler_stats::start_time,
                    scheduler_stats::stats_period_id,
                ))
                .select(SchedulerStatsRow::as_select())
                .load(conn)?
                .into_iter()
                .map(SchedulerStats::try_from)
                .collect()
        })
    }

    fn record_orchestrator_stats(&self, stats: &OrchestratorStats) -> Result<(), StorageError> {
        self.write(Call::new("record_orchestrator_stats"), |conn, _| {
            stats.validate()?;
            diesel::insert_into(orchestrator_stats::table)
                .values(OrchestratorStatsRow::from(stats))
                .execute(conn)
                .map_err(|e| match StorageError::from(e) {
                    StorageError::ForeignKey { .. } => StorageError::NotFound {
                        entity: Entity::Stats,
                        id: stats.stats_period_id.to_string(),
                    },
                    other => other.already_exists(Entity::Stats, Some(stats.run_id.to_string())),
                })?;
            Ok(())
        })
    }

    fn orchestrator_stats(
        &self,
        period: &StatsPeriodId,
    ) -> Result<Vec<OrchestratorStats>, StorageError> {
        self.read(Call::new("orchestrator_stats"), |conn, _| {
            orchestrator_stats::table
                .filter(orchestrator_stats::stats_period_id.eq(period.as_str()))
                .order(orchestrator_stats::run_id)
                .select(OrchestratorStatsRow::as_select())
                .load(conn)?
                .into_iter()
                .map(OrchestratorStats::try_from)
                .collect()
        })
    }
}
