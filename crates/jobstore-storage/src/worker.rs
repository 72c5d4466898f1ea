//! Worker storage: claims under a lease, heartbeats, lease-checked reports and the reaper.
//!
//! The two statements that differ per backend live here (`load_skip_locked!`): claim and reap
//! read their rows with `FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL and `FOR UPDATE SKIP LOCKED`
//! on MySQL/MariaDB, so claimers and reapers never wait on each other; SQLite has no row locks and
//! serialises writers with `BEGIN IMMEDIATE` instead.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{prelude::*, sql_types::Bool};
use jobstore_domain::{
    Change, Job, JobId, JobStateTransition, JobStatus, Lease, LeaseGrant, MAX_PAGE_SIZE, TenantId,
    validate_agent, validate_queue,
};

use crate::{
    ClaimRequest, DbConnection, Entity, Reaped, StorageError, WorkerRepository,
    connection::MultiBackend,
    jobs::{guarded_update, insert_transitions, not_found, record},
    rows::{JobRow, stored},
    schema::jobs,
    store::{Session, Settings},
};

/// Who the audit trail names for the reaper's changes.
const REAPER: &str = "reaper";

impl<S: Session> WorkerRepository for S {
    fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>, StorageError> {
        validate_queue(&request.queue)?;
        validate_agent(&request.agent)?;
        check_limit(request.limit)?;
        check_lease_length("lease_for", request.lease_for)?;
        self.write(|conn, settings| {
            let now = settings.clock.now();
            let candidates = lock_claimable(conn, &request.queue, now, request.limit)?;
            if candidates.is_empty() {
                return Ok(Vec::new());
            }
            // One lease id for the batch: every job is still reported on by its own id.
            let lease = LeaseGrant::new(request.agent.as_str(), now, request.lease_for);
            let mut claimed = Vec::with_capacity(candidates.len());
            let mut steps = Vec::with_capacity(candidates.len() * 2);
            for job in &candidates {
                let assign = Change::to(JobStatus::Assigned)
                    .actor(request.agent.as_str())
                    .lease(lease.clone());
                let mut applied = job.apply(&assign, now)?;
                if request.start {
                    steps.push(applied.transition);
                    applied = applied.job.apply(
                        &Change::to(JobStatus::Running).actor(request.agent.as_str()),
                        now,
                    )?;
                }
                steps.push(applied.transition);
                claimed.push(applied.job);
            }
            if let ([before], [after]) = (&candidates[..], &claimed[..]) {
                // One job: the statement every state change uses, prepared once per connection.
                guarded_update(conn, before, after, None)?;
            } else {
                claim_all(conn, &candidates, &claimed[0], now)?;
            }
            insert_transitions(conn, &steps)?;
            Ok(claimed)
        })
    }

    fn heartbeat(
        &self,
        lease: &Lease,
        extend_by: TimeDelta,
    ) -> Result<DateTime<Utc>, StorageError> {
        check_lease_length("extend_by", extend_by)?;
        self.write(|conn, settings| {
            let now = settings.clock.now();
            let deadline = now
                .checked_add_signed(extend_by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            jobstore_domain::check_time("lease_deadline", deadline)?;
            // One statement in the common case; the job is read only to say why it was refused.
            let changed = diesel::update(
                jobs::table
                    .find((lease.tenant_id.as_str(), lease.job_id.as_str()))
                    .filter(jobs::lease_id.eq(lease.lease_id.as_str()))
                    .filter(jobs::status.eq_any(LEASED))
                    .filter(jobs::lease_deadline.gt(stored(now))),
            )
            .set((
                jobs::lease_deadline.eq(stored(deadline)),
                jobs::updated_at.eq(stored(now)),
            ))
            .execute(conn)?;
            if changed == 1 {
                return Ok(deadline);
            }
            let job = any_job(conn, lease)?;
            job.check_lease(&lease.lease_id, now)
                .map_err(|e| StorageError::from(e).about(Entity::Job, job_key(lease)))?;
            Err(StorageError::Conflict {
                entity: Entity::Job,
                id: job_key(lease),
            })
        })
    }

    fn start(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, lease, |job, now, _| {
            Ok(vec![job.apply(
                &Change::to(JobStatus::Running).actor_of(job),
                now,
            )?])
        })
    }

    fn complete(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, lease, |job, now, _| {
            Ok(vec![job.apply(
                &Change::to(JobStatus::Completed).actor_of(job),
                now,
            )?])
        })
    }

    fn complete_all(&self, leases: &[Lease]) -> Result<Vec<Job>, StorageError> {
        check_limit(u32::try_from(leases.len()).unwrap_or(u32::MAX).max(1))?;
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let mut named_jobs: Vec<(&TenantId, &JobId)> =
            leases.iter().map(|l| (&l.tenant_id, &l.job_id)).collect();
        named_jobs.sort_unstable();
        named_jobs.dedup();
        if named_jobs.len() != leases.len() {
            return Err(StorageError::Validation {
                field: "leases".to_owned(),
                reason: "name a job more than once".to_owned(),
            });
        }
        self.write(|conn, settings| {
            let now = settings.clock.now();
            let held = read_leased(conn, leases)?;
            let mut completed = Vec::with_capacity(held.len());
            let mut steps = Vec::with_capacity(held.len());
            for lease in leases {
                let job = held
                    .iter()
                    .find(|j| j.tenant_id == lease.tenant_id && j.id == lease.job_id)
                    .ok_or_else(|| not_found(&lease.tenant_id, &lease.job_id))?;
                job.check_lease(&lease.lease_id, now)
                    .map_err(|e| StorageError::from(e).about(Entity::Job, job_key(lease)))?;
                let applied = job.apply(&Change::to(JobStatus::Completed).actor_of(job), now)?;
                steps.push(applied.transition);
                completed.push(applied.job);
            }
            // Each job guarded by the version it was read at: one reaped, re-claimed or cancelled
            // since does not match, and the count below refuses the whole batch.
            let changed = diesel::update(jobs::table)
                .filter(jobs::status.eq(JobStatus::Running.as_str()))
                .filter(same_versions(&held))
                .set((
                    jobs::status.eq(JobStatus::Completed.as_str()),
                    jobs::completed_at.eq(stored(now)),
                    jobs::lease_id.eq(None::<String>),
                    jobs::lease_deadline.eq(None::<crate::stamp::Stamp>),
                    jobs::updated_at.eq(stored(now)),
                    jobs::version.eq(jobs::version + 1),
                ))
                .execute(conn)?;
            if changed != leases.len() {
                return Err(StorageError::Conflict {
                    entity: Entity::Job,
                    id: format!("completion of {} jobs", leases.len()),
                });
            }
            insert_transitions(conn, &steps)?;
            Ok(completed)
        })
    }

    fn fail(&self, lease: &Lease, message: &str, retryable: bool) -> Result<Job, StorageError> {
        report(self, lease, |job, now, settings| {
            let failed = job.apply(
                &Change::to(JobStatus::Failed).reason(message).actor_of(job),
                now,
            )?;
            if !(retryable && failed.job.can_retry()) {
                return Ok(vec![failed]);
            }
            let retried =
                retry_after_backoff(&failed.job, now, settings, job.assigned_agent.as_deref())?;
            Ok(vec![failed, retried])
        })
    }

    fn release(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, lease, |job, now, _| {
            Ok(vec![
                job.apply(
                    &Change::to(JobStatus::Pending)
                        .reason("released")
                        .actor_of(job),
                    now,
                )?,
            ])
        })
    }

    fn reap(&self, limit: u32) -> Result<Reaped, StorageError> {
        check_limit(limit)?;
        self.write(|conn, settings| {
            let now = settings.clock.now();
            let mut reaped = Reaped::default();
            for job in lock_expired(conn, now, limit)? {
                let lost = job.apply(
                    &Change::to(JobStatus::Lost)
                        .reason("lease expired")
                        .actor(REAPER),
                    now,
                )?;
                let (after, steps, outcome) = if lost.job.can_retry() {
                    let retried = retry_after_backoff(&lost.job, now, settings, Some(REAPER))?;
                    let after = retried.job.clone();
                    (
                        after,
                        vec![lost.transition, retried.transition],
                        &mut reaped.retried,
                    )
                } else {
                    (lost.job.clone(), vec![lost.transition], &mut reaped.lost)
                };
                // Guarded by the expired deadline too: a lease renewed meanwhile is left alone,
                // and so is a job another process changed first.
                match guarded_update(conn, &job, &after, Some(now)) {
                    Ok(()) => {
                        insert_transitions(conn, &steps)?;
                        outcome.push((job.tenant_id.clone(), job.id.clone()));
                    }
                    Err(StorageError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(reaped)
        })
    }
}

/// Writes a claim of many jobs: every claimed job gets the same new columns, so one statement
/// writes them all. The rows are locked (or, on SQLite, this is the only writer): no version guard.
fn claim_all(
    conn: &mut DbConnection,
    candidates: &[Job],
    first: &Job,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let steps_taken = first.version - candidates[0].version;
    let changed = diesel::update(jobs::table)
        .filter(jobs::status.eq(JobStatus::Pending.as_str()))
        .filter(named(candidates.iter().map(|j| (&j.tenant_id, &j.id))))
        .set((
            jobs::status.eq(first.status.as_str()),
            jobs::assigned_agent.eq(&first.assigned_agent),
            jobs::lease_id.eq(first.lease_id.as_ref().map(|l| l.as_str())),
            jobs::lease_deadline.eq(first.lease_deadline.map(stored)),
            jobs::scheduled_at.eq(first.scheduled_at.map(stored)),
            jobs::started_at.eq(first.started_at.map(stored)),
            jobs::updated_at.eq(stored(now)),
            jobs::version.eq(jobs::version + steps_taken),
        ))
        .execute(conn)?;
    if changed != candidates.len() {
        return Err(StorageError::Conflict {
            entity: Entity::Job,
            id: format!("claim of {} jobs", candidates.len()),
        });
    }
    Ok(())
}

/// The statuses in which a worker holds a job.
const LEASED: [&str; 2] = ["ASSIGNED", "RUNNING"];

/// Reads the job a worker reports on, checks its lease, applies `steps` and records them.
fn report<S: Session>(
    session: &S,
    lease: &Lease,
    steps: impl FnOnce(
        &Job,
        DateTime<Utc>,
        &Settings,
    ) -> Result<Vec<jobstore_domain::Applied>, StorageError>,
) -> Result<Job, StorageError> {
    session.write(|conn, settings| {
        let now = settings.clock.now();
        let before = any_job(conn, lease)?;
        before
            .check_lease(&lease.lease_id, now)
            .map_err(|e| StorageError::from(e).about(Entity::Job, job_key(lease)))?;
        let applied = steps(&before, now, settings)?;
        let after = applied
            .last()
            .map_or_else(|| before.clone(), |a| a.job.clone());
        let transitions: Vec<JobStateTransition> =
            applied.into_iter().map(|a| a.transition).collect();
        record(conn, &before, &after, &transitions)?;
        Ok(after)
    })
}

/// FAILED or LOST back to PENDING, not before the job's backoff has passed.
fn retry_after_backoff(
    job: &Job,
    now: DateTime<Utc>,
    settings: &Settings,
    actor: Option<&str>,
) -> Result<jobstore_domain::Applied, StorageError> {
    let delay = settings
        .retry_policy(job)
        .delay(&job.id, job.retry_count + 1);
    let mut change = Change::to(JobStatus::Pending)
        .reason(format!(
            "retry {} of {} in {:.3} s",
            job.retry_count + 1,
            job.max_retries,
            delay.as_seconds_f64()
        ))
        .not_before(
            now.checked_add_signed(delay)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
    change.actor = actor.map(str::to_owned);
    Ok(job.apply(&change, now)?)
}

trait ActorOf {
    /// Names the job's worker as the change's actor.
    fn actor_of(self, job: &Job) -> Self;
}

impl ActorOf for Change {
    fn actor_of(mut self, job: &Job) -> Self {
        self.actor = job.assigned_agent.clone();
        self
    }
}

/// The job a lease names, soft-deleted or not (a worker may hold a job that was deleted).
fn any_job(conn: &mut DbConnection, lease: &Lease) -> Result<Job, StorageError> {
    jobs::table
        .find((lease.tenant_id.as_str(), lease.job_id.as_str()))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(&lease.tenant_id, &lease.job_id))?
        .try_into()
}

/// A condition on a job row, built at run time.
type Condition = Box<dyn BoxableExpression<jobs::table, MultiBackend, SqlType = Bool>>;

/// Reads the jobs the leases name, in one statement.
fn read_leased(conn: &mut DbConnection, leases: &[Lease]) -> Result<Vec<Job>, StorageError> {
    jobs::table
        .filter(named(leases.iter().map(|l| (&l.tenant_id, &l.job_id))))
        .select(JobRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Job::try_from)
        .collect()
}

/// Matches exactly the named jobs: per tenant, `tenant_id = ? AND job_id IN (...)`, one index
/// range however many of its jobs are named.
fn named<'a>(keys: impl IntoIterator<Item = (&'a TenantId, &'a JobId)>) -> Condition {
    let mut by_tenant: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (tenant, job) in keys {
        by_tenant
            .entry(tenant.as_str())
            .or_default()
            .push(job.to_string());
    }
    any_of(
        by_tenant
            .into_iter()
            .map(|(tenant, jobs)| -> Condition {
                Box::new(
                    jobs::tenant_id
                        .eq(tenant.to_owned())
                        .and(jobs::job_id.eq_any(jobs)),
                )
            })
            .collect(),
    )
}

/// Matches exactly the given jobs, each at the version it was read in.
fn same_versions(jobs: &[Job]) -> Condition {
    any_of(
        jobs.iter()
            .map(|job| -> Condition {
                Box::new(
                    jobs::tenant_id
                        .eq(job.tenant_id.to_string())
                        .and(jobs::job_id.eq(job.id.to_string()))
                        .and(jobs::version.eq(job.version)),
                )
            })
            .collect(),
    )
}

/// ORs conditions as a balanced tree: SQLite refuses expressions nested over 1000 deep.
fn any_of(mut conditions: Vec<Condition>) -> Condition {
    if conditions.is_empty() {
        return Box::new(diesel::dsl::sql::<Bool>("1 = 0"));
    }
    while conditions.len() > 1 {
        let mut paired = Vec::with_capacity(conditions.len().div_ceil(2));
        let mut rest = conditions.into_iter();
        while let Some(left) = rest.next() {
            paired.push(match rest.next() {
                Some(right) => Box::new(left.or(right)) as Condition,
                None => left,
            });
        }
        conditions = paired;
    }
    conditions.remove(0)
}

/// Loads the rows a query selects, locking them and skipping rows others have locked. The one
/// place where the backends' locking differs: `FOR NO KEY UPDATE` on PostgreSQL (the audit rows'
/// foreign-key checks need not wait for it), `FOR UPDATE` on MySQL, and nothing on SQLite, whose
/// write transactions (`BEGIN IMMEDIATE`) already exclude every other writer.
macro_rules! load_skip_locked {
    ($conn:expr, $query:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(c) => $query
                .select(JobRow::as_select())
                .for_no_key_update()
                .skip_locked()
                .load::<JobRow>(c),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => $query
                .select(JobRow::as_select())
                .for_update()
                .skip_locked()
                .load::<JobRow>(c),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(c) => $query.select(JobRow::as_select()).load::<JobRow>(c),
        }
    };
}

/// Reads and locks up to `limit` claimable jobs of `queue`, in claim order.
fn lock_claimable(
    conn: &mut DbConnection,
    queue: &str,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Job>, StorageError> {
    let claimable = jobs::table
        .filter(jobs::status.eq(JobStatus::Pending.as_str()))
        .filter(jobs::queue.eq(queue))
        .filter(jobs::not_before.le(stored(now)))
        .filter(jobs::deleted_at.is_null())
        .order((
            jobs::priority.desc(),
            jobs::not_before.asc(),
            jobs::tenant_id.asc(),
            jobs::job_id.asc(),
        ))
        .limit(i64::from(limit));
    let rows = load_skip_locked!(conn, claimable)?;
    rows.into_iter().map(Job::try_from).collect()
}

/// Reads and locks up to `limit` jobs whose lease expired by `now`.
fn lock_expired(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Job>, StorageError> {
    let expired = jobs::table
        .filter(jobs::status.eq_any(LEASED))
        .filter(jobs::lease_deadline.le(stored(now)))
        .order((
            jobs::lease_deadline.asc(),
            jobs::tenant_id.asc(),
            jobs::job_id.asc(),
        ))
        .limit(i64::from(limit));
    let rows = load_skip_locked!(conn, expired)?;
    rows.into_iter().map(Job::try_from).collect()
}

/// A lease lasts more than nothing and at most a year (workers on longer jobs heartbeat).
fn check_lease_length(field: &str, length: TimeDelta) -> Result<(), StorageError> {
    if length <= TimeDelta::zero() || length > TimeDelta::days(366) {
        return Err(StorageError::Validation {
            field: field.to_owned(),
            reason: "must be positive and at most 366 days".to_owned(),
        });
    }
    Ok(())
}

fn check_limit(limit: u32) -> Result<(), StorageError> {
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(StorageError::Validation {
            field: "limit".to_owned(),
            reason: format!("must be between 1 and {MAX_PAGE_SIZE}"),
        });
    }
    Ok(())
}

fn job_key(lease: &Lease) -> String {
    format!("{}/{}", lease.tenant_id, lease.job_id)
}
