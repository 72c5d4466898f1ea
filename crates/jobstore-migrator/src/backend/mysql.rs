//! MySQL and MariaDB: the embedded migrations, and a named lock (`GET_LOCK`) held around the work.

use std::time::{Duration, Instant};

use diesel::{
    MysqlConnection, RunQueryDsl,
    sql_types::{BigInt, Nullable, Text},
};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use jobstore_storage::Backend;

use crate::MigrateError;

/// The MySQL/MariaDB migrations, from `migrations/mysql`.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");

/// The lock's name: named locks are server-wide, so the name carries the database's
/// (`jobstore_migrations.<database>`, cut to the 64 characters a lock name may have).
const LOCK_NAME: &str =
    "SELECT LEFT(CONCAT('jobstore_migrations.', COALESCE(DATABASE(), '')), 64) AS name";

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Answer {
    #[diesel(sql_type = Nullable<BigInt>)]
    answer: Option<i64>,
}

/// Runs `work` while holding the migration lock, released on every path (on unwind too).
pub(crate) fn locked<T>(
    conn: &mut MysqlConnection,
    timeout: Duration,
    work: impl FnOnce(&mut MysqlConnection) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    let guard = Guard::acquire(conn, timeout)?;
    guard.run(work)
}

/// Holds the named lock; releases it when released or dropped.
struct Guard<'c> {
    conn: &'c mut MysqlConnection,
    name: String,
    held: bool,
}

impl<'c> Guard<'c> {
    fn acquire(conn: &'c mut MysqlConnection, timeout: Duration) -> Result<Self, MigrateError> {
        let name = diesel::sql_query(LOCK_NAME)
            .get_result::<Name>(conn)
            .map_err(lock_error)?
            .name;
        // GET_LOCK waits whole seconds; round up so a short timeout still waits a little.
        let seconds = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
        let seconds = seconds.saturating_add(i64::from(timeout.subsec_nanos() > 0));
        let started = Instant::now();
        let got = diesel::sql_query("SELECT CAST(GET_LOCK(?, ?) AS SIGNED) AS answer")
            .bind::<Text, _>(&name)
            .bind::<BigInt, _>(seconds)
            .get_result::<Answer>(conn)
            .map_err(lock_error)?;
        match got.answer {
            Some(1) => Ok(Self {
                conn,
                name,
                held: true,
            }),
            Some(_) => Err(MigrateError::LockTimeout {
                backend: Backend::Mysql,
                waited: super::waited(started),
            }),
            None => Err(MigrateError::Lock {
                backend: Backend::Mysql,
                source: format!("GET_LOCK({name:?}) failed").into(),
            }),
        }
    }

    /// Runs `work`, then releases the lock; the work's error wins over a release error.
    fn run<T>(
        mut self,
        work: impl FnOnce(&mut MysqlConnection) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let result = work(self.conn);
        self.held = false;
        let released = release(self.conn, &self.name);
        let value = result?;
        released?;
        Ok(value)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.held {
            // Unwinding: best effort; the lock goes with the session anyway.
            let _ = release(self.conn, &self.name);
        }
    }
}

fn release(conn: &mut MysqlConnection, name: &str) -> Result<(), MigrateError> {
    let released = diesel::sql_query("SELECT CAST(RELEASE_LOCK(?) AS SIGNED) AS answer")
        .bind::<Text, _>(name)
        .get_result::<Answer>(conn)
        .map_err(lock_error)?;
    if released.answer == Some(1) {
        Ok(())
    } else {
        Err(MigrateError::Lock {
            backend: Backend::Mysql,
            source: format!("the named lock {name:?} was no longer held when released").into(),
        })
    }
}

fn lock_error(error: diesel::result::Error) -> MigrateError {
    MigrateError::Lock {
        backend: Backend::Mysql,
        source: Box::new(error),
    }
}
