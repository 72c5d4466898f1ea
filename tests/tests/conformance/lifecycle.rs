//! State changes: the state machine, the lifecycle timestamps, failures, cancellation, retries.

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{Change, DomainError, Job, JobId, JobStatus, LeaseGrant, NewJob, TenantId};
use jobstore_storage::{Entity, JobRepository, StorageError};

/// Asserts that the job is exactly as it was (same version, same fields) with the same history.
fn assert_unchanged(db: &TestDb, job: &Job, history_len: usize) {
    assert_eq!(
        db.store.get_job(&job.tenant_id, &job.id).expect("get"),
        *job
    );
    assert_eq!(
        db.store
            .job_history(&job.tenant_id, &job.id)
            .expect("history")
            .len(),
        history_len
    );
}

fn history_len(db: &TestDb, job: &Job) -> usize {
    db.store
        .job_history(&job.tenant_id, &job.id)
        .expect("history")
        .len()
}

fn transition_job_through_the_whole_lifecycle_sets_the_lifecycle_timestamps(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let t1 = db.advance(TimeDelta::seconds(1));
    let grant = LeaseGrant::new("worker-1", t1, TimeDelta::seconds(30));
    let assigned = db
        .store
        .transition_job(
            &tenant.id,
            &job.id,
            Change::to(JobStatus::Assigned)
                .lease(grant.clone())
                .actor("worker-1"),
        )
        .expect("assign");
    assert_eq!(assigned.status, JobStatus::Assigned);
    assert_eq!(
        (
            assigned.scheduled_at,
            assigned.started_at,
            assigned.completed_at
        ),
        (Some(t1), None, None)
    );
    assert_eq!((assigned.updated_at, assigned.version), (t1, 2));
    assert_eq!(assigned.lease_id.as_ref(), Some(&grant.lease_id));
    assert_eq!(assigned.lease_deadline, Some(t1 + TimeDelta::seconds(30)));
    assert_eq!(assigned.assigned_agent.as_deref(), Some("worker-1"));
    assert_eq!(
        db.store.get_job(&tenant.id, &job.id).expect("get"),
        assigned
    );

    let t2 = db.advance(TimeDelta::seconds(2));
    let running = db
        .store
        .transition_job(&tenant.id, &job.id, Change::to(JobStatus::Running))
        .expect("start");
    assert_eq!(
        (
            running.scheduled_at,
            running.started_at,
            running.completed_at
        ),
        (Some(t1), Some(t2), None)
    );
    assert_eq!((running.updated_at, running.version), (t2, 3));
    assert_eq!(
        running.lease_id.as_ref(),
        Some(&grant.lease_id),
        "the lease is kept while running"
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), running);

    let t3 = db.advance(TimeDelta::milliseconds(1500));
    let done = db
        .store
        .complete_job(&tenant.id, &job.id)
        .expect("complete");
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        (done.scheduled_at, done.started_at, done.completed_at),
        (Some(t1), Some(t2), Some(t3))
    );
    assert_eq!(
        (done.updated_at, done.version, done.created_at),
        (t3, 4, job.created_at)
    );
    assert_eq!(
        (done.lease_id.as_ref(), done.lease_deadline),
        (None, None),
        "a finished job holds no lease"
    );
    assert_eq!(
        done.assigned_agent.as_deref(),
        Some("worker-1"),
        "the last holder is kept"
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), done);
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    let steps: Vec<_> = history.iter().map(|t| (t.from, t.to, t.at)).collect();
    assert_eq!(
        steps,
        vec![
            (None, JobStatus::Pending, job.created_at),
            (Some(JobStatus::Pending), JobStatus::Assigned, t1),
            (Some(JobStatus::Assigned), JobStatus::Running, t2),
            (Some(JobStatus::Running), JobStatus::Completed, t3),
        ]
    );
}

fn transition_job_follows_the_state_machine_for_every_pair_of_statuses(db: &TestDb) {
    let tenant = db.tenant();
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let job = db.job_in(&tenant.id, from);
            let len = history_len(db, &job);
            let result = db.store.transition_job(&tenant.id, &job.id, Change::to(to));
            if from.can_transition_to(to) {
                let moved = result.unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                assert_eq!(
                    (moved.status, moved.version),
                    (to, job.version + 1),
                    "{from} -> {to}"
                );
                assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), moved);
                assert_eq!(history_len(db, &job), len + 1);
            } else {
                assert_matches!(
                    result,
                    Err(StorageError::Domain(DomainError::InvalidTransition { from: f, to: t })) if f == from && t == to,
                    "{from} -> {to}"
                );
                assert_unchanged(db, &job, len);
            }
        }
    }
}

fn invalid_transition_names_both_states_and_changes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let before = db.counts();
    db.advance(TimeDelta::seconds(1));
    assert_matches!(
        db.store.complete_job(&tenant.id, &job.id),
        Err(StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Pending,
            to: JobStatus::Completed
        }))
    );
    assert_unchanged(db, &job, 1);
    let done = db.job_in(&tenant.id, JobStatus::Completed);
    let before_done = db.counts();
    assert_matches!(
        db.store.cancel_job(&tenant.id, &done.id, "too late"),
        Err(StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Completed,
            to: JobStatus::Cancelled
        }))
    );
    assert_matches!(
        db.store.fail_job(&tenant.id, &done.id, "too late"),
        Err(StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Completed,
            to: JobStatus::Failed
        }))
    );
    assert_unchanged(db, &done, 4);
    assert_eq!(db.counts(), before_done);
    assert_eq!(before.jobs + 1, before_done.jobs);
}

fn transition_of_an_unknown_job_is_not_found(db: &TestDb) {
    let tenant = db.tenant();
    let nope = JobId::new("nope").expect("id");
    assert_matches!(
        db.store.cancel_job(&tenant.id, &nope, "x"),
        Err(StorageError::NotFound {
            entity: Entity::Job,
            ..
        })
    );
    assert_matches!(
        db.store.transition_job(
            &TenantId::new("nobody").expect("id"),
            &nope,
            Change::to(JobStatus::Assigned)
        ),
        Err(StorageError::NotFound {
            entity: Entity::Job,
            ..
        })
    );
}

fn complete_job_moves_a_running_job_to_completed(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Running);
    let now = db.advance(TimeDelta::seconds(1));
    let done = db
        .store
        .complete_job(&tenant.id, &job.id)
        .expect("complete");
    assert_eq!(
        (done.status, done.completed_at, done.error_message.as_ref()),
        (JobStatus::Completed, Some(now), None)
    );
    assert_matches!(
        db.store
            .complete_job(&tenant.id, &db.job_in(&tenant.id, JobStatus::Assigned).id),
        Err(StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Assigned,
            to: JobStatus::Completed
        })),
        "a job must be started before it completes"
    );
}

fn fail_job_keeps_the_message_as_the_error_and_in_the_history(db: &TestDb) {
    let tenant = db.tenant();
    for from in [JobStatus::Running, JobStatus::Assigned] {
        let job = db.job_in(&tenant.id, from);
        let now = db.advance(TimeDelta::seconds(1));
        let failed = db
            .store
            .fail_job(&tenant.id, &job.id, "exit 137: OOMKilled")
            .expect("fail");
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.error_message.as_deref(), Some("exit 137: OOMKilled"));
        assert_eq!((failed.completed_at, failed.updated_at), (Some(now), now));
        assert_eq!(
            (failed.lease_id.as_ref(), failed.lease_deadline),
            (None, None)
        );
        assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), failed);
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        let last = history.last().expect("a record");
        assert_eq!((last.from, last.to), (Some(from), JobStatus::Failed));
        assert_eq!(last.reason.as_deref(), Some("exit 137: OOMKilled"));
    }
}

fn cancel_job_records_the_reason_from_every_unfinished_status(db: &TestDb) {
    let tenant = db.tenant();
    for from in [JobStatus::Pending, JobStatus::Assigned, JobStatus::Running] {
        let job = db.job_in(&tenant.id, from);
        let now = db.advance(TimeDelta::seconds(1));
        let cancelled = db
            .store
            .cancel_job(&tenant.id, &job.id, "no longer needed")
            .expect("cancel");
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert_eq!(
            (cancelled.completed_at, cancelled.updated_at),
            (Some(now), now)
        );
        assert_eq!(
            (
                cancelled.lease_id.as_ref(),
                cancelled.error_message.as_ref()
            ),
            (None, None)
        );
        assert_eq!(
            db.store.get_job(&tenant.id, &job.id).expect("get"),
            cancelled
        );
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        let last = history.last().expect("a record");
        assert_eq!(
            (last.from, last.to, last.reason.as_deref()),
            (Some(from), JobStatus::Cancelled, Some("no longer needed"))
        );
    }
}

fn retry_job_moves_a_failed_or_lost_job_to_the_next_attempt(db: &TestDb) {
    let tenant = db.tenant();
    for from in [JobStatus::Failed, JobStatus::Lost] {
        let job = db.job_in(&tenant.id, from);
        let now = db.advance(TimeDelta::seconds(1));
        let retried = db.store.retry_job(&tenant.id, &job.id).expect("retry");
        assert_eq!(retried.status, JobStatus::Pending);
        assert_eq!(
            (retried.retry_count, retried.attempt, retried.max_retries),
            (1, 2, 3)
        );
        assert_eq!(retried.output_prefix, format!("jobs/{}/2/", job.id));
        assert_eq!((retried.not_before, retried.updated_at), (now, now));
        assert_eq!(
            (
                retried.scheduled_at,
                retried.started_at,
                retried.completed_at
            ),
            (None, None, None)
        );
        assert_eq!(
            (retried.lease_id.as_ref(), retried.assigned_agent.as_ref()),
            (None, None)
        );
        assert_eq!(
            retried.error_message, None,
            "the new attempt has no error yet"
        );
        assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), retried);
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        let last = history.last().expect("a record");
        assert_eq!(
            (last.from, last.to, last.attempt),
            (Some(from), JobStatus::Pending, 2)
        );
        if from == JobStatus::Failed {
            let failure = &history[history.len() - 2];
            assert_eq!(
                failure.reason.as_deref(),
                Some("boom"),
                "the old attempt's error stays in the history"
            );
        }
        // The next attempt runs and finishes under its own prefix.
        let done = db.move_job(&tenant.id, &job.id, JobStatus::Completed);
        assert_eq!(
            (done.attempt, done.output_prefix.as_str()),
            (2, format!("jobs/{}/2/", job.id).as_str())
        );
    }
}

fn retry_job_when_retries_are_exhausted_is_refused_and_changes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let job = db
        .store
        .create_job(NewJob {
            max_retries: 1,
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    db.move_job(&tenant.id, &job.id, JobStatus::Failed);
    db.store
        .retry_job(&tenant.id, &job.id)
        .expect("the one retry");
    let failed = db.move_job(&tenant.id, &job.id, JobStatus::Failed);
    assert_eq!((failed.retry_count, failed.attempt), (1, 2));
    let len = history_len(db, &failed);
    let before = db.counts();
    db.advance(TimeDelta::seconds(1));
    assert_matches!(
        db.store.retry_job(&tenant.id, &job.id),
        Err(StorageError::Domain(DomainError::RetriesExhausted {
            retry_count: 1,
            max_retries: 1
        }))
    );
    assert_unchanged(db, &failed, len);
    assert_eq!(db.counts(), before);

    let never = db
        .store
        .create_job(NewJob {
            max_retries: 0,
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    let lost = db.move_job(&tenant.id, &never.id, JobStatus::Lost);
    assert_matches!(
        db.store.retry_job(&tenant.id, &never.id),
        Err(StorageError::Domain(DomainError::RetriesExhausted {
            retry_count: 0,
            max_retries: 0
        }))
    );
    assert_unchanged(db, &lost, 4);
}

fn retry_job_of_a_job_that_did_not_fail_is_an_invalid_transition(db: &TestDb) {
    let tenant = db.tenant();
    // ASSIGNED -> PENDING is a worker's release, not a retry.
    for from in [
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ] {
        let job = db.job_in(&tenant.id, from);
        let len = history_len(db, &job);
        assert_matches!(
            db.store.retry_job(&tenant.id, &job.id),
            Err(StorageError::Domain(DomainError::InvalidTransition { from: f, to: JobStatus::Pending })) if f == from
        );
        assert_unchanged(db, &job, len);
    }
}

fn releasing_an_assigned_job_returns_it_to_pending_without_using_a_retry(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Assigned);
    let released = db
        .store
        .transition_job(&tenant.id, &job.id, Change::to(JobStatus::Pending))
        .expect("release");
    assert_eq!(released.status, JobStatus::Pending);
    assert_eq!((released.retry_count, released.attempt), (0, 1));
    assert_eq!(
        (
            released.lease_id.as_ref(),
            released.assigned_agent.as_ref(),
            released.scheduled_at
        ),
        (None, None, None)
    );
    assert_eq!(
        db.store.get_job(&tenant.id, &job.id).expect("get"),
        released
    );
}

fn every_change_moves_the_version_on_by_one(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let mut version = job.version;
    for status in [
        JobStatus::Assigned,
        JobStatus::Running,
        JobStatus::Failed,
        JobStatus::Pending,
        JobStatus::Cancelled,
    ] {
        let moved = db
            .store
            .transition_job(&tenant.id, &job.id, Change::to(status))
            .expect("move");
        assert_eq!(moved.version, version + 1, "to {status}");
        version = moved.version;
    }
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    assert_eq!(
        history.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
}

backends!(
    transition_job_through_the_whole_lifecycle_sets_the_lifecycle_timestamps,
    transition_job_follows_the_state_machine_for_every_pair_of_statuses,
    invalid_transition_names_both_states_and_changes_nothing,
    transition_of_an_unknown_job_is_not_found,
    complete_job_moves_a_running_job_to_completed,
    fail_job_keeps_the_message_as_the_error_and_in_the_history,
    cancel_job_records_the_reason_from_every_unfinished_status,
    retry_job_moves_a_failed_or_lost_job_to_the_next_attempt,
    retry_job_when_retries_are_exhausted_is_refused_and_changes_nothing,
    retry_job_of_a_job_that_did_not_fail_is_an_invalid_transition,
    releasing_an_assigned_job_returns_it_to_pending_without_using_a_retry,
    every_change_moves_the_version_on_by_one
);
