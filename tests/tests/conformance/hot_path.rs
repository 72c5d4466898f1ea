//! The hot path: completing and claiming in one transaction, and waking idle workers.

use std::{
    thread,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{JobStatus, Lease, LeaseId, NewJob, StaleLease, TenantId};
use jobstore_storage::{
    ClaimRequest, JobRepository, StorageError, Store, TenantRepository, WorkerRepository,
};

fn started(agent: &str, limit: u32) -> ClaimRequest {
    ClaimRequest {
        limit,
        start: true,
        ..ClaimRequest::new("default", agent)
    }
}

fn leases(jobs: &[jobstore_domain::Job]) -> Vec<Lease> {
    jobs.iter().filter_map(|job| job.lease()).collect()
}

fn trail(db: &TestDb, tenant: &TenantId, job: &jobstore_domain::JobId) -> Vec<JobStatus> {
    db.store
        .job_history(tenant, job)
        .unwrap()
        .iter()
        .map(|step| step.to)
        .collect()
}

/// An error to make `Store::transaction` roll back.
fn rollback() -> StorageError {
    StorageError::Conflict {
        entity: jobstore_storage::Entity::Job,
        id: None,
    }
}

/// Enqueues a job in a transaction that then rolls back.
fn enqueue_rolled_back(db: &TestDb, tenant: &TenantId) {
    let outcome: Result<(), StorageError> = db.store.transaction(|tx| {
        tx.create_job(NewJob::new(tenant.clone()))?;
        Err(rollback())
    });
    assert!(outcome.is_err());
}

fn complete_and_claim_reports_one_job_and_claims_the_next(db: &TestDb) {
    let tenant = db.tenant();
    let jobs = [db.job(&tenant.id), db.job(&tenant.id)];
    let held = db.store.claim(&started("w", 1)).unwrap();
    // Equal priority and not-before: the claim order falls to the (random) ids.
    let (first, second) = match jobs[0].id == held[0].id {
        true => (&jobs[0], &jobs[1]),
        false => (&jobs[1], &jobs[0]),
    };

    let handoff = db
        .store
        .complete_and_claim(&leases(&held), &started("w", 1))
        .unwrap();
    assert_eq!(handoff.completed.len(), 1);
    assert_eq!(handoff.completed[0].status, JobStatus::Completed);
    assert_eq!(handoff.claimed.len(), 1);
    assert_eq!(handoff.claimed[0].id, second.id);
    assert_eq!(handoff.claimed[0].status, JobStatus::Running);
    // What the call returned is what is stored, trails included.
    for job in handoff.completed.iter().chain(&handoff.claimed) {
        assert_eq!(&db.store.get_job(&tenant.id, &job.id).unwrap(), job);
    }
    use JobStatus::*;
    assert_eq!(
        trail(db, &tenant.id, &first.id),
        [Pending, Assigned, Running, Completed]
    );
    assert_eq!(
        trail(db, &tenant.id, &second.id),
        [Pending, Assigned, Running]
    );

    // The last job: reported, and nothing left to claim.
    let handoff = db
        .store
        .complete_and_claim(&leases(&handoff.claimed), &started("w", 1))
        .unwrap();
    assert_eq!(handoff.completed[0].status, Completed);
    assert!(handoff.claimed.is_empty());
}

fn complete_and_claim_takes_batches_and_may_start_with_nothing_to_report(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_jobs((0..5).map(|_| NewJob::new(tenant.id.clone())).collect())
        .unwrap();
    let first = db.store.complete_and_claim(&[], &started("w", 3)).unwrap();
    assert!(first.completed.is_empty());
    assert_eq!(first.claimed.len(), 3);
    let second = db
        .store
        .complete_and_claim(&leases(&first.claimed), &started("w", 3))
        .unwrap();
    assert_eq!(second.completed.len(), 3);
    assert_eq!(second.claimed.len(), 2);
    assert_eq!(
        db.count_where("jobs", "status = 'COMPLETED'"),
        3,
        "the first batch is done"
    );
    assert_eq!(db.count_where("jobs", "status = 'RUNNING'"), 2);
    assert_eq!(
        db.count_where("job_state_transitions", "to_status = 'COMPLETED'"),
        3
    );
}

fn a_stale_report_claims_nothing(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_jobs((0..3).map(|_| NewJob::new(tenant.id.clone())).collect())
        .unwrap();
    let held = db.store.claim(&started("w", 2)).unwrap();
    let mut stale = leases(&held);
    stale[1].lease_id = LeaseId::generate();
    let before = db.counts();
    assert_matches!(
        db.store.complete_and_claim(&stale, &started("w", 1)),
        Err(StorageError::StaleLease {
            reason: StaleLease::NotHeld,
            ..
        })
    );
    assert_eq!(db.counts(), before, "nothing written");
    assert_eq!(db.count_where("jobs", "status = 'PENDING'"), 1);
    assert_eq!(db.count_where("jobs", "status = 'RUNNING'"), 2);

    // An expired lease, reaped since, is refused the same way.
    db.advance(TimeDelta::seconds(31));
    db.store.reap(10).unwrap();
    let before = db.counts();
    assert_matches!(
        db.store
            .complete_and_claim(&leases(&held), &started("w", 1)),
        Err(StorageError::StaleLease { .. })
    );
    assert_eq!(db.counts(), before);
}

fn complete_and_claim_refuses_a_bad_request_before_reporting(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let held = db.store.claim(&started("w", 1)).unwrap();
    let before = db.counts();
    for bad in [
        ClaimRequest {
            limit: 0,
            ..started("w", 1)
        },
        ClaimRequest {
            queue: String::new(),
            ..started("w", 1)
        },
    ] {
        assert_matches!(
            db.store.complete_and_claim(&leases(&held), &bad),
            Err(StorageError::Domain(_))
        );
    }
    assert_eq!(db.counts(), before);
    assert_eq!(
        db.store.get_job(&tenant.id, &held[0].id).unwrap().status,
        JobStatus::Running
    );
}

fn a_cancelled_job_claims_nothing_and_a_rolled_back_handoff_leaves_no_trace(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_jobs((0..2).map(|_| NewJob::new(tenant.id.clone())).collect())
        .unwrap();
    let held = db.store.claim(&started("w", 1)).unwrap();
    db.store
        .cancel_job(&tenant.id, &held[0].id, "not needed")
        .unwrap();
    let before = db.counts();
    assert_matches!(
        db.store
            .complete_and_claim(&leases(&held), &started("w", 1)),
        Err(StorageError::StaleLease {
            reason: StaleLease::Cancelled,
            ..
        })
    );
    assert_eq!(db.counts(), before);
    assert_eq!(db.count_where("jobs", "status = 'PENDING'"), 1);

    // Inside a transaction that rolls back, the report and the claim both go.
    let mut held = db.store.claim(&started("w", 1)).unwrap();
    db.job(&tenant.id);
    let before = db.counts();
    let outcome: Result<(), StorageError> = db.store.transaction(|tx| {
        let handoff = tx.complete_and_claim(&leases(&held), &started("w", 1))?;
        assert_eq!(handoff.claimed.len(), 1);
        Err(rollback())
    });
    assert!(outcome.is_err());
    assert_eq!(db.counts(), before);
    let job = held.remove(0);
    assert_eq!(db.store.get_job(&tenant.id, &job.id).unwrap(), job);
}

fn wait_for_work_returns_at_once_when_work_is_waiting(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    assert!(
        db.store
            .wait_for_work("default", Duration::from_secs(60))
            .unwrap()
    );
    // "Forever" is a long wait, not an overflow.
    assert!(db.store.wait_for_work("default", Duration::MAX).unwrap());
    assert!(!db.store.wait_for_work("empty", Duration::ZERO).unwrap());
    assert_matches!(
        db.store.wait_for_work("", Duration::from_secs(1)),
        Err(StorageError::Domain(_))
    );
}

fn wait_for_work_times_out_on_an_idle_queue(db: &TestDb) {
    let tenant = db.tenant();
    // Work elsewhere, work not yet due, and work rolled back wake nobody.
    db.store
        .create_job(NewJob {
            queue: "other".into(),
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    db.store
        .create_job(NewJob {
            not_before: Some(db.now() + TimeDelta::hours(1)),
            ..NewJob::new(tenant.id.clone())
        })
        .unwrap();
    enqueue_rolled_back(db, &tenant.id);
    assert!(
        !db.store
            .wait_for_work("default", Duration::from_millis(200))
            .unwrap()
    );
}

/// An idle worker wakes when another process enqueues (the test asserts that it woke, long
/// before its time-out; how fast is the benchmark's business).
fn wait_for_work_wakes_when_work_arrives(db: &TestDb) {
    let tenant = db.tenant();
    let producer: Store = db.open_store();
    let waited = thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let started = Instant::now();
            let woke = db.store.wait_for_work("default", Duration::from_secs(60));
            (woke, started.elapsed())
        });
        thread::sleep(Duration::from_millis(200));
        producer.create_job(NewJob::new(tenant.id.clone())).unwrap();
        worker.join().unwrap()
    });
    let (woke, after) = waited;
    assert!(woke.unwrap(), "woken by the enqueue");
    assert!(after < Duration::from_secs(30), "woke after {after:?}");
    assert_eq!(db.store.claim(&started("w", 1)).unwrap().len(), 1);
    // The connection went back to the pool without its subscription: later calls work.
    assert!(
        db.store
            .list_tenants(&Default::default())
            .unwrap()
            .items
            .iter()
            .any(|t| t.id == tenant.id)
    );
}

fn a_released_job_wakes_a_waiting_worker(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let lease = leases(&db.store.claim(&ClaimRequest::new("default", "w")).unwrap())[0].clone();
    let other: Store = db.open_store();
    let woke = thread::scope(|scope| {
        let waiter = scope.spawn(|| other.wait_for_work("default", Duration::from_secs(60)));
        thread::sleep(Duration::from_millis(200));
        db.store.release(&lease).unwrap();
        waiter.join().unwrap()
    });
    assert!(woke.unwrap());
}

/// PostgreSQL: what makes a job PENDING notifies waiters when it commits, never before and never
/// after a rollback, with the queue as payload. (The other backends send nothing; their waiters
/// poll.)
fn notifications_go_out_when_the_transaction_commits(db: &TestDb) {
    #[cfg(feature = "postgres")]
    {
        use diesel::{RunQueryDsl, sql_query};
        use jobstore_storage::DbConnection;
        let mut listener = db.connect();
        let DbConnection::Postgres(listener) = &mut listener else {
            return;
        };
        sql_query("LISTEN jobstore_work").execute(listener).unwrap();
        let received = |listener: &mut diesel::PgConnection| -> Vec<String> {
            // A round trip, so that whatever the server sent before it has arrived.
            sql_query("SELECT 1").execute(listener).unwrap();
            listener
                .notifications_iter()
                .map(|n| n.unwrap().payload)
                .collect()
        };
        let tenant = db.tenant();
        db.store
            .transaction(|tx| {
                tx.create_job(NewJob {
                    queue: "q1".into(),
                    ..NewJob::new(tenant.id.clone())
                })?;
                assert!(received(listener).is_empty(), "nothing before the commit");
                Ok(())
            })
            .unwrap();
        assert_eq!(received(listener), ["q1"]);

        enqueue_rolled_back(db, &tenant.id);
        assert!(received(listener).is_empty(), "nothing after a rollback");

        // A release makes its job PENDING again: waiters hear of it too.
        let held = db.store.claim(&ClaimRequest::new("q1", "w")).unwrap();
        assert!(
            received(listener).is_empty(),
            "a claim makes nothing PENDING"
        );
        db.store.release(&leases(&held)[0]).unwrap();
        assert_eq!(received(listener), ["q1"]);

        // A store told not to notify sends nothing.
        let quiet = db.open_store_with(jobstore_storage::StoreConfig {
            notify_workers: false,
            ..db.config()
        });
        quiet
            .create_job(NewJob {
                queue: "q1".into(),
                ..NewJob::new(tenant.id.clone())
            })
            .unwrap();
        assert!(received(listener).is_empty(), "notify_workers: false");
    }
    #[cfg(not(feature = "postgres"))]
    let _ = db;
}

backends!(
    notifications_go_out_when_the_transaction_commits,
    a_cancelled_job_claims_nothing_and_a_rolled_back_handoff_leaves_no_trace,
    complete_and_claim_reports_one_job_and_claims_the_next,
    complete_and_claim_takes_batches_and_may_start_with_nothing_to_report,
    a_stale_report_claims_nothing,
    complete_and_claim_refuses_a_bad_request_before_reporting,
    wait_for_work_returns_at_once_when_work_is_waiting,
    wait_for_work_times_out_on_an_idle_queue,
    wait_for_work_wakes_when_work_arrives,
    a_released_job_wakes_a_waiting_worker
);
