//! What differs per backend, in one place each: the embedded migrations and the lock that keeps
//! two migrators from running at once.
//!
//! - PostgreSQL: a session-level advisory lock (`pg_advisory_lock` semantics, polled with
//!   `pg_try_advisory_lock` so the wait has a timeout), scoped to the database.
//! - MySQL/MariaDB: a named lock (`GET_LOCK`), named after the database, since named locks are
//!   server-wide.
//! - SQLite: the whole call runs in one `BEGIN EXCLUSIVE` transaction (each migration a savepoint
//!   within it), waiting for the write lock up to the lock timeout.

#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

/// Calls `try_once` until it answers true or `timeout` has passed (it is always called at least
/// once), sleeping a little longer each time. Answers whether it succeeded.
#[cfg(feature = "postgres")]
fn poll<E>(
    timeout: std::time::Duration,
    mut try_once: impl FnMut() -> Result<bool, E>,
) -> Result<bool, E> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        if try_once()? {
            return Ok(true);
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Ok(false);
        }
        std::thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(std::time::Duration::from_millis(250));
    }
}

/// Converts a timeout to whole milliseconds for SQLite's busy timeout (a C `int`), saturating.
#[cfg(feature = "sqlite")]
fn millis(timeout: std::time::Duration) -> i64 {
    i32::try_from(timeout.as_millis()).map_or(i64::from(i32::MAX), i64::from)
}

/// How long since `started`, for timeout errors.
fn waited(started: std::time::Instant) -> std::time::Duration {
    started.elapsed()
}
