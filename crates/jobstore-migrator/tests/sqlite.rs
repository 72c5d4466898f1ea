//! The migrator on SQLite: an empty database file of its own per test, in the temporary folder.

mod common;

use std::time::Duration;

use jobstore_migrator::{MigrateError, Migrator, embedded_migrations};
use jobstore_storage::{Backend, DbConnection};
use jobstore_testkit::TestBackend;

#[test]
fn lifecycle() {
    if let Some(db) = common::database(TestBackend::Sqlite) {
        common::lifecycle(&db);
    }
}

#[test]
fn concurrent_migrators_apply_each_migration_once() {
    if let Some(db) = common::database(TestBackend::Sqlite) {
        common::race(&db, 8);
    }
}

#[test]
fn a_migrator_waits_for_the_write_lock() {
    if let Some(db) = common::database(TestBackend::Sqlite) {
        common::waits_for_the_lock(&db, Duration::from_millis(300), "BEGIN EXCLUSIVE", "COMMIT");
    }
}

#[test]
fn in_memory_databases_migrate() {
    let mut conn = DbConnection::open(":memory:", Duration::from_secs(1)).expect("open");
    let applied = Migrator::from_connection(&mut conn)
        .run_pending()
        .expect("run");
    assert_eq!(
        applied,
        embedded_migrations(Backend::Sqlite).expect("embedded")
    );
    // The connection is usable afterwards, and the migrator gives it back when owned.
    conn.ping().expect("ping");
    let migrator = Migrator::from_connection(conn);
    assert_eq!(migrator.backend(), Backend::Sqlite);
    let mut conn = migrator.into_inner();
    assert_eq!(common::jobstore_tables(&mut conn).len(), 3);
}

#[test]
fn errors_name_what_went_wrong() {
    match Migrator::new("oracle://db") {
        Err(e @ MigrateError::Storage(_)) => assert!(e.to_string().contains("oracle"), "{e}"),
        other => panic!("expected a storage error, got {:?}", other.err()),
    }
    let e = MigrateError::NothingToRevert;
    assert_eq!(e.to_string(), "nothing to revert: no migration is applied");
}

#[test]
fn a_failing_migration_is_named_and_rolls_the_call_back() {
    let Some(db) = common::database(TestBackend::Sqlite) else {
        return;
    };
    let mut conn = common::connect(&db);
    // A table in the way of the first migration.
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "CREATE TABLE jobs (x INTEGER)")
        .expect("create");
    let mut migrator = Migrator::new(db.url()).expect("open");
    match migrator.run_pending() {
        Err(MigrateError::Migration {
            migration,
            direction,
            source,
        }) => {
            assert_eq!(
                migration.name(),
                Some("2026-11-22-000001_create_tenants_and_jobs")
            );
            assert_eq!(direction, jobstore_migrator::Direction::Up);
            assert!(source.to_string().contains("already exists"), "{source}");
            assert!(!source.to_string().contains("Failed to run"), "{source}");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    let status = migrator.status().expect("status");
    assert!(status.applied.is_empty());
    assert_eq!(
        status.pending.len(),
        embedded_migrations(Backend::Sqlite)
            .expect("embedded")
            .len()
    );
    assert!(!common::jobstore_tables(&mut conn).contains(&"tenants".to_owned()));
}
