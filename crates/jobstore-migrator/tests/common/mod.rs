//! What the backend test files share: the schema queries that check what a migration left, and
//! the scenarios every backend runs. Databases come from jobstore-testkit: an empty one per test,
//! and `JOBSTORE_REQUIRE` decides whether an unreachable server skips or fails.

#![allow(dead_code)]

use std::{
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use diesel::{QueryableByName, RunQueryDsl, connection::SimpleConnection, sql_types::Text};
use jobstore_migrator::{MigrateError, Migrator, embedded_migrations};
use jobstore_storage::{Backend, DbConnection};
pub(crate) use jobstore_testkit::TestDatabase;
use jobstore_testkit::{TestBackend, empty_database};

/// The tables jobstore's migrations create.
pub(crate) const TABLES: [&str; 3] = ["tenants", "jobs", "job_state_transitions"];

/// An empty database of the test's own on `backend`; `None` (after a loud `SKIPPED` line) when
/// the backend is unavailable and `JOBSTORE_REQUIRE` does not name it, a failed test when it
/// does.
pub(crate) fn database(backend: TestBackend) -> Option<TestDatabase> {
    empty_database(backend)
}

/// A new connection to the test database.
pub(crate) fn connect(db: &TestDatabase) -> DbConnection {
    db.connect().expect("connect to the test database")
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
pub(crate) fn lifecycle(db: &TestDatabase) {
    let mut check = connect(db);
    let backend = check.backend();
    let all = embedded_migrations(backend).expect("embedded migrations");
    // The first two create the tables and the unique keys; later ones come after them.
    assert!(all.len() >= 2, "the migrations embedded for {backend}");
    let (first, second) = (all[0].clone(), all[1].clone());
    let later = all[1..].to_vec();
    let newest = all[all.len() - 1].clone();
    assert_eq!(
        first.name(),
        Some("2026-11-22-000001_create_tenants_and_jobs")
    );
    assert_eq!(second.name(), Some("2026-11-22-000002_unique_job_keys"));
    assert_eq!(first.version(), "20261122000001");
    let reversed =
        |ids: &[jobstore_migrator::MigrationId]| ids.iter().rev().cloned().collect::<Vec<_>>();

    let mut migrator = Migrator::new(db.url())
        .expect("open")
        .lock_timeout(Duration::from_secs(30));
    assert_eq!(migrator.backend(), backend);

    // A fresh database: everything pending.
    let status = migrator.status().expect("status");
    assert!(status.applied.is_empty());
    assert_eq!(status.pending, all);
    assert!(!status.is_up_to_date());
    assert!(jobstore_tables(&mut check).is_empty());

    // The first run applies all, in order; the second applies nothing.
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

    // Revert one at a time, newest first, down to the first: the unique key columns go, the
    // tables stay.
    let reverted: Vec<_> = later
        .iter()
        .map(|_| migrator.revert_last().expect("revert last"))
        .collect();
    assert_eq!(reverted, reversed(&later));
    let status = migrator.status().expect("status");
    assert_eq!(status.applied, vec![first.clone()]);
    assert_eq!(status.pending, later);
    assert!(unique_key_columns(&mut check).is_empty());
    assert_eq!(jobstore_tables(&mut check), sorted(&TABLES));

    // Redo the first (the only one applied), then apply the rest and redo the newest.
    assert_eq!(migrator.redo().expect("redo first"), first);
    assert_eq!(
        migrator.status().expect("status").applied,
        vec![first.clone()]
    );
    assert_eq!(migrator.run_pending().expect("run"), later);
    assert_eq!(migrator.redo().expect("redo newest"), newest);
    assert!(migrator.status().expect("status").is_up_to_date());
    assert!(unique_key_columns(&mut check).contains(&"unique_key".to_owned()));

    // Revert all: newest first, and nothing of jobstore's is left.
    assert_eq!(migrator.revert_all().expect("revert all"), reversed(&all));
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
    let mut other = Migrator::new(db.url())
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
pub(crate) fn race(db: &TestDatabase, threads: usize) {
    let backend = connect(db).backend();
    let all = versions(&embedded_migrations(backend).expect("embedded migrations"));

    let together =
        |work: fn(&mut Migrator) -> Result<Vec<jobstore_migrator::MigrationId>, MigrateError>| {
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let url = db.url().to_owned();
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
    let mut check = connect(db);
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
pub(crate) fn waits_for_the_lock(db: &TestDatabase, timeout: Duration, hold: &str, release: &str) {
    let mut holder = connect(db);
    let mut migrator = Migrator::new(db.url()).expect("open").lock_timeout(timeout);
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
    assert_eq!(
        migrator.run_pending().expect("run").len(),
        embedded_migrations(holder.backend())
            .expect("embedded")
            .len()
    );
}
