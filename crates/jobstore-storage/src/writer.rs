//! The one writer of the `jobs` table and its audit trail (`job_state_transitions`): it inserts
//! new jobs with their creation records, and stores each [`JobUpdate`] exactly as the domain
//! computed it. Nothing here decides a status, a time or a lease. Whatever makes jobs PENDING
//! also tells waiting workers (see `wakeup`), in the same transaction.
//!
//! An update is guarded by the version the job was read at (every write but a heartbeat moves
//! the version, so the version says more than the status): when another process changed the
//! job first, no row matches and the whole call is a [`StorageError::Conflict`]. Updates with
//! equal changes (a batch claimed by one worker, a batch completed together) share one
//! statement, each row still guarded by its own version; a batch of one is the same statement.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types::Bool};
use jobstore_domain::{Job, JobChanges, JobId, JobStateTransition, JobStatus, JobUpdate, TenantId};

use crate::{
    DbConnection, Entity, StorageError,
    connection::MultiBackend,
    dialect,
    rows::{JobRow, TransitionRow, stored},
    schema::{job_state_transitions, jobs},
    stamp::Stamp,
    store::Settings,
    trace,
};

/// Rows per statement: well under every backend's limit on bound parameters.
pub(crate) const CHUNK: usize = 500;

/// What else an update's rows must still be, besides at their versions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Guard {
    /// Only the version.
    Version,
    /// The version, and the lease deadline as it was read: the reaper's guard, since a
    /// heartbeat extends a lease without moving the version.
    VersionAndDeadline(Option<DateTime<Utc>>),
}

/// Inserts one job and its creation record. A unique violation is returned as the database
/// gave it, for the caller to name.
pub(crate) fn insert_job(
    conn: &mut DbConnection,
    settings: &Settings,
    job: &Job,
) -> Result<(), StorageError> {
    diesel::insert_into(jobs::table)
        .values(JobRow::from(job))
        .execute(conn)?;
    append_trail(conn, &[job.created_transition(None)])?;
    announce(conn, settings, [job.queue.as_str()])?;
    trace::wrote(1);
    Ok(())
}

/// Inserts jobs and their creation records, a chunk of rows per statement.
pub(crate) fn insert_jobs(
    conn: &mut DbConnection,
    settings: &Settings,
    jobs: &[Job],
) -> Result<(), StorageError> {
    for chunk in jobs.chunks(CHUNK) {
        let rows: Vec<JobRow> = chunk.iter().map(JobRow::from).collect();
        dialect::insert_jobs(conn, &rows)?;
        let created: Vec<JobStateTransition> = chunk
            .iter()
            .map(|job| job.created_transition(None))
            .collect();
        append_trail(conn, &created)?;
    }
    announce(conn, settings, jobs.iter().map(|job| job.queue.as_str()))?;
    trace::wrote(jobs.len());
    Ok(())
}

/// Stores one update and appends its trail, as [`store`] does.
pub(crate) fn store_one(
    conn: &mut DbConnection,
    settings: &Settings,
    update: &JobUpdate,
    guard: Guard,
) -> Result<Vec<Job>, StorageError> {
    store(conn, settings, std::slice::from_ref(update), guard)
}

/// Stores `updates` and appends their trails, all or nothing (the caller's transaction).
///
/// Returns the jobs the write moved on further than their updates say, and the caller should
/// report them as they now are (see [`as_stored`]): a job whose schedule run's constraint
/// refused its start is cancelled (see `schedules::runs::follow_jobs`); a PENDING job of a
/// paused study is held, and one of an ended study cancelled (see `studies::follow_jobs`).
pub(crate) fn store(
    conn: &mut DbConnection,
    settings: &Settings,
    updates: &[JobUpdate],
    guard: Guard,
) -> Result<Vec<Job>, StorageError> {
    let mut groups: Vec<(&JobChanges, Vec<&JobUpdate>)> = Vec::new();
    for update in updates {
        match groups
            .iter_mut()
            .find(|(changes, _)| **changes == update.changes)
        {
            Some((_, members)) => members.push(update),
            None => groups.push((&update.changes, vec![update])),
        }
    }
    for (changes, members) in &groups {
        for chunk in members.chunks(CHUNK) {
            update_alike(conn, changes, chunk, guard)?;
        }
    }
    let trail: Vec<JobStateTransition> = updates
        .iter()
        .flat_map(|update| update.trail.iter().cloned())
        .collect();
    append_trail(conn, &trail)?;
    // A job enqueued by a schedule's run carries the run along, in this transaction.
    let followed: Vec<&Job> = updates
        .iter()
        .filter(|update| update.changes.status.is_some() && update.job.run_id.is_some())
        .map(|update| &update.job)
        .collect();
    let mut moved_on = if followed.is_empty() {
        Vec::new()
    } else {
        crate::schedules::runs::follow_jobs(conn, settings, &followed)?
    };
    // A study's job carries its study along, and a PENDING one follows its study (held while
    // it is paused), in this transaction.
    let of_studies: Vec<&Job> = updates
        .iter()
        .filter(|update| {
            update.job.study_id.is_some()
                && (update.changes.status.is_some() || update.job.status == JobStatus::Pending)
        })
        .map(|update| &update.job)
        .collect();
    if !of_studies.is_empty() {
        moved_on.extend(crate::studies::follow_jobs(conn, settings, &of_studies)?);
    }
    // Released, retried or reaped back to PENDING: waiting workers may claim them.
    announce(
        conn,
        settings,
        updates
            .iter()
            .filter(|update| update.changes.status == Some(JobStatus::Pending))
            .map(|update| update.job.queue.as_str()),
    )?;
    trace::wrote(updates.len());
    Ok(moved_on)
}

/// The jobs of `updates` as they are stored now: each as its update left it, unless `moved_on`
/// (what [`store`] returned) has it further along.
pub(crate) fn as_stored(updates: Vec<JobUpdate>, moved_on: &[Job]) -> Vec<Job> {
    updates
        .into_iter()
        .map(|update| {
            moved_on
                .iter()
                .find(|job| job.tenant_id == update.job.tenant_id && job.id == update.job.id)
                .cloned()
                .unwrap_or(update.job)
        })
        .collect()
}

/// Tells waiting workers that `queues` have new PENDING jobs, unless the store was told not to
/// (see [`crate::StoreConfig::notify_workers`]).
fn announce<'q>(
    conn: &mut DbConnection,
    settings: &Settings,
    queues: impl IntoIterator<Item = &'q str>,
) -> Result<(), StorageError> {
    if settings.notify_workers {
        dialect::announce_work(conn, queues)?;
    }
    Ok(())
}

/// One statement for updates with equal changes.
fn update_alike(
    conn: &mut DbConnection,
    changes: &JobChanges,
    updates: &[&JobUpdate],
    guard: Guard,
) -> Result<(), StorageError> {
    // Rows named per tenant and version, `tenant_id = ? AND version = ? AND job_id IN (...)`:
    // one index range for a batch read together (claimed or completed jobs share a version),
    // not a tree of one condition per row for the planner to walk.
    let mut by_key: BTreeMap<(&str, i64), Vec<String>> = BTreeMap::new();
    for update in updates {
        by_key
            .entry((update.tenant_id.as_str(), update.expected_version))
            .or_default()
            .push(update.job_id.to_string());
    }
    let mut target: Condition = any_of(
        by_key
            .into_iter()
            .map(|((tenant, version), jobs)| -> Condition {
                Box::new(
                    jobs::tenant_id
                        .eq(tenant.to_owned())
                        .and(jobs::version.eq(version))
                        .and(jobs::job_id.eq_any(jobs)),
                )
            })
            .collect(),
    );
    if let Guard::VersionAndDeadline(deadline) = guard {
        target = match deadline {
            Some(at) => Box::new(target.and(jobs::lease_deadline.eq(stored(at)).assume_not_null())),
            None => Box::new(target.and(jobs::lease_deadline.is_null())),
        };
    }
    let changed = diesel::update(jobs::table)
        .filter(target)
        .set((
            ChangesRow::from(changes),
            jobs::version.eq(jobs::version + changes.version_step),
        ))
        .execute(conn)
        .map_err(|e| match updates {
            [one] => {
                StorageError::from(e).already_exists(Entity::Job, Some(unique_key_of(&one.job)))
            }
            _ => StorageError::from(e),
        })?;
    if changed != updates.len() {
        return Err(StorageError::Conflict {
            entity: Entity::Job,
            id: match updates {
                [one] => Some(format!("{}/{}", one.tenant_id, one.job_id)),
                _ => None,
            },
        });
    }
    Ok(())
}

/// What a write of `job` can collide on: its unique key, held by another unfinished job.
fn unique_key_of(job: &Job) -> String {
    match &job.unique_key {
        Some(key) => format!(
            "{}/{} with unique key {key:?} (held by another unfinished job)",
            job.tenant_id, job.id
        ),
        None => format!("{}/{}", job.tenant_id, job.id),
    }
}

/// Appends audit records: one row with a statement of fixed shape, which the connection
/// prepares once and reuses; more in one statement per chunk.
fn append_trail(conn: &mut DbConnection, steps: &[JobStateTransition]) -> Result<(), StorageError> {
    if let [step] = steps {
        diesel::insert_into(job_state_transitions::table)
            .values(TransitionRow::from(step))
            .execute(conn)?;
        return Ok(());
    }
    for chunk in steps.chunks(CHUNK) {
        let rows: Vec<TransitionRow> = chunk.iter().map(TransitionRow::from).collect();
        dialect::insert_transitions(conn, &rows)?;
    }
    Ok(())
}

/// The columns of a [`JobChanges`]: `None` leaves a column alone.
#[derive(AsChangeset)]
#[diesel(table_name = jobs)]
struct ChangesRow {
    status: Option<&'static str>,
    attempt: Option<i32>,
    retry_count: Option<i32>,
    output_prefix: Option<String>,
    output_key: Option<Option<String>>,
    not_before: Option<Stamp>,
    assigned_agent: Option<Option<String>>,
    lease_id: Option<Option<String>>,
    lease_deadline: Option<Option<Stamp>>,
    batch_job_name: Option<Option<String>>,
    error_message: Option<Option<String>>,
    updated_at: Option<Stamp>,
    scheduled_at: Option<Option<Stamp>>,
    started_at: Option<Option<Stamp>>,
    completed_at: Option<Option<Stamp>>,
    deleted_at: Option<Option<Stamp>>,
}

impl From<&JobChanges> for ChangesRow {
    fn from(c: &JobChanges) -> Self {
        let time = |t: &Option<Option<DateTime<Utc>>>| t.map(|t| t.map(stored));
        Self {
            status: c.status.map(|s| s.as_str()),
            attempt: c.attempt,
            retry_count: c.retry_count,
            output_prefix: c.output_prefix.clone(),
            output_key: c.output_key.clone(),
            not_before: c.not_before.map(stored),
            assigned_agent: c.assigned_agent.clone(),
            lease_id: c
                .lease_id
                .as_ref()
                .map(|l| l.as_ref().map(ToString::to_string)),
            lease_deadline: time(&c.lease_deadline),
            batch_job_name: c.batch_job_name.clone(),
            error_message: c.error_message.clone(),
            updated_at: c.updated_at.map(stored),
            scheduled_at: time(&c.scheduled_at),
            started_at: time(&c.started_at),
            completed_at: time(&c.completed_at),
            deleted_at: time(&c.deleted_at),
        }
    }
}

/// A condition on a job row, built at run time.
pub(crate) type Condition = Box<dyn BoxableExpression<jobs::table, MultiBackend, SqlType = Bool>>;

/// Matches exactly the named jobs: per tenant, `tenant_id = ? AND job_id IN (...)`, one index
/// range however many of its jobs are named.
pub(crate) fn named<'a>(keys: impl IntoIterator<Item = (&'a TenantId, &'a JobId)>) -> Condition {
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
