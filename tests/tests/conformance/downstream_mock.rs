//! Written as a downstream crate would: its own code, generic over jobstore's traits, tested with
//! the `mock` feature's mockall mocks, and the same code run on a real store.

use chrono::{DateTime, Utc};
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Change, Cursor, DomainError, Job, JobId, JobStatus, NewJob, Page, PageRequest, TenantId,
};
use jobstore_storage::{Entity, JobRepository, MockJobRepository, StorageError};
use mockall::{Sequence, predicate::eq};

/// Downstream code: cancels every PENDING job of a tenant, page by page, and returns the jobs it
/// cancelled. A job that moved on meanwhile (someone else changed it: a conflict, or it is no
/// longer PENDING: an invalid transition) is left alone; any other error stops the sweep.
fn cancel_pending_jobs(
    repo: &impl JobRepository,
    tenant: &TenantId,
    reason: &str,
    page_size: u32,
) -> Result<Vec<Job>, StorageError> {
    let mut cancelled = Vec::new();
    let mut page = PageRequest::first(page_size);
    loop {
        let listed = repo.list_jobs_by_status(tenant, JobStatus::Pending, &page)?;
        for job in &listed.items {
            match repo.cancel_job(tenant, &job.id, reason) {
                Ok(job) => cancelled.push(job),
                Err(
                    StorageError::Conflict { .. }
                    | StorageError::Domain(DomainError::InvalidTransition { .. }),
                ) => {}
                Err(other) => return Err(other),
            }
        }
        match listed.next {
            Some(next) => page.after = Some(next),
            None => return Ok(cancelled),
        }
    }
}

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

fn tenant() -> TenantId {
    TenantId::new("tenant-123").expect("id")
}

fn pending(id: &str) -> Job {
    NewJob {
        id: Some(JobId::new(id).expect("id")),
        ..NewJob::new(tenant())
    }
    .into_job(at())
    .expect("a valid job")
}

fn cancelled(job: &Job, reason: &str) -> Job {
    job.apply(&Change::to(JobStatus::Cancelled).reason(reason), at())
        .expect("PENDING -> CANCELLED")
        .job
}

/// A mock whose PENDING listing gives `pages` in turn, following the cursors.
fn listing(mock: &mut MockJobRepository, pages: Vec<Vec<Job>>) {
    let mut sequence = Sequence::new();
    let count = pages.len();
    for (i, items) in pages.into_iter().enumerate() {
        let after = (i > 0).then(|| Cursor::from_text(format!("page-{i}")));
        let next = (i + 1 < count).then(|| Cursor::from_text(format!("page-{}", i + 1)));
        mock.expect_list_jobs_by_status()
            .with(
                eq(tenant()),
                eq(JobStatus::Pending),
                eq(PageRequest { limit: 2, after }),
            )
            .times(1)
            .in_sequence(&mut sequence)
            .returning(move |_, _, _| {
                Ok(Page {
                    items: items.clone(),
                    next: next.clone(),
                })
            });
    }
}

#[test]
fn downstream_code_cancels_every_pending_job_across_pages_with_a_mock() {
    let jobs = [pending("j1"), pending("j2"), pending("j3")];
    let mut mock = MockJobRepository::new();
    listing(&mut mock, vec![jobs[..2].to_vec(), jobs[2..].to_vec()]);
    for job in jobs.clone() {
        mock.expect_cancel_job()
            .with(eq(tenant()), eq(job.id.clone()), eq("maintenance"))
            .times(1)
            .returning(move |_, _, reason| Ok(cancelled(&job, reason)));
    }
    let done = cancel_pending_jobs(&mock, &tenant(), "maintenance", 2).expect("sweep");
    let ids: Vec<&str> = done.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["j1", "j2", "j3"]);
    assert!(done.iter().all(|j| j.status == JobStatus::Cancelled));
}

#[test]
fn downstream_code_skips_jobs_that_moved_on_with_a_mock() {
    let jobs = [pending("j1"), pending("j2"), pending("j3")];
    let mut mock = MockJobRepository::new();
    listing(&mut mock, vec![jobs[..2].to_vec(), jobs[2..].to_vec()]);
    let (first, last) = (jobs[0].clone(), jobs[2].clone());
    mock.expect_cancel_job()
        .with(eq(tenant()), eq(first.id.clone()), eq("maintenance"))
        .returning(|_, job, _| {
            Err(StorageError::Conflict {
                entity: Entity::Job,
                id: Some(job.to_string()),
            })
        });
    mock.expect_cancel_job()
        .with(eq(tenant()), eq(jobs[1].id.clone()), eq("maintenance"))
        .returning(|_, _, _| {
            Err(StorageError::Domain(DomainError::InvalidTransition {
                from: JobStatus::Assigned,
                to: JobStatus::Cancelled,
            }))
        });
    mock.expect_cancel_job()
        .with(eq(tenant()), eq(last.id.clone()), eq("maintenance"))
        .returning(move |_, _, reason| Ok(cancelled(&last, reason)));
    let done = cancel_pending_jobs(&mock, &tenant(), "maintenance", 2).expect("sweep");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id.as_str(), "j3");
}

#[test]
fn downstream_code_stops_at_the_first_real_error_with_a_mock() {
    let mut mock = MockJobRepository::new();
    // One page with more to come: the sweep must not ask for the next one after the error
    // (a call with the next cursor would match no expectation and fail the test).
    mock.expect_list_jobs_by_status()
        .with(
            eq(tenant()),
            eq(JobStatus::Pending),
            eq(PageRequest::first(2)),
        )
        .times(1)
        .returning(|_, _, _| {
            Ok(Page {
                items: vec![pending("j1"), pending("j2")],
                next: Some(Cursor::from_text("more")),
            })
        });
    mock.expect_cancel_job().times(1).returning(|_, _, _| {
        Err(StorageError::Busy {
            source: diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new("database is locked".to_owned()),
            ),
        })
    });
    assert_matches!(
        cancel_pending_jobs(&mock, &tenant(), "maintenance", 2),
        Err(StorageError::Busy { .. })
    );
}

fn downstream_code_cancels_every_pending_job_on_a_real_store(db: &TestDb) {
    let tenant = db.tenant();
    let other = db.tenant();
    let pending: Vec<Job> = (0..5).map(|_| db.job(&tenant.id)).collect();
    let running = db.job_in(&tenant.id, JobStatus::Running);
    let untouched = db.job(&other.id);
    let done = cancel_pending_jobs(&db.store, &tenant.id, "maintenance", 2).expect("sweep");
    let mut got: Vec<&JobId> = done.iter().map(|j| &j.id).collect();
    let mut want: Vec<&JobId> = pending.iter().map(|j| &j.id).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        db.store.get_job(&tenant.id, &running.id).expect("get"),
        running
    );
    assert_eq!(
        db.store.get_job(&other.id, &untouched.id).expect("get"),
        untouched
    );
    assert!(
        cancel_pending_jobs(&db.store, &tenant.id, "again", 2)
            .expect("sweep")
            .is_empty()
    );
}

backends!(downstream_code_cancels_every_pending_job_on_a_real_store);
