//! jobstore's storage: tenants, jobs and their audit trail on PostgreSQL, MySQL/MariaDB and
//! SQLite through one API, with the job state machine enforced on every write.
//!
//! - [`Store`] is a connection pool and a clock. It implements [`TenantRepository`],
//!   [`JobRepository`] and [`WorkerRepository`]; so does [`Tx`], the handle of
//!   [`Store::transaction`], for calls that must commit together.
//! - The domain decides, storage stores: every change of a job is a
//!   [`jobstore_domain::JobUpdate`] computed by the domain, stored by one writer with its audit
//!   records in the same transaction, guarded by the version it was read at: a concurrent
//!   change is a [`StorageError::Conflict`], never a silent overwrite.
//! - Errors keep their sources and classify portably ([`StorageError::kind`],
//!   [`StorageError::is_transient`]); the domain's refusals come through as
//!   [`StorageError::Domain`].
//! - Every repository call opens a `tracing` span (target `jobstore`) and every statement is an
//!   event (target `jobstore::sql`), both at DEBUG; the library installs no subscriber.
//! - Backends are chosen by URL (`postgres://`, `mysql://`, `sqlite://`, a path, `:memory:`),
//!   each behind its Cargo feature (`sqlite` is the default). The `mock` feature adds mockall
//!   mocks of the traits (`MockTenantRepository`, `MockJobRepository`, `MockWorkerRepository`).
//!
//! The schema is created by `jobstore-migrator` (`cargo xtask migrate`).
//!
//! ```no_run
//! use jobstore_domain::{JobStatus, NewJob, NewTenant};
//! use jobstore_storage::{JobRepository, Store, TenantRepository};
//!
//! let store = Store::open_url("jobstore.db")?;
//! let tenant = store.create_tenant(NewTenant::named("Acme Corp"))?;
//! let job = store.create_job(NewJob {
//!     image_uri: Some("gcr.io/project/image:latest".into()),
//!     commands: vec!["echo".into(), "hello".into()],
//!     ..NewJob::new(tenant.id.clone())
//! })?;
//! let cancelled = store.cancel_job(&tenant.id, &job.id, "no longer needed")?;
//! assert_eq!(cancelled.status, JobStatus::Cancelled);
//! assert_eq!(store.job_history(&tenant.id, &job.id)?.len(), 2);
//! # Ok::<(), jobstore_storage::StorageError>(())
//! ```

mod clock;
mod config;
mod connection;
mod dialect;
mod error;
mod jobs;
mod repository;
mod rows;
mod schedules;
mod schema;
mod stamp;
mod store;
mod studies;
mod tenants;
mod trace;
mod wakeup;
mod workers;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Backend, DEFAULT_SQLITE_PATH, StoreConfig};
pub use connection::DbConnection;
pub use error::{Entity, ErrorKind, StorageError};
pub use repository::{
    AuditFilter, Completed, Completion, CostFilter, StudyDataRepository, StudyRepository,
    UserRepository,
};
pub use repository::{
    ClaimRequest, DueAction, Enqueued, Fired, Handoff, JobRepository, Reaped, RunOutcome,
    RunRepository, RunStart, ScheduleRepository, SchedulerRepository, Swept, TenantRepository,
    WorkerRepository,
};
#[cfg(feature = "mock")]
pub use repository::{
    MockJobRepository, MockRunRepository, MockScheduleRepository, MockSchedulerRepository,
    MockStudyDataRepository, MockStudyRepository, MockTenantRepository, MockUserRepository,
    MockWorkerRepository,
};
pub use store::{Health, SCHEMA_VERSION, Store, Tx};
