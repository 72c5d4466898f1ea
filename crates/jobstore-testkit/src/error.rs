//! The kit's one error type: a backend that cannot be used here, or a step of making a test
//! database that failed once the backend answered.

use std::sync::Arc;

use jobstore_migrator::MigrateError;
use jobstore_storage::StorageError;

use crate::TestBackend;

/// What went wrong making, using or removing a test database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KitError {
    /// The backend's server cannot be reached. Tests skip an unavailable backend unless
    /// `JOBSTORE_REQUIRE` names it.
    #[error("{backend}: cannot connect to {server}")]
    Unavailable {
        /// The backend.
        backend: TestBackend,
        /// The server's URL, without its password.
        server: String,
        /// Why connecting failed (shared by every test that found the server unavailable).
        #[source]
        source: Arc<StorageError>,
    },
    /// This build leaves the backend out: its Cargo feature is off. Tests skip it like an
    /// unreachable server unless `JOBSTORE_REQUIRE` names it.
    #[error("{backend}: not built in (enable the `{backend}` feature)")]
    NotBuilt {
        /// The backend.
        backend: TestBackend,
    },
    /// A statement or a connection failed after the server had answered.
    #[error("{backend}: {doing}")]
    Storage {
        /// The backend.
        backend: TestBackend,
        /// What the kit was doing (the statement, or the database it connected to).
        doing: String,
        /// The database's error.
        #[source]
        source: StorageError,
    },
    /// Migrating a template or an in-memory database failed.
    #[error("{backend}: migrating {database}")]
    Migrate {
        /// The backend.
        backend: TestBackend,
        /// The database being migrated.
        database: String,
        /// The migrator's error.
        #[source]
        source: MigrateError,
    },
    /// Another test process held the template lock for too long.
    #[error("{backend}: timed out waiting for lock {lock}")]
    LockTimeout {
        /// The backend.
        backend: TestBackend,
        /// The lock's name.
        lock: String,
    },
    /// A SQLite file could not be written, read or removed.
    #[error("{doing} {path}")]
    File {
        /// What the kit was doing.
        doing: &'static str,
        /// The file.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl KitError {
    /// Whether the backend cannot be used here at all (rather than failing once it answered).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            KitError::Unavailable { .. } | KitError::NotBuilt { .. }
        )
    }

    /// The error and its causes on one line, as test output shows them.
    pub fn describe(&self) -> String {
        chain(self)
    }

    /// A statement's failure.
    pub(crate) fn storage(
        backend: TestBackend,
        doing: impl Into<String>,
    ) -> impl FnOnce(StorageError) -> KitError {
        let doing = doing.into();
        move |source| KitError::Storage {
            backend,
            doing,
            source,
        }
    }

    /// A driver's failure, with what the kit was doing.
    pub(crate) fn diesel(
        backend: TestBackend,
        doing: impl Into<String>,
    ) -> impl FnOnce(diesel::result::Error) -> KitError {
        let doing = doing.into();
        move |source| KitError::Storage {
            backend,
            doing,
            source: StorageError::from(source),
        }
    }
}

/// The error's whole chain on one line, as test output shows it.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        next = cause.source();
    }
    one_line(&text)
}

/// A driver's (often multi-line) message on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
