//! The migrator on MySQL/MariaDB: a database of its own per test (`JOBSTORE_TEST_MYSQL_URL`, by
//! default the local server's `test` database, is only used to create and drop it).

mod common;

#[cfg(feature = "mysql")]
mod on_mysql {
    use std::time::Duration;

    use crate::common::{self, TestDb};
    use jobstore_storage::Backend;

    const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";
    const LOCK_NAME: &str = "LEFT(CONCAT('jobstore_migrations.', DATABASE()), 64)";

    fn database() -> Option<TestDb> {
        TestDb::on_server(Backend::Mysql, DEFAULT_URL)
    }

    #[test]
    fn lifecycle() {
        if let Some(db) = database() {
            common::lifecycle(&db);
        }
    }

    #[test]
    fn concurrent_migrators_apply_each_migration_once() {
        if let Some(db) = database() {
            common::race(&db, 8);
        }
    }

    #[test]
    fn a_migrator_waits_for_the_named_lock() {
        if let Some(db) = database() {
            common::waits_for_the_lock(
                &db,
                Duration::from_secs(1),
                &format!("DO GET_LOCK({LOCK_NAME}, 0)"),
                &format!("DO RELEASE_LOCK({LOCK_NAME})"),
            );
        }
    }
}

#[cfg(not(feature = "mysql"))]
#[test]
fn mysql_is_not_built_in() {
    common::skip("mysql", "built without the `mysql` feature");
}
