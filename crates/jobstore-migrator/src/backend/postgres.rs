//! PostgreSQL: the embedded migrations, and a session-level advisory lock held around the work.

use std::time::{Duration, Instant};

use diesel::{PgConnection, RunQueryDsl, sql_types::BigInt, sql_types::Bool};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use jobstore_storage::Backend;

use crate::MigrateError;

/// The PostgreSQL migrations, from `migrations/postgres`.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The advisory lock key.
const LOCK_KEY: i64 = crate::POSTGRES_LOCK_KEY;

#[derive(diesel::QueryableByName)]
struct Answer {
    #[diesel(sql_type = Bool)]
    answer: bool,
}

/// Runs `work` while holding the migration lock, released on every path (on unwind too).
pub(crate) fn locked<T>(
    conn: &mut PgConnection,
    timeout: Duration,
    work: impl FnOnce(&mut PgConnection) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let guard = Guard::acquire(conn, timeout)?;
    guard.run(work)
}

/// Holds the advisory lock; unlocks when released or dropped.
struct Guard<'c> {
    conn: &'c mut PgConnection,
    held: bool,
}

impl<'c> Guard<'c> {
    fn acquire(conn: &'c mut PgConnection, timeout: Duration) -> Result<Self, MigrateError> {
        let started = Instant::now();
        let acquired = super::poll(timeout, || {
            diesel::sql_query("SELECT pg_try_advisory_lock($1) AS answer")
                .bind::<BigInt, _>(LOCK_KEY)
                .get_result::<Answer>(conn)
                .map(|a| a.answer)
        })
        .map_err(lock_error)?;
        if !acquired {
            return Err(MigrateError::LockTimeout {
                backend: Backend::Postgres,
                waited: super::waited(started),
            });
        }
        Ok(Self { conn, held: true })
    }

    /// Runs `work`, then unlocks; the work's error wins over an unlock error.
    fn run<T>(
        mut self,
        work: impl FnOnce(&mut PgConnection) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let result = work(self.conn);
        self.held = false;
        let released = unlock(self.conn);
        let value = result?;
        released?;
        Ok(value)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.held {
            // Unwinding: best effort; the lock goes with the session anyway.
            let _ = unlock(self.conn);
        }
    }
}

fn unlock(conn: &mut PgConnection) -> Result<(), MigrateError> {
    let released = diesel::sql_query("SELECT pg_advisory_unlock($1) AS answer")
        .bind::<BigInt, _>(LOCK_KEY)
        .get_result::<Answer>(conn)
        .map_err(lock_error)?;
    if released.answer {
        Ok(())
    } else {
        Err(MigrateError::Lock {
            backend: Backend::Postgres,
            source: "the advisory lock was no longer held when released".into(),
        })
    }
}

fn lock_error(error: diesel::result::Error) -> MigrateError {
    MigrateError::Lock {
        backend: Backend::Postgres,
        source: Box::new(error),
    }
}
