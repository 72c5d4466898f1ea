//! One connection type over the three backends, opened by URL scheme and set up the same way.

use std::time::Duration;

#[cfg(feature = "sqlite")]
use diesel::RunQueryDsl;
use diesel::{Connection, connection::SimpleConnection, r2d2::R2D2Connection};

use crate::{Backend, StorageError};

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!("jobstore-storage needs at least one backend feature: postgres, mysql or sqlite");

/// A connection to any of the backends this build includes.
///
/// Portable queries run on it directly; what differs per backend matches on it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// A PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(diesel::PgConnection),
    /// A MySQL or MariaDB connection.
    #[cfg(feature = "mysql")]
    Mysql(diesel::MysqlConnection),
    /// A SQLite connection.
    #[cfg(feature = "sqlite")]
    Sqlite(diesel::SqliteConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DbConnection")
            .field(&self.backend())
            .finish()
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(_) => Backend::Mysql,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Opens a connection to `url` and sets its session up (see [`Backend::from_url`]).
    ///
    /// The error names the backend and keeps the server's own message: an unknown scheme, a
    /// backend this build leaves out, or a server that refuses.
    pub fn open(url: &str, busy_timeout: Duration) -> Result<DbConnection, StorageError> {
        let backend = Backend::from_url(url)?;
        if !backend.is_enabled() {
            return Err(StorageError::BackendDisabled { backend });
        }
        let refused = |e: diesel::ConnectionError| StorageError::Connect {
            backend,
            reason: e.to_string().trim_end().to_owned(),
        };
        let mut conn = match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                DbConnection::Postgres(diesel::PgConnection::establish(url).map_err(refused)?)
            }
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                let url = url
                    .strip_prefix("mariadb://")
                    .map_or_else(|| url.to_owned(), |rest| format!("mysql://{rest}"));
                DbConnection::Mysql(diesel::MysqlConnection::establish(&url).map_err(refused)?)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                // `file:` URIs go to SQLite as they are; `sqlite://path` means the path.
                let path = url.strip_prefix("sqlite://").unwrap_or(url);
                DbConnection::Sqlite(diesel::SqliteConnection::establish(path).map_err(refused)?)
            }
            #[allow(unreachable_patterns)]
            _ => return Err(StorageError::BackendDisabled { backend }),
        };
        conn.set_up_session(busy_timeout)
            .map_err(|e| StorageError::Connect {
                backend,
                reason: e.to_string(),
            })?;
        Ok(conn)
    }

    /// Session settings every connection of a backend gets, so all behave alike.
    #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
    fn set_up_session(&mut self, busy_timeout: Duration) -> diesel::QueryResult<()> {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(conn) => conn.batch_execute("SET TIME ZONE 'UTC'"),
            // READ COMMITTED: claims take no gap locks, so they never block enqueues.
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(conn) => conn.batch_execute(
                "SET time_zone = '+00:00'; \
                 SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(conn) => {
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                    busy_timeout.as_millis()
                ))?;
                // WAL lets readers go on while one writer commits; an in-memory database has no WAL.
                diesel::sql_query("PRAGMA journal_mode = WAL").execute(conn)?;
                conn.batch_execute("PRAGMA synchronous = NORMAL")
            }
        }
    }

    /// Runs a trivial query: the health check.
    pub fn ping(&mut self) -> Result<(), StorageError> {
        R2D2Connection::ping(self).map_err(StorageError::from)
    }
}

/// Runs `$body` with `$inner` bound to the backend's own connection: for the statements the
/// backends do not share (batch inserts, row locks), written once for all three.
macro_rules! with_inner {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::DbConnection::Postgres($inner) => $body,
            #[cfg(feature = "mysql")]
            $crate::DbConnection::Mysql($inner) => $body,
            #[cfg(feature = "sqlite")]
            $crate::DbConnection::Sqlite($inner) => $body,
        }
    };
}
pub(crate) use with_inner;

/// A connection in the pool, and whether a call found it dead.
pub(crate) struct Pooled {
    pub(crate) conn: DbConnection,
    /// Set when a call failed because the server went away: the pool drops the connection
    /// instead of handing it out again (it is not pinged on every check-out).
    pub(crate) lost: bool,
}

impl Pooled {
    /// Runs `f` on the connection, remembering whether it found the connection dead.
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let result = f(&mut self.conn);
        if let Err(e) = &result {
            self.lost |= e.is_connection_lost();
        }
        result
    }
}

/// Opens pooled connections with [`DbConnection::open`], never trying one backend after another.
#[derive(Debug)]
pub(crate) struct ConnectionManager {
    pub(crate) url: String,
    pub(crate) busy_timeout: Duration,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = StorageError;

    fn connect(&self) -> Result<Pooled, StorageError> {
        Ok(Pooled {
            conn: DbConnection::open(&self.url, self.busy_timeout)?,
            lost: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), StorageError> {
        pooled.conn.ping()
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.lost || std::thread::panicking() || R2D2Connection::is_broken(&mut pooled.conn)
    }
}
