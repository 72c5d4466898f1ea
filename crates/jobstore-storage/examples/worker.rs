//! A worker loop a downstream crate can copy: claim under a lease, heartbeat while working,
//! complete (reporting and claiming the next jobs in one commit) or fail, step aside when the
//! lease was lost, and wait for work without polling the database when the queue is empty.
//! (README.md shows the same loop.)
//!
//! Run it against the database the environment names: `cargo run --example worker`.

use std::{thread, time::Duration};

use chrono::TimeDelta;
use jobstore_domain::Job;
use jobstore_storage::{ClaimRequest, StorageError, Store, WorkerRepository};

fn work(store: &Store, agent: &str) -> Result<(), StorageError> {
    let request = ClaimRequest {
        limit: 8,
        lease_for: TimeDelta::seconds(30),
        start: true, // ASSIGNED and RUNNING in one commit
        ..ClaimRequest::new("default", agent)
    };
    let mut jobs = store.claim(&request)?;
    loop {
        if jobs.is_empty() {
            // Idle: woken within milliseconds of an enqueue's commit on PostgreSQL (LISTEN and
            // NOTIFY), by a poll with backoff on MySQL/MariaDB and SQLite.
            store.wait_for_work(&request.queue, Duration::from_secs(30))?;
            jobs = store.claim(&request)?;
            continue;
        }
        let mut done = Vec::new();
        for job in &jobs {
            let Some(lease) = job.lease() else { continue };
            // Heartbeat every third of the lease while the work runs (here: once, for brevity).
            let outcome = store.heartbeat(&lease, TimeDelta::seconds(30)).and_then(|_| {
                match run(job) {
                    Ok(()) => done.push(lease.clone()),
                    // Retryable failures go back to PENDING after the job's backoff while
                    // retries remain.
                    Err(message) => drop(store.fail(&lease, &message, true)?),
                }
                Ok(())
            });
            step_aside_if_stale(outcome)?;
        }
        // The successes reported and the next jobs claimed in one commit.
        jobs = match store.complete_and_claim(&done, &request) {
            Ok(handoff) => handoff.claimed,
            // One lease went stale and nothing was written: report the others one by one.
            Err(StorageError::StaleLease { .. }) => {
                for lease in &done {
                    step_aside_if_stale(store.complete(lease).map(drop))?;
                }
                store.claim(&request)?
            }
            Err(other) => return Err(other),
        };
    }
}

/// A lease reaped, re-claimed or cancelled meanwhile: someone else owns the outcome now.
fn step_aside_if_stale(outcome: Result<(), StorageError>) -> Result<(), StorageError> {
    match outcome {
        Err(StorageError::StaleLease { .. }) => Ok(()),
        other => other,
    }
}

fn run(_job: &Job) -> Result<(), String> {
    Ok(())
}

/// Somewhere, on a timer, in one process or many: expired leases become LOST and are retried.
fn reap(store: &Store) -> Result<(), StorageError> {
    store.reap(100).map(drop)
}

fn main() -> Result<(), StorageError> {
    let store = Store::from_env()?;
    let reaper = store.clone();
    thread::spawn(move || {
        loop {
            let _ = reap(&reaper);
            thread::sleep(Duration::from_secs(5));
        }
    });
    work(&store, "example-worker")
}
