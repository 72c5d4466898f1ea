//! A worker loop a downstream crate can copy: claim under a lease, heartbeat while working,
//! complete or fail, and step aside when the lease was lost. (README.md shows the same loop.)
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
    loop {
        let jobs = store.claim(&request)?;
        if jobs.is_empty() {
            thread::sleep(Duration::from_millis(500));
            continue;
        }
        for job in jobs {
            let Some(lease) = job.lease() else { continue };
            // Heartbeat every third of the lease while the work runs (here: once, for brevity).
            store.heartbeat(&lease, TimeDelta::seconds(30))?;
            match run(&job) {
                Ok(()) => store.complete(&lease).map(drop),
                // Retryable failures go back to PENDING after the job's backoff while retries remain.
                Err(message) => store.fail(&lease, &message, true).map(drop),
            }
            .or_else(|e| match e {
                // Reaped, re-claimed or cancelled meanwhile: someone else owns the outcome now.
                StorageError::StaleLease { .. } => Ok(()),
                other => Err(other),
            })?;
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
