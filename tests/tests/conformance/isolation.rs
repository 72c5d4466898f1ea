//! Tenant isolation: no call made with one tenant's id reads or changes another tenant's jobs.

use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Change, Job, JobFilter, JobId, JobStateTransition, JobStatus, NewJob, PageRequest, TenantId,
};
use jobstore_storage::{Entity, JobRepository, StorageError, TenantRepository};

/// Every job of `jobs` as stored, with its history.
fn snapshot(db: &TestDb, jobs: &[Job]) -> Vec<(Job, Vec<JobStateTransition>)> {
    jobs.iter()
        .map(|job| {
            (
                db.store.get_job(&job.tenant_id, &job.id).expect("get"),
                db.store
                    .job_history(&job.tenant_id, &job.id)
                    .expect("history"),
            )
        })
        .collect()
}

fn assert_job_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    assert_matches!(
        result,
        Err(StorageError::NotFound {
            entity: Entity::Job,
            ..
        }),
        "{what}"
    );
}

fn another_tenants_job_is_not_found_by_any_read_or_write_and_nothing_changes(db: &TestDb) {
    let owner = db.tenant();
    let intruder = db.tenant();
    db.job(&intruder.id);
    let jobs: Vec<Job> = [
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Running,
        JobStatus::Failed,
        JobStatus::Completed,
    ]
    .into_iter()
    .map(|status| db.job_in(&owner.id, status))
    .collect();
    let before = snapshot(db, &jobs);
    let counts = db.counts();
    for other in [intruder.id.clone(), TenantId::new("nobody").expect("id")] {
        for job in &jobs {
            let what =
                |call: &str| format!("{call} of {}'s {} job as {other}", owner.id, job.status);
            assert_job_not_found(db.store.get_job(&other, &job.id), &what("get_job"));
            assert_job_not_found(db.store.job_history(&other, &job.id), &what("job_history"));
            for to in JobStatus::ALL {
                assert_job_not_found(
                    db.store.transition_job(&other, &job.id, Change::to(to)),
                    &what(&format!("transition_job to {to}")),
                );
            }
            assert_job_not_found(
                db.store.complete_job(&other, &job.id),
                &what("complete_job"),
            );
            assert_job_not_found(db.store.fail_job(&other, &job.id, "x"), &what("fail_job"));
            assert_job_not_found(
                db.store.cancel_job(&other, &job.id, "x"),
                &what("cancel_job"),
            );
            assert_job_not_found(db.store.retry_job(&other, &job.id), &what("retry_job"));
            assert_job_not_found(
                db.store.set_batch_job_name(&other, &job.id, "b"),
                &what("set_batch_job_name"),
            );
            assert_job_not_found(
                db.store.soft_delete_job(&other, &job.id),
                &what("soft_delete_job"),
            );
            assert_job_not_found(db.store.purge_job(&other, &job.id), &what("purge_job"));
        }
        let listed = db
            .store
            .list_jobs(&other, &JobFilter::default(), &PageRequest::default())
            .expect("list");
        assert!(
            listed.items.iter().all(|j| j.tenant_id == other),
            "{:?}",
            listed.items
        );
        for status in JobStatus::ALL {
            let page = db
                .store
                .list_jobs_by_status(&other, status, &PageRequest::default())
                .expect("list");
            assert!(page.items.iter().all(|j| j.tenant_id == other));
        }
    }
    assert_eq!(snapshot(db, &jobs), before);
    assert_eq!(db.counts(), counts);
}

fn the_same_job_id_in_two_tenants_is_two_independent_jobs(db: &TestDb) {
    let a = db.tenant();
    let b = db.tenant();
    let id = JobId::new("shared").expect("id");
    let job_a = db
        .store
        .create_job(NewJob {
            id: Some(id.clone()),
            ..NewJob::new(a.id.clone())
        })
        .expect("create a");
    let job_b = db
        .store
        .create_job(NewJob {
            id: Some(id.clone()),
            ..NewJob::new(b.id.clone())
        })
        .expect("create b");
    let cancelled = db.store.cancel_job(&a.id, &id, "only a's").expect("cancel");
    assert_eq!(db.store.get_job(&b.id, &id).expect("get b"), job_b);
    assert_eq!(
        db.store.job_history(&b.id, &id).expect("history b").len(),
        1
    );
    db.store
        .set_batch_job_name(&b.id, &id, "b's batch")
        .expect("name b");
    db.store.purge_job(&b.id, &id).expect("purge b");
    assert_eq!(db.store.get_job(&a.id, &id).expect("get a"), cancelled);
    assert_eq!(cancelled.batch_job_name, None);
    assert_eq!(
        db.store.job_history(&a.id, &id).expect("history a").len(),
        2
    );
    assert_ne!(job_a, job_b);
}

fn a_cursor_from_another_tenants_listing_shows_only_the_callers_jobs(db: &TestDb) {
    let a = db.tenant();
    let b = db.tenant();
    let mut b_jobs = Vec::new();
    for _ in 0..4 {
        db.advance(chrono::TimeDelta::seconds(1));
        db.job(&a.id);
        db.advance(chrono::TimeDelta::milliseconds(500));
        b_jobs.push(db.job(&b.id));
    }
    // The cursor after a's second job: between b's first and second.
    let a_page = db
        .store
        .list_jobs(&a.id, &JobFilter::default(), &PageRequest::first(2))
        .expect("list a");
    let b_page = db
        .store
        .list_jobs(
            &b.id,
            &JobFilter::default(),
            &PageRequest {
                limit: 100,
                after: a_page.next,
            },
        )
        .expect("list b with a's cursor");
    assert_eq!(
        b_page.items,
        b_jobs[1..],
        "b's jobs after the cursor's position, and none of a's"
    );
}

fn create_jobs_for_a_mix_of_tenants_with_one_soft_deleted_writes_nothing(db: &TestDb) {
    let live = db.tenant();
    let gone = db.tenant();
    db.store.soft_delete_tenant(&gone.id).expect("soft delete");
    let before = db.counts();
    assert_matches!(
        db.store.create_jobs(vec![NewJob::new(live.id.clone()), NewJob::new(gone.id.clone()), NewJob::new(live.id.clone())]),
        Err(StorageError::NotFound { entity: Entity::Tenant, ref id, .. }) if *id == gone.id.to_string()
    );
    assert_eq!(db.counts(), before);
}

backends!(
    another_tenants_job_is_not_found_by_any_read_or_write_and_nothing_changes,
    the_same_job_id_in_two_tenants_is_two_independent_jobs,
    a_cursor_from_another_tenants_listing_shows_only_the_callers_jobs,
    create_jobs_for_a_mix_of_tenants_with_one_soft_deleted_writes_nothing
);
