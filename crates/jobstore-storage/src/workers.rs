//! Worker storage: claims under a lease, heartbeats, lease-checked reports and the reaper.
//!
//! Claims and the reaper lock their rows with `SKIP LOCKED` where the backend has it (see
//! `dialect`), so claimers and reapers never wait on each other. What each job becomes is the
//! domain's decision ([`Job::claim`], [`Job::report`], [`Job::fail`], [`Job::reap`]); the writer
//! stores it.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use jobstore_domain::{
    Change, Job, JobStatus, JobUpdate, Lease, LeaseGrant, check_lease_length, check_limit,
    validate_agent, validate_queue,
};

use crate::{
    ClaimRequest, DbConnection, Entity, Handoff, Reaped, StorageError, WorkerRepository, dialect,
    jobs::not_found,
    rows::JobRow,
    schema::jobs,
    store::{Session, Settings},
    trace::Call,
    writer::{self, Guard, named},
};

impl<S: Session> WorkerRepository for S {
    fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>, StorageError> {
        self.write(Call::new("claim"), |conn, settings| {
            let now = settings.now();
            let claims = decide_claims(conn, request, now)?;
            // The rows are locked (or, on SQLite, this is the only writer), so the version
            // guard holds; it is kept all the same, as on every write.
            let moved_on = writer::store(conn, settings, &claims, Guard::Version)?;
            Ok(writer::as_stored(claims, &moved_on))
        })
    }

    fn complete_and_claim(
        &self,
        done: &[Lease],
        next: &ClaimRequest,
    ) -> Result<Handoff, StorageError> {
        self.write(Call::new("complete_and_claim"), |conn, settings| {
            let now = settings.now();
            // Reports decided first: a stale one fails the call before anything is claimed (and
            // the transaction rolls back whole). The claim's locks skip what others hold, so
            // they wait for nobody. Both are then stored in one write, so that the studies
            // their jobs follow are each locked once, in one order (two separate writes, a
            // completion's exclusive lock on one study then a claim's shared lock on another,
            // could wait on each other across two workers).
            let reports = decide_completions(conn, done, now)?;
            let claims = decide_claims(conn, next, now)?;
            let reported = reports.len();
            let mut updates = reports;
            updates.extend(claims);
            let moved_on = writer::store(conn, settings, &updates, Guard::Version)?;
            let mut stored = writer::as_stored(updates, &moved_on);
            let claimed = stored.split_off(reported);
            Ok(Handoff {
                completed: stored,
                claimed,
            })
        })
    }

    fn heartbeat(
        &self,
        lease: &Lease,
        extend_by: TimeDelta,
    ) -> Result<DateTime<Utc>, StorageError> {
        let call = Call::new("heartbeat").job(&lease.tenant_id, &lease.job_id);
        self.write(call, |conn, settings| {
            let now = settings.now();
            // A heartbeat only needs the lease to be live: when another write (the worker's own
            // start on another thread, a rename) moved the version in between, read and decide
            // again rather than fail a worker whose lease is fine.
            let mut attempts = 0;
            loop {
                let before = any_job(conn, lease)?;
                let update = before
                    .extend_lease(&lease.lease_id, extend_by, now)
                    .map_err(|e| StorageError::on_lease(e, &lease.tenant_id, &lease.job_id))?;
                match writer::store_one(conn, settings, &update, Guard::Version) {
                    Err(StorageError::Conflict { .. }) if attempts < 3 => attempts += 1,
                    Err(e) => return Err(e),
                    Ok(_) => {
                        return update
                            .job
                            .lease_deadline
                            .ok_or_else(|| StorageError::Conflict {
                                entity: Entity::Job,
                                id: Some(format!("{}/{}", lease.tenant_id, lease.job_id)),
                            });
                    }
                }
            }
        })
    }

    fn start(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, Call::new("start"), lease, |job, now, _| {
            job.report(&lease.lease_id, Change::to(JobStatus::Running), now)
        })
    }

    fn complete(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, Call::new("complete"), lease, |job, now, _| {
            job.report(&lease.lease_id, Change::to(JobStatus::Completed), now)
        })
    }

    fn complete_all(&self, leases: &[Lease]) -> Result<Vec<Job>, StorageError> {
        self.write(Call::new("complete_all"), |conn, settings| {
            let updates = decide_completions(conn, leases, settings.now())?;
            // Each job guarded by the version it was read at: one reaped, re-claimed or
            // cancelled since does not match, and the whole batch is refused.
            writer::store(conn, settings, &updates, Guard::Version)?;
            Ok(updates.into_iter().map(|update| update.job).collect())
        })
    }

    fn fail(&self, lease: &Lease, message: &str, retryable: bool) -> Result<Job, StorageError> {
        report(self, Call::new("fail"), lease, |job, now, settings| {
            let policy = settings.retry_policy(job);
            job.fail(&lease.lease_id, message, retryable.then_some(&policy), now)
        })
    }

    fn release(&self, lease: &Lease) -> Result<Job, StorageError> {
        report(self, Call::new("release"), lease, |job, now, _| {
            job.report(&lease.lease_id, Change::release().reason("released"), now)
        })
    }

    fn reap(&self, limit: u32) -> Result<Reaped, StorageError> {
        self.write(Call::new("reap"), |conn, settings| {
            check_limit(limit)?;
            let now = settings.now();
            let mut reaped = Reaped::default();
            for job in rows_to_jobs(dialect::lock_expired(conn, now, limit)?)? {
                let Some(update) = job.reap(&settings.retry_policy(&job), now)? else {
                    continue;
                };
                // Guarded by the deadline it read too: a lease renewed meanwhile (a heartbeat
                // moves no version) is left alone, and so is a job another process changed.
                let guard = Guard::VersionAndDeadline(job.lease_deadline);
                match writer::store_one(conn, settings, &update, guard) {
                    Ok(_) => {
                        let outcome = match update.job.status {
                            JobStatus::Pending => &mut reaped.retried,
                            _ => &mut reaped.lost,
                        };
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

/// Checks a claim request, locks its candidates and lets the domain claim each.
fn decide_claims(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    now: DateTime<Utc>,
) -> Result<Vec<JobUpdate>, StorageError> {
    validate_queue(&request.queue)?;
    validate_agent(&request.agent)?;
    check_limit(request.limit)?;
    check_lease_length("lease_for", request.lease_for)?;
    // The query picks candidates by the claim test, for its index; the domain decides.
    let candidates = rows_to_jobs(dialect::lock_claimable(
        conn,
        &request.queue,
        now,
        request.limit,
    )?)?;
    // One lease id for the batch: every job is still reported on by its own id.
    let lease = LeaseGrant::new(request.agent.as_str(), now, request.lease_for);
    candidates
        .iter()
        .filter(|job| job.is_claimable(now))
        .map(|job| Ok(job.claim(&lease, request.start, now)?))
        .collect()
}

/// Reads the jobs `leases` name and lets the domain complete each under its lease. No lease
/// may name a job twice; every job must be found.
pub(crate) fn decide_completions(
    conn: &mut DbConnection,
    leases: &[Lease],
    now: DateTime<Utc>,
) -> Result<Vec<JobUpdate>, StorageError> {
    check_limit(u32::try_from(leases.len()).unwrap_or(u32::MAX).max(1))?;
    let held = match leases {
        [] => return Ok(Vec::new()),
        // One job: a lookup by key, of fixed shape, prepared once per connection.
        [lease] => vec![any_job(conn, lease)?],
        _ => {
            let mut named_jobs: Vec<_> = leases.iter().map(|l| (&l.tenant_id, &l.job_id)).collect();
            named_jobs.sort_unstable();
            named_jobs.dedup();
            if named_jobs.len() != leases.len() {
                return Err(jobstore_domain::DomainError::Validation {
                    field: "leases",
                    reason: "name a job more than once".to_owned(),
                }
                .into());
            }
            rows_to_jobs(
                jobs::table
                    .filter(named(leases.iter().map(|l| (&l.tenant_id, &l.job_id))))
                    .select(JobRow::as_select())
                    .load(conn)?,
            )?
        }
    };
    leases
        .iter()
        .map(|lease| {
            let job = held
                .iter()
                .find(|j| j.tenant_id == lease.tenant_id && j.id == lease.job_id)
                .ok_or_else(|| not_found(&lease.tenant_id, &lease.job_id))?;
            job.report(&lease.lease_id, Change::to(JobStatus::Completed), now)
                .map_err(|e| StorageError::on_lease(e, &lease.tenant_id, &lease.job_id))
        })
        .collect()
}

/// Reads the job a worker reports on, lets the domain decide the report (which checks the
/// lease) and stores it.
fn report<S: Session>(
    session: &S,
    call: Call<'_>,
    lease: &Lease,
    decide: impl FnOnce(
        &Job,
        DateTime<Utc>,
        &Settings,
    ) -> Result<JobUpdate, jobstore_domain::DomainError>,
) -> Result<Job, StorageError> {
    session.write(
        call.job(&lease.tenant_id, &lease.job_id),
        |conn, settings| {
            let now = settings.now();
            let before = any_job(conn, lease)?;
            let update = decide(&before, now, settings)
                .map_err(|e| StorageError::on_lease(e, &lease.tenant_id, &lease.job_id))?;
            let moved_on = writer::store_one(conn, settings, &update, Guard::Version)?;
            Ok(writer::as_stored(vec![update], &moved_on).remove(0))
        },
    )
}

/// The job a lease names, soft-deleted or not (a worker may hold a job that was deleted).
pub(crate) fn any_job(conn: &mut DbConnection, lease: &Lease) -> Result<Job, StorageError> {
    jobs::table
        .find((lease.tenant_id.as_str(), lease.job_id.as_str()))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(&lease.tenant_id, &lease.job_id))?
        .try_into()
}

fn rows_to_jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, StorageError> {
    rows.into_iter().map(Job::try_from).collect()
}
