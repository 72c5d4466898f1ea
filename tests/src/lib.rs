//! jobstore's conformance harness: each case is written once and runs on every backend
//! (SQLite, PostgreSQL, MySQL/MariaDB) against an isolated, freshly migrated database of its own.
//!
//! # Writing cases
//!
//! Cases are plain functions of a [`TestDb`]; [`backends!`] at the bottom of an area's file
//! lists them and makes one `#[test]` per enabled backend: `sqlite::<name>`, `postgres::<name>`
//! and `mysql::<name>` (behind this package's features of the same names). So
//! `cargo test -p jobstore-conformance -- postgres::` runs one backend's cases.
//!
//! ```no_run
//! use jobstore_conformance::{TestDb, assert_matches, backends};
//! use jobstore_domain::NewTenant;
//! use jobstore_storage::{StorageError, TenantRepository};
//!
//! /// A tenant reads back as created.
//! fn created_tenant_reads_back(db: &TestDb) {
//!     let tenant = db.store.create_tenant(NewTenant::named("Acme")).expect("create");
//!     assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), tenant);
//! }
//!
//! /// Cases may also return a `Result` and use `?`.
//! fn unknown_tenant_is_not_found(db: &TestDb) -> Result<(), StorageError> {
//!     let tenant = db.store.create_tenant(NewTenant::named("Acme"))?;
//!     db.store.purge_tenant(&tenant.id)?;
//!     assert_matches!(db.store.get_tenant(&tenant.id), Err(StorageError::NotFound { .. }));
//!     Ok(())
//! }
//!
//! backends!(created_tenant_reads_back, unknown_tenant_is_not_found);
//! # fn main() {}
//! ```
//!
//! # Databases
//!
//! - SQLite: a file in the temporary folder, removed (with its `-wal` and `-shm`) afterwards.
//! - PostgreSQL and MySQL/MariaDB: `CREATE DATABASE jobstore_t_<random>` on the server named by
//!   `JOBSTORE_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]) or
//!   `JOBSTORE_TEST_MYSQL_URL` (default [`DEFAULT_MYSQL_URL`]), dropped afterwards. Set
//!   `JOBSTORE_TEST_KEEP=1` to keep the databases (their URLs are printed) for a post-mortem.
//!
//! Each database is migrated with `jobstore-migrator`, and [`TestDb::store`] is a
//! [`Store`] reading the time from [`TestDb::clock`], a [`ManualClock`] the case moves by hand.
//!
//! # Unreachable servers
//!
//! When a server cannot be reached, its cases print
//! `SKIPPED <backend>: <reason> (set JOBSTORE_TEST_..._URL)` to stderr and pass, unless
//! `JOBSTORE_REQUIRE` (a comma list such as `postgres,mysql,sqlite`, or `all`) names the backend:
//! then they fail with that message (`cargo xtask test` sets it to the backends it runs).
//!
//! # Notes
//!
//! - [`backends!`] is used once per module (it defines the modules `sqlite`, `postgres` and
//!   `mysql`); put each area's cases in a file of its own.
//! - Concurrency cases open a store per thread with [`TestDb::open_store`]; raw SQL (to write
//!   what the API would refuse, or to count rows) goes through [`TestDb::execute`] and
//!   [`TestDb::count_where`].

use std::{
    collections::HashMap,
    fmt,
    path::PathBuf,
    sync::{Mutex, OnceLock, PoisonError},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::{
    QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_query, sql_types::BigInt,
};
use jobstore_domain::{
    Change, Job, JobId, JobStatus, LeaseGrant, NewJob, NewTenant, Tenant, TenantId,
};
use jobstore_storage::{
    Backend, DbConnection, JobRepository, ManualClock, StorageError, Store, StoreConfig,
    TenantRepository,
};

/// The PostgreSQL server used when `JOBSTORE_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The MySQL/MariaDB server used when `JOBSTORE_TEST_MYSQL_URL` is not set.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The environment variable naming the backends that must run (comma list, or `all`).
pub const REQUIRE_VAR: &str = "JOBSTORE_REQUIRE";
/// The environment variable that keeps test databases after the run when set to `1`.
pub const KEEP_VAR: &str = "JOBSTORE_TEST_KEEP";

/// The time every [`TestDb`]'s clock starts at: fixed, and with microseconds, so that cases
/// check that every backend keeps them.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        + TimeDelta::microseconds(123_456)
}

/// A backend the conformance suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestBackend {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite (always available).
    Sqlite,
}

impl TestBackend {
    /// Every backend.
    pub const ALL: [TestBackend; 3] = [
        TestBackend::Postgres,
        TestBackend::Mysql,
        TestBackend::Sqlite,
    ];

    /// The backend's name, as in test paths and `JOBSTORE_REQUIRE`.
    pub const fn name(self) -> &'static str {
        match self {
            TestBackend::Postgres => "postgres",
            TestBackend::Mysql => "mysql",
            TestBackend::Sqlite => "sqlite",
        }
    }

    /// jobstore-storage's name for the backend.
    pub const fn backend(self) -> Backend {
        match self {
            TestBackend::Postgres => Backend::Postgres,
            TestBackend::Mysql => Backend::Mysql,
            TestBackend::Sqlite => Backend::Sqlite,
        }
    }

    /// The environment variable naming the backend's server (`None` for SQLite).
    pub const fn url_var(self) -> Option<&'static str> {
        match self {
            TestBackend::Postgres => Some("JOBSTORE_TEST_POSTGRES_URL"),
            TestBackend::Mysql => Some("JOBSTORE_TEST_MYSQL_URL"),
            TestBackend::Sqlite => None,
        }
    }

    /// The URL of the server test databases are made on (`None` for SQLite): the environment
    /// variable's value, or the default.
    pub fn server_url(self) -> Option<String> {
        let default = match self {
            TestBackend::Postgres => DEFAULT_POSTGRES_URL,
            TestBackend::Mysql => DEFAULT_MYSQL_URL,
            TestBackend::Sqlite => return None,
        };
        let var = self.url_var()?;
        Some(
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned()),
        )
    }

    /// Whether `JOBSTORE_REQUIRE` names this backend (then an unreachable server fails the case).
    pub fn is_required(self) -> bool {
        let list = std::env::var(REQUIRE_VAR).unwrap_or_default();
        list.split(',').map(str::trim).any(|name| {
            name.eq_ignore_ascii_case(self.name())
                || name.eq_ignore_ascii_case("all")
                || (self == TestBackend::Mysql && name.eq_ignore_ascii_case("mariadb"))
                || (self == TestBackend::Postgres && name.eq_ignore_ascii_case("postgresql"))
        })
    }
}

impl fmt::Display for TestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a backend's cases cannot run here: its server is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// The backend.
    pub backend: TestBackend,
    /// What went wrong when connecting.
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend, self.reason)?;
        if let Some(var) = self.backend.url_var() {
            write!(f, " (set {var})")?;
        }
        Ok(())
    }
}

/// The rows in each table, soft-deleted ones included: to check that a call wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows in `tenants`.
    pub tenants: i64,
    /// Rows in `jobs`.
    pub jobs: i64,
    /// Rows in `job_state_transitions`.
    pub transitions: i64,
}

/// An isolated, migrated database for one case, and a store on it. Dropping it removes the
/// database (after the store's connections are closed).
pub struct TestDb {
    /// A store on the database, reading the time from [`TestDb::clock`].
    pub store: Store,
    /// The clock of [`TestDb::store`] and of every store from [`TestDb::open_store`]: it stands
    /// still at [`start_time`] until the case moves it.
    pub clock: ManualClock,
    /// The backend.
    pub backend: TestBackend,
    /// The database's URL, for more connections or stores.
    pub url: String,
    // Declared last: dropped after the store, so no connection of ours holds the database.
    _cleanup: Cleanup,
}

impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl TestDb {
    /// Makes and migrates a database of its own on `backend`, and opens a store on it.
    ///
    /// An unreachable server is [`Unavailable`]; anything that fails once the server answered
    /// (creating or migrating the database) panics, since that is a bug, not a missing server.
    pub fn create(backend: TestBackend) -> Result<TestDb, Unavailable> {
        let (url, cleanup) = match backend {
            TestBackend::Sqlite => {
                let path = std::env::temp_dir()
                    .join(format!("jobstore-t-{}.db", uuid::Uuid::new_v4().simple()));
                let url = path.to_string_lossy().into_owned();
                (url, Cleanup::File(path))
            }
            TestBackend::Postgres | TestBackend::Mysql => {
                let server = backend.server_url().unwrap_or_default();
                let name = format!(
                    "jobstore_t_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                let create = match backend {
                    TestBackend::Mysql => {
                        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                    }
                    _ => format!("CREATE DATABASE {name}"),
                };
                admin_connection(backend, &server)?
                    .batch_execute(&create)
                    .unwrap_or_else(|e| panic!("{backend}: {create}: {e}"));
                let url = with_database(&server, &name);
                (
                    url,
                    Cleanup::Database {
                        backend,
                        server,
                        name,
                    },
                )
            }
        };
        // From here on, `cleanup` removes the database even if migrating panics.
        migrate(&url).unwrap_or_else(|e| panic!("{backend}: migrating {url}: {e}"));
        let clock = ManualClock::at(start_time());
        let store = Store::open(test_config(&url))
            .unwrap_or_else(|e| panic!("{backend}: opening a store on {url}: {e}"))
            .with_clock(clock.clone());
        Ok(TestDb {
            store,
            clock,
            backend,
            url,
            _cleanup: cleanup,
        })
    }

    /// Another store on the same database, with a pool of its own and the same clock: one per
    /// thread in concurrency cases.
    pub fn open_store(&self) -> Store {
        self.open_store_with(self.config())
    }

    /// Another store on the same database, configured by `config` (start from
    /// [`TestDb::config`]), with the same clock.
    pub fn open_store_with(&self, config: StoreConfig) -> Store {
        Store::open(config)
            .unwrap_or_else(|e| panic!("{}: opening another store: {e}", self.backend))
            .with_clock(self.clock.clone())
    }

    /// The configuration the harness opens stores with: a small pool that connects lazily.
    pub fn config(&self) -> StoreConfig {
        test_config(&self.url)
    }

    /// A raw connection to the database, outside any store.
    pub fn connect(&self) -> DbConnection {
        DbConnection::open(&self.url, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{}: connecting to {}: {e}", self.backend, self.url))
    }

    /// Runs one hand-written SQL statement (to write what the API would refuse) and returns
    /// the rows it changed.
    pub fn execute(&self, sql: &str) -> Result<usize, StorageError> {
        sql_query(sql)
            .execute(&mut self.connect())
            .map_err(StorageError::from)
    }

    /// The rows of `table` (`tenants`, `jobs` or `job_state_transitions`), soft-deleted ones
    /// included, optionally restricted by a hand-written `WHERE` clause.
    pub fn count_where(&self, table: &str, condition: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
        sql_query(&sql)
            .get_result::<Count>(&mut self.connect())
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.backend))
            .n
    }

    /// The rows of `table`, soft-deleted ones included.
    pub fn count(&self, table: &str) -> i64 {
        self.count_where(table, "1 = 1")
    }

    /// The rows of every table: compare before and after a call that must write nothing.
    pub fn counts(&self) -> RowCounts {
        RowCounts {
            tenants: self.count("tenants"),
            jobs: self.count("jobs"),
            transitions: self.count("job_state_transitions"),
        }
    }

    /// The clock's time.
    pub fn now(&self) -> DateTime<Utc> {
        use jobstore_storage::Clock;
        self.clock.now()
    }

    /// Moves the clock on by `by`, and returns the new time.
    pub fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        self.clock.advance(by);
        self.now()
    }

    /// A new tenant with a generated id and a generic name.
    pub fn tenant(&self) -> Tenant {
        self.store
            .create_tenant(NewTenant::named("Test tenant"))
            .unwrap_or_else(|e| panic!("{}: creating a tenant: {e}", self.backend))
    }

    /// A new PENDING job of `tenant` with the defaults.
    pub fn job(&self, tenant: &TenantId) -> Job {
        self.store
            .create_job(NewJob::new(tenant.clone()))
            .unwrap_or_else(|e| panic!("{}: creating a job: {e}", self.backend))
    }

    /// A new job of `tenant` moved through legal transitions (at the clock's time) to `status`:
    /// ASSIGNED under a lease of agent `worker-1` for 30 s, FAILED with message `boom`, LOST and
    /// CANCELLED from RUNNING and PENDING.
    pub fn job_in(&self, tenant: &TenantId, status: JobStatus) -> Job {
        let job = self.job(tenant);
        self.move_job(tenant, &job.id, status)
    }

    /// Moves a PENDING job through legal transitions to `status` (see [`TestDb::job_in`]).
    pub fn move_job(&self, tenant: &TenantId, job: &JobId, status: JobStatus) -> Job {
        use JobStatus::*;
        let path: &[JobStatus] = match status {
            Pending => &[],
            Assigned => &[Assigned],
            Running => &[Assigned, Running],
            Completed => &[Assigned, Running, Completed],
            Failed => &[Assigned, Running, Failed],
            Lost => &[Assigned, Running, Lost],
            Cancelled => &[Cancelled],
        };
        let mut current = self
            .store
            .get_job(tenant, job)
            .unwrap_or_else(|e| panic!("{}: reading job {job}: {e}", self.backend));
        for &to in path {
            let change = match to {
                Assigned => Change::to(Assigned).lease(LeaseGrant::new(
                    "worker-1",
                    self.now(),
                    TimeDelta::seconds(30),
                )),
                Failed => Change::to(Failed).reason("boom"),
                other => Change::to(other),
            };
            current = self
                .store
                .transition_job(tenant, job, change)
                .unwrap_or_else(|e| panic!("{}: moving job {job} to {to}: {e}", self.backend));
        }
        current
    }
}

/// Gives a case its database on `backend`, applying the reachability policy: `None` (after a
/// loud `SKIPPED` line on stderr) when the server is unreachable and not required; a panic when
/// it is required by `JOBSTORE_REQUIRE`.
pub fn test_db(backend: TestBackend) -> Option<TestDb> {
    match TestDb::create(backend) {
        Ok(db) => Some(db),
        Err(unavailable) if backend.is_required() => {
            panic!("{unavailable}; {REQUIRE_VAR} requires {backend}")
        }
        Err(unavailable) => {
            skipped(&unavailable);
            None
        }
    }
}

/// Says loudly that a case did not run. Written to the process's stderr directly, not with
/// `eprintln!`, so that the test harness does not swallow it as a passing test's output.
fn skipped(unavailable: &Unavailable) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {unavailable}");
}

/// Runs one case on `backend` (what [`backends!`] expands to).
pub fn run<R: CaseOutcome>(backend: TestBackend, case: impl FnOnce(&TestDb) -> R) {
    if let Some(db) = test_db(backend) {
        case(&db).check();
    }
}

/// What a case may return: nothing, or a `Result` whose error fails the case.
pub trait CaseOutcome {
    /// Panics on failure.
    fn check(self);
}

impl CaseOutcome for () {
    fn check(self) {}
}

impl<E: fmt::Debug> CaseOutcome for Result<(), E> {
    fn check(self) {
        if let Err(e) = self {
            panic!("the case returned an error: {e:?}");
        }
    }
}

/// Makes a `#[test]` of each listed case per enabled backend, in modules `sqlite`, `postgres`
/// and `mysql` (behind this package's features of the same names), so test paths read
/// `<area>::<backend>::<case>`.
///
/// Each case is a plain function of the enclosing module, `fn name(db: &TestDb)` or
/// `fn name(db: &TestDb) -> Result<(), E>`; the macro only lists names, so rustfmt formats the
/// cases. Use it once per module, at the bottom of an area's file.
#[macro_export]
macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    $crate::run($crate::TestBackend::Sqlite, super::$case);
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[test]
                fn $case() {
                    $crate::run($crate::TestBackend::Postgres, super::$case);
                }
            )*
        }

        #[cfg(feature = "mysql")]
        mod mysql {
            $(
                #[test]
                fn $case() {
                    $crate::run($crate::TestBackend::Mysql, super::$case);
                }
            )*
        }
    };
}

/// Asserts that a value matches a pattern, showing the value when it does not.
///
/// ```
/// use jobstore_conformance::assert_matches;
///
/// assert_matches!(Some(3), Some(n) if n > 2);
/// assert_matches!(Some(3), Some(_), "with a message about {}", "the case");
/// ```
#[macro_export]
macro_rules! assert_matches {
    ($value:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match $value {
            $pattern $(if $guard)? => {}
            ref other => panic!(
                "expected {}, got {:?}",
                stringify!($pattern $(if $guard)?),
                other
            ),
        }
    };
    ($value:expr, $pattern:pat $(if $guard:expr)?, $($message:tt)+) => {
        match $value {
            $pattern $(if $guard)? => {}
            ref other => panic!(
                "expected {}, got {:?}: {}",
                stringify!($pattern $(if $guard)?),
                other,
                format_args!($($message)+)
            ),
        }
    };
}

/// The pool the harness opens stores with: up to 4 connections, made when first needed (so
/// many stores on one server stay well under its connection limit).
fn test_config(url: &str) -> StoreConfig {
    StoreConfig {
        max_open: 4,
        max_idle: 0,
        max_lifetime: None,
        max_idle_time: None,
        connect_timeout: Duration::from_secs(30),
        busy_timeout: Duration::from_secs(30),
        ..StoreConfig::new(url)
    }
}

/// Connects to a server as its admin; the first failure per backend is remembered, so the
/// cases of an unreachable server are skipped at once.
fn admin_connection(backend: TestBackend, server: &str) -> Result<DbConnection, Unavailable> {
    static UNREACHABLE: OnceLock<Mutex<HashMap<TestBackend, String>>> = OnceLock::new();
    let unreachable = UNREACHABLE.get_or_init(Default::default);
    let known = unreachable
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&backend)
        .cloned();
    if let Some(reason) = known {
        return Err(Unavailable { backend, reason });
    }
    DbConnection::open(server, Duration::from_secs(10)).map_err(|e| {
        let reason = match e {
            StorageError::Connect { source, .. } => {
                format!(
                    "cannot connect to {}: {}",
                    redact(server),
                    one_line(&source.to_string())
                )
            }
            other => format!("{}: {}", redact(server), one_line(&other.to_string())),
        };
        unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(backend, reason.clone());
        Unavailable { backend, reason }
    })
}

/// A driver's message on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A URL without its password, to print.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// `url` with its database (the path) replaced by `database`, keeping any `?` parameters.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs every pending migration on the database at `url`, with jobstore-migrator.
fn migrate(url: &str) -> Result<(), String> {
    jobstore_migrator::Migrator::new(url)
        .and_then(|mut migrator| migrator.run_pending())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// What to remove when a case is done.
#[derive(Debug)]
enum Cleanup {
    /// A SQLite file, with its `-wal`, `-shm` and `-journal` siblings.
    File(PathBuf),
    /// A database on a server.
    Database {
        backend: TestBackend,
        server: String,
        name: String,
    },
}

impl Drop for Cleanup {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let keep = std::env::var(KEEP_VAR).is_ok_and(|v| v == "1");
        match self {
            Cleanup::File(path) => {
                if keep {
                    eprintln!("kept {}", path.display());
                    return;
                }
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Database {
                backend,
                server,
                name,
            } => {
                if keep {
                    eprintln!("kept {}", redact(&with_database(server, name)));
                    return;
                }
                let drop = match backend {
                    // FORCE: a store a case leaked (a thread still running) must not keep it.
                    TestBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {name}"),
                };
                let dropped = DbConnection::open(server, Duration::from_secs(10))
                    .map_err(|e| e.to_string())
                    .and_then(|mut conn| conn.batch_execute(&drop).map_err(|e| e.to_string()));
                if let Err(e) = dropped {
                    eprintln!("{backend}: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_parameters() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root:pw@h/test?ssl_mode=DISABLED", "x"),
            "mysql://root:pw@h/x?ssl_mode=DISABLED"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("mysql://root:secret@h:3306/db"),
            "mysql://root:***@h:3306/db"
        );
        assert_eq!(
            redact("postgres://postgres@h/db"),
            "postgres://postgres@h/db"
        );
    }
}

/// The README's examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
