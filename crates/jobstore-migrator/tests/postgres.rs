//! The migrator on PostgreSQL: an empty database of its own per test, on the server
//! `JOBSTORE_TEST_POSTGRES_URL` names (the local one by default). Without that server, or
//! without the `postgres` feature, the tests skip loudly, or fail when `JOBSTORE_REQUIRE`
//! names postgres.

mod common;

use std::time::Duration;

use jobstore_migrator::POSTGRES_LOCK_KEY;
use jobstore_testkit::TestBackend;

#[test]
fn lifecycle() {
    if let Some(db) = common::database(TestBackend::Postgres) {
        common::lifecycle(&db);
    }
}

#[test]
fn concurrent_migrators_apply_each_migration_once() {
    if let Some(db) = common::database(TestBackend::Postgres) {
        common::race(&db, 8);
    }
}

#[test]
fn a_migrator_waits_for_the_advisory_lock() {
    if let Some(db) = common::database(TestBackend::Postgres) {
        common::waits_for_the_lock(
            &db,
            Duration::from_millis(300),
            &format!("SELECT pg_advisory_lock({POSTGRES_LOCK_KEY})"),
            &format!("SELECT pg_advisory_unlock({POSTGRES_LOCK_KEY})"),
        );
    }
}
