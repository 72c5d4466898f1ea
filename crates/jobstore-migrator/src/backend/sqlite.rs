//! SQLite: the embedded migrations, and one exclusive transaction around the work as its lock.
//!
//! SQLite has no advisory locks, so the database's own write lock is the migration lock: the whole
//! call runs in `BEGIN EXCLUSIVE` (through diesel's `exclusive_transaction`, so diesel knows the
//! transaction is open and runs each migration's own transaction as a savepoint inside it). A
//! second migrator's `BEGIN EXCLUSIVE` waits for the first to commit, then finds the migrations
//! applied. Relying on diesel's per-migration transactions and a busy timeout alone would not do:
//! both migrators would read the same pending list before either writes, and the second would fail
//! on `CREATE TABLE`. Side effect: on SQLite a call is all or nothing.
//!
//! The wait is the connection's busy timeout, set to the lock timeout while `BEGIN EXCLUSIVE`
//! waits and restored once it returns.

use std::time::{Duration, Instant};

use diesel::{RunQueryDsl, SqliteConnection, connection::SimpleConnection, sql_types::BigInt};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use jobstore_storage::Backend;

use crate::MigrateError;

/// The SQLite migrations, from `migrations/sqlite`.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

#[derive(diesel::QueryableByName)]
struct BusyTimeout {
    #[diesel(sql_type = BigInt)]
    timeout: i64,
}

/// Runs `work` in an exclusive transaction, committed if it succeeds and rolled back if not.
pub(crate) fn locked<T>(
    conn: &mut SqliteConnection,
    timeout: Duration,
    work: impl FnOnce(&mut SqliteConnection) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let previous = diesel::sql_query("PRAGMA busy_timeout")
        .get_result::<BusyTimeout>(conn)
        .map_err(lock_error)?
        .timeout;
    set_busy_timeout(conn, super::millis(timeout)).map_err(lock_error)?;
    let started = Instant::now();
    let mut began = false;
    let result = conn.exclusive_transaction(|conn| {
        began = true;
        set_busy_timeout(conn, previous)?;
        work(conn)
    });
    let restored = set_busy_timeout(conn, previous);
    let value = match result {
        Err(MigrateError::Database(error)) if !began => {
            return Err(if is_busy(&error) {
                MigrateError::LockTimeout {
                    backend: Backend::Sqlite,
                    waited: super::waited(started),
                }
            } else {
                lock_error(error)
            });
        }
        other => other?,
    };
    restored.map_err(lock_error)?;
    Ok(value)
}

fn set_busy_timeout(conn: &mut SqliteConnection, millis: i64) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!("PRAGMA busy_timeout = {millis}"))
}

/// Whether SQLite gave up waiting for another connection's lock (`SQLITE_BUSY`).
fn is_busy(error: &diesel::result::Error) -> bool {
    matches!(error, diesel::result::Error::DatabaseError(_, info)
        if info.message().contains("database is locked"))
}

fn lock_error(error: diesel::result::Error) -> MigrateError {
    MigrateError::Lock {
        backend: Backend::Sqlite,
        source: Box::new(error),
    }
}
