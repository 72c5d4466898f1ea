//! Races: many threads, each with a store (and so connections) of its own on the same database,
//! change the same job at the same moment. Exactly one wins; nobody's change is lost or doubled.
//!
//! Which errors a loser may get, and why:
//! - [`StorageError::Conflict`]: it read the job before the winner committed, so its guarded
//!   update (`WHERE status = <read> AND version = <read>`) changed no row. PostgreSQL and MySQL
//!   (READ COMMITTED) re-check the guard after waiting for the winner's row lock.
//! - [`StorageError::InvalidTransition`] from the winner's new status: it read the job after the
//!   winner committed, so the state machine refused the change (cancelling a CANCELLED job,
//!   assigning an ASSIGNED one). SQLite's writers queue behind `BEGIN IMMEDIATE`, so there every
//!   loser reads after the winner.
//!
//! Anything else (a deadlock, a timeout, a second success) fails the case.

use std::sync::Barrier;

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, backends};
use jobstore_domain::{Change, DomainError, JobId, JobStatus, LeaseGrant, NewJob};
use jobstore_storage::{Entity, ErrorKind, JobRepository, StorageError, Store};

/// Threads per race.
const THREADS: usize = 12;
/// Races per case: more chances to hit both kinds of loser.
const ROUNDS: usize = 3;

/// Runs `attempt` on `THREADS` threads at once, each with its own store (connected before the
/// start, so the race is about the change and not about connecting).
fn race<T: Send>(
    db: &TestDb,
    attempt: impl Fn(&Store, usize) -> Result<T, StorageError> + Sync,
) -> Vec<Result<T, StorageError>> {
    let stores: Vec<Store> = (0..THREADS).map(|_| db.open_store()).collect();
    for store in &stores {
        store.ping().expect("connect before the race");
    }
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (barrier, attempt) = (&barrier, &attempt);
                scope.spawn(move || {
                    barrier.wait();
                    attempt(store, i)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| panic!("a racing thread panicked"))
            })
            .collect()
    })
}

/// Checks that exactly one attempt won and every loser lost in an acceptable way, and returns
/// the winner's index and how many losers got a conflict.
fn one_winner<T: std::fmt::Debug>(
    db: &TestDb,
    results: &[Result<T, StorageError>],
    winner_status: JobStatus,
    to: JobStatus,
) -> (usize, usize) {
    let winners: Vec<usize> = (0..results.len()).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "{}: exactly one winner in {results:?}",
        db.backend
    );
    let mut conflicts = 0;
    for result in results {
        match result {
            Ok(_) => {}
            Err(
                e @ StorageError::Conflict {
                    entity: Entity::Job,
                    id: Some(_),
                },
            ) => {
                // A single job's write names it; a conflict is worth retrying.
                assert_eq!(e.kind(), ErrorKind::Conflict);
                assert!(e.is_transient());
                conflicts += 1;
            }
            Err(StorageError::Domain(DomainError::InvalidTransition { from, to: asked }))
                if *from == winner_status && *asked == to => {}
            Err(other) => panic!("{}: a loser got {other:?}", db.backend),
        }
    }
    (winners[0], conflicts)
}

#[allow(clippy::print_stderr)]
fn report(db: &TestDb, case: &str, conflicts: usize) {
    eprintln!(
        "{}: {case}: {conflicts} of {} losers got a conflict, the others an invalid transition",
        db.backend,
        ROUNDS * (THREADS - 1)
    );
}

fn concurrent_cancels_of_one_pending_job_let_exactly_one_win(db: &TestDb) {
    let tenant = db.tenant();
    let mut conflicts = 0;
    for _ in 0..ROUNDS {
        let job = db.job(&tenant.id);
        let results = race(db, |store, i| {
            store.cancel_job(&tenant.id, &job.id, &format!("cancelled by {i}"))
        });
        let (winner, lost) = one_winner(db, &results, JobStatus::Cancelled, JobStatus::Cancelled);
        conflicts += lost;
        let stored = db.store.get_job(&tenant.id, &job.id).expect("get");
        assert_eq!((stored.status, stored.version), (JobStatus::Cancelled, 2));
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(
            (history[1].from, history[1].to),
            (Some(JobStatus::Pending), JobStatus::Cancelled)
        );
        assert_eq!(history[1].reason, Some(format!("cancelled by {winner}")));
    }
    report(db, "cancel", conflicts);
}

fn concurrent_assignments_of_one_pending_job_give_it_to_exactly_one_worker(db: &TestDb) {
    let tenant = db.tenant();
    let mut conflicts = 0;
    for _ in 0..ROUNDS {
        let job = db.job(&tenant.id);
        let now = db.now();
        let results = race(db, |store, i| {
            let worker = format!("worker-{i}");
            let grant = LeaseGrant::new(worker.as_str(), now, TimeDelta::seconds(30));
            store.transition_job(
                &tenant.id,
                &job.id,
                Change::to(JobStatus::Assigned).lease(grant).actor(worker),
            )
        });
        let (winner, lost) = one_winner(db, &results, JobStatus::Assigned, JobStatus::Assigned);
        conflicts += lost;
        let won = results[winner].as_ref().expect("the winner");
        let stored = db.store.get_job(&tenant.id, &job.id).expect("get");
        assert_eq!(stored, *won, "the stored job is the winner's");
        assert_eq!(stored.assigned_agent, Some(format!("worker-{winner}")));
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        let assignments: Vec<_> = history
            .iter()
            .filter(|t| t.to == JobStatus::Assigned)
            .collect();
        assert_eq!(assignments.len(), 1, "{history:?}");
        assert_eq!(assignments[0].actor, Some(format!("worker-{winner}")));
    }
    report(db, "assign", conflicts);
}

fn concurrent_updates_of_one_job_never_lose_one(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let results = race(db, |store, i| {
        store.set_batch_job_name(&tenant.id, &job.id, &format!("batch-{i}"))
    });
    let mut versions = Vec::new();
    for result in &results {
        match result {
            Ok(named) => versions.push((named.version, named.batch_job_name.clone())),
            Err(StorageError::Conflict {
                entity: Entity::Job,
                ..
            }) => {}
            Err(other) => panic!("{}: {other:?}", db.backend),
        }
    }
    assert!(!versions.is_empty(), "someone must win");
    versions.sort();
    let distinct = versions
        .iter()
        .map(|(v, _)| *v)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        distinct.len(),
        versions.len(),
        "two successes wrote the same version: {versions:?}"
    );
    let stored = db.store.get_job(&tenant.id, &job.id).expect("get");
    let (last_version, last_name) = versions.last().cloned().expect("a winner");
    assert_eq!(
        stored.version,
        job.version + versions.len() as i64,
        "every success counted once"
    );
    assert_eq!(
        (stored.version, stored.batch_job_name),
        (last_version, last_name)
    );
}

fn concurrent_creates_of_one_job_id_create_exactly_one_job(db: &TestDb) {
    let tenant = db.tenant();
    let id = JobId::new("only-once").expect("id");
    let results = race(db, |store, i| {
        store.create_job(NewJob {
            id: Some(id.clone()),
            image_uri: Some(format!("image-{i}")),
            ..NewJob::new(tenant.id.clone())
        })
    });
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        match result {
            Ok(_)
            | Err(StorageError::AlreadyExists {
                entity: Entity::Job,
                ..
            }) => {}
            Err(other) => panic!("{}: a loser got {other:?}", db.backend),
        }
    }
    assert_eq!(db.store.get_job(&tenant.id, &id).expect("get"), *winners[0]);
    assert_eq!(db.count("jobs"), 1);
    assert_eq!(db.count("job_state_transitions"), 1);
}

fn concurrent_enqueues_with_one_unique_key_agree_on_one_job(db: &TestDb) {
    let tenant = db.tenant();
    let results = race(db, |store, _| {
        store.enqueue(NewJob {
            unique_key: Some("nightly".into()),
            ..NewJob::new(tenant.id.clone())
        })
    });
    let enqueued: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{}: enqueue failed: {e:?}", db.backend)))
        .collect();
    assert_eq!(
        enqueued.iter().filter(|e| !e.is_duplicate()).count(),
        1,
        "{enqueued:?}"
    );
    let created = enqueued
        .iter()
        .find(|e| !e.is_duplicate())
        .expect("one created")
        .job()
        .clone();
    assert!(
        enqueued.iter().all(|e| *e.job() == created),
        "every caller got the created job"
    );
    assert_eq!(db.count("jobs"), 1);
    assert_eq!(db.count("job_state_transitions"), 1);
}

backends!(
    concurrent_cancels_of_one_pending_job_let_exactly_one_win,
    concurrent_assignments_of_one_pending_job_give_it_to_exactly_one_worker,
    concurrent_updates_of_one_job_never_lose_one,
    concurrent_creates_of_one_job_id_create_exactly_one_job,
    concurrent_enqueues_with_one_unique_key_agree_on_one_job
);
