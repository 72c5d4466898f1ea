//! `cargo xtask bench`: per backend, enqueue and burn-down throughput (one job or 64 a call,
//! reported separately or handed off with the next claim), claim latency, wake-up latency of an
//! idle worker, and the claim's scaling, as ratios to a baseline measured in the same run
//! (pgbench -N on PostgreSQL), schedulers firing a minute's due schedules at once, and a study's
//! creation from its manifest and its statistics; `--json` adds the numbers as one JSON line for
//! scripts.

use crate::{address::ServerAddress, backends::BackendName, servers};
use std::{
    process::Command,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use chrono::{DurationRound, TimeDelta, Utc};
use diesel::{RunQueryDsl, connection::SimpleConnection};
use jobstore_domain::{
    Cell, JobId, JobTemplate, Manifest, ManifestTemplate, NewJob, NewSchedule, NewStudy, NewTenant,
    StudyId, TenantId,
};
use jobstore_storage::{
    Backend, ClaimRequest, DbConnection, JobRepository, ManualClock, ScheduleRepository,
    SchedulerRepository, StorageError, Store, StoreConfig, StudyDataRepository, StudyRepository,
    TenantRepository, WorkerRepository,
};
use serde_json::{Value, json};

/// What to measure.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Backends to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [BackendName::Postgres, BackendName::Mysql, BackendName::Sqlite]
    )]
    backends: Vec<BackendName>,
    /// Phases to run, in this order whatever the order given.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Phase::ALL)]
    phases: Vec<Phase>,
    /// Jobs per enqueue and per burn-down.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Worker threads of a burn-down, each with its own connection.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Finished jobs in the table for the scale phase (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    finished: usize,
    /// Schedules due in the same minute for the fire phase.
    #[arg(long, default_value_t = 10_000)]
    schedules: usize,
    /// Schedulers of the fire phase, each a thread with a store of its own.
    #[arg(long, default_value_t = 4)]
    schedulers: usize,
    /// Schedules each `fire_due` call of the fire phase fires at most.
    #[arg(long, default_value_t = 100)]
    fire_limit: u32,
    /// Queries of the study phase's manifest (its jobs: queries × surfaces).
    #[arg(long, default_value_t = 1_000)]
    study_queries: usize,
    /// Surfaces of the study phase's manifest.
    #[arg(long, default_value_t = 100)]
    study_surfaces: usize,
    /// Seconds pgbench runs.
    #[arg(long, default_value_t = 15)]
    pgbench_seconds: u32,
    /// Print the numbers as a JSON array, one object per backend, on the last line of stdout.
    #[arg(long)]
    json: bool,
}

/// A part of the run, each on a schema of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    /// Jobs through `create_jobs`, 500 a call.
    Enqueue,
    /// Burn-down claiming (and starting) one job a call, completing it in another.
    Batch1,
    /// Burn-down completing one job and claiming the next in one call (`complete_and_claim`).
    Stream,
    /// Burn-down claiming 64 jobs a call, completing them with `complete_all`.
    Batch64,
    /// Burn-down completing 64 jobs and claiming the next 64 in one call.
    Batch64Stream,
    /// An idle worker's wait from an enqueue to its claim of the job.
    Wakeup,
    /// Claim latency with `--finished` finished jobs in the table, against an empty table.
    Scale,
    /// `--schedulers` schedulers firing `--schedules` schedules due in the same minute.
    Fire,
    /// `create_from_manifest` of `--study-queries` × `--study-surfaces` jobs against
    /// `create_jobs` of as many, then `study_stats` over the study finished with a result each.
    Study,
}

impl Phase {
    const ALL: [Phase; 9] = [
        Phase::Enqueue,
        Phase::Batch1,
        Phase::Stream,
        Phase::Batch64,
        Phase::Batch64Stream,
        Phase::Wakeup,
        Phase::Scale,
        Phase::Fire,
        Phase::Study,
    ];

    /// Whether the phase measures a rate that is compared with pgbench.
    fn is_throughput(self) -> bool {
        !matches!(
            self,
            Phase::Wakeup | Phase::Scale | Phase::Fire | Phase::Study
        )
    }
}

/// The scratch database's name on the servers.
const BENCH_DB: &str = "jobstore_bench";
/// The queue of the wake-up phase.
const WAKE_QUEUE: &str = "wake";
/// How many enqueues the wake-up phase times, one job each.
const WAKE_SAMPLES: u64 = 100;
/// How long the waiter waits for work at a time; longer than any pause between two samples.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl BenchArgs {
    /// The backends the run measures.
    pub(crate) fn backends(&self) -> Vec<BackendName> {
        self.backends.clone()
    }

    /// Whether `--phases` asks for `phase`.
    fn runs(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    println!(
        "machine: {} cores; {} jobs, {} workers",
        thread::available_parallelism().map_or(0, |n| n.get()),
        args.jobs,
        args.workers
    );
    let mut rows = Vec::new();
    for &name in &args.backends {
        println!("\n== {name} ==");
        rows.push(measure(name, args)?.to_json(name, args));
    }
    if args.json {
        println!("{}", Value::Array(rows));
    }
    Ok(())
}

/// What one backend measured; `None` where its phase did not run.
#[derive(Debug, Default)]
struct Measured {
    pgbench_tps: Option<f64>,
    enqueue: Option<f64>,
    batch1: Option<BurnDown>,
    stream: Option<BurnDown>,
    batch64: Option<BurnDown>,
    batch64_stream: Option<BurnDown>,
    wakeup: Option<Percentiles>,
    scale: Option<Scale>,
    fire: Option<Fire>,
    study: Option<StudyBench>,
}

/// Runs the phases asked for on `name`, each printing its line.
fn measure(name: BackendName, args: &BenchArgs) -> Result<Measured, String> {
    let backend = name.backend();
    let db = BenchDb::create(backend)?;
    let mut measured = Measured::default();
    if backend == Backend::Postgres && args.phases.iter().any(|p| p.is_throughput()) {
        measured.pgbench_tps = Some(pgbench(&db.url, args)?);
    }
    let baseline = measured.pgbench_tps;
    if args.runs(Phase::Enqueue) {
        measured.enqueue = Some(enqueue_phase(&db, args, baseline)?);
    }
    let burn_downs = [
        (Phase::Batch1, 1, false, &mut measured.batch1),
        (Phase::Stream, 1, true, &mut measured.stream),
        (Phase::Batch64, 64, false, &mut measured.batch64),
        (Phase::Batch64Stream, 64, true, &mut measured.batch64_stream),
    ];
    for (phase, batch, stream, slot) in burn_downs {
        if args.runs(phase) {
            let plan = Plan { batch, stream };
            *slot = Some(burn_down_phase(&db, args, plan, baseline)?);
        }
    }
    if args.runs(Phase::Wakeup) {
        measured.wakeup = Some(wakeup_phase(&db)?);
    }
    if args.runs(Phase::Scale) && args.finished > 0 {
        measured.scale = Some(scale_phase(&db, args.finished)?);
    }
    if args.runs(Phase::Fire) {
        measured.fire = Some(fire_phase(&db, args)?);
    }
    if args.runs(Phase::Study) {
        measured.study = Some(study_phase(&db, args)?);
    }
    Ok(measured)
}

impl Measured {
    /// The backend's object in `--json`'s array: null for what was not measured.
    fn to_json(&self, name: BackendName, args: &BenchArgs) -> Value {
        let rate = |run: &Option<BurnDown>| run.as_ref().map(|r| r.jobs_per_second);
        let ratio = |rate: Option<f64>| Some(rate? / self.pgbench_tps?);
        let claim = self.batch1.as_ref().and_then(|r| r.claim);
        json!({
            "backend": name.name(),
            "jobs": args.jobs,
            "workers": args.workers,
            "finished": self.scale.as_ref().map(|_| args.finished),
            "pgbench_tps": self.pgbench_tps,
            "enqueue_jobs_per_s": self.enqueue,
            "enqueue_ratio": ratio(self.enqueue),
            "batch1_jobs_per_s": rate(&self.batch1),
            "batch1_ratio": ratio(rate(&self.batch1)),
            "batch1_stream_jobs_per_s": rate(&self.stream),
            "batch1_stream_ratio": ratio(rate(&self.stream)),
            "batch64_jobs_per_s": rate(&self.batch64),
            "batch64_ratio": ratio(rate(&self.batch64)),
            "batch64_stream_jobs_per_s": rate(&self.batch64_stream),
            "batch64_stream_ratio": ratio(rate(&self.batch64_stream)),
            "claim_p50_ms": claim.map(|c| ms(c.p50)),
            "claim_p99_ms": claim.map(|c| ms(c.p99)),
            "wakeup_p50_ms": self.wakeup.map(|w| ms(w.p50)),
            "wakeup_p99_ms": self.wakeup.map(|w| ms(w.p99)),
            "scale_ratio": self.scale.as_ref().map(Scale::ratio),
            "fire_schedules": self.fire.as_ref().map(|_| args.schedules),
            "fire_schedulers": self.fire.as_ref().map(|_| args.schedulers),
            "fire_limit": self.fire.as_ref().map(|_| args.fire_limit),
            "fire_runs_per_s": self.fire.as_ref().map(|f| f.runs_per_second),
            "fire_calls": self.fire.as_ref().map(|f| f.calls),
            "fire_call_p50_ms": self.fire.as_ref().map(|f| ms(f.call.p50)),
            "fire_call_p99_ms": self.fire.as_ref().map(|f| ms(f.call.p99)),
            "study_jobs": self.study.as_ref().map(|s| s.jobs),
            "study_create_jobs_per_s": self.study.as_ref().map(|s| s.manifest_jobs_per_second),
            "study_create_jobs_baseline_per_s": self.study.as_ref().map(|s| s.create_jobs_per_second),
            "study_create_ratio": self.study.as_ref().map(StudyBench::ratio),
            "study_stats_p50_ms": self.study.as_ref().map(|s| ms(s.stats_median)),
            "study_stats_max_ms": self.study.as_ref().map(|s| ms(s.stats_max)),
        })
    }
}

/// A scratch database of its own, dropped at the end.
struct BenchDb {
    backend: Backend,
    url: String,
}

impl BenchDb {
    fn create(backend: Backend) -> Result<BenchDb, String> {
        let url = match backend {
            Backend::Sqlite => {
                std::fs::create_dir_all("target").map_err(|e| e.to_string())?;
                "target/jobstore-bench.db".to_owned()
            }
            Backend::Postgres | Backend::Mysql => servers::fresh_database(backend, BENCH_DB)?,
        };
        let db = BenchDb { backend, url };
        db.reset()?;
        Ok(db)
    }

    /// Empties the schema: everything reverted, then migrated again.
    fn reset(&self) -> Result<(), String> {
        if self.backend == Backend::Sqlite {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.url));
            }
        } else {
            let _ = jobstore_migrator::Migrator::new(&self.url).and_then(|mut m| m.revert_all());
        }
        jobstore_migrator::Migrator::new(&self.url)
            .and_then(|mut m| m.run_pending())
            .map(drop)
            .map_err(|e| format!("migrate {}: {e}", self.url))
    }

    /// Gathers the planner's statistics at once, as autovacuum would within a minute: a table
    /// filled a second ago has none, and a claim planned without them may sort the whole queue.
    fn analyze(&self) -> Result<(), String> {
        if self.backend == Backend::Postgres {
            servers::admin(&self.url, "ANALYZE jobs, job_state_transitions")?;
        }
        Ok(())
    }

    /// A store with a connection for each of `workers` and two to spare.
    fn store(&self, workers: usize) -> Result<Store, String> {
        let workers = u32::try_from(workers).unwrap_or(u32::MAX);
        Store::open(StoreConfig {
            max_open: workers + 2,
            max_idle: workers + 2,
            ..StoreConfig::new(self.url.as_str())
        })
        .map_err(|e| e.to_string())
    }

    /// A reset schema with `args.jobs` jobs in queue "default", and the enqueue's jobs per second.
    fn fresh_queue(&self, args: &BenchArgs) -> Result<(Store, f64), String> {
        self.reset()?;
        let store = self.store(args.workers)?;
        let tenant = store
            .create_tenant(NewTenant::named("bench"))
            .map_err(|e| e.to_string())?;
        // A table in use has statistics: autovacuum analyzes one after its first 50 rows and
        // every 10 % of change. With none (this machine's servers run without autovacuum),
        // PostgreSQL keeps the plan of each foreign-key check made while the table was nearly
        // empty, which looks a job up through `jobs_by_tenant_status` and reads every entry of
        // its tenant: enqueues slow down as the table grows. So a few jobs go in first (in a
        // queue of their own, never claimed), then ANALYZE, as autovacuum would.
        enqueue(&store, &tenant.id, "warm-up", 1_000)?;
        self.analyze()?;
        let rate = enqueue(&store, &tenant.id, "default", args.jobs)?;
        self.analyze()?;
        Ok((store, rate))
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.backend != Backend::Sqlite {
            let server = servers::server_url(self.backend);
            let _ = servers::admin(&server, &servers::drop_database(self.backend, BENCH_DB));
        }
    }
}

/// Prints a phase's line: its rate, and its ratio to pgbench -N where there is one.
fn print_rate(label: &str, rate: f64, baseline: Option<f64>, rest: &str) {
    let ratio = baseline.map_or(String::new(), |tps| {
        format!(" = {:>5.2} x pgbench -N", rate / tps)
    });
    println!("{label:<16}{rate:>9.0} jobs/s{ratio}{rest}");
}

/// `args.jobs` jobs enqueued on a reset schema: jobs per second.
fn enqueue_phase(db: &BenchDb, args: &BenchArgs, baseline: Option<f64>) -> Result<f64, String> {
    let (_, rate) = db.fresh_queue(args)?;
    print_rate("enqueue", rate, baseline, "  (create_jobs, 500 a call)");
    Ok(rate)
}

/// Enqueues `jobs` jobs into `queue` in batches of 500; returns jobs per second.
fn enqueue(store: &Store, tenant: &TenantId, queue: &str, jobs: usize) -> Result<f64, String> {
    let started = Instant::now();
    let mut left = jobs;
    while left > 0 {
        let n = left.min(500);
        let batch = (0..n)
            .map(|_| NewJob {
                image_uri: Some("bench:latest".into()),
                commands: vec!["true".into()],
                queue: queue.to_owned(),
                ..NewJob::new(tenant.clone())
            })
            .collect();
        store.create_jobs(batch).map_err(|e| e.to_string())?;
        left -= n;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

/// How the workers of a burn-down go through the queue.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Jobs claimed a call.
    batch: u32,
    /// Whether a worker reports its jobs in the call that claims the next
    /// (`complete_and_claim`), or in a call of their own (`complete`, `complete_all`).
    stream: bool,
}

impl Plan {
    fn label(self) -> String {
        let stream = if self.stream { " stream" } else { "" };
        format!("batch {}{stream}", self.batch)
    }

    fn calls(self) -> &'static str {
        match (self.stream, self.batch) {
            (true, _) => "complete_and_claim",
            (false, 1) => "claim, complete",
            (false, _) => "claim, complete_all",
        }
    }
}

#[derive(Debug)]
struct BurnDown {
    jobs_per_second: f64,
    /// Latencies of the claims alone (a streaming worker makes no call that only claims).
    claim: Option<Percentiles>,
}

/// A burn-down of `args.jobs` fresh jobs by `args.workers` threads as `plan` says.
fn burn_down_phase(
    db: &BenchDb,
    args: &BenchArgs,
    plan: Plan,
    baseline: Option<f64>,
) -> Result<BurnDown, String> {
    let (store, _) = db.fresh_queue(args)?;
    let started = Instant::now();
    let handles: Vec<_> = (0..args.workers)
        .map(|w| {
            let store = store.clone();
            let request = ClaimRequest {
                limit: plan.batch,
                start: true,
                lease_for: TimeDelta::minutes(5),
                ..ClaimRequest::new("default", format!("bench-{w}"))
            };
            thread::spawn(move || {
                if plan.stream {
                    work_streaming(&store, &request)
                } else {
                    work_separately(&store, &request)
                }
            })
        })
        .collect();
    let (mut completed, mut claims) = (0, Vec::new());
    for handle in handles {
        let (done, latencies) = handle.join().map_err(|_| "a worker panicked")??;
        completed += done;
        claims.extend(latencies);
    }
    let elapsed = started.elapsed();
    if completed != args.jobs {
        return Err(format!(
            "{}: burn-down completed {completed} of {} jobs",
            plan.label(),
            args.jobs
        ));
    }
    let run = BurnDown {
        jobs_per_second: completed as f64 / elapsed.as_secs_f64(),
        claim: Percentiles::of(claims),
    };
    let claim = run.claim.map_or(String::new(), |c| {
        format!(
            " | claim p50 {:>6.2} ms p99 {:>6.2} ms",
            ms(c.p50),
            ms(c.p99)
        )
    });
    let calls = format!("{claim}  ({})", plan.calls());
    print_rate(&plan.label(), run.jobs_per_second, baseline, &calls);
    Ok(run)
}

/// Claims (and starts) jobs and completes them in another call, until none is left: the jobs
/// done, and each claim's latency.
fn work_separately(
    store: &Store,
    request: &ClaimRequest,
) -> Result<(usize, Vec<Duration>), String> {
    let (mut done, mut latencies) = (0, Vec::new());
    loop {
        let t = Instant::now();
        // Like any worker, retry what failed transiently (a MySQL deadlock, say).
        let claimed = retrying(|| store.claim(request))?;
        latencies.push(t.elapsed());
        if claimed.is_empty() {
            return Ok((done, latencies));
        }
        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
        if let [lease] = leases.as_slice() {
            retrying(|| store.complete(lease))?;
        } else {
            retrying(|| store.complete_all(&leases))?;
        }
        done += leases.len();
    }
}

/// Completes the jobs it holds and claims the next in one call, until none is left: the jobs
/// done (and no claim latencies).
fn work_streaming(store: &Store, request: &ClaimRequest) -> Result<(usize, Vec<Duration>), String> {
    let mut done = 0;
    let mut held = retrying(|| store.claim(request))?;
    while !held.is_empty() {
        let leases: Vec<_> = held.iter().filter_map(|j| j.lease()).collect();
        // A failed call changed nothing (one transaction), so it is safe to make again.
        let handoff = retrying(|| store.complete_and_claim(&leases, request))?;
        done += handoff.completed.len();
        held = handoff.claimed;
    }
    Ok((done, Vec::new()))
}

/// Runs `call` again while it fails with a transient error, at most 100 times.
fn retrying<T>(mut call: impl FnMut() -> Result<T, StorageError>) -> Result<T, String> {
    let mut attempts = 0;
    loop {
        match call() {
            Err(e) if e.is_transient() && attempts < 100 => attempts += 1,
            result => return result.map_err(|e| e.to_string()),
        }
    }
}

/// The time from an enqueue to an idle worker's claim of the job, [`WAKE_SAMPLES`] times.
fn wakeup_phase(db: &BenchDb) -> Result<Percentiles, String> {
    db.reset()?;
    let store = db.store(1)?;
    // A store of its own: the waiter holds a connection while it waits, and must not wait
    // for the enqueuer's.
    let waiter = db.store(1)?;
    let tenant = store
        .create_tenant(NewTenant::named("wake"))
        .map_err(|e| e.to_string())?;
    let (sender, claims) = mpsc::channel();
    let worker = thread::spawn(move || wait_and_claim(&waiter, &sender));
    let mut latencies = Vec::new();
    for sample in 0..WAKE_SAMPLES {
        // 5 to 20 ms, each value as often (7 and 16 share no factor): the waiter is idle in
        // wait_for_work, caught at every point of a poller's backoff.
        thread::sleep(Duration::from_millis(5 + sample * 7 % 16));
        let enqueued = Instant::now();
        let job = store
            .create_job(NewJob {
                queue: WAKE_QUEUE.into(),
                ..NewJob::new(tenant.id.clone())
            })
            .map_err(|e| e.to_string())?;
        let (id, claimed) = match claims.recv_timeout(WAKE_TIMEOUT * 2) {
            Ok(claim) => claim,
            // The waiter returned before its last sample: its error says why.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(match worker.join() {
                    Ok(result) => result.err().unwrap_or_default(),
                    Err(_) => "the waiter panicked".into(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the waiter claimed no job in {:?}",
                    WAKE_TIMEOUT * 2
                ));
            }
        };
        if id != job.id {
            return Err(format!("the waiter claimed {id}, not {}", job.id));
        }
        latencies.push(claimed.saturating_duration_since(enqueued));
    }
    worker.join().map_err(|_| "the waiter panicked")??;
    let wakeup = Percentiles::of(latencies).ok_or("no wake-up samples")?;
    println!(
        "{:<16}p50 {:>6.2} ms p99 {:>6.2} ms  ({WAKE_SAMPLES} enqueues to an idle wait_for_work)",
        "wake-up",
        ms(wakeup.p50),
        ms(wakeup.p99)
    );
    Ok(wakeup)
}

/// The waiter: [`WAKE_SAMPLES`] times, waits for work, claims it and sends the job's id with
/// the instant the claim returned, then completes it.
fn wait_and_claim(store: &Store, claims: &mpsc::Sender<(JobId, Instant)>) -> Result<(), String> {
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new(WAKE_QUEUE, "waiter")
    };
    let mut claimed = 0;
    while claimed < WAKE_SAMPLES {
        let woken = store
            .wait_for_work(WAKE_QUEUE, WAKE_TIMEOUT)
            .map_err(|e| e.to_string())?;
        if !woken {
            return Err(format!("no work came in {WAKE_TIMEOUT:?}"));
        }
        let jobs = retrying(|| store.claim(&request))?;
        let at = Instant::now();
        let Some(job) = jobs.first() else { continue };
        claims
            .send((job.id.clone(), at))
            .map_err(|e| e.to_string())?;
        if let Some(lease) = job.lease() {
            retrying(|| store.complete(&lease))?;
        }
        claimed += 1;
    }
    Ok(())
}

/// The scale phase's medians.
#[derive(Debug)]
struct Scale {
    empty: Duration,
    full: Duration,
}

impl Scale {
    fn ratio(&self) -> f64 {
        self.full.as_secs_f64() / self.empty.as_secs_f64()
    }
}

/// Claim latency with `finished` finished jobs in the table, against an empty table.
fn scale_phase(db: &BenchDb, finished: usize) -> Result<Scale, String> {
    db.reset()?;
    let store = db.store(1)?;
    let tenant = store
        .create_tenant(NewTenant::named("scale"))
        .map_err(|e| e.to_string())?;
    let empty = claim_latency(&store, &tenant.id)?;
    let started = Instant::now();
    fill_finished(db, &tenant.id, finished)?;
    let filled = started.elapsed();
    let scale = Scale {
        empty,
        full: claim_latency(&store, &tenant.id)?,
    };
    println!(
        "{:<16}claim p50 {:.3} ms empty, {:.3} ms with {finished} finished jobs = {:.2} x (filled in {:.0} s)",
        "scale",
        ms(scale.empty),
        ms(scale.full),
        scale.ratio(),
        filled.as_secs_f64()
    );
    Ok(scale)
}

/// The median latency of 500 single claims (claim-and-start, then complete).
fn claim_latency(store: &Store, tenant: &TenantId) -> Result<Duration, String> {
    let jobs = (0..500).map(|_| NewJob::new(tenant.clone())).collect();
    store.create_jobs(jobs).map_err(|e| e.to_string())?;
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new("default", "scale")
    };
    let mut latencies = Vec::with_capacity(500);
    loop {
        let t = Instant::now();
        let claimed = store.claim(&request).map_err(|e| e.to_string())?;
        latencies.push(t.elapsed());
        let Some(lease) = claimed.first().and_then(|j| j.lease()) else {
            break;
        };
        store.complete(&lease).map_err(|e| e.to_string())?;
    }
    latencies.sort_unstable();
    Ok(percentile(&latencies, 0.5))
}

/// Inserts `count` COMPLETED jobs with set-based SQL (a million rows through the API would
/// measure the API, not the claim).
fn fill_finished(db: &BenchDb, tenant: &TenantId, count: usize) -> Result<(), String> {
    let mut conn =
        DbConnection::open(&db.url, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let select = format!(
        "SELECT '{tenant}', CONCAT('done-', n), 'COMPLETED', '[]', CONCAT('jobs/done-', n, '/1/'), 1, 0, 3, \
         'default', 0, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM numbers"
    );
    let columns = "(tenant_id, job_id, status, commands, output_prefix, attempt, retry_count, max_retries, \
                   queue, priority, not_before, version, created_at, updated_at, completed_at)";
    // Numbers 1..=count: PostgreSQL's generate_series; elsewhere digits cross-joined (MySQL and
    // MariaDB disagree on how to allow a deep recursive CTE).
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL \
                  SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL \
                  SELECT 8 UNION ALL SELECT 9)";
    let places = count.saturating_sub(1).max(1).ilog10() as usize + 1;
    let number = (0..places)
        .map(|p| format!("d{p}.d * {}", 10_usize.pow(p as u32)))
        .collect::<Vec<_>>()
        .join(" + ");
    let from = (0..places)
        .map(|p| format!("{digits} AS d{p}"))
        .collect::<Vec<_>>()
        .join(", ");
    let numbers = format!("(SELECT {number} + 1 AS n FROM {from}) AS numbers WHERE n <= {count}");
    let sql = match db.backend {
        Backend::Postgres => format!(
            "INSERT INTO jobs {columns} {}",
            select
                .replace(
                    "FROM numbers",
                    &format!("FROM generate_series(1, {count}) AS n")
                )
                .replace("CONCAT('done-', n)", "'done-' || n")
                .replace(
                    "CONCAT('jobs/done-', n, '/1/')",
                    "'jobs/done-' || n || '/1/'"
                )
        ),
        Backend::Mysql => format!(
            "INSERT INTO jobs {columns} {}",
            select.replace("FROM numbers", &format!("FROM {numbers}"))
        ),
        Backend::Sqlite => format!(
            "INSERT INTO jobs {columns} {}",
            select
                .replace("FROM numbers", &format!("FROM {numbers}"))
                .replace("CONCAT('done-', n)", "'done-' || n")
                .replace(
                    "CONCAT('jobs/done-', n, '/1/')",
                    "'jobs/done-' || n || '/1/'"
                )
        ),
    };
    conn.batch_execute(&sql)
        .map_err(|e| format!("filling finished jobs: {e}"))?;
    if db.backend == Backend::Postgres {
        conn.batch_execute("ANALYZE jobs")
            .map_err(|e| e.to_string())?;
    }
    let _ = diesel::sql_query("SELECT 1").execute(&mut conn);
    Ok(())
}

/// What the fire phase measured.
#[derive(Debug)]
struct Fire {
    /// Runs created (each with its job) per second, over all schedulers.
    runs_per_second: f64,
    /// `fire_due` calls made, over all schedulers.
    calls: usize,
    /// Their latencies.
    call: Percentiles,
}

/// What one scheduler thread of the fire phase did.
#[derive(Debug, Default)]
struct Fired {
    runs: usize,
    jobs: usize,
    calls: Vec<Duration>,
}

/// `args.schedules` schedules, every one `* * * * *` with a job template, spread over a few
/// tenants; the clock moved past their first due minute; then `args.schedulers` schedulers at
/// once, each a thread with a store of its own on the same database and clock, each calling
/// `fire_due(args.fire_limit)` until it fires nothing and is told there is no more. Runs (with
/// their jobs) per second, after checking that every schedule fired exactly once.
fn fire_phase(db: &BenchDb, args: &BenchArgs) -> Result<Fire, String> {
    db.reset()?;
    // A minute's start plus 10 s: every schedule is first due at the next minute.
    let minute = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .map_err(|e| e.to_string())?;
    let clock = ManualClock::at(minute + TimeDelta::seconds(10));
    let store = db.store(1)?.with_clock(clock.clone());
    let tenants = (0..4)
        .map(|t| store.create_tenant(NewTenant::named(format!("fire-{t}"))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    // A table in use has statistics (see `fresh_queue`): a few jobs in a queue of their own.
    enqueue(&store, &tenants[0].id, "warm-up", 1_000)?;
    let template = JobTemplate {
        image_uri: Some("bench:latest".into()),
        commands: vec!["true".into()],
        ..JobTemplate::new("fired")
    };
    let ids: Vec<usize> = (0..args.schedules).collect();
    for chunk in ids.chunks(1_000) {
        store
            .transaction(|tx| {
                for &i in chunk {
                    tx.create_schedule(NewSchedule {
                        template: Some(template.clone()),
                        ..NewSchedule::new(
                            tenants[i % tenants.len()].id.clone(),
                            format!("every minute {i}"),
                            "* * * * *",
                        )
                    })?;
                }
                Ok(())
            })
            .map_err(|e| format!("creating schedules: {e}"))?;
    }
    if db.backend == Backend::Postgres {
        servers::admin(
            &db.url,
            "ANALYZE tenants, schedules, schedule_runs, jobs, job_state_transitions",
        )?;
    }
    let due = minute + TimeDelta::minutes(1);
    clock.set(due + TimeDelta::seconds(5));
    let schedulers = (0..args.schedulers)
        .map(|_| db.store(1).map(|s| s.with_clock(clock.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = args.fire_limit;
    let started = Instant::now();
    let handles: Vec<_> = schedulers
        .into_iter()
        .map(|store| thread::spawn(move || fire_until_done(&store, limit)))
        .collect();
    let mut total = Fired::default();
    for handle in handles {
        let fired = handle.join().map_err(|_| "a scheduler panicked")??;
        total.runs += fired.runs;
        total.jobs += fired.jobs;
        total.calls.extend(fired.calls);
    }
    let elapsed = started.elapsed();
    check_fired_once(db, args.schedules, &total)?;
    let calls = total.calls.len();
    let fire = Fire {
        runs_per_second: total.runs as f64 / elapsed.as_secs_f64(),
        calls,
        call: Percentiles::of(total.calls).ok_or("no fire_due calls")?,
    };
    println!(
        "{:<16}{:>9.0} runs/s | fire_due p50 {:>6.2} ms p99 {:>6.2} ms  ({} schedules due at once, \
         {} schedulers, limit {}, {calls} calls; each run with its job, none twice)",
        "fire",
        fire.runs_per_second,
        ms(fire.call.p50),
        ms(fire.call.p99),
        args.schedules,
        args.schedulers,
        args.fire_limit
    );
    Ok(fire)
}

/// One scheduler: `fire_due(limit)` until a call fires nothing and says there is no more.
fn fire_until_done(store: &Store, limit: u32) -> Result<Fired, String> {
    let mut fired = Fired::default();
    loop {
        let t = Instant::now();
        let call = retrying(|| store.fire_due(limit))?;
        fired.calls.push(t.elapsed());
        fired.runs += call.runs.len();
        fired.jobs += call.jobs.len();
        if !call.more && call.runs.is_empty() {
            return Ok(fired);
        }
    }
}

/// Fails unless every one of the `schedules` schedules has exactly one run, all due in the same
/// minute, each with one job, and the schedulers counted each run once.
fn check_fired_once(db: &BenchDb, schedules: usize, fired: &Fired) -> Result<(), String> {
    let mut conn =
        DbConnection::open(&db.url, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let mut count = |sql: &str| -> Result<usize, String> {
        diesel::sql_query(sql)
            .get_result::<Count>(&mut conn)
            .map(|c| c.n as usize)
            .map_err(|e| format!("{sql}: {e}"))
    };
    let checks = [
        ("runs", count("SELECT COUNT(*) AS n FROM schedule_runs")?),
        (
            "schedules with a run",
            count(
                "SELECT COUNT(*) AS n FROM (SELECT tenant_id, schedule_id FROM schedule_runs \
                 GROUP BY tenant_id, schedule_id) AS s",
            )?,
        ),
        (
            "scheduled jobs",
            count("SELECT COUNT(*) AS n FROM jobs WHERE run_id IS NOT NULL")?,
        ),
        (
            "runs with their job",
            count(
                "SELECT COUNT(*) AS n FROM schedule_runs r JOIN jobs j \
                 ON j.tenant_id = r.tenant_id AND j.job_id = r.job_id AND j.run_id = r.run_id",
            )?,
        ),
        ("runs the schedulers counted", fired.runs),
        ("jobs the schedulers counted", fired.jobs),
    ];
    let minutes = count("SELECT COUNT(DISTINCT scheduled_at) AS n FROM schedule_runs")?;
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(_, n)| *n != schedules)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
    if !wrong.is_empty() || minutes != 1 {
        return Err(format!(
            "fire: {schedules} schedules fired wrongly: {}; due times: {minutes}",
            wrong.join(", ")
        ));
    }
    Ok(())
}

/// How many times the study phase times `study_stats`.
const STATS_SAMPLES: usize = 5;

/// What the study phase measured.
#[derive(Debug)]
struct StudyBench {
    /// Jobs of the study, and of the `create_jobs` call it is compared with.
    jobs: usize,
    /// `create_from_manifest`: jobs per second.
    manifest_jobs_per_second: f64,
    /// `create_jobs` of as many jobs in one call, before and after it: the mean jobs per second.
    create_jobs_per_second: f64,
    /// `study_stats` over the finished study: the median of [`STATS_SAMPLES`] calls.
    stats_median: Duration,
    /// The slowest of them.
    stats_max: Duration,
}

impl StudyBench {
    /// Creation from the manifest against `create_jobs`, per job: above 1 is faster.
    fn ratio(&self) -> f64 {
        self.manifest_jobs_per_second / self.create_jobs_per_second
    }
}

/// A study of `args.study_queries` × `args.study_surfaces` jobs: `create_from_manifest` (one
/// transaction) timed against `create_jobs` of the same jobs (each with its cell's spec) in one
/// call, made once before and once after it; then the study finished by hand with set-based SQL (its jobs COMPLETED, a result
/// with one evidence and one cost record per job) and `study_stats` timed [`STATS_SAMPLES`]
/// times, its answer checked against what was written.
fn study_phase(db: &BenchDb, args: &BenchArgs) -> Result<StudyBench, String> {
    db.reset()?;
    let store = db.store(1)?;
    let tenant = store
        .create_tenant(NewTenant::named("study"))
        .map_err(|e| e.to_string())?;
    // A table in use has statistics (see `fresh_queue`).
    enqueue(&store, &tenant.id, "warm-up", 1_000)?;
    db.analyze()?;
    let queries: Vec<String> = (0..args.study_queries)
        .map(|q| format!("query {q}"))
        .collect();
    let surfaces: Vec<String> = (0..args.study_surfaces)
        .map(|s| format!("surface-{s}"))
        .collect();
    let jobs = queries.len() * surfaces.len();
    let template = ManifestTemplate {
        queue: "study".into(),
        image_uri: Some("bench:latest".into()),
        commands: vec!["true".into()],
        ..ManifestTemplate::default()
    };
    // The baseline before and after the study, so that neither goes into an emptier table: the
    // study is compared with the mean of the two.
    let by_hand: Vec<NewJob> = queries
        .iter()
        .flat_map(|query| surfaces.iter().map(move |surface| (query, surface)))
        .map(|(query, surface)| NewJob {
            image_uri: template.image_uri.clone(),
            commands: template.commands.clone(),
            queue: "by-hand".into(),
            spec: Some(
                Cell {
                    query: query.clone(),
                    surface: surface.clone(),
                    location: None,
                }
                .spec_json(),
            ),
            ..NewJob::new(tenant.id.clone())
        })
        .collect();
    let create_jobs = |by_hand: Vec<NewJob>| -> Result<f64, String> {
        let started = Instant::now();
        store
            .create_jobs(by_hand)
            .map_err(|e| format!("create_jobs: {e}"))?;
        let rate = jobs as f64 / started.elapsed().as_secs_f64();
        db.analyze()?;
        Ok(rate)
    };
    let before = create_jobs(by_hand.clone())?;
    let manifest = Manifest {
        template,
        queries,
        surfaces,
        locations: Vec::new(),
    };
    let study = store
        .create_study(NewStudy::new(tenant.id.clone(), "bench study"))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    store
        .create_from_manifest(&tenant.id, &study.id, &manifest)
        .map_err(|e| format!("create_from_manifest: {e}"))?;
    let manifest_jobs_per_second = jobs as f64 / started.elapsed().as_secs_f64();
    db.analyze()?;
    let after = create_jobs(by_hand)?;
    let create_jobs_per_second = (before + after) / 2.0;
    let progress = store
        .study_progress(&tenant.id, &study.id)
        .map_err(|e| e.to_string())?;
    if progress.pending != jobs as u64 || progress.total() != jobs as u64 {
        return Err(format!(
            "study: create_from_manifest made {progress:?}, not {jobs} PENDING jobs"
        ));
    }
    let filling = Instant::now();
    let expected_cost = finish_study(db, &tenant.id, &study.id)?;
    let filled = filling.elapsed();
    let mut samples = Vec::with_capacity(STATS_SAMPLES);
    let mut stats = None;
    for _ in 0..STATS_SAMPLES {
        let t = Instant::now();
        stats = Some(
            store
                .study_stats(&tenant.id, &study.id)
                .map_err(|e| format!("study_stats: {e}"))?,
        );
        samples.push(t.elapsed());
    }
    let stats = stats.ok_or("no study_stats call")?;
    let n = jobs as u64;
    let successes = (0..jobs).filter(|i| succeeded(*i)).count() as u64;
    if stats.jobs.completed != n
        || stats.jobs.total() != n
        || stats.results != n
        || stats.successes != successes
        || stats.evidence != n
        || stats.per_surface.len() != args.study_surfaces
        || stats.cost.get("EUR") != Some(&expected_cost)
    {
        return Err(format!(
            "study: study_stats disagrees with what was written ({n} jobs, results and evidence, \
             {successes} successes, {expected_cost} EUR cents): {:?} jobs, {} results, {} \
             successes, {} evidence, {} surfaces, cost {:?}",
            stats.jobs,
            stats.results,
            stats.successes,
            stats.evidence,
            stats.per_surface.len(),
            stats.cost
        ));
    }
    samples.sort_unstable();
    let bench = StudyBench {
        jobs,
        manifest_jobs_per_second,
        create_jobs_per_second,
        stats_median: percentile(&samples, 0.5),
        stats_max: samples.last().copied().unwrap_or_default(),
    };
    println!(
        "{:<16}{:>9.0} jobs/s create_from_manifest, {:.0} jobs/s create_jobs ({before:.0} before, \
         {after:.0} after) = {:.2} x  ({jobs} jobs, one call each)",
        "study create",
        bench.manifest_jobs_per_second,
        bench.create_jobs_per_second,
        bench.ratio(),
    );
    println!(
        "{:<16}p50 {:>6.2} ms max {:>6.2} ms  ({STATS_SAMPLES} calls; {jobs} jobs COMPLETED with \
         {jobs} results, evidence and cost records, written in {:.0} s)",
        "study stats",
        ms(bench.stats_median),
        ms(bench.stats_max),
        filled.as_secs_f64()
    );
    Ok(bench)
}

/// Whether the study phase's `i`-th result succeeded: nine in ten.
fn succeeded(i: usize) -> bool {
    !i.is_multiple_of(10)
}

/// A study job's id and spec, as read back.
#[derive(diesel::QueryableByName)]
struct JobSpec {
    #[diesel(sql_type = diesel::sql_types::Text)]
    job_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    spec: Option<String>,
}

/// Finishes a study by hand, in one transaction (through the API this would measure the
/// workers, not the statistics): its jobs COMPLETED, the study COMPLETED, and per job a result
/// (of its cell; nine in ten successful), one evidence and one cost record in EUR, inserted 500
/// rows a statement. Returns the costs' sum in cents.
fn finish_study(db: &BenchDb, tenant: &TenantId, study: &StudyId) -> Result<i64, String> {
    let mut conn =
        DbConnection::open(&db.url, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let at = |i: usize| {
        quote(
            &(Utc::now() + TimeDelta::milliseconds(i as i64))
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string(),
        )
    };
    let of_study = format!(
        "tenant_id = {} AND study_id = {}",
        quote(tenant.as_str()),
        quote(study.as_str())
    );
    let specs: Vec<JobSpec> = diesel::sql_query(format!(
        "SELECT job_id, spec FROM jobs WHERE {of_study} ORDER BY job_id"
    ))
    .load(&mut conn)
    .map_err(|e| format!("reading the study's jobs: {e}"))?;
    let mut results = Vec::with_capacity(specs.len());
    let mut evidence = Vec::with_capacity(specs.len());
    let mut costs = Vec::with_capacity(specs.len());
    let mut total = 0;
    for (i, job) in specs.iter().enumerate() {
        let cell = Cell::from_spec_json(job.spec.as_deref().unwrap_or_default())
            .map_err(|e| format!("job {}: {e}", job.job_id))?;
        let (t, s, j) = (
            quote(tenant.as_str()),
            quote(study.as_str()),
            quote(&job.job_id),
        );
        let success = if succeeded(i) { "TRUE" } else { "FALSE" };
        results.push(format!(
            "({t}, 'r-{i}', {s}, {j}, {}, {}, {success}, 'an answer', '{{}}', {}, {}, {}, {})",
            quote(&cell.surface),
            quote(&cell.query),
            200 + i % 5_000,
            20 + i % 100,
            300 + i % 700,
            at(i)
        ));
        evidence.push(format!(
            "({t}, 'e-{i}', 'r-{i}', 'screenshot', 's3://bench-evidence/{}/{i}.png', '{i:064x}', \
             {}, 'image/png', {})",
            study.as_str(),
            40_000 + i % 10_000,
            at(i)
        ));
        let cents = 1 + (i % 7) as i64;
        total += cents;
        costs.push(format!(
            "({t}, 'c-{i}', {s}, {j}, 'llm', 'bench', '1000', 'tokens', {cents}, 'EUR', {})",
            at(i)
        ));
    }
    let inserts = [
        (
            "results (tenant_id, result_id, study_id, job_id, surface, query, success, \
             response_text, data, latency_ms, tokens_in, tokens_out, created_at)",
            results,
        ),
        (
            "evidence (tenant_id, evidence_id, result_id, kind, uri, sha256, size_bytes, \
             content_type, captured_at)",
            evidence,
        ),
        (
            "cost_records (tenant_id, cost_record_id, study_id, job_id, category, provider, \
             quantity, unit, amount_minor, currency, recorded_at)",
            costs,
        ),
    ];
    let mut statements = vec![
        "BEGIN".to_owned(),
        format!(
            "UPDATE jobs SET status = 'COMPLETED', started_at = {now}, completed_at = {now}, \
             updated_at = {now}, version = version + 3 WHERE {of_study}",
            now = at(0)
        ),
        format!("UPDATE studies SET state = 'COMPLETED', version = version + 2 WHERE {of_study}"),
    ];
    for (table, rows) in inserts {
        for chunk in rows.chunks(500) {
            statements.push(format!("INSERT INTO {table} VALUES {}", chunk.join(", ")));
        }
    }
    statements.push("COMMIT".to_owned());
    for sql in &statements {
        conn.batch_execute(sql).map_err(|e| {
            format!(
                "finishing the study ({}...): {e}",
                sql.chars().take(60).collect::<String>()
            )
        })?;
    }
    if db.backend == Backend::Postgres {
        conn.batch_execute("ANALYZE jobs, studies, results, evidence, cost_records")
            .map_err(|e| e.to_string())?;
    }
    Ok(total)
}

/// A `COUNT(*) AS n`.
#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// pgbench -N on the same server and database (`url`'s host, port, user and database), with as
/// many clients as the burn-down has workers: transactions per second.
fn pgbench(url: &str, args: &BenchArgs) -> Result<f64, String> {
    let address = ServerAddress::parse(url)?;
    let pgbench = || {
        let mut command = Command::new("pgbench");
        if let Some(host) = &address.host {
            command.args(["--host", host]);
        }
        command.args(["--port", &address.port.to_string()]);
        if let Some(user) = &address.user {
            command.args(["--username", user]);
        }
        if let Some(password) = &address.password {
            command.env("PGPASSWORD", password);
        }
        command
    };
    let database = address.database.as_deref().unwrap_or(BENCH_DB);
    let init = pgbench()
        .args(["-i", "-q", "-s", "10", database])
        .output()
        .map_err(|e| {
            format!("pgbench not found ({e}): install postgresql-contrib or the server's client")
        })?;
    if !init.status.success() {
        return Err(format!(
            "pgbench -i: {}",
            String::from_utf8_lossy(&init.stderr)
        ));
    }
    let output = pgbench()
        .args(["-N", "-n", "-c", &args.workers.to_string(), "-j", "2", "-T"])
        .arg(args.pgbench_seconds.to_string())
        .arg(database)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench output:\n{text}"))?;
    println!(
        "{:<16}{tps:>9.0} tps     (pgbench -N -c {} -j 2 -T {})",
        "baseline", args.workers, args.pgbench_seconds
    );
    Ok(tps)
}

/// The median and the 99th percentile of some latencies.
#[derive(Debug, Clone, Copy)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
}

impl Percentiles {
    /// `None` for no latencies.
    fn of(mut latencies: Vec<Duration>) -> Option<Percentiles> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable();
        Some(Percentiles {
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
        })
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
