//! Job storage: the queries behind [`JobRepository`]. Every change is computed by the domain
//! and stored by the writer.

use chrono::SubsecRound;
use diesel::prelude::*;
use jobstore_domain::{
    Change, Cursor, Job, JobFilter, JobId, JobStateTransition, JobStatus, JobUpdate, NewJob, Page,
    PageRequest, TenantId,
};

use crate::{
    DbConnection, Enqueued, Entity, JobRepository, StorageError,
    rows::{JobRow, TransitionRow, stored},
    schema::{job_state_transitions, jobs},
    store::{Session, Settings},
    tenants::ensure_live_tenants,
    trace::Call,
    writer::{self, Guard},
};

impl<S: Session> JobRepository for S {
    fn create_job(&self, new: NewJob) -> Result<Job, StorageError> {
        match enqueue(self, Call::new("create_job"), new)? {
            Enqueued::Created(job) => Ok(job),
            Enqueued::Duplicate(existing) => Err(StorageError::AlreadyExists {
                entity: Entity::Job,
                id: Some(format!(
                    "{}/{} with unique key {:?}",
                    existing.tenant_id,
                    existing.id,
                    existing.unique_key.unwrap_or_default()
                )),
                source: None,
            }),
        }
    }

    fn create_jobs(&self, new: Vec<NewJob>) -> Result<Vec<Job>, StorageError> {
        self.write(Call::new("create_jobs"), |conn, settings| {
            let jobs = build_jobs(new, settings)?;
            ensure_live_tenants(conn, jobs.iter().map(|j| &j.tenant_id))?;
            writer::insert_jobs(conn, settings, &jobs)
                .map_err(|e| e.already_exists(Entity::Job, None))?;
            Ok(jobs)
        })
    }

    fn enqueue(&self, new: NewJob) -> Result<Enqueued, StorageError> {
        enqueue(self, Call::new("enqueue"), new)
    }

    fn get_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError> {
        self.read(Call::new("get_job").job(tenant, job), |conn, _| {
            live_job(conn, tenant, job)
        })
    }

    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError> {
        self.read(Call::new("list_jobs").tenant(tenant), |conn, _| {
            page.validate()?;
            for at in [filter.created_from, filter.created_before]
                .into_iter()
                .flatten()
            {
                jobstore_domain::check_time("created_at", at)?;
            }
            let after = page.after.as_ref().map(Cursor::job).transpose()?;
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
        change_job(
            self,
            Call::new("transition_job"),
            tenant,
            job,
            |before, now| before.change(&change, now),
        )
    }

    fn retry_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError> {
        change_job(self, Call::new("retry_job"), tenant, job, Job::retry_now)
    }

    fn set_batch_job_name(
        &self,
        tenant: &TenantId,
        job: &JobId,
        name: &str,
    ) -> Result<Job, StorageError> {
        change_job(
            self,
            Call::new("set_batch_job_name"),
            tenant,
            job,
            |before, now| before.rename_batch_job(name, now),
        )
    }

    fn soft_delete_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError> {
        change_job(
            self,
            Call::new("soft_delete_job"),
            tenant,
            job,
            Job::soft_delete,
        )
        .map(drop)
    }

    fn purge_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError> {
        self.write(Call::new("purge_job").job(tenant, job), |conn, _| {
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
        self.read(Call::new("job_history").job(tenant, job), |conn, _| {
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

/// Creates a job unless an unfinished one of its tenant holds its unique key.
fn enqueue<S: Session>(session: &S, call: Call<'_>, new: NewJob) -> Result<Enqueued, StorageError> {
    let tenant = new.tenant_id.clone();
    session.write(call.tenant(&tenant), |conn, settings| {
        let job = build_jobs(vec![new], settings)?.remove(0);
        ensure_live_tenants(conn, [&job.tenant_id])?;
        insert_one(conn, settings, job)
    })
}

/// Reads a live job of `tenant`, lets the domain decide its update at the store's time, and
/// stores the update.
fn change_job<S: Session>(
    session: &S,
    call: Call<'_>,
    tenant: &TenantId,
    job: &JobId,
    decide: impl FnOnce(
        &Job,
        chrono::DateTime<chrono::Utc>,
    ) -> Result<JobUpdate, jobstore_domain::DomainError>,
) -> Result<Job, StorageError> {
    session.write(call.job(tenant, job), |conn, settings| {
        let before = live_job(conn, tenant, job)?;
        let update = decide(&before, settings.now())?;
        let moved_on = writer::store_one(conn, settings, &update, Guard::Version)?;
        Ok(writer::as_stored(vec![update], &moved_on).remove(0))
    })
}

/// Checks and builds new jobs at the store's time (times given by the caller are cut to the
/// microsecond, as every backend stores them).
fn build_jobs(new: Vec<NewJob>, settings: &Settings) -> Result<Vec<Job>, StorageError> {
    let now = settings.now();
    new.into_iter()
        .map(|mut job| {
            job.not_before = job.not_before.map(|t| t.trunc_subsecs(6));
            Ok(job.into_job(now)?)
        })
        .collect()
}

/// Inserts one job and its creation record. A unique key held by an unfinished job of the same
/// tenant gives back that job; the unique index decides, so concurrent enqueues agree.
fn insert_one(
    conn: &mut DbConnection,
    settings: &Settings,
    job: Job,
) -> Result<Enqueued, StorageError> {
    let inserted = match &job.unique_key {
        // A savepoint, so that after a collision the transaction can still read the winner.
        Some(_) => conn.transaction(|conn| writer::insert_job(conn, settings, &job)),
        None => writer::insert_job(conn, settings, &job),
    };
    match inserted {
        Ok(()) => Ok(Enqueued::Created(job)),
        Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => {
            match unfinished_with_key(conn, &job)? {
                Some(existing) => Ok(Enqueued::Duplicate(existing)),
                None => {
                    Err(e
                        .already_exists(Entity::Job, Some(format!("{}/{}", job.tenant_id, job.id))))
                }
            }
        }
        Err(e) => Err(e),
    }
}

fn unfinished_with_key(conn: &mut DbConnection, job: &Job) -> Result<Option<Job>, StorageError> {
    let Some(key) = &job.unique_key else {
        return Ok(None);
    };
    jobs::table
        .filter(jobs::tenant_id.eq(job.tenant_id.as_str()))
        .filter(jobs::unique_key.eq(key))
        .filter(jobs::status.eq_any(JobStatus::UNFINISHED.map(JobStatus::as_str)))
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

pub(crate) fn not_found(tenant: &TenantId, job: &JobId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Job,
        id: format!("{tenant}/{job}"),
    }
}
