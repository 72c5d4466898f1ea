//! The migrator on PostgreSQL: a database of its own per test (`JOBSTORE_TEST_POSTGRES_URL`, by
//! default the local server's `test` database, is only used to create and drop it).

mod common;

#[cfg(feature = "postgres")]
mod on_postgres {
    use std::time::Duration;

    use crate::common::{self, TestDb};
    use jobstore_migrator::POSTGRES_LOCK_KEY;
    use jobstore_storage::Backend;

    const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    fn database() -> Option<TestDb> {
        TestDb::on_server(Backend::Postgres, DEFAULT_URL)
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
    fn a_migrator_waits_for_the_advisory_lock() {
        if let Some(db) = database() {
            common::waits_for_the_lock(
                &db,
                Duration::from_millis(300),
                &format!("SELECT pg_advisory_lock({POSTGRES_LOCK_KEY})"),
                &format!("SELECT pg_advisory_unlock({POSTGRES_LOCK_KEY})"),
            );
        }
    }
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_is_not_built_in() {
    common::skip("postgres", "built without the `postgres` feature");
}
