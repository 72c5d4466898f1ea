//! Where the database is and how the pool behaves: from a URL, or from the environment.

use std::{collections::HashMap, env, path::Path, time::Duration};

use crate::StorageError;

/// The file the embedded default uses, in the current folder.
pub const DEFAULT_SQLITE_PATH: &str = "jobstore.db";

/// A database backend jobstore runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (the primary production backend).
    Postgres,
    /// MySQL 8 or MariaDB 10.6 and later.
    Mysql,
    /// SQLite (embedded; the zero-set-up default).
    Sqlite,
}

impl Backend {
    /// The backend's name, as shown to people.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The Cargo feature that builds this backend in.
    pub const fn feature(self) -> &'static str {
        self.name()
    }

    /// Which backend a database URL names: `postgres://` or `postgresql://`, `mysql://` or
    /// `mariadb://`, `sqlite://`, a file path or `:memory:`.
    ///
    /// ```
    /// use jobstore_storage::Backend;
    ///
    /// assert_eq!(Backend::from_url("postgres://127.0.0.1/test").unwrap(), Backend::Postgres);
    /// assert_eq!(Backend::from_url("data/jobs.db").unwrap(), Backend::Sqlite);
    /// assert!(Backend::from_url("oracle://db").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<Backend, StorageError> {
        match url.split_once("://") {
            Some(("postgres" | "postgresql", _)) => Ok(Backend::Postgres),
            Some(("mysql" | "mariadb", _)) => Ok(Backend::Mysql),
            Some(("sqlite" | "file", _)) => Ok(Backend::Sqlite),
            Some((scheme, _)) => Err(StorageError::UnsupportedUrl {
                scheme: scheme.to_owned(),
            }),
            None if url.trim().is_empty() => Err(StorageError::UnsupportedUrl {
                scheme: String::new(),
            }),
            // A path, `:memory:` or a `file:` URI (SQLite's own URI form).
            None => Ok(Backend::Sqlite),
        }
    }

    /// Whether this build of jobstore includes the backend.
    pub const fn is_enabled(self) -> bool {
        match self {
            Backend::Postgres => cfg!(feature = "postgres"),
            Backend::Mysql => cfg!(feature = "mysql"),
            Backend::Sqlite => cfg!(feature = "sqlite"),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to reach the database and size the connection pool.
///
/// The pool defaults are those of the Itinerary database layer: 25 open connections, 5 kept
/// idle, each replaced after 5 minutes and closed after 5 idle minutes.
///
/// ```
/// use std::time::Duration;
/// use jobstore_storage::StoreConfig;
///
/// let config = StoreConfig { max_open: 8, ..StoreConfig::new("postgres://127.0.0.1/test") };
/// assert_eq!(config.max_idle, 5);
/// assert_eq!(config.max_lifetime, Some(Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database URL (see [`Backend::from_url`]).
    pub url: String,
    /// The most connections open at once.
    pub max_open: u32,
    /// Connections kept open while idle.
    pub max_idle: u32,
    /// Connections are replaced after this long.
    pub max_lifetime: Option<Duration>,
    /// Idle connections beyond `max_idle` are closed after this long.
    pub max_idle_time: Option<Duration>,
    /// How long to wait for a connection from the pool (or for a server to answer).
    pub connect_timeout: Duration,
    /// How long SQLite waits for another writer's lock before giving up.
    pub busy_timeout: Duration,
    /// PostgreSQL: whether every write that makes jobs PENDING sends a notification to the
    /// workers in [`crate::Store::wait_for_work`] (default `true`). PostgreSQL serialises the
    /// commits of notifying transactions: measured here with 8 threads enqueueing one job a
    /// call, 1,478-1,735 jobs/s with notifications against 1,893-2,261 without. Turn it off
    /// when many writers enqueue one job at a time and no worker waits; waiters then find work
    /// by their re-check, once a second.
    pub notify_workers: bool,
}

impl StoreConfig {
    /// A configuration for `url` with the default pool settings.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_open: 25,
            max_idle: 5,
            max_lifetime: Some(Duration::from_secs(5 * 60)),
            max_idle_time: Some(Duration::from_secs(5 * 60)),
            connect_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            notify_workers: true,
        }
    }

    /// Checks the pool settings (the pool refuses zero durations).
    pub fn validate(&self) -> Result<(), StorageError> {
        let zero = |d: Option<Duration>| d.is_some_and(|d| d.is_zero());
        if self.connect_timeout.is_zero() || zero(self.max_lifetime) || zero(self.max_idle_time) {
            return Err(StorageError::Config {
                reason: "connect_timeout, max_lifetime and max_idle_time must not be zero (use None for no limit)".to_owned(),
            });
        }
        Ok(())
    }

    /// The backend the URL names.
    pub fn backend(&self) -> Result<Backend, StorageError> {
        Backend::from_url(&self.url)
    }

    /// The configuration from the process environment, then a `.env` file in the current folder:
    /// `DATABASE_URL`; else `DB_TYPE=mysql` with `MYSQL_HOST`, `MYSQL_PORT` (3306), `MYSQL_USER`,
    /// `MYSQL_PASSWORD`, `MYSQL_DATABASE` and `MYSQL_PARAMS`; else `SQLITE_PATH`; else
    /// [`DEFAULT_SQLITE_PATH`].
    pub fn from_env() -> Result<Self, StorageError> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        Self::from_vars(|name| env::var(name).ok().or_else(|| dotenv.get(name).cloned()))
    }

    /// As [`StoreConfig::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, StorageError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(url) = set("DATABASE_URL") {
            return Ok(Self::new(url));
        }
        let db_type = set("DB_TYPE").map(|t| t.to_ascii_lowercase());
        match db_type.as_deref() {
            Some("mysql" | "mariadb") => {
                let required = |name: &str| {
                    set(name).ok_or_else(|| StorageError::Config {
                        reason: format!("DB_TYPE=mysql needs {name}"),
                    })
                };
                let host = required("MYSQL_HOST")?;
                let user = required("MYSQL_USER")?;
                let password = var("MYSQL_PASSWORD").unwrap_or_default();
                let database = required("MYSQL_DATABASE")?;
                let port = set("MYSQL_PORT").unwrap_or_else(|| "3306".to_owned());
                if port.parse::<u16>().is_err() {
                    return Err(StorageError::Config {
                        reason: format!("MYSQL_PORT {port:?} is not a port number"),
                    });
                }
                let credentials = if password.is_empty() {
                    percent_encode(&user)
                } else {
                    format!("{}:{}", percent_encode(&user), percent_encode(&password))
                };
                let params = set("MYSQL_PARAMS")
                    .map(|p| format!("?{p}"))
                    .unwrap_or_default();
                Ok(Self::new(format!(
                    "mysql://{credentials}@{host}:{port}/{}{params}",
                    percent_encode(&database)
                )))
            }
            Some("postgres" | "postgresql") => Err(StorageError::Config {
                reason: "DB_TYPE=postgres needs DATABASE_URL".to_owned(),
            }),
            None | Some("sqlite" | "sqlite3") => Ok(Self::new(
                set("SQLITE_PATH").unwrap_or_else(|| DEFAULT_SQLITE_PATH.to_owned()),
            )),
            Some(other) => Err(StorageError::Config {
                reason: format!("DB_TYPE {other:?} is not mysql or sqlite"),
            }),
        }
    }
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, StorageError> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    dotenvy::from_path_iter(path)
        .and_then(|vars| vars.collect::<Result<HashMap<_, _>, _>>())
        .map_err(|e| StorageError::Config {
            reason: format!("cannot read {}: {e}", path.display()),
        })
}

/// Escapes what a URL's user, password or path may not hold as is.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<StoreConfig, StorageError> {
        StoreConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn database_url_wins() {
        let c = config(&[("DATABASE_URL", "postgres://h/db"), ("DB_TYPE", "mysql")]).unwrap();
        assert_eq!(c.url, "postgres://h/db");
    }

    #[test]
    fn seed_mysql_variables_make_a_url() {
        let c = config(&[
            ("DB_TYPE", "mysql"),
            ("MYSQL_HOST", "localhost"),
            ("MYSQL_USER", "root"),
            ("MYSQL_PASSWORD", "p@ss word"),
            ("MYSQL_DATABASE", "xiresource"),
        ])
        .unwrap();
        assert_eq!(
            c.url,
            "mysql://root:p%40ss%20word@localhost:3306/xiresource"
        );
        assert_eq!(c.backend().unwrap(), Backend::Mysql);
    }

    #[test]
    fn mysql_without_required_variables_is_a_config_error() {
        assert!(matches!(
            config(&[("DB_TYPE", "mysql"), ("MYSQL_HOST", "h")]),
            Err(StorageError::Config { .. })
        ));
        assert!(config(&[("DB_TYPE", "oracle")]).is_err());
    }

    #[test]
    fn zero_pool_durations_are_config_errors() {
        let zero = StoreConfig {
            connect_timeout: Duration::ZERO,
            ..StoreConfig::new("jobs.db")
        };
        assert!(matches!(zero.validate(), Err(StorageError::Config { .. })));
        let idle = StoreConfig {
            max_idle_time: Some(Duration::ZERO),
            ..StoreConfig::new("jobs.db")
        };
        assert!(idle.validate().is_err());
        assert!(StoreConfig::new("jobs.db").validate().is_ok());
    }

    #[test]
    fn sqlite_is_the_default() {
        assert_eq!(config(&[]).unwrap().url, DEFAULT_SQLITE_PATH);
        assert_eq!(
            config(&[("SQLITE_PATH", "/tmp/x.db")]).unwrap().url,
            "/tmp/x.db"
        );
    }

    #[test]
    fn unknown_schemes_are_named() {
        match Backend::from_url("redis://localhost") {
            Err(StorageError::UnsupportedUrl { scheme }) => assert_eq!(scheme, "redis"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(Backend::from_url(":memory:").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("mariadb://h/db").unwrap(), Backend::Mysql);
    }
}
