//! The migrator's error type: what can go wrong opening, locking, migrating and reverting.

use std::time::Duration;

use jobstore_storage::{Backend, StorageError};

use crate::MigrationId;

/// An error as the migration machinery reports it (diesel_migrations' boxed errors).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which way a failed migration was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Applying the migration (`up.sql`).
    Up,
    /// Reverting the migration (`down.sql`).
    Down,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "apply",
            Direction::Down => "revert",
        })
    }
}

/// Why a migrator call failed.
///
/// When a migration fails, the migrations before it in the same call stay applied (or reverted) on
/// PostgreSQL and MySQL/MariaDB, whereas on SQLite the whole call is rolled back (see
/// [`Migrator`](crate::Migrator)); [`Migrator::status`](crate::Migrator::status) tells where the
/// database stands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database could not be opened: a bad URL, a backend this build leaves out, a server that
    /// cannot be reached or refuses the connection.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// This build embeds no migrations for the database's backend: enable the crate's feature.
    #[error("the {backend} migrations are not built in: enable jobstore-migrator's `{}` feature", backend.feature())]
    BackendDisabled {
        /// The backend asked for.
        backend: Backend,
    },
    /// Another migrator held the migration lock for longer than the lock timeout.
    #[error(
        "timed out after {waited:?} waiting for the {backend} migration lock: another migrator is running"
    )]
    LockTimeout {
        /// The backend whose lock was wanted.
        backend: Backend,
        /// How long the migrator waited.
        waited: Duration,
    },
    /// Taking or releasing the migration lock failed (the database refused, or the lock had been
    /// lost by the time it was released).
    #[error("migration lock on {backend}: {source}")]
    Lock {
        /// The backend whose lock it was.
        backend: Backend,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// A migration's SQL failed. Its own changes were rolled back where the backend can roll back
    /// DDL (PostgreSQL, SQLite; not MySQL/MariaDB, whose DDL commits implicitly).
    #[error("cannot {direction} migration {migration}: {source}")]
    Migration {
        /// The migration that failed.
        migration: MigrationId,
        /// Whether it was being applied or reverted.
        direction: Direction,
        /// The database's error.
        #[source]
        source: BoxError,
    },
    /// A revert (or redo) was asked for, but no migration is applied.
    #[error("nothing to revert: no migration is applied")]
    NothingToRevert,
    /// The database records a migration this build does not embed (it was applied by a newer
    /// build), so it cannot be reverted here.
    #[error("migration {version} is applied but unknown to this build: it cannot be reverted")]
    UnknownMigration {
        /// The version recorded in `__diesel_schema_migrations`.
        version: String,
    },
    /// Reading or creating the bookkeeping table (`__diesel_schema_migrations`) failed.
    #[error("cannot read the applied migrations: {source}")]
    Bookkeeping {
        /// The database's error.
        #[source]
        source: BoxError,
    },
    /// Any other database error, such as a transaction that could not commit.
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

impl MigrateError {
    /// Wraps a migration's failure, keeping diesel's error when it is one, and otherwise the
    /// message without diesel_migrations' "Failed to run <name> with: " preamble (its error type is
    /// private, so the message is all there is).
    pub(crate) fn migration(migration: MigrationId, direction: Direction, error: BoxError) -> Self {
        let source = match error.downcast::<diesel::result::Error>() {
            Ok(diesel_error) => diesel_error,
            Err(other) => {
                let message = other.to_string();
                let stripped = message
                    .strip_prefix("Failed to run ")
                    .and_then(|rest| rest.split_once(" with: "))
                    .map_or(message.as_str(), |(_, reason)| reason);
                if stripped.len() == message.len() {
                    other
                } else {
                    BoxError::from(stripped.to_owned())
                }
            }
        };
        MigrateError::Migration {
            migration,
            direction,
            source,
        }
    }

    /// Wraps a failure to read or create the bookkeeping table.
    pub(crate) fn bookkeeping(source: BoxError) -> Self {
        MigrateError::Bookkeeping { source }
    }
}
