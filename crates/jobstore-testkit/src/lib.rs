//! jobstore's one test kit: a fresh, migrated database per test on every backend, cloned from a
//! template, and for downstream crates an in-memory store, `reset` and a seeded fixture.
//!
//! # For a downstream crate
//!
//! ```
//! use jobstore_domain::JobStatus;
//! use jobstore_storage::JobRepository;
//!
//! // A migrated SQLite database in memory, and a store on it.
//! let store = jobstore_testkit::memory_store()?;
//!
//! // Two tenants and a job in every status, with their audit trails.
//! let fixture = jobstore_testkit::seed_test_data(&store)?;
//! let running = &fixture.jobs[&JobStatus::Running];
//! assert_eq!(store.get_job(&fixture.acme.id, &running.id)?.status, JobStatus::Running);
//!
//! // Every table emptied, the schema kept.
//! jobstore_testkit::reset(&store)?;
//! assert!(store.get_job(&fixture.acme.id, &running.id).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Add it as a dev-dependency, with the features of the backends the tests use:
//! `jobstore-testkit = { version = "0.1", features = ["postgres"] }` (`sqlite` is the default;
//! `postgres` and `mysql` need their client libraries).
//!
//! # A database per test, on every backend
//!
//! [`migrated_database`] gives a test a [`TestDatabase`] of its own, cloned from a template
//! that jobstore-migrator migrated once: PostgreSQL `CREATE DATABASE .. TEMPLATE`, the
//! template's `SHOW CREATE TABLE` replayed on MySQL/MariaDB, a copied file on SQLite. Dropping
//! it removes the database. [`empty_database`] gives an unmigrated one, for tests of migrations.
//!
//! ```no_run
//! use jobstore_storage::TenantRepository;
//! use jobstore_testkit::{TestBackend, migrated_database};
//!
//! #[test]
//! fn a_new_database_has_no_tenants() {
//!     let Some(db) = migrated_database(TestBackend::Mysql) else {
//!         return; // skipped, loudly: the server is not there and not required
//!     };
//!     let store = db.open_store().expect("store");
//!     assert!(store.list_tenants(&Default::default()).expect("list").items.is_empty());
//! }
//! ```
//!
//! ## The environment
//!
//! | variable | meaning | default |
//! |----------|---------|---------|
//! | `JOBSTORE_TEST_POSTGRES_URL` | the PostgreSQL server test databases are made on (its database is only connected to) | [`DEFAULT_POSTGRES_URL`] |
//! | `JOBSTORE_TEST_MYSQL_URL` | the MySQL/MariaDB server | [`DEFAULT_MYSQL_URL`] |
//! | `JOBSTORE_REQUIRE` | backends that must run: a comma list (`postgres,mysql,sqlite`) or `all` | none |
//! | `JOBSTORE_TEST_KEEP` | `1` keeps each test's database (named `jobstore_keep_…`, printed) | off |
//!
//! A backend whose server cannot be reached (or that the build leaves out) is skipped with a
//! `SKIPPED <backend>: <why> (set <variable>)` line on stderr, unless `JOBSTORE_REQUIRE` names
//! it: then its tests fail. Anything that fails after the server answered fails the test.
//!
//! ## Names, templates and leftovers
//!
//! - Test databases are `jobstore_t_<owner>_<n>`, where `<owner>` marks the test process on the
//!   server for as long as it runs (PostgreSQL: its admin session's `application_name`; MySQL:
//!   a named lock); SQLite files are `jobstore_t_<pid>_<n>.db` in the temporary folder.
//! - Templates are `jobstore_tpl_<fingerprint>`, the fingerprint being a hash of the backend's
//!   migration files and of the versions the migrator embeds: a changed migration makes a new
//!   template (those of other fingerprints are left: another checkout may use them). Racing test processes make a
//!   template once: under `pg_advisory_lock` on PostgreSQL, `GET_LOCK` on MySQL, and by an
//!   atomic rename on SQLite.
//! - When a process first uses a backend, it drops the test databases (and removes the files)
//!   of processes that are gone: a crashed run leaves nothing behind for long, and a running one
//!   loses nothing.
//!
//! # Panics
//!
//! Library functions return [`KitError`]. The exceptions are the ones a test kit needs:
//! [`migrated_database`], [`empty_database`] and [`required`] panic to fail a test when a
//! required backend is unavailable or making its database failed.

mod backend;
mod database;
mod error;
mod files;
mod fixture;
mod memory;
mod named;
mod reset;
mod server;
mod template;
mod url;

pub use backend::{
    DEFAULT_MYSQL_URL, DEFAULT_POSTGRES_URL, KEEP_VAR, MYSQL_URL_VAR, POSTGRES_URL_VAR,
    REQUIRE_VAR, TestBackend, UnknownBackend,
};
pub use database::{
    TestDatabase, empty_database, migrated_database, required, skipped, sweep_leftovers,
};
pub use error::KitError;
pub use fixture::{FIXTURE_AGENT, Fixture, path_to, seed_test_data};
pub use memory::{MemoryStore, memory_store};
pub use named::{drop_database_statement, execute, recreate_database};
pub use reset::reset;
pub use url::{redact, with_database};
