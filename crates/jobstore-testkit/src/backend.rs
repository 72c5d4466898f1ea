//! Which backends tests run on, where their servers are, and which of them must run: the one
//! home of the test variables (`JOBSTORE_TEST_POSTGRES_URL`, `JOBSTORE_TEST_MYSQL_URL`,
//! `JOBSTORE_REQUIRE`, `JOBSTORE_TEST_KEEP`) and of their defaults.

use std::fmt;

use jobstore_storage::Backend;

/// The PostgreSQL server used when `JOBSTORE_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The MySQL/MariaDB server used when `JOBSTORE_TEST_MYSQL_URL` is not set.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The environment variable naming the PostgreSQL server tests make their databases on.
pub const POSTGRES_URL_VAR: &str = "JOBSTORE_TEST_POSTGRES_URL";
/// The environment variable naming the MySQL/MariaDB server tests make their databases on.
pub const MYSQL_URL_VAR: &str = "JOBSTORE_TEST_MYSQL_URL";
/// The environment variable naming the backends that must run (a comma list, or `all`): an
/// unreachable server of a required backend fails its tests instead of skipping them.
pub const REQUIRE_VAR: &str = "JOBSTORE_REQUIRE";
/// The environment variable that keeps test databases after the run (for a post-mortem) when
/// set to `1`; kept databases are named `jobstore_keep_…` and never swept.
pub const KEEP_VAR: &str = "JOBSTORE_TEST_KEEP";

/// A backend tests run on.
///
/// ```
/// use jobstore_testkit::TestBackend;
///
/// assert_eq!(TestBackend::Mysql.name(), "mysql");
/// assert_eq!("mariadb".parse::<TestBackend>(), Ok(TestBackend::Mysql));
/// assert_eq!(TestBackend::Sqlite.server_url(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestBackend {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite (always available when built in).
    Sqlite,
}

impl TestBackend {
    /// Every backend.
    pub const ALL: [TestBackend; 3] = [
        TestBackend::Postgres,
        TestBackend::Mysql,
        TestBackend::Sqlite,
    ];

    /// The backend's name, as in test paths, Cargo features and `JOBSTORE_REQUIRE`.
    pub const fn name(self) -> &'static str {
        match self {
            TestBackend::Postgres => "postgres",
            TestBackend::Mysql => "mysql",
            TestBackend::Sqlite => "sqlite",
        }
    }

    /// jobstore-storage's name for the backend.
    pub const fn backend(self) -> Backend {
        match self {
            TestBackend::Postgres => Backend::Postgres,
            TestBackend::Mysql => Backend::Mysql,
            TestBackend::Sqlite => Backend::Sqlite,
        }
    }

    /// The environment variable naming the backend's server (`None` for SQLite).
    pub const fn url_var(self) -> Option<&'static str> {
        match self {
            TestBackend::Postgres => Some(POSTGRES_URL_VAR),
            TestBackend::Mysql => Some(MYSQL_URL_VAR),
            TestBackend::Sqlite => None,
        }
    }

    /// The server used when the variable is not set (`None` for SQLite).
    pub const fn default_url(self) -> Option<&'static str> {
        match self {
            TestBackend::Postgres => Some(DEFAULT_POSTGRES_URL),
            TestBackend::Mysql => Some(DEFAULT_MYSQL_URL),
            TestBackend::Sqlite => None,
        }
    }

    /// The URL of the server test databases are made on (`None` for SQLite): the environment
    /// variable's value when it is set and not blank, else the default.
    pub fn server_url(self) -> Option<String> {
        let default = self.default_url()?;
        let set = self
            .url_var()
            .and_then(|var| std::env::var(var).ok())
            .filter(|url| !url.trim().is_empty());
        Some(set.unwrap_or_else(|| default.to_owned()))
    }

    /// Whether `JOBSTORE_REQUIRE` names this backend: then a server that cannot be reached
    /// fails the tests that need it.
    pub fn is_required(self) -> bool {
        is_required_by(self, &std::env::var(REQUIRE_VAR).unwrap_or_default())
    }
}

/// Whether the comma list `list` (the value of `JOBSTORE_REQUIRE`) names `backend`.
fn is_required_by(backend: TestBackend, list: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .any(|name| {
            name.eq_ignore_ascii_case("all")
                || name
                    .parse::<TestBackend>()
                    .is_ok_and(|named| named == backend)
        })
}

impl fmt::Display for TestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TestBackend {
    type Err = UnknownBackend;

    /// A backend by name, as `JOBSTORE_REQUIRE` spells them: `postgres` (or `postgresql`),
    /// `mysql` (or `mariadb`), `sqlite`; any case.
    fn from_str(name: &str) -> Result<TestBackend, UnknownBackend> {
        match name.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(TestBackend::Postgres),
            "mysql" | "mariadb" => Ok(TestBackend::Mysql),
            "sqlite" => Ok(TestBackend::Sqlite),
            _ => Err(UnknownBackend(name.to_owned())),
        }
    }
}

/// A name that is no backend's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {0:?} (expected postgres, mysql or sqlite)")]
pub struct UnknownBackend(pub String);

impl From<TestBackend> for Backend {
    fn from(backend: TestBackend) -> Backend {
        backend.backend()
    }
}

impl From<Backend> for TestBackend {
    fn from(backend: Backend) -> TestBackend {
        match backend {
            Backend::Postgres => TestBackend::Postgres,
            Backend::Mysql => TestBackend::Mysql,
            Backend::Sqlite => TestBackend::Sqlite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_require_list_names_backends_by_any_spelling_or_all() {
        assert!(is_required_by(TestBackend::Mysql, "postgres, MariaDB"));
        assert!(is_required_by(TestBackend::Postgres, "postgresql"));
        assert!(is_required_by(TestBackend::Sqlite, "all"));
        assert!(!is_required_by(TestBackend::Sqlite, "postgres,mysql"));
        assert!(!is_required_by(TestBackend::Postgres, ""));
    }
}
