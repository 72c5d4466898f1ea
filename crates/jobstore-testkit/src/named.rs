//! Named databases outside the per-test ones, for tools (benchmarks, restart drills) that need
//! one database of a fixed name on a test server.

use diesel::connection::SimpleConnection;
use jobstore_storage::DbConnection;

use crate::{KitError, TestBackend, redact, server, with_database};

/// The statement that drops database `name` on `backend`'s server, even while connections
/// are open on it where the backend allows.
///
/// ```
/// use jobstore_testkit::{TestBackend, drop_database_statement};
///
/// assert_eq!(
///     drop_database_statement(TestBackend::Postgres, "bench"),
///     "DROP DATABASE IF EXISTS bench WITH (FORCE)"
/// );
/// ```
pub fn drop_database_statement(backend: TestBackend, name: &str) -> String {
    server::drop_database(backend, name)
}

/// Runs `sql` (one or more statements) on a connection of its own to `url`.
pub fn execute(url: &str, sql: &str) -> Result<(), KitError> {
    let backend = jobstore_storage::Backend::from_url(url)
        .map(TestBackend::from)
        .unwrap_or(TestBackend::Sqlite);
    DbConnection::open(url, server::CONNECT_TIMEOUT)
        .map_err(KitError::storage(
            backend,
            format!("connecting to {}", redact(url)),
        ))?
        .batch_execute(sql)
        .map_err(KitError::diesel(backend, sql))
}

/// Creates database `name` afresh on `backend`'s server (dropping any of that name) and
/// returns its URL. Not a test database: nothing drops or sweeps it.
pub fn recreate_database(backend: TestBackend, name: &str) -> Result<String, KitError> {
    let server = backend.server_url().unwrap_or_default();
    execute(&server, &server::drop_database(backend, name))?;
    execute(&server, &server::create_database(backend, name))?;
    Ok(with_database(&server, name))
}
