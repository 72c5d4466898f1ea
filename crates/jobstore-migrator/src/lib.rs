//! jobstore's schema migrations, embedded for each backend (PostgreSQL, MySQL/MariaDB, SQLite),
//! with run / revert / status / redo and a lock so two migrators never apply a migration twice.
//!
//! The SQL lives in the workspace's `migrations/{postgres,mysql,sqlite}/` folders (the same names
//! in each) and is compiled in, each backend behind its Cargo feature (`sqlite` by default). The
//! command line is `cargo xtask migrate`.
//!
//! ```
//! use jobstore_migrator::Migrator;
//!
//! let mut migrator = Migrator::new(":memory:")?;
//! for migration in migrator.run_pending()? {
//!     assert!(migration.is_known());
//! }
//! let status = migrator.status()?;
//! assert!(status.is_up_to_date());
//! # Ok::<(), jobstore_migrator::MigrateError>(())
//! ```
//!
//! Tests run on SQLite always; on PostgreSQL and MariaDB with the `postgres` and `mysql` features
//! (`cargo test -p jobstore-migrator --all-features`), against `JOBSTORE_TEST_POSTGRES_URL` and
//! `JOBSTORE_TEST_MYSQL_URL` or the local servers, with an empty database per test from
//! jobstore-testkit. An unavailable backend skips loudly, or fails when `JOBSTORE_REQUIRE` names
//! it.

mod backend;
mod error;
mod migration;
mod migrator;
mod operations;

pub use error::{BoxError, Direction, MigrateError};
pub use migration::{MigrationId, Status};
pub use migrator::{DEFAULT_LOCK_TIMEOUT, Migrator, embedded_migrations};

/// The PostgreSQL advisory lock key the migrator holds while it works: the bytes of "jobstore" as a
/// big-endian integer. Advisory locks are scoped to the current database, so migrators of different
/// databases never wait on each other.
pub const POSTGRES_LOCK_KEY: i64 = i64::from_be_bytes(*b"jobstore");
