//! `cargo xtask restart`: a database restart in the middle of a run. Workers burn down jobs
//! while the server is stopped and started again: while it is down, calls fail with typed
//! errors; when it is back, the pool recovers; at the end no job is lost or completed twice.
//!
//! The servers are the suite's (`JOBSTORE_TEST_POSTGRES_URL`, `JOBSTORE_TEST_MYSQL_URL`, or the
//! local defaults). How to stop and start each is a shell command, set by a flag or a variable;
//! the defaults are those of a Debian machine with both servers installed locally. It stops the
//! servers, so it runs alone (CI runs it after the suite).

use crate::{backends::BackendName, servers};
use std::{
    process::Command,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use chrono::TimeDelta;
use jobstore_domain::{JobFilter, JobStatus, NewJob, NewTenant, PageRequest};
use jobstore_storage::{
    Backend, ClaimRequest, JobRepository, StorageError, Store, StoreConfig, TenantRepository,
    WorkerRepository,
};

/// Which servers to restart, and how.
#[derive(Debug, clap::Args)]
pub(crate) struct RestartArgs {
    /// Servers to restart.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_values_t = [ServerName::Postgres, ServerName::Mysql]
    )]
    backends: Vec<ServerName>,
    /// Jobs to burn down.
    #[arg(long, default_value_t = 3_000)]
    jobs: usize,
    /// Shell command that stops the PostgreSQL server.
    #[arg(
        long,
        env = "JOBSTORE_POSTGRES_STOP",
        value_name = "COMMAND",
        default_value = "pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql | head -n 1)\" main stop -m fast"
    )]
    postgres_stop: String,
    /// Shell command that starts the PostgreSQL server.
    #[arg(
        long,
        env = "JOBSTORE_POSTGRES_START",
        value_name = "COMMAND",
        default_value = "pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql | head -n 1)\" main start"
    )]
    postgres_start: String,
    /// Shell command that stops the MySQL/MariaDB server.
    #[arg(
        long,
        env = "JOBSTORE_MYSQL_STOP",
        value_name = "COMMAND",
        default_value = "mysqladmin -h 127.0.0.1 -u root shutdown"
    )]
    mysql_stop: String,
    /// Shell command that starts the MySQL/MariaDB server.
    #[arg(
        long,
        env = "JOBSTORE_MYSQL_START",
        value_name = "COMMAND",
        default_value = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
    )]
    mysql_start: String,
}

/// A server backend, as named on the command line (SQLite has no server to restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServerName {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl ServerName {
    const fn backend_name(self) -> BackendName {
        match self {
            ServerName::Postgres => BackendName::Postgres,
            ServerName::Mysql => BackendName::Mysql,
        }
    }
}

impl RestartArgs {
    /// The backends the run restarts.
    pub(crate) fn backends(&self) -> Vec<BackendName> {
        self.backends.iter().map(|s| s.backend_name()).collect()
    }

    /// The server `name`, with its commands.
    fn server(&self, name: ServerName) -> Server<'_> {
        let (stop, start) = match name {
            ServerName::Postgres => (&self.postgres_stop, &self.postgres_start),
            ServerName::Mysql => (&self.mysql_stop, &self.mysql_start),
        };
        Server {
            backend: name.backend_name().backend(),
            stop,
            start,
        }
    }
}

const WORKERS: usize = 4;

/// The scratch database's name on the servers.
const RESTART_DB: &str = "jobstore_restart";

/// A server this task stops and starts.
struct Server<'a> {
    backend: Backend,
    /// Shell commands.
    stop: &'a str,
    start: &'a str,
}

impl Server<'_> {
    fn admin(&self, sql: &str) -> Result<(), String> {
        servers::admin(&servers::server_url(self.backend), sql)
    }

    fn stop(&self) -> Result<(), String> {
        shell(self.stop)
    }

    fn start(&self) -> Result<(), String> {
        shell(self.start)
    }
}

fn shell(command: &str) -> Result<(), String> {
    println!("$ {command}");
    let status = Command::new("sh")
        .args(["-c", command])
        .status()
        .map_err(|e| format!("{command}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{command} failed"))
}

pub(crate) fn run(args: &RestartArgs) -> Result<(), String> {
    for &name in &args.backends {
        let server = args.server(name);
        println!("== restart {} ==", server.backend);
        let result = restart_during_run(&server, args.jobs);
        // Whatever happened, leave the server running.
        if server.admin("SELECT 1").is_err() {
            let _ = server.start();
        }
        wait_until_up(&server, Duration::from_secs(60))?;
        let _ = server.admin(&servers::drop_database(server.backend, RESTART_DB));
        result?;
    }
    Ok(())
}

fn wait_until_up(server: &Server, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while server.admin("SELECT 1").is_err() {
        if started.elapsed() > limit {
            return Err(format!("{} did not come back", server.backend));
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn restart_during_run(server: &Server, jobs: usize) -> Result<(), String> {
    let url = servers::fresh_database(server.backend, RESTART_DB)?;
    jobstore_migrator::Migrator::new(&url)
        .and_then(|mut m| m.run_pending())
        .map_err(|e| e.to_string())?;
    let store = Store::open(StoreConfig {
        max_open: WORKERS as u32 + 2,
        connect_timeout: Duration::from_secs(2),
        ..StoreConfig::new(url.as_str())
    })
    .map_err(|e| e.to_string())?;
    let tenant = store
        .create_tenant(NewTenant::named("restart"))
        .map_err(|e| e.to_string())?;
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|_| NewJob::new(tenant.id.clone()))
            .collect();
        store.create_jobs(batch).map_err(|e| e.to_string())?;
    }

    let done = AtomicBool::new(false);
    let completed = AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::<String>::new());
    thread::scope(|scope| -> Result<(), String> {
        for w in 0..WORKERS {
            let (store, done, completed, errors) = (&store, &done, &completed, &errors);
            scope.spawn(move || {
                let request = ClaimRequest {
                    limit: 4,
                    start: true,
                    lease_for: TimeDelta::seconds(3),
                    ..ClaimRequest::new("default", format!("w{w}"))
                };
                while !done.load(Ordering::Relaxed) {
                    let result = store.claim(&request).and_then(|claimed| {
                        let leases: Vec<_> = claimed.iter().filter_map(|j| j.lease()).collect();
                        store.complete_all(&leases)
                    });
                    match result {
                        Ok(finished) if finished.is_empty() => {
                            thread::sleep(Duration::from_millis(20))
                        }
                        Ok(finished) => {
                            completed.fetch_add(finished.len(), Ordering::Relaxed);
                        }
                        Err(e) => {
                            record(errors, &e);
                            thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            });
        }
        // A reaper: jobs whose worker lost its connection mid-lease come back.
        {
            let (store, done, errors) = (&store, &done, &errors);
            scope.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Err(e) = store.reap(100) {
                        record(errors, &e);
                    }
                    thread::sleep(Duration::from_millis(500));
                }
            });
        }

        let outcome = (|| -> Result<(), String> {
            while completed.load(Ordering::Relaxed) < jobs / 4 {
                thread::sleep(Duration::from_millis(10));
            }
            println!(
                "stopping the server after {} completions",
                completed.load(Ordering::Relaxed)
            );
            server.stop()?;
            thread::sleep(Duration::from_secs(2));
            match store.ping() {
                Ok(()) => return Err("the store answered while its server was down".into()),
                Err(e) => println!("while down, a call fails with a typed error: {e:?}"),
            }
            server.start()?;
            wait_until_up(server, Duration::from_secs(60))?;
            println!("server back; waiting for the pool to recover");
            let started = Instant::now();
            while store.ping().is_err() {
                if started.elapsed() > Duration::from_secs(30) {
                    return Err("the pool did not recover".into());
                }
                thread::sleep(Duration::from_millis(100));
            }
            while live_jobs(&store, &tenant.id)? > 0 {
                if started.elapsed() > Duration::from_secs(300) {
                    return Err("the run did not finish after the restart".into());
                }
                thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        })();
        done.store(true, Ordering::Relaxed);
        outcome
    })?;

    check_outcome(&store, &tenant.id, jobs)?;
    let errors = errors.into_inner().map_err(|_| "poisoned")?;
    println!(
        "{} calls failed while the server was away, all with typed errors:",
        errors.len()
    );
    let mut kinds: Vec<&String> = errors.iter().collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        println!("  {kind}");
    }
    Ok(())
}

/// Keeps the kind of each error (the variant's name), and fails on an untyped one.
fn record(errors: &std::sync::Mutex<Vec<String>>, error: &StorageError) {
    let kind = format!("{error:?}");
    let kind = kind
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut errors) = errors.lock() {
        errors.push(kind);
    }
}

fn live_jobs(store: &Store, tenant: &jobstore_domain::TenantId) -> Result<usize, String> {
    let live = JobFilter::statuses([JobStatus::Pending, JobStatus::Assigned, JobStatus::Running]);
    store
        .list_jobs(tenant, &live, &PageRequest::first(1000))
        .map(|page| page.items.len())
        .or(Ok(usize::MAX))
}

/// Every job finished, and none completed twice.
fn check_outcome(
    store: &Store,
    tenant: &jobstore_domain::TenantId,
    jobs: usize,
) -> Result<(), String> {
    let mut page = PageRequest::first(1000);
    let (mut seen, mut completed) = (0, 0);
    loop {
        let listed = store
            .list_jobs(tenant, &JobFilter::default(), &page)
            .map_err(|e| e.to_string())?;
        for job in &listed.items {
            seen += 1;
            if !job.status.is_finished() {
                return Err(format!("job {} ended {}", job.id, job.status));
            }
            let trail = store
                .job_history(tenant, &job.id)
                .map_err(|e| e.to_string())?;
            let completions = trail
                .iter()
                .filter(|t| t.to == JobStatus::Completed)
                .count();
            if completions > 1 {
                return Err(format!("job {} completed {completions} times", job.id));
            }
            completed += completions;
        }
        match listed.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    if seen != jobs {
        return Err(format!("{seen} of {jobs} jobs found"));
    }
    println!(
        "all {jobs} jobs finished ({completed} completed, {} lost after their retries), none completed twice",
        jobs - completed
    );
    Ok(())
}
