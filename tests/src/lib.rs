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
//! Each case gets a database of its own from `jobstore-testkit` ([`TestDatabase::migrated`]):
//! cloned from a template migrated once per process (PostgreSQL `CREATE DATABASE .. TEMPLATE`,
//! the template's tables re-created on MySQL/MariaDB, a copied file on SQLite) and removed
//! afterwards. The servers are `JOBSTORE_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`])
//! and `JOBSTORE_TEST_MYSQL_URL` (default [`DEFAULT_MYSQL_URL`]); `JOBSTORE_TEST_KEEP=1` keeps
//! the databases (their URLs are printed) for a post-mortem.
//!
//! [`TestDb::store`] is a [`Store`] reading the time from [`TestDb::clock`], a [`ManualClock`]
//! the case moves by hand.
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
//!   [`TestDb::count_where`]; [`race`] releases them together and stops a hung race.

pub mod race;

use std::{fmt, time::Duration};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use diesel::{QueryableByName, RunQueryDsl, sql_query, sql_types::BigInt};
use jobstore_domain::{
    Change, Job, JobId, JobStatus, LeaseGrant, NewJob, NewTenant, Tenant, TenantId,
};
use jobstore_storage::{
    DbConnection, JobRepository, ManualClock, StorageError, Store, StoreConfig, TenantRepository,
};
pub use jobstore_testkit::{
    DEFAULT_MYSQL_URL, DEFAULT_POSTGRES_URL, KEEP_VAR, REQUIRE_VAR, TestBackend, TestDatabase,
    with_database,
};

/// The time every [`TestDb`]'s clock starts at: fixed, and with microseconds, so that cases
/// check that every backend keeps them.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        + TimeDelta::microseconds(123_456)
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
        write!(f, "{}", self.reason)?;
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
    database: TestDatabase,
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
    /// A database of its own on `backend`, cloned from the migrated template, and a store on
    /// it.
    ///
    /// An unreachable server is [`Unavailable`]; anything that fails once the server answered
    /// (creating the database, opening the store) panics, since that is a bug, not a missing
    /// server.
    pub fn create(backend: TestBackend) -> Result<TestDb, Unavailable> {
        match TestDatabase::migrated(backend) {
            Ok(database) => Ok(TestDb::on(database)),
            Err(e) if e.is_unavailable() => Err(Unavailable {
                backend,
                reason: e.describe(),
            }),
            Err(e) => panic!("{}", e.describe()),
        }
    }

    /// A store with a [`ManualClock`] at [`start_time`] on `database`.
    fn on(database: TestDatabase) -> TestDb {
        let backend = database.backend();
        let url = database.url().to_owned();
        let clock = ManualClock::at(start_time());
        let store = Store::open(database.store_config())
            .unwrap_or_else(|e| panic!("{backend}: opening a store on {url}: {e}"))
            .with_clock(clock.clone());
        TestDb {
            store,
            clock,
            backend,
            url,
            database,
        }
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
        self.database.store_config()
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
        let path = jobstore_testkit::path_to(status);
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

/// Gives a case its database on `backend`, applying the reachability policy of
/// [`jobstore_testkit::migrated_database`]: `None` (after a loud `SKIPPED` line on stderr) when
/// the server is unreachable and not required; a panic when `JOBSTORE_REQUIRE` requires it.
pub fn test_db(backend: TestBackend) -> Option<TestDb> {
    jobstore_testkit::migrated_database(backend).map(TestDb::on)
}

/// Fails when `backend` is required but this build leaves it out; says it is skipped otherwise
/// (what [`backends!`] runs for a backend whose feature is off).
pub fn not_built_in(backend: TestBackend) {
    let _: Option<()> = jobstore_testkit::required(
        backend,
        Err(jobstore_testkit::KitError::NotBuilt { backend }),
    );
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
        // A backend left out of this build still answers to JOBSTORE_REQUIRE: it fails there.
        #[cfg(not(feature = "sqlite"))]
        mod sqlite {
            #[test]
            fn not_built_in() {
                $crate::not_built_in($crate::TestBackend::Sqlite);
            }
        }

        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    $crate::run($crate::TestBackend::Sqlite, super::$case);
                }
            )*
        }

        // A backend left out of this build still answers to JOBSTORE_REQUIRE: it fails there.
        #[cfg(not(feature = "postgres"))]
        mod postgres {
            #[test]
            fn not_built_in() {
                $crate::not_built_in($crate::TestBackend::Postgres);
            }
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

        // A backend left out of this build still answers to JOBSTORE_REQUIRE: it fails there.
        #[cfg(not(feature = "mysql"))]
        mod mysql {
            #[test]
            fn not_built_in() {
                $crate::not_built_in($crate::TestBackend::Mysql);
            }
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

/// The README's examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
