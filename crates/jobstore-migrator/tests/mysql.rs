//! The migrator on MySQL/MariaDB: an empty database of its own per test, on the server
//! `JOBSTORE_TEST_MYSQL_URL` names (the local one by default). Without that server, or without
//! the `mysql` feature, the tests skip loudly, or fail when `JOBSTORE_REQUIRE` names mysql.

mod common;

use std::time::Duration;

use jobstore_testkit::TestBackend;

const LOCK_NAME: &str = "LEFT(CONCAT('jobstore_migrations.', DATABASE()), 64)";

#[test]
fn lifecycle() {
    if let Some(db) = common::database(TestBackend::Mysql) {
        common::lifecycle(&db);
    }
}

#[test]
fn concurrent_migrators_apply_each_migration_once() {
    if let Some(db) = common::database(TestBackend::Mysql) {
        common::race(&db, 8);
    }
}

#[test]
fn a_migrator_waits_for_the_named_lock() {
    if let Some(db) = common::database(TestBackend::Mysql) {
        common::waits_for_the_lock(
            &db,
            Duration::from_secs(1),
            &format!("DO GET_LOCK({LOCK_NAME}, 0)"),
            &format!("DO RELEASE_LOCK({LOCK_NAME})"),
        );
    }
}
