//! The migrator: a connection, the lock timeout, and the public operations, each dispatched to the
//! backend's connection type and run under the backend's lock.

use std::{borrow::BorrowMut, time::Duration};

use jobstore_storage::{Backend, DbConnection, StoreConfig};

use crate::{
    MigrateError, MigrationId, Status,
    operations::{Operation, ReadStatus, Redo, RevertAll, RevertLast, RunPending},
};

/// How long a migrator waits for another one to finish before giving up, by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Applies, reverts and lists jobstore's embedded migrations on one database connection.
///
/// Every call takes the migration lock first and releases it before returning, so two migrators
/// started at once never both apply a migration: the second waits (up to
/// [`Migrator::lock_timeout`], [`DEFAULT_LOCK_TIMEOUT`] unless set), then finds the work done.
///
/// | backend         | lock |
/// |-----------------|------|
/// | PostgreSQL      | advisory lock on [`POSTGRES_LOCK_KEY`](crate::POSTGRES_LOCK_KEY), per database |
/// | MySQL / MariaDB | `GET_LOCK('jobstore_migrations.<database>')` |
/// | SQLite          | the call runs in one `BEGIN EXCLUSIVE` transaction (so it is all or nothing) |
///
/// Each migration runs in its own transaction (a savepoint on SQLite). On PostgreSQL and MySQL the
/// migrations a call applied before one failed stay applied.
///
/// ```
/// use jobstore_migrator::Migrator;
///
/// let mut migrator = Migrator::new(":memory:")?;
/// let applied = migrator.run_pending()?;
/// assert_eq!(applied.len(), migrator.status()?.applied.len());
/// assert!(migrator.run_pending()?.is_empty());
///
/// let status = migrator.status()?;
/// assert_eq!(status.applied, applied);
/// assert!(status.is_up_to_date());
///
/// assert_eq!(migrator.revert_all()?.len(), applied.len());
/// # Ok::<(), jobstore_migrator::MigrateError>(())
/// ```
///
/// On a connection you already have (a pooled one, say), borrow it:
///
/// ```
/// use std::time::Duration;
/// use jobstore_migrator::Migrator;
/// use jobstore_storage::DbConnection;
///
/// let mut conn = DbConnection::open(":memory:", Duration::from_secs(5))?;
/// Migrator::from_connection(&mut conn).run_pending()?;
/// conn.ping()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Migrator<C = DbConnection> {
    conn: C,
    lock_timeout: Duration,
}

impl Migrator<DbConnection> {
    /// Opens a connection to `url` (`postgres://…`, `mysql://…`, `sqlite://…`, a file path or
    /// `:memory:`) with the default connection settings.
    pub fn new(url: &str) -> Result<Self, MigrateError> {
        Self::from_config(&StoreConfig::new(url))
    }

    /// Opens a connection to the configured database (see [`StoreConfig::from_env`]).
    pub fn from_config(config: &StoreConfig) -> Result<Self, MigrateError> {
        let backend = config.backend()?;
        if !built_in(backend) {
            return Err(MigrateError::BackendDisabled { backend });
        }
        let conn = DbConnection::open(&config.url, config.busy_timeout)?;
        Ok(Self::from_connection(conn))
    }
}

impl<C: BorrowMut<DbConnection>> Migrator<C> {
    /// A migrator on a connection that is already open: owned, or borrowed (`&mut DbConnection`).
    ///
    /// On SQLite the connection must not be inside a transaction.
    pub fn from_connection(conn: C) -> Self {
        Self {
            conn,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// Sets how long to wait for another migrator to release the lock before failing with
    /// [`MigrateError::LockTimeout`]. MySQL/MariaDB wait in whole seconds (rounded up).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The database's backend.
    pub fn backend(&self) -> Backend {
        self.conn.borrow().backend()
    }

    /// Applies every pending migration, oldest first, and returns those it applied (none when
    /// the database is up to date).
    pub fn run_pending(&mut self) -> Result<Vec<MigrationId>, MigrateError> {
        self.execute(RunPending)
    }

    /// Reverts the newest applied migration and returns it; [`MigrateError::NothingToRevert`]
    /// when none is applied.
    pub fn revert_last(&mut self) -> Result<MigrationId, MigrateError> {
        self.execute(RevertLast)
    }

    /// Reverts every applied migration, newest first, and returns them in that order (none when
    /// none is applied).
    pub fn revert_all(&mut self) -> Result<Vec<MigrationId>, MigrateError> {
        self.execute(RevertAll)
    }

    /// The applied and pending migrations, in version order.
    ///
    /// Like every call, this creates diesel's bookkeeping table (`__diesel_schema_migrations`)
    /// when the database has none.
    pub fn status(&mut self) -> Result<Status, MigrateError> {
        self.execute(ReadStatus)
    }

    /// Reverts the newest applied migration and applies it again; returns it.
    /// [`MigrateError::NothingToRevert`] when none is applied.
    pub fn redo(&mut self) -> Result<MigrationId, MigrateError> {
        self.execute(Redo)
    }

    /// Gives the connection back.
    pub fn into_inner(self) -> C {
        self.conn
    }

    /// Runs `operation` on the backend's own connection type, under the backend's lock.
    fn execute<O: Operation>(&mut self, operation: O) -> Result<O::Output, MigrateError> {
        let timeout = self.lock_timeout;
        match self.conn.borrow_mut() {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(conn) => {
                use crate::backend::postgres::{MIGRATIONS, locked};
                locked(conn, timeout, |conn| {
                    operation.apply::<diesel::pg::Pg, _>(conn, &MIGRATIONS, Backend::Postgres)
                })
            }
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(conn) => {
                use crate::backend::mysql::{MIGRATIONS, locked};
                locked(conn, timeout, |conn| {
                    operation.apply::<diesel::mysql::Mysql, _>(conn, &MIGRATIONS, Backend::Mysql)
                })
            }
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(conn) => {
                use crate::backend::sqlite::{MIGRATIONS, locked};
                locked(conn, timeout, |conn| {
                    operation.apply::<diesel::sqlite::Sqlite, _>(conn, &MIGRATIONS, Backend::Sqlite)
                })
            }
            // jobstore-storage may be built with a backend whose migrations this crate leaves out.
            #[allow(unreachable_patterns)]
            other => Err(MigrateError::BackendDisabled {
                backend: other.backend(),
            }),
        }
    }
}

/// Whether this build embeds the migrations of `backend`.
pub(crate) const fn built_in(backend: Backend) -> bool {
    match backend {
        Backend::Postgres => cfg!(feature = "postgres"),
        Backend::Mysql => cfg!(feature = "mysql"),
        Backend::Sqlite => cfg!(feature = "sqlite"),
    }
}

/// The migrations this build embeds for `backend`, oldest first;
/// [`MigrateError::BackendDisabled`] when it embeds none for that backend.
///
/// ```
/// use jobstore_migrator::embedded_migrations;
/// use jobstore_storage::Backend;
///
/// let names: Vec<String> = embedded_migrations(Backend::Sqlite)?
///     .iter()
///     .map(ToString::to_string)
///     .collect();
/// assert_eq!(names[0], "2026-11-22-000001_create_tenants_and_jobs");
/// # Ok::<(), jobstore_migrator::MigrateError>(())
/// ```
pub fn embedded_migrations(backend: Backend) -> Result<Vec<MigrationId>, MigrateError> {
    use crate::operations::{id_of, known};
    let ids = match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => known::<diesel::pg::Pg>(&crate::backend::postgres::MIGRATIONS)?
            .iter()
            .map(|m| id_of(&**m))
            .collect(),
        #[cfg(feature = "mysql")]
        Backend::Mysql => known::<diesel::mysql::Mysql>(&crate::backend::mysql::MIGRATIONS)?
            .iter()
            .map(|m| id_of(&**m))
            .collect(),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => known::<diesel::sqlite::Sqlite>(&crate::backend::sqlite::MIGRATIONS)?
            .iter()
            .map(|m| id_of(&**m))
            .collect(),
        #[allow(unreachable_patterns)]
        other => return Err(MigrateError::BackendDisabled { backend: other }),
    };
    Ok(ids)
}
