//! The store: a connection pool and a clock, and the transactions every repository call runs in.

use std::{cell::RefCell, collections::HashMap, sync::Arc};

use chrono::{DateTime, SubsecRound, Utc};
use diesel::Connection;
use jobstore_domain::{Job, RetryPolicy};

use crate::{
    Backend, Clock, DbConnection, StorageError, StoreConfig, SystemClock,
    connection::ConnectionManager, dialect::write_transaction, trace::Call,
};

/// jobstore's storage: every repository trait is implemented by [`Store`] (each call is its own
/// transaction) and by [`Tx`] (calls compose inside one transaction, see [`Store::transaction`]).
///
/// ```no_run
/// use jobstore_storage::{JobRepository, Store, TenantRepository};
/// use jobstore_domain::{NewJob, NewTenant};
///
/// let store = Store::open_url("postgres://postgres@127.0.0.1/test")?;
/// let tenant = store.create_tenant(NewTenant::named("Acme Corp"))?;
/// let job = store.create_job(NewJob::new(tenant.id.clone()))?;
/// assert_eq!(store.get_job(&tenant.id, &job.id)?.status, job.status);
/// # Ok::<(), jobstore_storage::StorageError>(())
/// ```
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<ConnectionManager>,
    backend: Backend,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("pool", &self.pool.state())
            .finish()
    }
}

impl Store {
    /// Opens a pool as `config` says and checks that the database answers.
    pub fn open(config: StoreConfig) -> Result<Store, StorageError> {
        let backend = config.backend()?;
        config.validate()?;
        if !backend.is_enabled() {
            return Err(StorageError::BackendDisabled { backend });
        }
        // Every connection to an in-memory SQLite database is a database of its own: keep one.
        let in_memory = backend == Backend::Sqlite && config.url.contains(":memory:");
        let (max_open, max_idle) = if in_memory {
            (1, 1)
        } else {
            (config.max_open.max(1), config.max_idle.min(config.max_open))
        };
        let manager = ConnectionManager {
            url: config.url.clone(),
            busy_timeout: config.busy_timeout,
        };
        let pool = r2d2::Pool::builder()
            .max_size(max_open)
            .min_idle(Some(max_idle))
            .max_lifetime(config.max_lifetime.filter(|_| !in_memory))
            .idle_timeout(config.max_idle_time.filter(|_| !in_memory))
            .connection_timeout(config.connect_timeout)
            // A round trip per call saved: a dead connection is found by the call that uses it
            // and dropped (see `Pooled`), and the next call gets a fresh one.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        // Open one connection first, so a wrong URL or a refusing server is reported by its own
        // error rather than as a pool time-out.
        DbConnection::open(&config.url, config.busy_timeout)?;
        Ok(Store {
            pool,
            backend,
            settings: Arc::new(Settings {
                clock: Arc::new(SystemClock),
                default_retry: RetryPolicy::default(),
                queue_retry: HashMap::new(),
                notify_workers: config.notify_workers,
                actor: None,
            }),
        })
    }

    /// Opens a pool for `url` with the default settings.
    pub fn open_url(url: &str) -> Result<Store, StorageError> {
        Store::open(StoreConfig::new(url))
    }

    /// Opens the database the environment names (see [`StoreConfig::from_env`]).
    pub fn from_env() -> Result<Store, StorageError> {
        Store::open(StoreConfig::from_env()?)
    }

    /// Reads the time from `clock` from now on (tests pass a [`crate::ManualClock`]).
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Store {
        self.settings_mut().clock = Arc::new(clock);
        self
    }

    /// Sets the backoff for jobs that name no policy of their own (clamped into the limits of
    /// [`RetryPolicy::validate`]).
    pub fn with_default_retry_policy(mut self, policy: RetryPolicy) -> Store {
        self.settings_mut().default_retry = policy.clamped();
        self
    }

    /// Sets the backoff for the jobs of one queue that name no policy of their own (clamped
    /// like the default's).
    pub fn with_queue_retry_policy(mut self, queue: &str, policy: RetryPolicy) -> Store {
        self.settings_mut()
            .queue_retry
            .insert(queue.to_owned(), policy.clamped());
        self
    }

    /// A handle on the same pool whose audited writes (users, studies, checkpoints, costs) name
    /// `actor` in the audit log.
    ///
    /// ```no_run
    /// use jobstore_storage::Store;
    ///
    /// let store = Store::open_url("jobstore.db")?;
    /// let alice = store.acting_as("alice@example.com");
    /// # Ok::<(), jobstore_storage::StorageError>(())
    /// ```
    pub fn acting_as(&self, actor: impl Into<String>) -> Store {
        let mut store = self.clone();
        store.settings_mut().actor = Some(actor.into());
        store
    }

    fn settings_mut(&mut self) -> &mut Settings {
        // A store is configured before it is shared; a shared one is copied on change.
        Arc::make_mut(&mut self.settings)
    }

    /// The pool, for calls that hold a connection of their own (see `wakeup`).
    pub(crate) fn pool(&self) -> &r2d2::Pool<ConnectionManager> {
        &self.pool
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The store clock's current time, to the microsecond (what every backend stores).
    pub fn now(&self) -> DateTime<Utc> {
        self.settings.now()
    }

    /// The health check: takes a connection and runs a trivial query.
    pub fn ping(&self) -> Result<(), StorageError> {
        Call::new("ping").traced(self.backend, || self.pool.get()?.run(DbConnection::ping))
    }

    /// The health check (seed 004's `healthCheck`): a round trip to the database, how many
    /// connections the pool holds and how many are idle, and whether the schema is the one this
    /// code is written for (the newest migration applied is [`SCHEMA_VERSION`]).
    pub fn health(&self) -> Result<Health, StorageError> {
        let started = std::time::Instant::now();
        let version = Call::new("health").traced(self.backend, || {
            self.pool.get()?.run(|conn| {
                #[derive(diesel::QueryableByName)]
                struct Newest {
                    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                    version: Option<String>,
                }
                let newest: Newest = diesel::RunQueryDsl::get_result(
                    diesel::sql_query(
                        "SELECT MAX(version) AS version FROM __diesel_schema_migrations",
                    ),
                    conn,
                )?;
                Ok(newest.version)
            })
        })?;
        let latency = started.elapsed();
        let pool = self.pool.state();
        Ok(Health {
            backend: self.backend,
            latency,
            connections: pool.connections,
            idle_connections: pool.idle_connections,
            schema_up_to_date: version.as_deref() == Some(SCHEMA_VERSION),
            schema_version: version,
        })
    }

    /// Runs `f` in one database transaction: the repository calls it makes on the [`Tx`] are
    /// committed together when it returns `Ok`, and all rolled back when it returns `Err`.
    ///
    /// ```no_run
    /// use jobstore_domain::{NewJob, NewTenant};
    /// use jobstore_storage::{JobRepository, Store, TenantRepository};
    ///
    /// let store = Store::open_url("jobstore.db")?;
    /// let (tenant, job) = store.transaction(|tx| {
    ///     let tenant = tx.create_tenant(NewTenant::named("Acme Corp"))?;
    ///     let job = tx.create_job(NewJob::new(tenant.id.clone()))?;
    ///     Ok((tenant, job))
    /// })?;
    /// # Ok::<(), jobstore_storage::StorageError>(())
    /// ```
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        Call::new("transaction").traced(self.backend, || {
            self.pool.get()?.run(|conn| {
                write_transaction(conn, |conn| {
                    let tx = Tx {
                        conn: RefCell::new(conn),
                        settings: &self.settings,
                    };
                    f(&tx)
                })
            })
        })
    }
}

/// The newest migration this crate's code is written for, as the migrator records it (the tidy
/// test checks it against migrations/).
pub const SCHEMA_VERSION: &str = "20261124000001";

/// What [`Store::health`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The backend.
    pub backend: Backend,
    /// How long the check's round trip took, with checking out a connection.
    pub latency: std::time::Duration,
    /// Connections the pool holds.
    pub connections: u32,
    /// Of which idle.
    pub idle_connections: u32,
    /// The newest migration applied, if any.
    pub schema_version: Option<String>,
    /// Whether that is [`SCHEMA_VERSION`].
    pub schema_up_to_date: bool,
}

/// An open transaction, handed to the closure of [`Store::transaction`].
///
/// It implements the same repository traits as [`Store`]. Each call runs in a savepoint, so a
/// failed call leaves the transaction as it was before it.
pub struct Tx<'a> {
    conn: RefCell<&'a mut DbConnection>,
    settings: &'a Settings,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

pub(crate) mod session {
    use super::*;

    /// What every call reads besides the database.
    #[derive(Debug, Clone)]
    pub struct Settings {
        pub(crate) clock: Arc<dyn Clock>,
        pub(crate) default_retry: RetryPolicy,
        pub(crate) queue_retry: HashMap<String, RetryPolicy>,
        /// Whether writes that make jobs PENDING notify waiting workers (PostgreSQL).
        pub(crate) notify_workers: bool,
        /// Who audited writes name (see [`Store::acting_as`]); `None`: the system.
        pub(crate) actor: Option<String>,
    }

    impl Settings {
        /// The clock's time, to the microsecond: a custom clock's nanoseconds would make a
        /// returned job differ from the same job read back.
        pub(crate) fn now(&self) -> DateTime<Utc> {
            self.clock.now().trunc_subsecs(6)
        }

        /// Who an audited write names.
        pub(crate) fn actor(&self) -> &str {
            self.actor
                .as_deref()
                .unwrap_or(jobstore_domain::SYSTEM_ACTOR)
        }

        /// The backoff for a job's next retry: its own policy, else its queue's, else the default.
        pub(crate) fn retry_policy(&self, job: &Job) -> RetryPolicy {
            job.retry_policy
                .or_else(|| self.queue_retry.get(&job.queue).copied())
                .unwrap_or(self.default_retry)
        }
    }

    /// How a repository call gets its connection: the store checks one out per call, a
    /// transaction lends its own. Each call runs in a span of its own (see `trace`).
    /// Implemented by [`Store`] and [`Tx`] only.
    pub trait Session {
        /// Runs a read.
        fn read<T>(
            &self,
            call: Call<'_>,
            f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
        ) -> Result<T, StorageError>;

        /// Runs a change atomically.
        fn write<T>(
            &self,
            call: Call<'_>,
            f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
        ) -> Result<T, StorageError>;
    }
}

pub(crate) use session::{Session, Settings};

impl Session for Store {
    fn read<T>(
        &self,
        call: Call<'_>,
        f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        call.traced(self.backend, || {
            self.pool.get()?.run(|conn| f(conn, &self.settings))
        })
    }

    fn write<T>(
        &self,
        call: Call<'_>,
        f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        call.traced(self.backend, || {
            self.pool
                .get()?
                .run(|conn| write_transaction(conn, |conn| f(conn, &self.settings)))
        })
    }
}

impl Session for Tx<'_> {
    fn read<T>(
        &self,
        call: Call<'_>,
        f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn.borrow_mut();
        call.traced(conn.backend(), || f(&mut conn, self.settings))
    }

    fn write<T>(
        &self,
        call: Call<'_>,
        f: impl FnOnce(&mut DbConnection, &Settings) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn.borrow_mut();
        call.traced(conn.backend(), || {
            conn.transaction(|conn| f(conn, self.settings))
        })
    }
}
