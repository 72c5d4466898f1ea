//! Workers: claims under a lease, heartbeats, lease-checked reports, retries with backoff, the
//! reaper, and unique keys — each behaviour on every backend.

use std::sync::Barrier;

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    DomainError, JobStatus, Lease, LeaseId, NewJob, RetryPolicy, StaleLease, TenantId,
};
use jobstore_storage::{
    ClaimRequest, Enqueued, JobRepository, StorageError, Store, WorkerRepository,
};

fn request(agent: &str) -> ClaimRequest {
    ClaimRequest::new("default", agent)
}

fn claim_one(store: &Store, agent: &str) -> Lease {
    let jobs = store.claim(&request(agent)).expect("claim");
    assert_eq!(jobs.len(), 1, "one job claimed");
    jobs[0].lease().expect("a claimed job has a lease")
}

fn statuses(db: &TestDb, tenant: &TenantId) -> Vec<JobStatus> {
    db.store
        .list_jobs(tenant, &Default::default(), &Default::default())
        .expect("list")
        .items
        .iter()
        .map(|j| j.status)
        .collect()
}

fn claim_takes_highest_priority_then_oldest_not_before_then_id(db: &TestDb) {
    let tenant = db.tenant();
    let at = |s| db.now() + TimeDelta::seconds(s);
    let make = |id: &str, priority, not_before| NewJob {
        id: Some(id.parse().unwrap()),
        priority,
        not_before: Some(not_before),
        ..NewJob::new(tenant.id.clone())
    };
    db.store
        .create_jobs(vec![
            make("low", 0, at(-30)),
            make("high-late", 5, at(-10)),
            make("high-early-b", 5, at(-20)),
            make("high-early-a", 5, at(-20)),
            make("future", 9, at(60)),
        ])
        .unwrap();
    let order: Vec<String> = (0..4)
        .map(|_| db.store.claim(&request("w")).unwrap()[0].id.to_string())
        .collect();
    assert_eq!(order, ["high-early-a", "high-early-b", "high-late", "low"]);
    assert!(
        db.store.claim(&request("w")).unwrap().is_empty(),
        "the future job waits"
    );
    db.advance(TimeDelta::seconds(61));
    assert_eq!(
        db.store.claim(&request("w")).unwrap()[0].id.as_str(),
        "future"
    );
}

fn claim_serves_only_its_queue_and_skips_deleted_tenants(db: &TestDb) {
    let tenant = db.tenant();
    let gone = db.tenant();
    db.store
        .create_job(NewJob {
            queue: "gpu".into(),
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    db.job(&gone.id);
    jobstore_storage::TenantRepository::soft_delete_tenant(&db.store, &gone.id).unwrap();
    assert!(db.store.claim(&request("w")).unwrap().is_empty());
    let gpu = db.store.claim(&ClaimRequest::new("gpu", "w")).unwrap();
    assert_eq!(gpu.len(), 1);
}

fn claim_grants_a_lease_and_writes_the_audit_rows(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let claimed = db
        .store
        .claim(&ClaimRequest {
            lease_for: TimeDelta::seconds(45),
            ..request("agent-7")
        })
        .unwrap();
    let got = &claimed[0];
    assert_eq!(got.status, JobStatus::Assigned);
    assert_eq!(got.assigned_agent.as_deref(), Some("agent-7"));
    assert_eq!(got.lease_deadline, Some(db.now() + TimeDelta::seconds(45)));
    assert_eq!(got.scheduled_at, Some(db.now()));
    assert_eq!(db.store.get_job(&tenant.id, &job.id).unwrap(), *got);
    let history = db.store.job_history(&tenant.id, &job.id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].from, history[1].to),
        (Some(JobStatus::Pending), JobStatus::Assigned)
    );
    assert_eq!(history[1].actor.as_deref(), Some("agent-7"));
}

fn claim_and_start_commits_two_transitions(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let claimed = db
        .store
        .claim(&ClaimRequest {
            start: true,
            ..request("w")
        })
        .unwrap();
    assert_eq!(claimed[0].status, JobStatus::Running);
    assert_eq!(claimed[0].started_at, Some(db.now()));
    let history = db.store.job_history(&tenant.id, &job.id).unwrap();
    let path: Vec<JobStatus> = history.iter().map(|t| t.to).collect();
    assert_eq!(
        path,
        [JobStatus::Pending, JobStatus::Assigned, JobStatus::Running]
    );
}

fn claim_takes_a_batch_up_to_its_limit(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_jobs((0..10).map(|_| NewJob::new(tenant.id.clone())).collect())
        .unwrap();
    let first = db
        .store
        .claim(&ClaimRequest {
            limit: 7,
            ..request("w")
        })
        .unwrap();
    let second = db
        .store
        .claim(&ClaimRequest {
            limit: 7,
            ..request("w")
        })
        .unwrap();
    assert_eq!((first.len(), second.len()), (7, 3));
    assert_eq!(
        db.count_where("job_state_transitions", "to_status = 'ASSIGNED'"),
        10
    );
}

fn claim_refuses_bad_requests_and_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let before = db.counts();
    for bad in [
        ClaimRequest {
            limit: 0,
            ..request("w")
        },
        ClaimRequest {
            limit: 1001,
            ..request("w")
        },
        ClaimRequest {
            lease_for: TimeDelta::zero(),
            ..request("w")
        },
        ClaimRequest::new("no such queue'; --", "w"),
        ClaimRequest::new("default", ""),
    ] {
        assert_matches!(
            db.store.claim(&bad),
            Err(StorageError::Domain(DomainError::Validation { .. }))
        );
    }
    assert_eq!(db.counts(), before);
}

fn heartbeat_extends_a_live_lease_without_an_audit_row(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let lease = claim_one(&db.store, "w");
    db.advance(TimeDelta::seconds(20));
    let deadline = db.store.heartbeat(&lease, TimeDelta::seconds(30)).unwrap();
    assert_eq!(deadline, db.now() + TimeDelta::seconds(30));
    db.advance(TimeDelta::seconds(25));
    db.store.start(&lease).unwrap();
    assert_eq!(db.count("job_state_transitions"), 3);
}

fn an_expired_lease_is_refused_and_the_job_untouched(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = claim_one(&db.store, "w");
    db.advance(TimeDelta::seconds(31));
    let before = db.store.get_job(&tenant.id, &job.id).unwrap();
    assert_matches!(
        db.store.heartbeat(&lease, TimeDelta::seconds(30)),
        Err(StorageError::StaleLease {
            reason: StaleLease::Expired,
            ..
        })
    );
    assert_matches!(
        db.store.start(&lease),
        Err(StorageError::StaleLease {
            reason: StaleLease::Expired,
            ..
        })
    );
    assert_matches!(
        db.store.complete(&lease),
        Err(StorageError::StaleLease { .. })
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).unwrap(), before);
}

fn reports_need_the_current_lease(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = claim_one(&db.store, "w");
    let forged = Lease {
        lease_id: LeaseId::generate(),
        ..lease.clone()
    };
    let before = db.store.get_job(&tenant.id, &job.id).unwrap();
    assert_matches!(
        db.store.start(&forged),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    assert_matches!(
        db.store.fail(&forged, "x", true),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    assert_matches!(
        db.store.release(&forged),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    assert_matches!(
        db.store.heartbeat(&forged, TimeDelta::seconds(5)),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    let other_tenant = Lease {
        tenant_id: db.tenant().id,
        ..lease.clone()
    };
    assert_matches!(
        db.store.complete(&other_tenant),
        Err(StorageError::NotFound { .. })
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).unwrap(), before);
    db.store.start(&lease).unwrap();
    assert_eq!(
        db.store.complete(&lease).unwrap().status,
        JobStatus::Completed
    );
    assert_matches!(
        db.store.complete(&lease),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
}

fn a_cancelled_job_tells_its_worker_at_the_next_report(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = claim_one(&db.store, "w");
    db.store.start(&lease).unwrap();
    db.store
        .cancel_job(&tenant.id, &job.id, "user asked")
        .unwrap();
    assert_matches!(
        db.store.heartbeat(&lease, TimeDelta::seconds(5)),
        Err(StorageError::StaleLease {
            reason: StaleLease::Cancelled,
            ..
        })
    );
    assert_matches!(
        db.store.complete(&lease),
        Err(StorageError::StaleLease {
            reason: StaleLease::Cancelled,
            ..
        })
    );
    assert_eq!(
        db.store.get_job(&tenant.id, &job.id).unwrap().status,
        JobStatus::Cancelled
    );
}

fn release_returns_an_unstarted_job_without_using_a_retry(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = claim_one(&db.store, "w");
    let released = db.store.release(&lease).unwrap();
    assert_eq!(
        (released.status, released.retry_count, released.attempt),
        (JobStatus::Pending, 0, 1)
    );
    let lease = claim_one(&db.store, "w2");
    db.store.start(&lease).unwrap();
    assert_matches!(
        db.store.release(&lease),
        Err(StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Running,
            to: JobStatus::Pending
        }))
    );
    assert_eq!(
        db.store.get_job(&tenant.id, &job.id).unwrap().status,
        JobStatus::Running
    );
}

fn a_retryable_failure_waits_out_its_backoff(db: &TestDb) {
    let policy = RetryPolicy {
        base: TimeDelta::seconds(10),
        max_delay: TimeDelta::seconds(100),
        jitter: 0.0,
    };
    let store = db.store.clone().with_queue_retry_policy("default", policy);
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = claim_one(&store, "w");
    store.start(&lease).unwrap();
    let retried = store.fail(&lease, "exit 1", true).unwrap();
    assert_eq!(
        (retried.status, retried.retry_count, retried.attempt),
        (JobStatus::Pending, 1, 2)
    );
    assert_eq!(retried.not_before, db.now() + TimeDelta::seconds(10));
    assert_eq!(retried.output_prefix, format!("jobs/{}/2/", job.id));
    assert!(
        store.claim(&request("w")).unwrap().is_empty(),
        "backoff not over"
    );
    db.advance(TimeDelta::seconds(10));
    let lease = claim_one(&store, "w");
    store.start(&lease).unwrap();
    let retried = store.fail(&lease, "exit 2", true).unwrap();
    assert_eq!(
        retried.not_before,
        db.now() + TimeDelta::seconds(20),
        "the delay doubles"
    );
    let history = store.job_history(&tenant.id, &job.id).unwrap();
    let errors: Vec<&str> = history
        .iter()
        .filter(|t| t.to == JobStatus::Failed)
        .filter_map(|t| t.reason.as_deref())
        .collect();
    assert_eq!(
        errors,
        ["exit 1", "exit 2"],
        "each attempt's error stays in the trail"
    );
}

fn a_job_retry_policy_beats_its_queue_policy(db: &TestDb) {
    let store = db.store.clone().with_queue_retry_policy(
        "default",
        RetryPolicy {
            base: TimeDelta::hours(1),
            max_delay: TimeDelta::hours(1),
            jitter: 0.0,
        },
    );
    let tenant = db.tenant();
    store
        .create_job(NewJob {
            retry_policy: Some(RetryPolicy::IMMEDIATE),
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    let lease = claim_one(&store, "w");
    let retried = store.fail(&lease, "boom", true).unwrap();
    assert_eq!(retried.not_before, db.now());
}

fn failures_end_failed_when_not_retryable_or_retries_are_used(db: &TestDb) {
    let store = db
        .store
        .clone()
        .with_default_retry_policy(RetryPolicy::IMMEDIATE);
    let tenant = db.tenant();
    store
        .create_job(NewJob {
            max_retries: 1,
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    let lease = claim_one(&store, "w");
    assert_eq!(
        store.fail(&lease, "once", true).unwrap().status,
        JobStatus::Pending
    );
    let lease = claim_one(&store, "w");
    let last = store.fail(&lease, "twice", true).unwrap();
    assert_eq!((last.status, last.retry_count), (JobStatus::Failed, 1));
    assert_eq!(last.error_message.as_deref(), Some("twice"));
    store.create_job(NewJob::new(tenant.id.clone())).unwrap();
    let lease = claim_one(&store, "w");
    let failed = store.fail(&lease, "bad input", false).unwrap();
    assert_eq!((failed.status, failed.retry_count), (JobStatus::Failed, 0));
}

fn the_reaper_loses_expired_leases_and_retries_them(db: &TestDb) {
    let store = db
        .store
        .clone()
        .with_default_retry_policy(RetryPolicy::IMMEDIATE);
    let tenant = db.tenant();
    let retried = store.create_job(NewJob::new(tenant.id.clone())).unwrap();
    let lost = store
        .create_job(NewJob {
            max_retries: 0,
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    let kept = store.create_job(NewJob::new(tenant.id.clone())).unwrap();
    let leases: Vec<Lease> = store
        .claim(&ClaimRequest {
            limit: 3,
            ..request("w")
        })
        .unwrap()
        .iter()
        .filter_map(|j| j.lease())
        .collect();
    db.advance(TimeDelta::seconds(20));
    let renewed = leases.iter().find(|l| l.job_id == kept.id).unwrap();
    store.heartbeat(renewed, TimeDelta::seconds(30)).unwrap();
    db.advance(TimeDelta::seconds(15));
    let reaped = store.reap(100).unwrap();
    assert_eq!(
        reaped.retried,
        vec![(tenant.id.clone(), retried.id.clone())]
    );
    assert_eq!(reaped.lost, vec![(tenant.id.clone(), lost.id.clone())]);
    assert_eq!(
        store.get_job(&tenant.id, &kept.id).unwrap().status,
        JobStatus::Assigned
    );
    let again = store.get_job(&tenant.id, &retried.id).unwrap();
    assert_eq!((again.status, again.retry_count), (JobStatus::Pending, 1));
    let path: Vec<JobStatus> = store
        .job_history(&tenant.id, &retried.id)
        .unwrap()
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(
        path,
        [
            JobStatus::Pending,
            JobStatus::Assigned,
            JobStatus::Lost,
            JobStatus::Pending
        ]
    );
    assert_eq!(
        store.get_job(&tenant.id, &lost.id).unwrap().status,
        JobStatus::Lost
    );
    assert_eq!(
        store.reap(100).unwrap(),
        Default::default(),
        "nothing is reaped twice"
    );
}

fn a_stale_worker_is_refused_after_its_job_is_reaped_and_reclaimed(db: &TestDb) {
    let store = db
        .store
        .clone()
        .with_default_retry_policy(RetryPolicy::IMMEDIATE);
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let old = claim_one(&store, "slow");
    store.start(&old).unwrap();
    db.advance(TimeDelta::seconds(31));
    store.reap(10).unwrap();
    let new = claim_one(&store, "fresh");
    store.start(&new).unwrap();
    let before = store.get_job(&tenant.id, &job.id).unwrap();
    let trail = store.job_history(&tenant.id, &job.id).unwrap().len();
    assert_matches!(
        store.heartbeat(&old, TimeDelta::seconds(30)),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    assert_matches!(store.start(&old), Err(StorageError::StaleLease { .. }));
    assert_matches!(store.complete(&old), Err(StorageError::StaleLease { .. }));
    assert_matches!(
        store.complete_all(std::slice::from_ref(&old)),
        Err(StorageError::StaleLease { .. })
    );
    assert_matches!(
        store.fail(&old, "late", true),
        Err(StorageError::StaleLease { .. })
    );
    assert_matches!(store.release(&old), Err(StorageError::StaleLease { .. }));
    assert_eq!(store.get_job(&tenant.id, &job.id).unwrap(), before);
    assert_eq!(store.job_history(&tenant.id, &job.id).unwrap().len(), trail);
    assert_eq!(store.complete(&new).unwrap().status, JobStatus::Completed);
}

fn complete_all_is_all_or_none(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_jobs((0..3).map(|_| NewJob::new(tenant.id.clone())).collect())
        .unwrap();
    let claimed = db
        .store
        .claim(&ClaimRequest {
            limit: 3,
            start: true,
            ..request("w")
        })
        .unwrap();
    let mut leases: Vec<Lease> = claimed.iter().filter_map(|j| j.lease()).collect();
    leases[2].lease_id = LeaseId::generate();
    assert_matches!(
        db.store.complete_all(&leases),
        Err(StorageError::StaleLease { .. })
    );
    assert_eq!(statuses(db, &tenant.id), [JobStatus::Running; 3]);
    leases[2] = claimed[2].lease().unwrap();
    let done = db.store.complete_all(&leases).unwrap();
    assert!(done.iter().all(|j| j.status == JobStatus::Completed));
    assert_eq!(statuses(db, &tenant.id), [JobStatus::Completed; 3]);
    assert_eq!(
        db.count_where("job_state_transitions", "to_status = 'COMPLETED'"),
        3
    );
}

fn complete_all_refuses_a_job_named_twice(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let lease = db
        .store
        .claim(&ClaimRequest {
            start: true,
            ..request("w")
        })
        .unwrap()[0]
        .lease()
        .unwrap();
    let before = db.counts();
    assert_matches!(
        db.store.complete_all(&[lease.clone(), lease.clone()]),
        Err(StorageError::Domain(DomainError::Validation { .. }))
    );
    assert_eq!(db.counts(), before);
    assert_eq!(
        db.store.get_job(&tenant.id, &job.id).unwrap().status,
        JobStatus::Running
    );
}

fn enqueue_returns_the_unfinished_job_with_the_same_unique_key(db: &TestDb) {
    let tenant = db.tenant();
    let keyed = || NewJob {
        unique_key: Some("nightly-2026-11-22".into()),
        ..NewJob::new(tenant.id.clone())
    };
    let first = db.store.enqueue(keyed()).unwrap();
    assert!(!first.is_duplicate());
    let second = db.store.enqueue(keyed()).unwrap();
    assert_matches!(&second, Enqueued::Duplicate(job) if job.id == first.job().id);
    assert_matches!(
        db.store.create_job(keyed()),
        Err(StorageError::AlreadyExists { .. })
    );
    let other_tenant = db.tenant();
    assert!(
        !db.store
            .enqueue(NewJob {
                unique_key: Some("nightly-2026-11-22".into()),
                ..NewJob::new(other_tenant.id)
            })
            .unwrap()
            .is_duplicate()
    );
    db.store
        .cancel_job(&tenant.id, &first.job().id, "done with it")
        .unwrap();
    assert!(
        !db.store.enqueue(keyed()).unwrap().is_duplicate(),
        "a finished job frees its key"
    );
    assert_eq!(db.count_where("jobs", "unique_key IS NOT NULL"), 3);
}

fn concurrent_enqueues_make_one_job_per_key(db: &TestDb) {
    let tenant = db.tenant();
    const THREADS: usize = 8;
    let stores: Vec<Store> = (0..THREADS).map(|_| db.open_store()).collect();
    let barrier = Barrier::new(THREADS);
    let results: Vec<Result<Enqueued, StorageError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let (barrier, tenant) = (&barrier, &tenant);
                scope.spawn(move || {
                    barrier.wait();
                    (0..5)
                        .map(|k| {
                            store.enqueue(NewJob {
                                unique_key: Some(format!("key-{k}")),
                                ..NewJob::new(tenant.id.clone())
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let created = results
        .iter()
        .filter(|r| matches!(r, Ok(Enqueued::Created(_))))
        .count();
    for result in &results {
        assert_matches!(result, Ok(_), "every enqueue answers");
    }
    assert_eq!(created, 5, "one job per key");
    assert_eq!(db.count("jobs"), 5);
}

backends!(
    claim_takes_highest_priority_then_oldest_not_before_then_id,
    claim_serves_only_its_queue_and_skips_deleted_tenants,
    claim_grants_a_lease_and_writes_the_audit_rows,
    claim_and_start_commits_two_transitions,
    claim_takes_a_batch_up_to_its_limit,
    claim_refuses_bad_requests_and_writes_nothing,
    heartbeat_extends_a_live_lease_without_an_audit_row,
    an_expired_lease_is_refused_and_the_job_untouched,
    reports_need_the_current_lease,
    a_cancelled_job_tells_its_worker_at_the_next_report,
    release_returns_an_unstarted_job_without_using_a_retry,
    a_retryable_failure_waits_out_its_backoff,
    a_job_retry_policy_beats_its_queue_policy,
    failures_end_failed_when_not_retryable_or_retries_are_used,
    the_reaper_loses_expired_leases_and_retries_them,
    a_stale_worker_is_refused_after_its_job_is_reaped_and_reclaimed,
    complete_all_is_all_or_none,
    complete_all_refuses_a_job_named_twice,
    enqueue_returns_the_unfinished_job_with_the_same_unique_key,
    concurrent_enqueues_make_one_job_per_key
);
