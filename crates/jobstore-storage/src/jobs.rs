//! Job storage: the queries behind [`JobRepository`], and the guarded update every state change
//! goes through.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use jobstore_domain::{
    Change, Cursor, Job, JobFilter, JobId, JobStateTransition, JobStatus, NewJob, Page,
    PageRequest, TenantId, validate_batch_job_name,
};

use crate::{
    DbConnection, Enqueued, Entity, JobRepository, StorageError,
    connection::with_inner,
    rows::{JobRow, TransitionRow, stored},
    schema::{job_state_transitions, jobs},
    stamp::Stamp,
    store::{Session, Settings},
    tenants::ensure_live_tenants,
};

/// Rows per insert statement: well under every backend's limit on bound parameters.
const INSERT_CHUNK: usize = 500;

impl<S: Session> JobRepository for S {
    fn create_job(&self, new: NewJob) -> Result<Job, StorageError> {
        match self.enqueue(new)? {
            Enqueued::Created(job) => Ok(job),
            Enqueued::Duplicate(existing) => Err(StorageError::AlreadyExists {
                entity: Entity::Job,
                id: format!(
                    "{}/{} with unique key {:?}",
                    existing.tenant_id,
                    existing.id,
                    existing.unique_key.unwrap_or_default()
                ),
            }),
        }
    }

    fn create_jobs(&self, new: Vec<NewJob>) -> Result<Vec<Job>, StorageError> {
        self.write(|conn, settings| {
            let jobs = build_jobs(new, settings)?;
            ensure_live_tenants(conn, jobs.iter().map(|j| &j.tenant_id))?;
            insert_all(conn, &jobs)?;
            Ok(jobs)
        })
    }

    fn enqueue(&self, new: NewJob) -> Result<Enqueued, StorageError> {
        self.write(|conn, settings| {
            let job = build_jobs(vec![new], settings)?.remove(0);
            ensure_live_tenants(conn, [&job.tenant_id])?;
            insert_one(conn, job)
        })
    }

    fn get_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError> {
        self.read(|conn, _| live_job(conn, tenant, job))
    }

    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError> {
        page.validate()?;
        for at in [filter.created_from, filter.created_before]
            .into_iter()
            .flatten()
        {
            jobstore_domain::check_time("created_at", at)?;
        }
        let after = page.after.as_ref().map(Cursor::job).transpose()?;
        self.read(|conn, _| {
            let mut query = jobs::table
                .filter(jobs::tenant_id.eq(tenant.as_str()))
                .filter(jobs::deleted_at.is_null())
                .order((jobs::created_at, jobs::job_id))
                .limit(i64::from(page.limit) + 1)
                .select(JobRow::as_select())
                .into_boxed();
            if !filter.statuses.is_empty() {
                query =
                    query.filter(jobs::status.eq_any(filter.statuses.iter().map(|s| s.as_str())));
            }
            if let Some(from) = filter.created_from {
                query = query.filter(jobs::created_at.ge(stored(from)));
            }
            if let Some(before) = filter.created_before {
                query = query.filter(jobs::created_at.lt(stored(before)));
            }
            if let Some((created_at, id)) = &after {
                let created_at = stored(*created_at);
                query = query.filter(
                    jobs::created_at.gt(created_at).or(jobs::created_at
                        .eq(created_at)
                        .and(jobs::job_id.gt(id.as_str()))),
                );
            }
            let mut items = query
                .load(conn)?
                .into_iter()
                .map(Job::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let next = (items.len() > page.limit as usize).then(|| {
                items.truncate(page.limit as usize);
                let last = &items[items.len() - 1];
                Cursor::after_job(last.created_at, &last.id)
            });
            Ok(Page { items, next })
        })
    }

    fn transition_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        change: Change,
    ) -> Result<Job, StorageError> {
        self.write(|conn, settings| {
            let before = live_job(conn, tenant, job)?;
            let applied = before.apply(&change, settings.clock.now())?;
            record(conn, &before, &applied.job, &[applied.transition])?;
            Ok(applied.job)
        })
    }

    fn retry_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError> {
        self.write(|conn, settings| {
            let before = live_job(conn, tenant, job)?;
            // PENDING is also reached by a worker's release: only a finished attempt is retried.
            if !matches!(before.status, JobStatus::Failed | JobStatus::Lost) {
                return Err(StorageError::InvalidTransition {
                    from: before.status,
                    to: JobStatus::Pending,
                });
            }
            let applied = before.apply(&Change::to(JobStatus::Pending), settings.clock.now())?;
            record(conn, &before, &applied.job, &[applied.transition])?;
            Ok(applied.job)
        })
    }

    fn set_batch_job_name(
        &self,
        tenant: &TenantId,
        job: &JobId,
        name: &str,
    ) -> Result<Job, StorageError> {
        validate_batch_job_name(name)?;
        self.write(|conn, settings| {
            let before = live_job(conn, tenant, job)?;
            let after = Job {
                batch_job_name: Some(name.to_owned()),
                ..touched(&before, settings.clock.now())
            };
            guarded_update(conn, &before, &after, None)?;
            Ok(after)
        })
    }

    fn soft_delete_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError> {
        self.write(|conn, settings| {
            let before = live_job(conn, tenant, job)?;
            if !before.status.is_finished() {
                return Err(StorageError::Validation {
                    field: "status".to_owned(),
                    reason: format!("job is {}: cancel it before deleting it", before.status),
                });
            }
            let now = settings.clock.now();
            let after = Job {
                deleted_at: Some(now),
                ..touched(&before, now)
            };
            guarded_update(conn, &before, &after, None)
        })
    }

    fn purge_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError> {
        self.write(|conn, _| {
            let deleted =
                diesel::delete(jobs::table.find((tenant.as_str(), job.as_str()))).execute(conn)?;
            match deleted {
                0 => Err(not_found(tenant, job)),
                _ => Ok(()),
            }
        })
    }

    fn job_history(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<Vec<JobStateTransition>, StorageError> {
        self.read(|conn, _| {
            live_job(conn, tenant, job)?;
            job_state_transitions::table
                .filter(job_state_transitions::tenant_id.eq(tenant.as_str()))
                .filter(job_state_transitions::job_id.eq(job.as_str()))
                .order(job_state_transitions::seq)
                .select(TransitionRow::as_select())
                .load(conn)?
                .into_iter()
                .map(JobStateTransition::try_from)
                .collect()
        })
    }
}

/// Checks and builds new jobs at the store's time (times given by the caller are cut to the
/// microsecond, as every backend stores them).
fn build_jobs(new: Vec<NewJob>, settings: &Settings) -> Result<Vec<Job>, StorageError> {
    let now = settings.clock.now();
    new.into_iter()
        .map(|mut job| {
            job.not_before = job.not_before.map(|t| t.trunc_subsecs(6));
            Ok(job.into_job(now)?)
        })
        .collect()
}

/// Inserts one job and its creation record. A unique key held by an unfinished job of the same
/// tenant gives back that job; the unique index decides, so concurrent enqueues agree.
fn insert_one(conn: &mut DbConnection, job: Job) -> Result<Enqueued, StorageError> {
    let row = JobRow::from(&job);
    let inserted = match &job.unique_key {
        // A savepoint, so that after a collision the transaction can still read the winner.
        Some(_) => {
            conn.transaction(|conn| diesel::insert_into(jobs::table).values(&row).execute(conn))
        }
        None => diesel::insert_into(jobs::table).values(&row).execute(conn),
    };
    match inserted.map_err(StorageError::from) {
        Ok(_) => {}
        Err(StorageError::AlreadyExists { .. }) => {
            if let Some(existing) = unfinished_with_key(conn, &job)? {
                return Ok(Enqueued::Duplicate(existing));
            }
            return Err(StorageError::AlreadyExists {
                entity: Entity::Job,
                id: format!("{}/{}", job.tenant_id, job.id),
            });
        }
        Err(e) => return Err(e.about(Entity::Job, format!("{}/{}", job.tenant_id, job.id))),
    }
    insert_transitions(conn, &[job.created_transition(None)])?;
    Ok(Enqueued::Created(job))
}

/// Inserts jobs and their creation records, a chunk of rows per statement.
fn insert_all(conn: &mut DbConnection, jobs: &[Job]) -> Result<(), StorageError> {
    for chunk in jobs.chunks(INSERT_CHUNK) {
        let rows: Vec<JobRow> = chunk.iter().map(JobRow::from).collect();
        with_inner!(conn, |c| diesel::insert_into(jobs::table)
            .values(&rows)
            .execute(c))
        .map_err(|e| StorageError::from(e).about(Entity::Job, "in the batch"))?;
        let created: Vec<JobStateTransition> = chunk
            .iter()
            .map(|job| job.created_transition(None))
            .collect();
        insert_transitions(conn, &created)?;
    }
    Ok(())
}

fn unfinished_with_key(conn: &mut DbConnection, job: &Job) -> Result<Option<Job>, StorageError> {
    let Some(key) = &job.unique_key else {
        return Ok(None);
    };
    jobs::table
        .filter(jobs::tenant_id.eq(job.tenant_id.as_str()))
        .filter(jobs::unique_key.eq(key))
        .filter(jobs::status.eq_any(["PENDING", "ASSIGNED", "RUNNING"]))
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// Reads a job of `tenant` that is not soft-deleted.
pub(crate) fn live_job(
    conn: &mut DbConnection,
    tenant: &TenantId,
    job: &JobId,
) -> Result<Job, StorageError> {
    jobs::table
        .find((tenant.as_str(), job.as_str()))
        .filter(jobs::deleted_at.is_null())
        .select(JobRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(tenant, job))?
        .try_into()
}

/// Writes a state change: the job, guarded by the state it was read in, and its audit records
/// (one per step, as when a failure is retried at once).
pub(crate) fn record(
    conn: &mut DbConnection,
    before: &Job,
    after: &Job,
    steps: &[JobStateTransition],
) -> Result<(), StorageError> {
    let id = match &after.unique_key {
        // The one unique value a state change can collide on: a retried job's key.
        Some(key) => format!(
            "{}/{} with unique key {key:?} (held by another unfinished job)",
            before.tenant_id, before.id
        ),
        None => format!("{}/{}", before.tenant_id, before.id),
    };
    guarded_update(conn, before, after, None).map_err(|e| e.about(Entity::Job, &id))?;
    insert_transitions(conn, steps)
}

/// Inserts audit records in one statement.
pub(crate) fn insert_transitions(
    conn: &mut DbConnection,
    steps: &[JobStateTransition],
) -> Result<(), StorageError> {
    if let [step] = steps {
        // One row: a statement of fixed shape, which the connection prepares once and reuses.
        diesel::insert_into(job_state_transitions::table)
            .values(TransitionRow::from(step))
            .execute(conn)?;
        return Ok(());
    }
    let rows: Vec<TransitionRow> = steps.iter().map(TransitionRow::from).collect();
    with_inner!(conn, |c| {
        diesel::insert_into(job_state_transitions::table)
            .values(&rows)
            .execute(c)
    })?;
    Ok(())
}

/// Writes `after` over the job only if it is still as `before` was read (same status and
/// version) and, for the reaper, only if its lease is still expired at `expired_at`. When
/// another process changed it first, nothing is written: [`StorageError::Conflict`].
pub(crate) fn guarded_update(
    conn: &mut DbConnection,
    before: &Job,
    after: &Job,
    expired_at: Option<DateTime<Utc>>,
) -> Result<(), StorageError> {
    // Without a reaper's cut-off the deadline test always holds: no lease runs past year 9999,
    // the last every backend stores (and SQLite compares times as text).
    let cutoff = expired_at.map_or_else(end_of_time, stored);
    let target = jobs::table
        .find((before.tenant_id.as_str(), before.id.as_str()))
        .filter(jobs::status.eq(before.status.as_str()))
        .filter(jobs::version.eq(before.version))
        .filter(
            jobs::lease_deadline
                .is_null()
                .or(jobs::lease_deadline.le(cutoff)),
        );
    let row = JobRow::from(after);
    let changed = if after.lease_deadline == before.lease_deadline {
        // The lease goes on (or there is none): leave the deadline to concurrent heartbeats.
        diesel::update(target).set(&row).execute(conn)?
    } else {
        diesel::update(target)
            .set((
                &row,
                jobs::lease_deadline.eq(after.lease_deadline.map(stored)),
            ))
            .execute(conn)?
    };
    match changed {
        0 => Err(StorageError::Conflict {
            entity: Entity::Job,
            id: format!("{}/{}", before.tenant_id, before.id),
        }),
        _ => Ok(()),
    }
}

fn end_of_time() -> Stamp {
    Stamp(
        chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or(chrono::NaiveDateTime::MAX),
    )
}

/// The job as changed at `now` without a state change.
fn touched(job: &Job, now: DateTime<Utc>) -> Job {
    Job {
        updated_at: now,
        version: job.version + 1,
        ..job.clone()
    }
}

pub(crate) fn not_found(tenant: &TenantId, job: &JobId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Job,
        id: format!("{tenant}/{job}"),
    }
}
