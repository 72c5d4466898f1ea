//! The database servers the tasks talk to: where they are (the suite's variables move them, as
//! the README says), an admin connection, and scratch databases on them.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use jobstore_storage::{Backend, DbConnection};

/// The variable that points the tasks at another server of `backend` (none for SQLite).
pub(crate) const fn url_var(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "JOBSTORE_TEST_POSTGRES_URL",
        Backend::Mysql => "JOBSTORE_TEST_MYSQL_URL",
        Backend::Sqlite => "",
    }
}

/// The URL of the server of `backend`: its variable, else the local default.
pub(crate) fn server_url(backend: Backend) -> String {
    let default = match backend {
        Backend::Postgres => "postgres://postgres@127.0.0.1:5432/test",
        Backend::Mysql => "mysql://root@127.0.0.1:3306/test",
        Backend::Sqlite => "",
    };
    std::env::var(url_var(backend)).unwrap_or_else(|_| default.to_owned())
}

/// `url` with its database replaced by `database`.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    format!("{scheme}://{authority}/{database}{query}")
}

/// Runs `sql` on a connection of its own.
pub(crate) fn admin(url: &str, sql: &str) -> Result<(), String> {
    DbConnection::open(url, Duration::from_secs(5))
        .map_err(|e| e.to_string())?
        .batch_execute(sql)
        .map_err(|e| format!("{sql}: {e}"))
}

/// The statement that drops database `name` even while connections are open on it.
pub(crate) fn drop_database(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    }
}

/// Creates database `name` on the server of `backend` afresh, and returns its URL.
pub(crate) fn fresh_database(backend: Backend, name: &str) -> Result<String, String> {
    let server = server_url(backend);
    admin(&server, &drop_database(backend, name))?;
    admin(&server, &format!("CREATE DATABASE {name}"))?;
    Ok(with_database(&server, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_keeps_everything_but_the_database() {
        assert_eq!(
            with_database("mysql://root:pw@h:3306/test?ssl_mode=DISABLED", "scratch"),
            "mysql://root:pw@h:3306/scratch?ssl_mode=DISABLED"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
