//! Studies and their state: the queries behind [`StudyRepository`]. Each change is decided by
//! the domain, stored with its trail row and its audit entry; a study's jobs are written by the
//! jobs writer, which makes the study follow them.

use diesel::prelude::*;
use jobstore_domain::{
    AuditAction, Change, DomainError, Job, JobCounts, JobStatus, Manifest, NewStudy, Page,
    PageRequest, Study, StudyId, StudyRequest, StudyState, StudyTransition, StudyUpdate, TenantId,
};

use super::{
    audit, follow, live_study, lock_study, replace_study,
    rows::{StudyRow, StudyTransitionRow},
    store_study, study_not_found,
};
use crate::{
    DbConnection, Entity, StorageError, StudyRepository,
    dialect::{self, Locked},
    rows::{JobRow, stored},
    schema::{jobs, studies, study_transitions},
    store::{Session, Settings},
    tenants::ensure_live_tenants,
    trace::Call,
    writer::{self, Guard},
};

impl<S: Session> StudyRepository for S {
    fn create_study(&self, new: NewStudy) -> Result<Study, StorageError> {
        let tenant = new.tenant_id.clone();
        self.write(
            Call::new("create_study").tenant(&tenant),
            |conn, settings| {
                let study = new.into_study(settings.now())?;
                ensure_live_tenants(conn, [&tenant])?;
                diesel::insert_into(studies::table)
                    .values(StudyRow::from(&study))
                    .execute(conn)
                    .map_err(|e| {
                        StorageError::from(e)
                            .already_exists(Entity::Study, Some(format!("{tenant}/{}", study.id)))
                    })?;
                diesel::insert_into(study_transitions::table)
                    .values(StudyTransitionRow::from(
                        &study.created_transition(Some(settings.actor())),
                    ))
                    .execute(conn)?;
                audit(
                    conn,
                    settings,
                    &tenant,
                    AuditAction::StudyCreated,
                    study.id.as_str(),
                    serde_json::json!({ "name": study.name }),
                )?;
                Ok(study)
            },
        )
    }

    fn get_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError> {
        self.read(Call::new("get_study").tenant(tenant), |conn, _| {
            live_study(conn, tenant, id)
        })
    }

    fn list_studies(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
        include_deleted: bool,
    ) -> Result<Page<Study>, StorageError> {
        self.read(Call::new("list_studies").tenant(tenant), |conn, _| {
            page.validate()?;
            let mut query = studies::table
                .filter(studies::tenant_id.eq(tenant.as_str()))
                .order((studies::created_at, studies::study_id))
                .limit(i64::from(page.limit) + 1)
                .select(StudyRow::as_select())
                .into_boxed();
            if !include_deleted {
                query = query.filter(studies::deleted_at.is_null());
            }
            if let Some(after) = &page.after {
                let (at, id) = after.position()?;
                let at = stored(at);
                query = query.filter(
                    studies::created_at.gt(at).or(studies::created_at
                        .eq(at)
                        .and(studies::study_id.gt(id.to_owned()))),
                );
            }
            let mut items = query
                .load(conn)?
                .into_iter()
                .map(Study::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            let next = super::next_cursor(&mut items, page, |s| (s.created_at, s.id.as_str()));
            Ok(Page { items, next })
        })
    }

    fn update_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        update: StudyUpdate,
    ) -> Result<Study, StorageError> {
        self.write(
            Call::new("update_study").tenant(tenant),
            |conn, settings| {
                let before = lock_study(conn, tenant, id)?;
                let after = before.updated(update, settings.now())?;
                replace_study(conn, before.version, &after)?;
                audit(
                    conn,
                    settings,
                    tenant,
                    AuditAction::StudyUpdated,
                    id.as_str(),
                    serde_json::json!({ "name": after.name }),
                )?;
                Ok(after)
            },
        )
    }

    fn soft_delete_study(&self, tenant: &TenantId, id: &StudyId) -> Result<(), StorageError> {
        self.write(
            Call::new("soft_delete_study").tenant(tenant),
            |conn, settings| {
                if !live_study(conn, tenant, id)?.state.is_final() {
                    match cancel(conn, settings, tenant, id, "study deleted") {
                        // Its last job finished meanwhile: it ended by itself.
                        Err(StorageError::Domain(DomainError::InvalidStudyTransition {
                            from,
                            ..
                        })) if from.is_final() => {}
                        other => {
                            other?;
                        }
                    }
                }
                let study = lock_study(conn, tenant, id)?;
                let after = study.soft_deleted(settings.now())?;
                replace_study(conn, study.version, &after)?;
                audit(
                    conn,
                    settings,
                    tenant,
                    AuditAction::StudyDeleted,
                    id.as_str(),
                    serde_json::json!({}),
                )
            },
        )
    }

    fn purge_study(&self, tenant: &TenantId, id: &StudyId) -> Result<(), StorageError> {
        self.write(Call::new("purge_study").tenant(tenant), |conn, settings| {
            let study: Study = dialect::lock_study(conn, tenant.as_str(), id.as_str())?
                .ok_or_else(|| study_not_found(tenant, id))?
                .try_into()?;
            study.check_purge()?;
            diesel::delete(studies::table.find((tenant.as_str(), id.as_str()))).execute(conn)?;
            audit(
                conn,
                settings,
                tenant,
                AuditAction::StudyPurged,
                id.as_str(),
                serde_json::json!({}),
            )
        })
    }

    fn create_from_manifest(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        manifest: &Manifest,
    ) -> Result<Study, StorageError> {
        self.write(
            Call::new("create_from_manifest").tenant(tenant),
            |conn, settings| {
                let now = settings.now();
                manifest.validate()?;
                // The tenant before the study, as a tenant's soft delete locks them.
                ensure_live_tenants(conn, [tenant])?;
                let study = lock_study(conn, tenant, id)?;
                let change = study.queued_with(&manifest.to_json(), now, Some(settings.actor()))?;
                let mut jobs = manifest.jobs(tenant, now)?;
                for job in &mut jobs {
                    job.study_id = Some(id.clone());
                }
                // Written before the study moves, so that the jobs' foreign key finds it as it is.
                writer::insert_jobs(conn, settings, &jobs)
                    .map_err(|e| e.already_exists(Entity::Job, None))?;
                store_study(conn, &change)?;
                audit(
                    conn,
                    settings,
                    tenant,
                    AuditAction::StudyStateChanged,
                    id.as_str(),
                    serde_json::json!({
                        "from": study.state.as_str(),
                        "to": change.study.state.as_str(),
                        "jobs": jobs.len(),
                    }),
                )?;
                Ok(change.study)
            },
        )
    }

    fn transition_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        to: StudyState,
        reason: Option<String>,
    ) -> Result<Study, StorageError> {
        self.write(
            Call::new("transition_study").tenant(tenant),
            |conn, settings| match live_study(conn, tenant, id)?.request(to)? {
                StudyRequest::Pause => pause(conn, settings, tenant, id),
                StudyRequest::Resume => resume(conn, settings, tenant, id),
                StudyRequest::Cancel => cancel(
                    conn,
                    settings,
                    tenant,
                    id,
                    reason.as_deref().unwrap_or("cancelled"),
                ),
            },
        )
    }

    fn pause_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError> {
        self.write(Call::new("pause_study").tenant(tenant), |conn, settings| {
            pause(conn, settings, tenant, id)
        })
    }

    fn resume_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError> {
        self.write(
            Call::new("resume_study").tenant(tenant),
            |conn, settings| resume(conn, settings, tenant, id),
        )
    }

    fn cancel_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        reason: &str,
    ) -> Result<Study, StorageError> {
        self.write(
            Call::new("cancel_study").tenant(tenant),
            |conn, settings| cancel(conn, settings, tenant, id, reason),
        )
    }

    fn study_history(
        &self,
        tenant: &TenantId,
        id: &StudyId,
    ) -> Result<Vec<StudyTransition>, StorageError> {
        self.read(Call::new("study_history").tenant(tenant), |conn, _| {
            live_study(conn, tenant, id)?;
            study_transitions::table
                .filter(study_transitions::tenant_id.eq(tenant.as_str()))
                .filter(study_transitions::study_id.eq(id.as_str()))
                .order(study_transitions::seq)
                .select(StudyTransitionRow::as_select())
                .load(conn)?
                .into_iter()
                .map(StudyTransition::try_from)
                .collect()
        })
    }

    fn study_progress(&self, tenant: &TenantId, id: &StudyId) -> Result<JobCounts, StorageError> {
        self.read(Call::new("study_progress").tenant(tenant), |conn, _| {
            live_study(conn, tenant, id)?;
            job_counts(conn, tenant, id)
        })
    }

    fn study_jobs(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        status: Option<JobStatus>,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError> {
        self.read(Call::new("study_jobs").tenant(tenant), |conn, _| {
            page.validate()?;
            live_study(conn, tenant, id)?;
            let mut query = jobs::table
                .filter(jobs::tenant_id.eq(tenant.as_str()))
                .filter(jobs::study_id.eq(id.as_str()))
                .filter(jobs::deleted_at.is_null())
                .order(jobs::job_id)
                .limit(i64::from(page.limit) + 1)
                .select(JobRow::as_select())
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(jobs::status.eq(status.as_str()));
            }
            if let Some(after) = &page.after {
                let after = jobstore_domain::JobId::new(after.as_str())?;
                query = query.filter(jobs::job_id.gt(after.to_string()));
            }
            let items = query
                .load(conn)?
                .into_iter()
                .map(Job::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::rows::page_by_id(items, page, |j| j.id.to_string()))
        })
    }
}

/// A study's jobs counted by status, by the database (the index on tenant, study and status).
pub(super) fn job_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<JobCounts, StorageError> {
    let rows: Vec<(String, i64)> = jobs::table
        .filter(jobs::tenant_id.eq(tenant.as_str()))
        .filter(jobs::study_id.eq(id.as_str()))
        .group_by(jobs::status)
        .select((jobs::status, diesel::dsl::count_star()))
        .load(conn)?;
    let mut counts = JobCounts::default();
    for (status, n) in rows {
        let status: JobStatus = status.parse()?;
        counts.add(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

fn state_audit(
    conn: &mut DbConnection,
    settings: &Settings,
    before: &Study,
    after: &Study,
) -> Result<(), StorageError> {
    audit(
        conn,
        settings,
        &before.tenant_id,
        AuditAction::StudyStateChanged,
        before.id.as_str(),
        serde_json::json!({ "from": before.state.as_str(), "to": after.state.as_str() }),
    )
}

// Lock order: a study's jobs before the study, as a worker's write takes them (see
// `follow_jobs`). Cancelling and resuming first lock the jobs they change, waiting for their
// writers, then the study. Pausing locks the study and waits for no job, so that it lands at
// once among busy claimers. Every pass over the jobs after the study waits for nobody
// (`Locked::Skip`): a job another writer holds then is one that writer reads the study for,
// under its lock, once this commits, and follows it (`Job::follow_study`); a claim that took a
// job first keeps it. Jobs are locked by their primary key only (`dialect::lock_jobs`).

/// Pauses a study and holds its PENDING jobs: a claim that took one first keeps it.
fn pause(
    conn: &mut DbConnection,
    settings: &Settings,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<Study, StorageError> {
    let study = lock_study(conn, tenant, id)?;
    let change = study.transition(
        StudyState::Paused,
        Some(settings.actor()),
        None,
        settings.now(),
    )?;
    // The study first: the holds' own follow-up reads it PAUSED.
    store_study(conn, &change)?;
    state_audit(conn, settings, &study, &change.study)?;
    // Twice: a job the first pass passed by may have been held only for an instant (a waiting
    // worker's probe for work locks the first claimable job of its queue while it looks).
    for _ in 0..2 {
        jobs_follow(conn, settings, &change.study, &[JobStatus::Pending])?;
    }
    Ok(change.study)
}

/// Resumes a paused study: RUNNING if a job has started, else QUEUED; its held jobs are
/// claimable again, and it follows its jobs (they may all have finished meanwhile).
fn resume(
    conn: &mut DbConnection,
    settings: &Settings,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<Study, StorageError> {
    // Refused before any job is locked, if the study is not paused.
    live_study(conn, tenant, id)?.resumed(&JobCounts::default(), None, settings.now())?;
    // Its held jobs first, waiting for whoever holds them (nobody claims a held job; a scan
    // for claimable jobs may lock one for an instant), so that none is passed by and stays
    // held in a running study.
    study_jobs_locked(conn, tenant, id, &[JobStatus::Pending], Locked::Wait)?;
    let study = lock_study(conn, tenant, id)?;
    let counts = job_counts(conn, tenant, id)?;
    let change = study.resumed(&counts, Some(settings.actor()), settings.now())?;
    store_study(conn, &change)?;
    state_audit(conn, settings, &study, &change.study)?;
    jobs_follow(conn, settings, &change.study, &[JobStatus::Pending])?;
    // Read again: the releases' own follow-up may have moved it.
    let study = lock_study(conn, tenant, id)?;
    follow(conn, settings, study)
}

/// Cancels a study and its unfinished jobs, each with its own audit record.
fn cancel(
    conn: &mut DbConnection,
    settings: &Settings,
    tenant: &TenantId,
    id: &StudyId,
    reason: &str,
) -> Result<Study, StorageError> {
    let now = settings.now();
    // Refused before any job is locked, if the study cannot be cancelled as it is.
    live_study(conn, tenant, id)?.transition(StudyState::Cancelled, None, None, now)?;
    let unfinished = study_jobs_locked(conn, tenant, id, &JobStatus::UNFINISHED, Locked::Wait)?;
    let study = lock_study(conn, tenant, id)?;
    let change = study.transition(
        StudyState::Cancelled,
        Some(settings.actor()),
        Some(reason),
        now,
    )?;
    store_study(conn, &change)?;
    state_audit(conn, settings, &study, &change.study)?;
    let cancels = unfinished
        .iter()
        .map(|job| {
            job.change(
                &Change::to(JobStatus::Cancelled)
                    .reason(reason)
                    .actor(settings.actor()),
                now,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    writer::store(conn, settings, &cancels, Guard::Version)?;
    // Jobs made unfinished between the two locks (a retry of a finished job) follow it.
    jobs_follow(conn, settings, &change.study, &JobStatus::UNFINISHED)?;
    Ok(change.study)
}

/// Brings the study's jobs in `statuses` in line with its state (held, released or cancelled;
/// see [`Job::follow_study`]), passing by those another writer holds: that writer reads the
/// study under its lock on its way out, and brings them in line then.
fn jobs_follow(
    conn: &mut DbConnection,
    settings: &Settings,
    study: &Study,
    statuses: &[JobStatus],
) -> Result<(), StorageError> {
    let now = settings.now();
    let jobs = study_jobs_locked(conn, &study.tenant_id, &study.id, statuses, Locked::Skip)?;
    let updates = jobs
        .iter()
        .filter_map(|job| job.follow_study(study.state, now).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    writer::store(conn, settings, &updates, Guard::Version)?;
    Ok(())
}

/// Ids per locking statement: well under every backend's limit on bound parameters.
const LOCK_CHUNK: usize = 5_000;

/// The study's jobs in `statuses`, locked until the transaction ends: found through
/// `jobs_by_study` without a lock, then locked by key, and kept if still in `statuses`.
fn study_jobs_locked(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
    statuses: &[JobStatus],
    locked: Locked,
) -> Result<Vec<Job>, StorageError> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let ids: Vec<String> = jobs::table
        .filter(jobs::tenant_id.eq(tenant.as_str()))
        .filter(jobs::study_id.eq(id.as_str()))
        .filter(jobs::status.eq_any(&names))
        .order(jobs::job_id)
        .select(jobs::job_id)
        .load(conn)?;
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(LOCK_CHUNK) {
        for row in dialect::lock_jobs(conn, tenant.as_str(), chunk, locked)? {
            let job = Job::try_from(row)?;
            if statuses.contains(&job.status) {
                found.push(job);
            }
        }
    }
    Ok(found)
}
