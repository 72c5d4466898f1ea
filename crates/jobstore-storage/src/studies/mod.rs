//! Study storage (seed 004): users ([`crate::UserRepository`], in `users`), studies and their
//! state ([`crate::StudyRepository`], in `lifecycle`), results, evidence, checkpoints, costs and
//! the audit log ([`crate::StudyDataRepository`], in `data`).
//!
//! A study follows its jobs in their own transactions: the jobs writer calls [`follow_jobs`].
//! Every write to users, studies, checkpoints and cost records appends its audit entry in the
//! same transaction (`audit`), naming the store's actor.

mod data;
mod lifecycle;
pub(crate) mod rows;
mod users;

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicI64, Ordering},
};

use diesel::prelude::*;
use jobstore_domain::{
    AuditAction, AuditEntry, Job, JobCounts, JobStatus, Study, StudyChange, StudyId, StudyState,
    TenantId,
};

use crate::{
    DbConnection, Entity, StorageError, dialect,
    schema::{jobs, studies, study_transitions},
    store::Settings,
    studies::rows::{AuditRow, StudyRow, StudyTransitionRow},
    writer::{self, Guard},
};

/// Appends an audit entry naming the store's actor.
fn audit(
    conn: &mut DbConnection,
    settings: &Settings,
    tenant: &TenantId,
    action: AuditAction,
    entity_id: &str,
    details: serde_json::Value,
) -> Result<(), StorageError> {
    let entry = audit_entry(settings, tenant, action, entity_id, details)?;
    append_audit(conn, &[entry])
}

/// An audit entry naming the store's actor, now.
fn audit_entry(
    settings: &Settings,
    tenant: &TenantId,
    action: AuditAction,
    entity_id: &str,
    details: serde_json::Value,
) -> Result<AuditEntry, StorageError> {
    Ok(AuditEntry::new(
        tenant.clone(),
        settings.actor(),
        action.as_str(),
        action.entity_type(),
        entity_id,
        details,
        settings.now(),
    )?)
}

/// This process's count of the audit entries it wrote: the log lists entries by time, then by
/// this, so those of one instant (a transaction's, or a stopped test clock's) keep the order
/// they were written in. Counted here rather than by a database sequence, which the design
/// keeps out of hot tables.
static AUDIT_SEQ: AtomicI64 = AtomicI64::new(0);

/// Appends audit entries, in their order, a statement per chunk.
fn append_audit(conn: &mut DbConnection, entries: &[AuditEntry]) -> Result<(), StorageError> {
    for chunk in entries.chunks(writer::CHUNK) {
        let rows: Vec<AuditRow> = chunk
            .iter()
            .map(|entry| AuditRow::new(entry, AUDIT_SEQ.fetch_add(1, Ordering::Relaxed)))
            .collect();
        dialect::insert_audit(conn, &rows)?;
    }
    Ok(())
}

fn study_not_found(tenant: &TenantId, id: &StudyId) -> StorageError {
    StorageError::NotFound {
        entity: Entity::Study,
        id: format!("{tenant}/{id}"),
    }
}

/// Reads a study, soft-deleted or not.
fn any_study(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<Study, StorageError> {
    studies::table
        .find((tenant.as_str(), id.as_str()))
        .select(StudyRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| study_not_found(tenant, id))?
        .try_into()
}

/// Reads and locks a live study until the transaction ends: its state changes, and the
/// finishes of its jobs, take turns.
fn lock_study(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<Study, StorageError> {
    let study: Study = dialect::lock_study(conn, tenant.as_str(), id.as_str())?
        .ok_or_else(|| study_not_found(tenant, id))?
        .try_into()?;
    match study.deleted_at {
        Some(_) => Err(study_not_found(tenant, id)),
        None => Ok(study),
    }
}

/// Stores a decided change of a study with its trail row, guarded by its version.
fn store_study(conn: &mut DbConnection, change: &StudyChange) -> Result<(), StorageError> {
    replace_study(conn, change.expected_version, &change.study)?;
    diesel::insert_into(study_transitions::table)
        .values(StudyTransitionRow::from(&change.transition))
        .execute(conn)?;
    Ok(())
}

/// Writes a study as the domain changed it, guarded by the version it was read at.
fn replace_study(
    conn: &mut DbConnection,
    expected_version: i64,
    study: &Study,
) -> Result<(), StorageError> {
    let row = StudyRow::from(study);
    let changed = diesel::update(
        studies::table
            .find((row.tenant_id.as_str(), row.study_id.as_str()))
            .filter(studies::version.eq(expected_version)),
    )
    .set((
        studies::name.eq(&row.name),
        studies::description.eq(&row.description),
        studies::manifest.eq(&row.manifest),
        studies::state.eq(&row.state),
        studies::version.eq(row.version),
        studies::updated_at.eq(row.updated_at),
        studies::deleted_at.eq(row.deleted_at),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(StorageError::Conflict {
            entity: Entity::Study,
            id: Some(format!("{}/{}", study.tenant_id, study.id)),
        });
    }
    Ok(())
}

/// Moves the studies of `jobs` with them, and them with their studies (the jobs writer calls
/// this in the jobs' transaction, for its study jobs whose status changed or that are PENDING).
/// Returns the jobs this moved on further (held, released or cancelled; see
/// [`Job::follow_study`]).
///
/// The writer holds the jobs already, so the study's lock comes after its jobs', as in every
/// write that locks both (see docs/studies.md, "Lock order").
pub(crate) fn follow_jobs(
    conn: &mut DbConnection,
    settings: &Settings,
    jobs: &[&Job],
) -> Result<Vec<Job>, StorageError> {
    let mut by_study: BTreeMap<(&TenantId, &StudyId), Vec<&Job>> = BTreeMap::new();
    for job in jobs {
        if let Some(study) = &job.study_id {
            by_study
                .entry((&job.tenant_id, study))
                .or_default()
                .push(job);
        }
    }
    let mut moved_on = Vec::new();
    for ((tenant, id), jobs) in by_study {
        let (study, may_move) = study_of(conn, tenant, id, &jobs)?;
        let now = settings.now();
        let updates = jobs
            .iter()
            .filter_map(|job| job.follow_study(study.state, now).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        if !updates.is_empty() {
            let further = writer::store(conn, settings, &updates, Guard::Version)?;
            moved_on.extend(writer::as_stored(updates, &further));
        }
        if may_move {
            follow(conn, settings, study)?;
        }
    }
    Ok(moved_on)
}

/// The study of `jobs` as they must see it, and whether it may move with them (then it is
/// locked for this transaction).
///
/// Read first without a lock: a deleted or ended study never changes again. Otherwise:
/// - A finish may be the study's last, and a claim or start moves a QUEUED study: these take
///   turns on the study's row (an exclusive lock), so the last finish to commit sees every
///   other, whatever else (a cancel, a resume) runs beside it.
/// - A job left PENDING reads the study under the same lock: a pause or cancel that committed
///   first is seen, and one that comes after finds the job as this write leaves it.
/// - A claim or start of a RUNNING or PAUSED study's job moves nothing: it reads the study under
///   a shared lock, which claims share, so that a cancel committing meanwhile is seen (and the
///   job cancelled) rather than missed.
fn study_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
    jobs: &[&Job],
) -> Result<(Study, bool), StorageError> {
    let seen = any_study(conn, tenant, id)?;
    if seen.deleted_at.is_some() || seen.state.is_final() {
        return Ok((seen, false));
    }
    let takes_turn = seen.state == StudyState::Queued
        || jobs
            .iter()
            .any(|job| job.status.is_finished() || job.status == JobStatus::Pending);
    let row = if takes_turn {
        dialect::lock_study(conn, tenant.as_str(), id.as_str())?
    } else {
        dialect::lock_study_shared(conn, tenant.as_str(), id.as_str())?
    };
    let study: Study = row.ok_or_else(|| study_not_found(tenant, id))?.try_into()?;
    let may_move = takes_turn
        && study.deleted_at.is_none()
        && matches!(study.state, StudyState::Queued | StudyState::Running);
    Ok((study, may_move))
}

/// Hides a soft-deleted tenant's studies and users with it, each with its audit entry: no
/// read finds them unless it asks for deleted ones. The caller hid the tenant's jobs first
/// (job before study, as everywhere); a study keeps the state its jobs left it in.
pub(crate) fn hide_with_tenant(
    conn: &mut DbConnection,
    settings: &Settings,
    tenant: &TenantId,
) -> Result<(), StorageError> {
    let live: Vec<Study> = studies::table
        .filter(studies::tenant_id.eq(tenant.as_str()))
        .filter(studies::deleted_at.is_null())
        .order(studies::study_id)
        .select(StudyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Study::try_from)
        .collect::<Result<_, _>>()?;
    for study in live {
        replace_study(conn, study.version, &study.soft_deleted(settings.now())?)?;
        audit(
            conn,
            settings,
            tenant,
            AuditAction::StudyDeleted,
            study.id.as_str(),
            serde_json::json!({ "with_tenant": true }),
        )?;
    }
    users::hide_with_tenant(conn, settings, tenant)
}

/// Lets `study` (locked) follow its jobs as far as the domain says, a step at a time.
fn follow(
    conn: &mut DbConnection,
    settings: &Settings,
    mut study: Study,
) -> Result<Study, StorageError> {
    while matches!(study.state, StudyState::Queued | StudyState::Running) {
        let counts = probe(conn, &study)?;
        let Some(change) = study.follow(&counts, settings.now()) else {
            break;
        };
        store_study(conn, &change)?;
        audit(
            conn,
            settings,
            &study.tenant_id,
            AuditAction::StudyStateChanged,
            study.id.as_str(),
            serde_json::json!({
                "from": study.state.as_str(),
                "to": change.study.state.as_str(),
            }),
        )?;
        study = change.study;
    }
    Ok(study)
}

/// What [`Study::follow`] needs to know of a study's jobs, from index probes that stop at the
/// first answer rather than a count of every job (a study of 100,000 jobs is followed at each
/// of their finishes). Each kind found counts 1.
fn probe(conn: &mut DbConnection, study: &Study) -> Result<JobCounts, StorageError> {
    let mut counts = JobCounts::default();
    if study.state == StudyState::Queued {
        // Started: leased now, or finished after running (a cancelled job may never have).
        let started = [
            JobStatus::Assigned,
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Lost,
        ];
        if present(conn, study, &started)? {
            counts.add(JobStatus::Running, 1);
            counts.add(JobStatus::Pending, 1);
        } else if present(conn, study, &JobStatus::UNFINISHED)? {
            counts.add(JobStatus::Pending, 1);
        } else if present(conn, study, &[JobStatus::Cancelled])? {
            // None started and none left: each was cancelled.
            counts.add(JobStatus::Cancelled, 1);
        }
        return Ok(counts);
    }
    if present(conn, study, &JobStatus::UNFINISHED)? {
        counts.add(JobStatus::Pending, 1);
        return Ok(counts);
    }
    if present(conn, study, &[JobStatus::Completed])? {
        counts.add(JobStatus::Completed, 1);
    }
    if present(
        conn,
        study,
        &[JobStatus::Failed, JobStatus::Lost, JobStatus::Cancelled],
    )? {
        counts.add(JobStatus::Failed, 1);
    }
    Ok(counts)
}

/// Whether the study has a job in one of `statuses`.
fn present(
    conn: &mut DbConnection,
    study: &Study,
    statuses: &[JobStatus],
) -> Result<bool, StorageError> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    Ok(jobs::table
        .filter(jobs::tenant_id.eq(study.tenant_id.as_str()))
        .filter(jobs::study_id.eq(study.id.as_str()))
        .filter(jobs::status.eq_any(names))
        .select(jobs::job_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Cuts `items` (read one past the page) to the page, and gives the cursor after its last
/// item, when there is a next page.
pub(super) fn next_cursor<T>(
    items: &mut Vec<T>,
    page: &jobstore_domain::PageRequest,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, &str),
) -> Option<jobstore_domain::Cursor> {
    if items.len() <= page.limit as usize {
        return None;
    }
    items.truncate(page.limit as usize);
    items.last().map(|item| {
        let (at, id) = key(item);
        jobstore_domain::Cursor::after(at, id)
    })
}

/// Reads a study that is not soft-deleted.
fn live_study(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &StudyId,
) -> Result<Study, StorageError> {
    let study = any_study(conn, tenant, id)?;
    match study.deleted_at {
        Some(_) => Err(study_not_found(tenant, id)),
        None => Ok(study),
    }
}
