//! `cargo xtask bench`: burn-down throughput, claim latency and the claim's scaling, per backend,
//! as ratios to a baseline measured in the same run (pgbench -N on PostgreSQL).

use crate::{address::ServerAddress, backends::BackendName, servers};
use std::{
    process::Command,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use diesel::{RunQueryDsl, connection::SimpleConnection};
use jobstore_domain::{NewJob, NewTenant, TenantId};
use jobstore_storage::{
    Backend, ClaimRequest, DbConnection, JobRepository, StorageError, Store, StoreConfig,
    TenantRepository, WorkerRepository,
};

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
    /// Jobs per burn-down.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Worker threads, each with its own connection.
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Claim batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    batches: Vec<u32>,
    /// Finished jobs in the table for the scale run (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    finished: usize,
    /// Seconds pgbench runs.
    #[arg(long, default_value_t = 15)]
    pgbench_seconds: u32,
}

/// The scratch database's name on the servers.
const BENCH_DB: &str = "jobstore_bench";

impl BenchArgs {
    /// The backends the run measures.
    pub(crate) fn backends(&self) -> Vec<BackendName> {
        self.backends.clone()
    }
}

pub(crate) fn run(args: &BenchArgs) -> Result<(), String> {
    println!(
        "machine: {} cores; {} jobs, {} workers",
        thread::available_parallelism().map_or(0, |n| n.get()),
        args.jobs,
        args.workers
    );
    for name in &args.backends {
        let backend = name.backend();
        let db = BenchDb::create(backend)?;
        println!("\n== {name} ==");
        let baseline = match backend {
            Backend::Postgres => Some(pgbench(&db.url, args)?),
            _ => None,
        };
        for &batch in &args.batches {
            db.reset()?;
            let store = db.store(args.workers)?;
            let tenant = store
                .create_tenant(NewTenant::named("bench"))
                .map_err(|e| e.to_string())?;
            let enqueue = enqueue(&store, &tenant.id, args.jobs)?;
            db.analyze()?;
            let run = burn_down(&store, args.workers, batch)?;
            if run.completed != args.jobs {
                return Err(format!(
                    "burn-down completed {} of {} jobs",
                    run.completed, args.jobs
                ));
            }
            let ratio = baseline.map_or(String::new(), |tps| {
                format!("  = {:.2} x pgbench -N", run.jobs_per_second / tps)
            });
            println!(
                "batch {batch:>3}: enqueue {enqueue:>8.0} jobs/s | burn-down {:>8.0} jobs/s{ratio} | claim p50 {:>7.2} ms p99 {:>7.2} ms",
                run.jobs_per_second,
                ms(run.claim_p50),
                ms(run.claim_p99)
            );
        }
        if args.finished > 0 {
            db.reset()?;
            scale(&db, args.finished)?;
        }
    }
    Ok(())
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

    fn store(&self, workers: usize) -> Result<Store, String> {
        let workers = u32::try_from(workers).unwrap_or(u32::MAX);
        Store::open(StoreConfig {
            max_open: workers + 2,
            max_idle: workers + 2,
            ..StoreConfig::new(self.url.as_str())
        })
        .map_err(|e| e.to_string())
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

/// Enqueues `jobs` jobs in batches of 500; returns jobs per second.
fn enqueue(store: &Store, tenant: &TenantId, jobs: usize) -> Result<f64, String> {
    let started = Instant::now();
    let mut left = jobs;
    while left > 0 {
        let n = left.min(500);
        let batch = (0..n)
            .map(|_| NewJob {
                image_uri: Some("bench:latest".into()),
                commands: vec!["true".into()],
                ..NewJob::new(tenant.clone())
            })
            .collect();
        store.create_jobs(batch).map_err(|e| e.to_string())?;
        left -= n;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

struct BurnDown {
    completed: usize,
    jobs_per_second: f64,
    claim_p50: Duration,
    claim_p99: Duration,
}

/// `workers` threads claim-and-start `batch` jobs at a time and complete them, until none is left.
fn burn_down(store: &Store, workers: usize, batch: u32) -> Result<BurnDown, String> {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let store = store.clone();
            let latencies = Arc::clone(&latencies);
            thread::spawn(move || -> Result<usize, String> {
                let request = ClaimRequest {
                    limit: batch,
                    start: true,
                    lease_for: TimeDelta::minutes(5),
                    ..ClaimRequest::new("default", format!("bench-{w}"))
                };
                let (mut done, mut mine) = (0, Vec::new());
                loop {
                    let t = Instant::now();
                    // Like any worker, retry what failed transiently (a MySQL deadlock, say).
                    let claimed = retrying(|| store.claim(&request))?;
                    mine.push(t.elapsed());
                    if claimed.is_empty() {
                        break;
                    }
                    let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
                    if batch == 1 {
                        retrying(|| store.complete(&leases[0]))?;
                    } else {
                        retrying(|| store.complete_all(&leases))?;
                    }
                    done += leases.len();
                }
                latencies
                    .lock()
                    .expect("no panics hold this lock")
                    .extend(mine);
                Ok(done)
            })
        })
        .collect();
    let mut completed = 0;
    for handle in handles {
        completed += handle.join().map_err(|_| "a worker panicked")??;
    }
    let elapsed = started.elapsed();
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("workers are done"));
    latencies.sort_unstable();
    Ok(BurnDown {
        completed,
        jobs_per_second: completed as f64 / elapsed.as_secs_f64(),
        claim_p50: percentile(&latencies, 0.50),
        claim_p99: percentile(&latencies, 0.99),
    })
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

/// Claim latency with `finished` finished jobs in the table, against an empty table.
fn scale(db: &BenchDb, finished: usize) -> Result<(), String> {
    let store = db.store(1)?;
    let tenant = store
        .create_tenant(NewTenant::named("scale"))
        .map_err(|e| e.to_string())?;
    let empty = claim_latency(&store, &tenant.id)?;
    let started = Instant::now();
    fill_finished(db, &tenant.id, finished)?;
    let filled = started.elapsed();
    let full = claim_latency(&store, &tenant.id)?;
    println!(
        "scale: claim p50 {:.3} ms empty, {:.3} ms with {finished} finished jobs = {:.2} x (filled in {:.0} s)",
        ms(empty),
        ms(full),
        full.as_secs_f64() / empty.as_secs_f64(),
        filled.as_secs_f64()
    );
    Ok(())
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
        "baseline: pgbench -N -c {} -j 2: {tps:.0} tps",
        args.workers
    );
    Ok(tps)
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
