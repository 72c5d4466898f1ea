//! One connection type over the three backends, opened by URL scheme and set up the same way.

use std::time::Duration;

use diesel::{Connection, r2d2::R2D2Connection};

use crate::{Backend, StorageError, dialect};

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!("jobstore-storage needs at least one backend feature: postgres, mysql or sqlite");

/// A connection to any of the backends this build includes.
///
/// Portable queries run on it directly; what differs per backend matches on it, in one module.
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
        dialect::backend_of(self)
    }

    /// Opens a connection to `url` and sets its session up (see [`Backend::from_url`]); its
    /// statements are traced (see the crate documentation).
    ///
    /// The error names the backend and keeps the driver's error as its source: an unknown
    /// scheme, a backend this build leaves out, or a server that refuses.
    pub fn open(url: &str, busy_timeout: Duration) -> Result<DbConnection, StorageError> {
        let backend = Backend::from_url(url)?;
        if !backend.is_enabled() {
            return Err(StorageError::BackendDisabled { backend });
        }
        let mut conn = dialect::establish(backend, url)?;
        dialect::set_up_session(&mut conn, busy_timeout)
            .map_err(|source| StorageError::Session { backend, source })?;
        conn.set_instrumentation(crate::trace::StatementLog::default());
        Ok(conn)
    }

    /// Runs a trivial query: the health check.
    pub fn ping(&mut self) -> Result<(), StorageError> {
        R2D2Connection::ping(self).map_err(StorageError::from)
    }
}

/// A connection in the pool, and whether a call found it dead.
pub(crate) struct Pooled {
    pub(crate) conn: DbConnection,
    /// Set when a call failed because the server went away: the pool drops the connection
    /// instead of handing it out again (it is not pinged on every check-out).
    pub(crate) lost: bool,
}

impl Pooled {
    /// Runs `f` on the connection, remembering whether it found the connection dead. An error
    /// that names no cause is checked with a ping: when the connection no longer answers, the
    /// error is [`StorageError::ConnectionLost`] (MySQL's driver reports a lost server only in
    /// prose).
    pub(crate) fn run<T>(
        &mut self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match f(&mut self.conn) {
            Err(StorageError::Database(source))
                if !is_classified(&source) && self.conn.ping().is_err() =>
            {
                self.lost = true;
                Err(StorageError::ConnectionLost { source })
            }
            Err(e @ StorageError::ConnectionLost { .. }) => {
                self.lost = true;
                Err(e)
            }
            other => other,
        }
    }
}

/// Whether the database answered the statement (a constraint refused it, no row was found):
/// such an error came from a live connection.
fn is_classified(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::NotFound => true,
        Error::DatabaseError(kind, _) => matches!(
            kind,
            DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ReadOnlyTransaction
        ),
        _ => false,
    }
}

/// A connection error as the pool keeps it: r2d2 keeps only an error's text for its time-out
/// error, so that text carries the causes too ("cannot connect to mysql: Can't connect to ...").
#[derive(Debug)]
pub(crate) struct WithCauses(StorageError);

impl std::fmt::Display for WithCauses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(cause) = source {
            write!(f, ": {}", cause.to_string().trim_end())?;
            source = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for WithCauses {}

/// Opens pooled connections with [`DbConnection::open`], never trying one backend after another.
#[derive(Debug)]
pub(crate) struct ConnectionManager {
    pub(crate) url: String,
    pub(crate) busy_timeout: Duration,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = Pooled;
    type Error = WithCauses;

    fn connect(&self) -> Result<Pooled, WithCauses> {
        Ok(Pooled {
            conn: DbConnection::open(&self.url, self.busy_timeout).map_err(WithCauses)?,
            lost: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), WithCauses> {
        pooled.conn.ping().map_err(WithCauses)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.lost || std::thread::panicking() || R2D2Connection::is_broken(&mut pooled.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pools_error_text_keeps_the_drivers_reason() {
        let refused = StorageError::Connect {
            backend: Backend::Mysql,
            source: diesel::ConnectionError::BadConnection("Can't connect to server".to_owned()),
        };
        assert_eq!(
            WithCauses(refused).to_string(),
            "cannot connect to mysql: Can't connect to server"
        );
    }
}
