//! What the backend test files share: isolated databases made for one test and dropped after it,
//! the schema queries that check what a migration left, and the scenarios every backend runs.

#![allow(dead_code)]

use std::{
    sync::{
        Arc, Barrier,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Text};
use jobstore_migrator::{MigrateError, Migrator, embedded_migrations};
use jobstore_storage::{Backend, DbConnection};

/// The tables jobstore's migrations create.
pub(crate) const TABLES: [&str; 3] = ["tenants", "jobs", "job_state_transitions"];

/// A name no other test (or test run) uses.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Says loudly that a backend's tests did not run. Written to stderr directly, not with
/// `eprintln!`, so that the test harness's output capture does not swallow it.
pub(crate) fn skip(backend: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n!!!!!!!!!! SKIPPED: {backend} tests did not run: {why} !!!!!!!!!!\n\
         (CI requires every backend)\n"
    );
}

/// A database of its own for one test: a temporary SQLite file, or a database created on a
/// server and dropped when this goes out of scope.
pub(crate) struct TestDb {
    /// The URL to give migrators.
    pub(crate) url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Files(Vec<std::path::PathBuf>),
    Server { admin_url: String, name: String },
}

impl TestDb {
    /// A fresh SQLite file in the temporary folder.
    pub(crate) fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("jobstore_migrator")));
        let files = ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", path.display())))
            .collect();
        TestDb {
            url: path.display().to_string(),
            cleanup: Cleanup::Files(files),
        }
    }

    /// A fresh database on the server `JOBSTORE_TEST_<BACKEND>_URL` (or `default_url`) points at,
    /// or `None` (after a loud message) when the server cannot be reached.
    pub(crate) fn on_server(backend: Backend, default_url: &str) -> Option<TestDb> {
        let variable = format!("JOBSTORE_TEST_{}_URL", backend.name().to_ascii_uppercase());
        let admin_url = std::env::var(&variable).unwrap_or_else(|_| default_url.to_owned());
        let mut admin = match DbConnection::open(&admin_url, Duration::from_secs(5)) {
            Ok(conn) => conn,
            Err(e) => {
                skip(
                    backend.name(),
                    &format!("cannot connect to {admin_url} (set {variable}?): {e}"),
                );
                return None;
            }
        };
        let name = unique_name("jobstore_migrator");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Some(TestDb {
            url: with_database(&admin_url, &name),
            cleanup: Cleanup::Server { admin_url, name },
        })
    }

    /// A new connection to the test database.
    pub(crate) fn connect(&self) -> DbConnection {
        DbConnection::open(&self.url, Duration::from_secs(10))
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Files(files) => {
                for file in files {
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Server { admin_url, name } => {
                if let Ok(mut admin) = DbConnection::open(admin_url, Duration::from_secs(5)) {
                    let force = if admin.backend() == Backend::Postgres {
                        " WITH (FORCE)"
                    } else {
                        ""
                    };
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}{force}"));
                }
            }
        }
    }
}

/// `url` with its database (the path) replaced by `name`, query parameters kept.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a server URL has a scheme");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.find('?').map_or("", |at| &path[at..]);
    format!("{scheme}://{authority}/{name}{query}")
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

fn names(conn: &mut DbConnection, postgres: &str, mysql: &str, sqlite: &str) -> Vec<String> {
    let sql = match conn.backend() {
        Backend::Postgres => postgres,
        Backend::Mysql => mysql,
        Backend::Sqlite => sqlite,
    };
    let mut names: Vec<String> = diesel::sql_query(sql)
        .load::<Name>(conn)
        .expect("read the schema")
        .into_iter()
        .map(|n| n.name)
        .collect();
    names.sort();
    names
}

/// The jobstore tables the database holds.
pub(crate) fn jobstore_tables(conn: &mut DbConnection) -> Vec<String> {
    names(
        conn,
        "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
         WHERE table_schema = current_schema()",
        "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
         WHERE table_schema = DATABASE()",
        "SELECT name FROM sqlite_master WHERE type = 'table'",
    )
    .into_iter()
    .filter(|t| TABLES.contains(&t.as_str()))
    .collect()
}

/// The columns of `jobs` whose name starts with `unique_key` (none when there is no such table).
pub(crate) fn unique_key_columns(conn: &mut DbConnection) -> Vec<String> {
    names(
        conn,
        "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'jobs'",
        "SELECT CAST(column_name AS CHAR) AS name FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = 'jobs'",
        "SELECT name FROM pragma_table_info('jobs')",
    )
    .into_iter()
    .filter(|c| c.starts_with("unique_key"))
    .collect()
}

fn versions(ids: &[jobstore_migrator::MigrationId]) -> Vec<String> {
    ids.iter().map(|id| id.version().to_owned()).collect()
}

/// run, run again, status, revert, redo, revert all, and the errors of reverting nothing.
pub(crate) fn lifecycle(db: &TestDb) {
    let mut check = db.connect();
    let backend = check.backend();
    let all = embedded_migrations(backend).expect("embedded migrations");
    assert_eq!(all.len(), 2, "two migrations embedded for {backend}");
    let (first, second) = (all[0].clone(), all[1].clone());
    assert_eq!(
        first.name(),
        Some("2026-11-22-000001_create_tenants_and_jobs")
    );
    assert_eq!(second.name(), Some("2026-11-22-000002_unique_job_keys"));
    assert_eq!(first.version(), "20261122000001");

    let mut migrator = Migrator::new(&db.url)
        .expect("open")
        .lock_timeout(Duration::from_secs(30));
    assert_eq!(migrator.backend(), backend);

    // A fresh database: everything pending.
    let status = migrator.status().expect("status");
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, all);
    assert!(!status.is_up_to_date());
    assert!(jobstore_tables(&mut check).is_empty());

    // The first run applies both, in order; the second applies nothing.
    let applied = migrator.run_pending().expect("run");
    assert_eq!(applied, all);
    assert_eq!(jobstore_tables(&mut check), sorted(&TABLES));
    assert!(unique_key_columns(&mut check).contains(&"unique_key".to_owned()));
    assert!(migrator.run_pending().expect("second run").is_empty());
    let status = migrator.status().expect("status");
    assert_eq!(status.backend, backend);
    assert_eq!(status.applied, all);
    assert!(status.pending.is_empty());
    assert!(status.is_up_to_date());

    // Revert the last: the unique key columns go, the tables stay.
    assert_eq!(migrator.revert_last().expect("revert last"), second);
    let status = migrator.status().expect("status");
    assert_eq!(status.applied, vec![first.clone()]);
    assert_eq!(status.pending, vec![second.clone()]);
    assert!(unique_key_columns(&mut check).is_empty());
    assert_eq!(jobstore_tables(&mut check), sorted(&TABLES));

    // Redo the first (the only one applied), then apply the second and redo it.
    assert_eq!(migrator.redo().expect("redo first"), first);
    assert_eq!(
        migrator.status().expect("status").applied,
        vec![first.clone()]
    );
    assert_eq!(migrator.run_pending().expect("run"), vec![second.clone()]);
    assert_eq!(migrator.redo().expect("redo second"), second);
    assert!(migrator.status().expect("status").is_up_to_date());
    assert!(unique_key_columns(&mut check).contains(&"unique_key".to_owned()));

    // Revert all: newest first, and nothing of jobstore's is left.
    assert_eq!(
        migrator.revert_all().expect("revert all"),
        vec![second.clone(), first.clone()]
    );
    assert!(jobstore_tables(&mut check).is_empty());
    assert!(unique_key_columns(&mut check).is_empty());
    let status = migrator.status().expect("status");
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, all);

    // Nothing left to revert.
    assert!(matches!(
        migrator.revert_last(),
        Err(MigrateError::NothingToRevert)
    ));
    assert!(matches!(
        migrator.redo(),
        Err(MigrateError::NothingToRevert)
    ));
    assert!(migrator.revert_all().expect("revert none").is_empty());

    // The failed calls released the lock: another migrator gets it at once.
    let mut other = Migrator::new(&db.url)
        .expect("open")
        .lock_timeout(Duration::from_secs(1));
    assert_eq!(other.run_pending().expect("run again"), all);
    assert_eq!(jobstore_tables(&mut check), sorted(&TABLES));
    assert!(migrator.status().expect("status").is_up_to_date());
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// `threads` migrators started at once on a fresh database: every migration is applied exactly
/// once, nobody fails; then as many revert everything at once: each is reverted exactly once.
pub(crate) fn race(db: &TestDb, threads: usize) {
    let backend = db.connect().backend();
    let all = versions(&embedded_migrations(backend).expect("embedded migrations"));

    let together =
        |work: fn(&mut Migrator) -> Result<Vec<jobstore_migrator::MigrationId>, MigrateError>| {
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let url = db.url.clone();
                    thread::spawn(move || {
                        let mut migrator = Migrator::new(&url)
                            .expect("open")
                            .lock_timeout(Duration::from_secs(120));
                        barrier.wait();
                        work(&mut migrator)
                    })
                })
                .collect();
            let mut done = Vec::new();
            for handle in handles {
                let result = handle.join().expect("migrator thread");
                done.extend(versions(
                    &result.unwrap_or_else(|e| panic!("a migrator failed: {e}")),
                ));
            }
            done.sort();
            done
        };

    assert_eq!(
        together(Migrator::run_pending),
        all,
        "each applied exactly once"
    );
    let mut check = db.connect();
    assert_eq!(jobstore_tables(&mut check), sorted(&TABLES));
    let status = Migrator::from_connection(&mut check)
        .status()
        .expect("status");
    assert_eq!(versions(&status.applied), all);

    assert_eq!(
        together(Migrator::revert_all),
        all,
        "each reverted exactly once"
    );
    assert!(jobstore_tables(&mut check).is_empty());
}

/// While `hold` keeps the lock on another connection, a migrator times out; once `release`
/// runs, it goes through.
pub(crate) fn waits_for_the_lock(db: &TestDb, timeout: Duration, hold: &str, release: &str) {
    let mut holder = db.connect();
    let mut migrator = Migrator::new(&db.url).expect("open").lock_timeout(timeout);
    // Make the bookkeeping table first, so the holder's lock is the only thing in the way.
    migrator.status().expect("status");
    holder.batch_execute(hold).expect("hold the lock");

    match migrator.run_pending() {
        Err(MigrateError::LockTimeout { backend, waited }) => {
            assert_eq!(backend, holder.backend());
            assert!(waited >= timeout.mul_f32(0.9), "waited {waited:?}");
        }
        other => panic!("expected a lock timeout, got {other:?}"),
    }
    assert!(jobstore_tables(&mut holder).is_empty());

    holder.batch_execute(release).expect("release the lock");
    assert_eq!(migrator.run_pending().expect("run").len(), 2);
}
