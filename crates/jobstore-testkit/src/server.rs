//! The database servers test databases live on: one admin pool per backend and process, the
//! process's mark of ownership on the server, and every administrative statement that differs
//! per backend (one function per statement, each with its `match`).

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

use diesel::{
    QueryableByName, RunQueryDsl,
    connection::SimpleConnection,
    sql_query,
    sql_types::{BigInt, Text},
};
use jobstore_storage::{DbConnection, StorageError};

use crate::{KitError, TestBackend, redact, with_database};

/// How long the kit waits for a server to answer.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The prefix of every scratch database a test process owns: `jobstore_t_<owner>_<n>`.
pub(crate) const SCRATCH_PREFIX: &str = "jobstore_t_";
/// The prefix of kept scratch databases (`JOBSTORE_TEST_KEEP=1`), which are never swept.
pub(crate) const KEPT_PREFIX: &str = "jobstore_keep_";
/// The prefix of templates: `jobstore_tpl_<fingerprint of the migrations>`.
pub(crate) const TEMPLATE_PREFIX: &str = "jobstore_tpl_";

/// A server of one backend, as this process uses it.
pub(crate) struct Server {
    pub(crate) backend: TestBackend,
    /// The server's URL (its database is only connected to, never changed).
    pub(crate) url: String,
    /// This process's mark: 8 hex digits in the names of its scratch databases.
    pub(crate) owner: String,
    /// Admin connections not in use.
    idle: Mutex<Vec<DbConnection>>,
    /// Holds the process's ownership mark for as long as the process lives (see
    /// [`mark_owner`]); never used for anything else.
    _holder: Mutex<DbConnection>,
}

/// The servers this process has reached, or why it could not: each is tried once, so the tests
/// of an unreachable server skip (or fail) at once.
type Servers = HashMap<TestBackend, Result<Arc<Server>, (String, Arc<StorageError>)>>;

impl Server {
    /// The server of `backend` (PostgreSQL or MySQL), reached on first use: this process's
    /// ownership mark is set, then the leftovers of processes that are gone are swept.
    pub(crate) fn get(backend: TestBackend) -> Result<Arc<Server>, KitError> {
        if !backend.backend().is_enabled() {
            return Err(KitError::NotBuilt { backend });
        }
        static SERVERS: OnceLock<Mutex<Servers>> = OnceLock::new();
        let mut servers = SERVERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = servers.get(&backend) {
            return known
                .clone()
                .map_err(|(server, source)| KitError::Unavailable {
                    backend,
                    server,
                    source,
                });
        }
        let url = backend.server_url().unwrap_or_default();
        let server = match DbConnection::open(&url, CONNECT_TIMEOUT) {
            Ok(holder) => Server::start(backend, url, holder),
            Err(source) => {
                let (server, source) = (redact(&url), Arc::new(source));
                servers.insert(backend, Err((server.clone(), Arc::clone(&source))));
                return Err(KitError::Unavailable {
                    backend,
                    server,
                    source,
                });
            }
        }?;
        servers.insert(backend, Ok(Arc::clone(&server)));
        Ok(server)
    }

    fn start(
        backend: TestBackend,
        url: String,
        mut holder: DbConnection,
    ) -> Result<Arc<Server>, KitError> {
        let owner = loop {
            let owner = format!("{:08x}", random() as u32);
            if mark_owner(backend, &mut holder, &owner)? {
                break owner;
            }
        };
        let server = Arc::new(Server {
            backend,
            url,
            owner,
            idle: Mutex::new(Vec::new()),
            _holder: Mutex::new(holder),
        });
        // Best effort: a leftover that cannot be dropped now is tried again by the next run.
        let _ = server.sweep();
        Ok(server)
    }

    /// The URL of database `name` on this server.
    pub(crate) fn url_of(&self, name: &str) -> String {
        with_database(&self.url, name)
    }

    /// Runs `work` on an admin connection (one of the pool's, or a new one). A connection whose
    /// work failed is closed rather than reused: it may be broken.
    pub(crate) fn with_admin<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, KitError>,
    ) -> Result<T, KitError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => DbConnection::open(&self.url, CONNECT_TIMEOUT).map_err(|source| {
                KitError::Storage {
                    backend: self.backend,
                    doing: format!("connecting to {}", redact(&self.url)),
                    source,
                }
            })?,
        };
        let result = work(&mut conn);
        if result.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
        result
    }

    /// Runs `sql` (one or more statements) on an admin connection.
    pub(crate) fn execute(&self, sql: &str) -> Result<(), KitError> {
        self.with_admin(|conn| {
            conn.batch_execute(sql)
                .map_err(KitError::diesel(self.backend, sql))
        })
    }

    /// The databases on this server whose names start with `prefix`.
    pub(crate) fn databases(&self, prefix: &str) -> Result<Vec<String>, KitError> {
        let sql = list_databases(self.backend, prefix);
        self.with_admin(|conn| names(conn, self.backend, &sql))
    }

    /// Drops the scratch databases of processes that are gone (their ownership mark is no longer
    /// held). Databases of running processes, kept ones and names the kit did not make are left.
    pub(crate) fn sweep(&self) -> Result<(), KitError> {
        let mut owners: HashMap<String, bool> = HashMap::new();
        for name in self.databases(SCRATCH_PREFIX)? {
            let Some(owner) = scratch_owner(&name) else {
                continue;
            };
            let gone = match owners.get(owner) {
                Some(&gone) => gone,
                None => {
                    let gone = self.with_admin(|conn| owner_is_gone(self.backend, conn, owner))?;
                    owners.insert(owner.to_owned(), gone);
                    gone
                }
            };
            if gone {
                self.execute(&drop_database(self.backend, &name))?;
            }
        }
        Ok(())
    }
}

/// A random number, from the standard library's per-process random hasher keys.
pub(crate) fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// The owner in a scratch database's name `jobstore_t_<owner>_<n>`, or `None` for a name the
/// kit did not make.
pub(crate) fn scratch_owner(name: &str) -> Option<&str> {
    let (owner, number) = name.strip_prefix(SCRATCH_PREFIX)?.split_once('_')?;
    let hex = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(owner) && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
        .then_some(owner)
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The `name` column of `sql`'s rows.
pub(crate) fn names(
    conn: &mut DbConnection,
    backend: TestBackend,
    sql: &str,
) -> Result<Vec<String>, KitError> {
    Ok(sql_query(sql)
        .load::<Name>(conn)
        .map_err(KitError::diesel(backend, sql))?
        .into_iter()
        .map(|row| row.name)
        .collect())
}

/// The `n` column of `sql`'s one row.
pub(crate) fn number(
    conn: &mut DbConnection,
    backend: TestBackend,
    sql: &str,
) -> Result<i64, KitError> {
    Ok(sql_query(sql)
        .get_result::<Number>(conn)
        .map_err(KitError::diesel(backend, sql))?
        .n)
}

// What follows is every administrative statement that differs per backend.

/// Marks `holder` as the connection of the process that owns `jobstore_t_<owner>_*`, for as
/// long as it stays open; `false` when another process has that mark already.
///
/// PostgreSQL: the session's `application_name`, which every session sees in
/// `pg_stat_activity`. MySQL: a named lock, `GET_LOCK('jobstore_t_<owner>')`, which the server
/// releases when the connection ends. Either way the mark outlives nothing: a crashed process's
/// databases are seen as left over by the next process that starts.
fn mark_owner(
    backend: TestBackend,
    holder: &mut DbConnection,
    owner: &str,
) -> Result<bool, KitError> {
    let mark = format!("{SCRATCH_PREFIX}{owner}");
    match backend {
        TestBackend::Postgres => {
            if !owner_is_gone(backend, holder, owner)? {
                return Ok(false);
            }
            let sql = format!("SET application_name = '{mark}'");
            holder
                .batch_execute(&sql)
                .map_err(KitError::diesel(backend, sql))?;
            Ok(true)
        }
        TestBackend::Mysql => Ok(number(
            holder,
            backend,
            &format!("SELECT CAST(GET_LOCK('{mark}', 0) AS SIGNED) AS n"),
        )? == 1),
        TestBackend::Sqlite => Ok(true),
    }
}

/// Whether no process holds the mark of `owner` any more (see [`mark_owner`]).
fn owner_is_gone(
    backend: TestBackend,
    conn: &mut DbConnection,
    owner: &str,
) -> Result<bool, KitError> {
    let mark = format!("{SCRATCH_PREFIX}{owner}");
    let sql = match backend {
        TestBackend::Postgres => format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pg_stat_activity \
             WHERE application_name = '{mark}'"
        ),
        TestBackend::Mysql => format!("SELECT CAST(IS_FREE_LOCK('{mark}') AS SIGNED) AS n"),
        TestBackend::Sqlite => return Ok(false),
    };
    let n = number(conn, backend, &sql)?;
    Ok(match backend {
        TestBackend::Postgres => n == 0,
        _ => n == 1,
    })
}

/// The statement listing the databases whose names start with `prefix` (letters, digits and
/// `_`), as rows with a `name` column.
pub(crate) fn list_databases(backend: TestBackend, prefix: &str) -> String {
    let pattern = prefix.replace('_', "\\_");
    match backend {
        TestBackend::Postgres => format!(
            "SELECT CAST(datname AS TEXT) AS name FROM pg_database \
             WHERE datname LIKE '{pattern}%' ORDER BY datname"
        ),
        _ => format!(
            "SELECT CAST(schema_name AS CHAR) AS name FROM information_schema.schemata \
             WHERE schema_name LIKE '{pattern}%' ORDER BY schema_name"
        ),
    }
}

/// The statement that creates the empty database `name`. MySQL's compares text by bytes, as
/// jobstore's tables do.
pub(crate) fn create_database(backend: TestBackend, name: &str) -> String {
    match backend {
        TestBackend::Mysql => {
            format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        }
        _ => format!("CREATE DATABASE {name}"),
    }
}

/// The statement that drops database `name`, on PostgreSQL even while connections are open on
/// it (a store a test leaked must not keep it).
pub(crate) fn drop_database(backend: TestBackend, name: &str) -> String {
    match backend {
        TestBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    }
}

/// Takes the lock under which a process makes, checks and sweeps templates, so that racing
/// test processes make each template once. The server releases it if the process dies.
pub(crate) fn lock_templates(
    backend: TestBackend,
    conn: &mut DbConnection,
) -> Result<(), KitError> {
    match backend {
        // The two-number form: a key space of its own, apart from the migrator's lock.
        TestBackend::Postgres => {
            let sql = "SELECT pg_advisory_lock(1784836468, 1)";
            conn.batch_execute(sql)
                .map_err(KitError::diesel(backend, sql))
        }
        _ => {
            let sql = "SELECT CAST(GET_LOCK('jobstore_testkit_templates', 600) AS SIGNED) AS n";
            match number(conn, backend, sql)? {
                1 => Ok(()),
                _ => Err(KitError::LockTimeout {
                    backend,
                    lock: "jobstore_testkit_templates".to_owned(),
                }),
            }
        }
    }
}

/// Releases the lock [`lock_templates`] took.
pub(crate) fn unlock_templates(
    backend: TestBackend,
    conn: &mut DbConnection,
) -> Result<(), KitError> {
    let sql = match backend {
        TestBackend::Postgres => "SELECT pg_advisory_unlock(1784836468, 1)",
        _ => "SELECT RELEASE_LOCK('jobstore_testkit_templates')",
    };
    conn.batch_execute(sql)
        .map_err(KitError::diesel(backend, sql))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kits_scratch_names_have_an_owner() {
        assert_eq!(scratch_owner("jobstore_t_0a1b2c3d_17"), Some("0a1b2c3d"));
        assert_eq!(scratch_owner("jobstore_t_3f2a9c1b7d4e"), None);
        assert_eq!(scratch_owner("jobstore_t_0a1b2c3d_"), None);
        assert_eq!(scratch_owner("jobstore_keep_0a1b2c3d_1"), None);
        assert_eq!(scratch_owner("jobstore_tpl_0a1b2c3d4e5f6a7b"), None);
    }
}
