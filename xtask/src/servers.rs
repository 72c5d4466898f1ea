//! The database servers the tasks talk to: where they are (the suite's variables move them, as
//! the README says), an admin connection, and scratch databases on them. Every answer comes from
//! jobstore-testkit, the one home of the test servers' URLs and of the SQL that makes and drops
//! databases; these wrappers keep the tasks' `Backend` and `String` errors.

use jobstore_storage::Backend;
use jobstore_testkit::TestBackend;

/// The variable that points the tasks at another server of `backend` (none for SQLite).
pub(crate) fn url_var(backend: Backend) -> &'static str {
    TestBackend::from(backend).url_var().unwrap_or_default()
}

/// The URL of the server of `backend`: its variable, else the local default.
pub(crate) fn server_url(backend: Backend) -> String {
    TestBackend::from(backend).server_url().unwrap_or_default()
}

/// Runs `sql` on a connection of its own.
pub(crate) fn admin(url: &str, sql: &str) -> Result<(), String> {
    jobstore_testkit::execute(url, sql).map_err(|e| e.describe())
}

/// The statement that drops database `name` even while connections are open on it.
pub(crate) fn drop_database(backend: Backend, name: &str) -> String {
    jobstore_testkit::drop_database_statement(backend.into(), name)
}

/// Creates database `name` on the server of `backend` afresh, and returns its URL.
pub(crate) fn fresh_database(backend: Backend, name: &str) -> Result<String, String> {
    jobstore_testkit::recreate_database(backend.into(), name).map_err(|e| e.describe())
}
