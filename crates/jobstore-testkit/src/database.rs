//! A database of a test's own, on any backend: cloned from the migrated template (or empty, or
//! in memory), and removed when the test is done.

use std::{
    fmt,
    io::Write,
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use jobstore_migrator::Migrator;
use jobstore_storage::{DbConnection, Store, StoreConfig};

use crate::{
    KEEP_VAR, KitError, REQUIRE_VAR, TestBackend, files, redact,
    server::{
        CONNECT_TIMEOUT, KEPT_PREFIX, SCRATCH_PREFIX, Server, create_database, drop_database,
    },
    template::{self, Template},
};

/// A database of one test's own, removed when this is dropped (after every store on it).
///
/// | backend | how it is made | removed by |
/// |---------|----------------|------------|
/// | PostgreSQL | `CREATE DATABASE jobstore_t_<owner>_<n> TEMPLATE jobstore_tpl_<fingerprint>` | `DROP DATABASE .. WITH (FORCE)` |
/// | MySQL/MariaDB | `CREATE DATABASE`, then the template's tables from its `SHOW CREATE TABLE` | `DROP DATABASE` |
/// | SQLite | the template file's bytes written to `jobstore_t_<pid>_<n>.db` in the temporary folder | removing the file and its `-wal`, `-shm` |
/// | SQLite in memory | a `memdb` database shared by the process's connections, migrated | closing its last connection |
///
/// The servers are those of [`TestBackend::server_url`]. The template is migrated by
/// jobstore-migrator once per process; its name carries a fingerprint of the migrations, so a
/// changed migration makes a new one. Leftovers of crashed runs are swept when a process first
/// uses a backend (see the crate documentation).
///
/// ```no_run
/// use jobstore_storage::TenantRepository;
/// use jobstore_testkit::{TestBackend, TestDatabase};
///
/// let db = TestDatabase::migrated(TestBackend::Postgres)?;
/// let store = db.open_store()?;
/// assert!(store.list_tenants(&Default::default())?.items.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TestDatabase {
    backend: TestBackend,
    url: String,
    place: Place,
}

/// Where the database lives, and so how it is removed.
enum Place {
    File {
        path: PathBuf,
        keep: bool,
    },
    Server {
        name: String,
        keep: bool,
    },
    /// An in-memory database, and the connection that keeps it alive while no store has one
    /// open.
    Memory {
        _keeper: Mutex<DbConnection>,
    },
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.backend)
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// A fresh database with every migration applied, cloned from the backend's template.
    ///
    /// [`KitError::Unavailable`] when the backend's server cannot be reached or this build
    /// leaves the backend out; tests usually call [`migrated_database`] instead, which applies
    /// `JOBSTORE_REQUIRE`.
    pub fn migrated(backend: TestBackend) -> Result<TestDatabase, KitError> {
        TestDatabase::make(backend, true)
    }

    /// A fresh database with nothing in it (not even the migrator's bookkeeping): for tests of
    /// migrations.
    pub fn empty(backend: TestBackend) -> Result<TestDatabase, KitError> {
        TestDatabase::make(backend, false)
    }

    /// A migrated SQLite database in memory, shared by every connection of this process to its
    /// URL (`file:/jobstore_m_<pid>_<n>?vfs=memdb`) and gone when the last one closes.
    pub fn memory() -> Result<TestDatabase, KitError> {
        let backend = TestBackend::Sqlite;
        if !backend.backend().is_enabled() {
            return Err(KitError::NotBuilt { backend });
        }
        let url = format!(
            "file:/jobstore_m_{}_{}?vfs=memdb",
            std::process::id(),
            next_number()
        );
        // A SQLite without the memdb VFS fails here: loudly, not as a skip.
        let mut keeper = DbConnection::open(&url, CONNECT_TIMEOUT)
            .map_err(KitError::storage(backend, format!("opening {url}")))?;
        Migrator::from_connection(&mut keeper)
            .run_pending()
            .map_err(|source| KitError::Migrate {
                backend,
                database: url.clone(),
                source,
            })?;
        Ok(TestDatabase {
            backend,
            url,
            place: Place::Memory {
                _keeper: Mutex::new(keeper),
            },
        })
    }

    fn make(backend: TestBackend, migrated: bool) -> Result<TestDatabase, KitError> {
        let keep = std::env::var(KEEP_VAR).is_ok_and(|v| v == "1");
        match backend {
            TestBackend::Sqlite => {
                if !backend.backend().is_enabled() {
                    return Err(KitError::NotBuilt { backend });
                }
                let path = files::scratch_path(next_number(), keep);
                let url = path.to_string_lossy().into_owned();
                let db = TestDatabase {
                    backend,
                    url,
                    place: Place::File {
                        path: path.clone(),
                        keep,
                    },
                };
                if migrated {
                    let template = template::template(backend)?;
                    if let Template::Sqlite { bytes } = &*template {
                        std::fs::write(&path, bytes.as_slice()).map_err(|source| {
                            KitError::File {
                                doing: "writing",
                                path: db.url.clone(),
                                source,
                            }
                        })?;
                    }
                }
                Ok(db)
            }
            TestBackend::Postgres | TestBackend::Mysql => {
                let server = Server::get(backend)?;
                let prefix = if keep { KEPT_PREFIX } else { SCRATCH_PREFIX };
                let name = format!("{prefix}{}_{}", server.owner, next_number());
                let db = TestDatabase {
                    backend,
                    url: server.url_of(&name),
                    place: Place::Server {
                        name: name.clone(),
                        keep,
                    },
                };
                if migrated {
                    clone_with_retry(&server, &name)?;
                } else {
                    server.execute(&create_database(backend, &name))?;
                }
                Ok(db)
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> TestBackend {
        self.backend
    }

    /// The database's name on its server, or its file (for an in-memory database, its URL).
    pub fn name(&self) -> String {
        match &self.place {
            Place::File { path, .. } => path.display().to_string(),
            Place::Server { name, .. } => name.clone(),
            Place::Memory { .. } => self.url.clone(),
        }
    }

    /// The database's URL, for stores, migrators and connections of the test's own.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to the database.
    pub fn connect(&self) -> Result<DbConnection, KitError> {
        DbConnection::open(&self.url, CONNECT_TIMEOUT).map_err(KitError::storage(
            self.backend,
            format!("connecting to {}", redact(&self.url)),
        ))
    }

    /// The configuration the kit opens stores with: a pool of up to 4 connections made when
    /// first needed (so that many tests on one server stay well under its connection limit),
    /// and generous time-outs.
    pub fn store_config(&self) -> StoreConfig {
        let in_memory = matches!(self.place, Place::Memory { .. });
        StoreConfig {
            max_open: 4,
            // An in-memory database lives while a connection is open: the pool keeps its own.
            max_idle: if in_memory { 1 } else { 0 },
            max_lifetime: None,
            max_idle_time: None,
            connect_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(30),
            ..StoreConfig::new(self.url.clone())
        }
    }

    /// A store on the database, configured by [`TestDatabase::store_config`].
    pub fn open_store(&self) -> Result<Store, KitError> {
        Store::open(self.store_config()).map_err(KitError::storage(
            self.backend,
            format!("opening a store on {}", redact(&self.url)),
        ))
    }
}

impl AsRef<TestDatabase> for TestDatabase {
    fn as_ref(&self) -> &TestDatabase {
        self
    }
}

/// Clones the template into `name`, making the template again once if another process swept
/// it meanwhile.
fn clone_with_retry(server: &Server, name: &str) -> Result<(), KitError> {
    let template = template::template(server.backend)?;
    match template::clone_on_server(server, &template, name) {
        Ok(()) => Ok(()),
        Err(_) => {
            let _ = server.execute(&drop_database(server.backend, name));
            template::forget(server.backend);
            let template = template::template(server.backend)?;
            template::clone_on_server(server, &template, name)
        }
    }
}

fn next_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.place {
            Place::Memory { .. } => {}
            Place::File { path, keep: true } => say(&format!("kept {}", path.display())),
            Place::File { path, keep: false } => files::remove(path),
            Place::Server { keep: true, .. } => say(&format!("kept {}", redact(&self.url))),
            Place::Server { name, keep: false } => {
                let dropped = Server::get(self.backend)
                    .and_then(|server| server.execute(&drop_database(self.backend, name)));
                if let Err(e) = dropped {
                    say(&format!(
                        "{}: could not drop test database {name} (the next run sweeps it): {}",
                        self.backend,
                        e.describe()
                    ));
                }
            }
        }
    }
}

/// Drops the test databases (or removes the files) of `backend` left by test processes that
/// are gone. Each process does this when it first uses a backend; this runs it again.
pub fn sweep_leftovers(backend: TestBackend) -> Result<(), KitError> {
    match backend {
        TestBackend::Sqlite => {
            files::sweep(&files::folder());
            Ok(())
        }
        _ => Server::get(backend)?.sweep(),
    }
}

/// Gives a test a fresh migrated database on `backend`, applying `JOBSTORE_REQUIRE`.
///
/// - `Some` database when the backend is available.
/// - `None`, after a loud `SKIPPED <backend>: <why> (set <variable>)` line on stderr, when it is
///   unavailable and not required: the test returns without running.
///
/// # Panics
///
/// This is where the kit fails a test on purpose, loudly: when `JOBSTORE_REQUIRE` names an
/// unavailable backend, and when making the database fails once the server answered (a bug or a
/// broken server, never a reason to skip).
///
/// ```no_run
/// use jobstore_testkit::{TestBackend, migrated_database};
///
/// #[test]
/// fn tenants_start_empty() {
///     let Some(db) = migrated_database(TestBackend::Postgres) else {
///         return;
///     };
///     // ...
/// }
/// ```
pub fn migrated_database(backend: TestBackend) -> Option<TestDatabase> {
    required(backend, TestDatabase::migrated(backend))
}

/// Gives a test a fresh empty database on `backend` (for tests of migrations), applying
/// `JOBSTORE_REQUIRE` as [`migrated_database`] does.
///
/// # Panics
///
/// As [`migrated_database`].
pub fn empty_database(backend: TestBackend) -> Option<TestDatabase> {
    required(backend, TestDatabase::empty(backend))
}

/// Applies `JOBSTORE_REQUIRE` to the outcome of making a database (see [`migrated_database`]).
///
/// # Panics
///
/// As [`migrated_database`].
pub fn required<T>(backend: TestBackend, made: Result<T, KitError>) -> Option<T> {
    match made {
        Ok(made) => Some(made),
        Err(e) if e.is_unavailable() && !backend.is_required() => {
            skipped(backend, &e);
            None
        }
        Err(e) if e.is_unavailable() => {
            panic!(
                "{}; {REQUIRE_VAR} requires {backend}",
                with_hint(backend, &e)
            )
        }
        Err(e) => panic!("{}", e.describe()),
    }
}

/// Says loudly that a test did not run, on the process's stderr directly (the test harness
/// would swallow `eprintln!` from a passing test).
pub fn skipped(backend: TestBackend, why: &KitError) {
    say(&format!("SKIPPED {}", with_hint(backend, why)));
}

/// `why`, and for an unreachable server the variable that points the tests elsewhere.
fn with_hint(backend: TestBackend, why: &KitError) -> String {
    match (why, backend.url_var()) {
        (KitError::Unavailable { .. }, Some(var)) => format!("{} (set {var})", why.describe()),
        _ => why.describe(),
    }
}

/// Writes a line to the process's stderr.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
