//! Exactly once: many workers, each with its own connection, burn down thousands of jobs with
//! random failures and retries, while some workers die mid-lease and reapers run. At the end
//! every job is in one final state by a legal path, every report came from the job's current
//! lease, and the counts add up.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, backends};
use jobstore_domain::{JobFilter, JobId, JobStatus, LeaseId, NewJob, PageRequest, RetryPolicy};
use jobstore_storage::{ClaimRequest, JobRepository, StorageError, Store, WorkerRepository};

/// Jobs per run: `JOBSTORE_EXACTLY_ONCE_JOBS`, 5,000 by default.
fn job_count() -> usize {
    std::env::var("JOBSTORE_EXACTLY_ONCE_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000)
}

const WORKERS: usize = 16;
const REAPERS: usize = 2;

/// What the workers saw succeed, to check against the audit trail.
#[derive(Default)]
struct Ledger {
    /// Per job: (version after the claim, lease) of every successful claim.
    claims: HashMap<JobId, Vec<(i64, LeaseId)>>,
    /// Per job: (version after the report, lease) of every successful start/complete/fail.
    reports: HashMap<JobId, Vec<(i64, LeaseId)>>,
    completed: usize,
    failed: usize,
}

/// A small deterministic random source per worker (no dependency needed for dice).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

fn work(store: &Store, worker: usize, done: &AtomicBool, ledger: &Mutex<Ledger>) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ ((worker as u64 + 1) * 0x1234_5678));
    let mut incarnation = 0;
    // Jobs claimed by `complete_and_claim`, to work on next.
    let mut carried = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let request = ClaimRequest {
            limit: 1 + dice.roll(4) as u32,
            lease_for: TimeDelta::seconds(60),
            start: dice.roll(2) == 0,
            ..ClaimRequest::new("default", format!("w{worker}.{incarnation}"))
        };
        let claimed = if carried.is_empty() {
            match store.claim(&request) {
                Ok(jobs) => jobs,
                Err(e) if e.is_transient() => continue,
                Err(e) => panic!("claim: {e}"),
            }
        } else {
            std::mem::take(&mut carried)
        };
        if claimed.is_empty() {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        {
            let mut ledger = ledger.lock().expect("no worker panics holding the ledger");
            for job in &claimed {
                let lease = job.lease_id.clone().expect("claimed jobs have a lease");
                ledger
                    .claims
                    .entry(job.id.clone())
                    .or_default()
                    .push((job.version, lease));
            }
        }
        for job in claimed {
            let lease = job.lease().expect("claimed jobs have a lease");
            let outcome = dice.roll(100);
            let stream = dice.roll(2) == 0;
            if outcome < 3 {
                // This worker dies: it never reports, and comes back as someone new.
                incarnation += 1;
                continue;
            }
            let result = (|| -> Result<Vec<(i64, bool, bool)>, StorageError> {
                let mut versions = Vec::new();
                store.heartbeat(&lease, TimeDelta::seconds(60))?;
                if job.status == JobStatus::Assigned {
                    versions.push((store.start(&lease)?.version, false, false));
                }
                let after = match outcome {
                    3..=14 => store.fail(&lease, "random failure", true)?,
                    15..=17 => store.fail(&lease, "fatal failure", false)?,
                    // Half the completions claim the next work in the same transaction.
                    _ if stream => {
                        let handoff =
                            store.complete_and_claim(std::slice::from_ref(&lease), &request)?;
                        carried.extend(handoff.claimed);
                        handoff
                            .completed
                            .into_iter()
                            .next()
                            .expect("one report, one job")
                    }
                    _ => store.complete(&lease)?,
                };
                let completed = after.status == JobStatus::Completed;
                versions.push((after.version, completed, !completed));
                Ok(versions)
            })();
            match result {
                Ok(versions) => {
                    let mut ledger = ledger.lock().expect("no worker panics holding the ledger");
                    for (version, completed, failed) in versions {
                        ledger
                            .reports
                            .entry(job.id.clone())
                            .or_default()
                            .push((version, lease.lease_id.clone()));
                        ledger.completed += usize::from(completed);
                        ledger.failed += usize::from(failed);
                    }
                }
                // Reaped under us (the clock runs fast): the job is someone else's now.
                Err(StorageError::StaleLease { .. } | StorageError::Conflict { .. }) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => panic!("report: {e}"),
            }
        }
    }
}

fn live_jobs(db: &TestDb) -> i64 {
    db.count_where("jobs", "status IN ('PENDING', 'ASSIGNED', 'RUNNING')")
}

fn every_job_ends_exactly_once_under_failures_deaths_and_reapers(db: &TestDb) {
    let jobs = job_count();
    let tenant = db.tenant();
    let store = db
        .store
        .clone()
        .with_default_retry_policy(RetryPolicy::IMMEDIATE);
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(500) {
        store
            .create_jobs(
                chunk
                    .iter()
                    .map(|_| NewJob {
                        max_retries: 2,
                        ..NewJob::new(tenant.id.clone())
                    })
                    .collect(),
            )
            .unwrap();
    }
    let done = AtomicBool::new(false);
    let ledger = Mutex::new(Ledger::default());
    let reaped = AtomicUsize::new(0);
    let stores: Vec<Store> = (0..WORKERS + REAPERS)
        .map(|_| {
            db.open_store()
                .with_default_retry_policy(RetryPolicy::IMMEDIATE)
        })
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (worker, store) in stores[..WORKERS].iter().enumerate() {
            let (done, ledger) = (&done, &ledger);
            scope.spawn(move || work(store, worker, done, ledger));
        }
        for store in &stores[WORKERS..] {
            let (done, reaped, clock) = (&done, &reaped, db.clock.clone());
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    // Time runs fast: a lease not renewed lasts a few dozen reaper passes.
                    clock.advance(TimeDelta::seconds(2));
                    match store.reap(50) {
                        Ok(r) => {
                            reaped.fetch_add(r.lost.len() + r.retried.len(), Ordering::Relaxed);
                        }
                        Err(e) if e.is_transient() => {}
                        Err(e) => panic!("reap: {e}"),
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        while live_jobs(db) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "{}: burn-down stalled",
                db.backend
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        done.store(true, Ordering::Relaxed);
    });

    // Every job is in one final state, reached by a legal path.
    let mut by_status: HashMap<JobStatus, usize> = HashMap::new();
    let mut page = PageRequest::first(1000);
    let ledger = Arc::new(ledger.into_inner().unwrap());
    let (mut lost_steps, mut failed_steps, mut completed_steps) = (0, 0, 0);
    loop {
        let listed = db
            .store
            .list_jobs(&tenant.id, &JobFilter::default(), &page)
            .unwrap();
        for job in &listed.items {
            *by_status.entry(job.status).or_default() += 1;
            assert!(
                job.status.is_finished(),
                "{}: job {} ended {}",
                db.backend,
                job.id,
                job.status
            );
            let trail = db.store.job_history(&tenant.id, &job.id).unwrap();
            assert_eq!(trail[0].from, None);
            for pair in trail.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                assert!(b.seq > a.seq);
                assert_eq!(
                    b.from,
                    Some(a.to),
                    "{}: broken trail of {}",
                    db.backend,
                    job.id
                );
                assert!(
                    a.to.can_transition_to(b.to),
                    "{}: illegal {} -> {}",
                    db.backend,
                    a.to,
                    b.to
                );
            }
            assert_eq!(trail.last().unwrap().to, job.status);
            let retries = trail
                .iter()
                .filter(|t| t.to == JobStatus::Pending && t.from.is_some())
                .count();
            assert!(
                retries <= 2,
                "{}: {} retried {retries} times",
                db.backend,
                job.id
            );
            lost_steps += trail.iter().filter(|t| t.to == JobStatus::Lost).count();
            failed_steps += trail.iter().filter(|t| t.to == JobStatus::Failed).count();
            completed_steps += trail
                .iter()
                .filter(|t| t.to == JobStatus::Completed)
                .count();
            // Every successful report came from the lease of the job's latest claim.
            let claims = ledger
                .claims
                .get(&job.id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (version, lease) in ledger.reports.get(&job.id).into_iter().flatten() {
                let holder = claims
                    .iter()
                    .filter(|(v, _)| v < version)
                    .max_by_key(|(v, _)| *v);
                assert_eq!(
                    holder.map(|(_, l)| l),
                    Some(lease),
                    "{}: {} reported under a lease it no longer held",
                    db.backend,
                    job.id
                );
            }
        }
        match listed.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let total: usize = by_status.values().sum();
    assert_eq!(total, jobs, "{}: every job accounted for", db.backend);
    assert_eq!(
        by_status.get(&JobStatus::Completed).copied().unwrap_or(0),
        ledger.completed,
        "{}: completions",
        db.backend
    );
    assert_eq!(
        completed_steps, ledger.completed,
        "{}: no job completed twice",
        db.backend
    );
    assert_eq!(failed_steps, ledger.failed, "{}: failures", db.backend);
    assert_eq!(
        lost_steps,
        reaped.load(Ordering::Relaxed),
        "{}: losses",
        db.backend
    );
    assert!(
        lost_steps > 0 && failed_steps > 0,
        "{}: the run exercised reaping and failures",
        db.backend
    );
}

backends!(every_job_ends_exactly_once_under_failures_deaths_and_reapers);
