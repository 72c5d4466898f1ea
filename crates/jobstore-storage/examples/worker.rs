//! A worker loop a downstream crate can copy: claim under a lease, heartbeat while working,
//! complete (reporting it and claiming the next job in one commit) or fail, step aside when the
//! lease was lost, retry what failed transiently, and wait for work when the queue is empty.
//! (README.md shows the same loop.)
//!
//! Run it against the database the environment names: `cargo run --example worker`.

use std::{thread, time::Duration};

use chrono::TimeDelta;
use jobstore_domain::Job;
use jobstore_storage::{ClaimRequest, StorageError, Store, WorkerRepository};

fn work(store: &Store, agent: &str) -> Result<(), StorageError> {
    let request = ClaimRequest {
        lease_for: TimeDelta::seconds(30),
        start: true, // ASSIGNED and RUNNING in one commit
        ..ClaimRequest::new("default", agent)
    };
    let mut next = retrying(|| store.claim(&request))?;
    loop {
        let Some(lease) = next.first().and_then(|job| job.lease()) else {
            // Idle: woken within milliseconds of an enqueue's commit on PostgreSQL (LISTEN and
            // NOTIFY), by a poll with backoff on MySQL/MariaDB and SQLite.
            store.wait_for_work(&request.queue, Duration::from_secs(30))?;
            next = retrying(|| store.claim(&request))?;
            continue;
        };
        // Heartbeat every third of the lease while the work runs (here: once, for brevity).
        let outcome = store
            .heartbeat(&lease, TimeDelta::seconds(30))
            .map(|_| run(&next[0]));
        next = match outcome {
            // Done: report it and claim the next job in one commit.
            Ok(Ok(())) => {
                retrying(|| store.complete_and_claim(std::slice::from_ref(&lease), &request))
                    .map(|handoff| handoff.claimed)
            }
            // Retryable failures go back to PENDING after the job's backoff while retries remain.
            Ok(Err(message)) => retrying(|| store.fail(&lease, &message, true)).map(|_| Vec::new()),
            Err(e) => Err(e),
        }
        .or_else(|e| match e {
            // Reaped, re-claimed or cancelled meanwhile: someone else owns the outcome now.
            StorageError::StaleLease { .. } => Ok(Vec::new()),
            other => Err(other),
        })?;
        if next.is_empty() {
            next = retrying(|| store.claim(&request))?;
        }
    }
}

/// Runs `call` again while it fails with a transient error (busy, a deadlock, a lost
/// connection): a failed call wrote nothing.
fn retrying<T>(mut call: impl FnMut() -> Result<T, StorageError>) -> Result<T, StorageError> {
    let mut attempts = 0;
    loop {
        match call() {
            Err(e) if e.is_transient() && attempts < 5 => {
                attempts += 1;
                thread::sleep(Duration::from_millis(50 * attempts));
            }
            result => return result,
        }
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
