//! The kit's promises, on every backend this build includes: clones are migrated exactly like
//! a migrated database, go away when dropped, leftovers of gone processes are swept and live
//! ones kept, and the downstream helpers (memory store, reset, fixture) do what they say.

use std::{collections::BTreeSet, process::Command, time::Duration};

use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};
use jobstore_domain::{JobStatus, NewJob, NewTenant, PageRequest};
use jobstore_migrator::Migrator;
use jobstore_storage::{DbConnection, JobRepository, TenantRepository};
use jobstore_testkit::{
    TestBackend, TestDatabase, empty_database, memory_store, migrated_database, reset,
    seed_test_data, sweep_leftovers,
};

/// The backends this build includes.
fn backends() -> impl Iterator<Item = TestBackend> {
    TestBackend::ALL
        .into_iter()
        .filter(|b| b.backend().is_enabled())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn lines(conn: &mut DbConnection, sql: &str) -> Vec<String> {
    let mut lines: Vec<String> = diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.line)
        .collect();
    lines.sort();
    lines
}

/// Everything a migration decides about a database: tables, columns, constraints (CHECKs and
/// foreign keys included), indexes, generated columns, and the applied migrations.
fn schema(db: &TestDatabase) -> Vec<String> {
    let mut conn = db.connect().expect("connect");
    let mut schema = lines(
        &mut conn,
        "SELECT version AS line FROM __diesel_schema_migrations",
    );
    match db.backend() {
        TestBackend::Postgres => {
            for sql in [
                "SELECT CONCAT_WS(' ', table_name, column_name, data_type, is_nullable, \
                 column_default, is_generated, generation_expression) AS line \
                 FROM information_schema.columns WHERE table_schema = 'public'",
                "SELECT CONCAT_WS(' ', CAST(conrelid::regclass AS TEXT), conname, \
                 pg_get_constraintdef(oid)) AS line FROM pg_constraint \
                 WHERE connamespace = 'public'::regnamespace",
                "SELECT indexdef AS line FROM pg_indexes WHERE schemaname = 'public'",
            ] {
                schema.extend(lines(&mut conn, sql));
            }
        }
        TestBackend::Mysql => {
            let tables = lines(
                &mut conn,
                "SELECT CAST(table_name AS CHAR) AS line FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            );
            #[derive(QueryableByName)]
            struct Create {
                #[diesel(sql_type = Text, column_name = "Create Table")]
                create: String,
            }
            for table in tables {
                let create = diesel::sql_query(format!("SHOW CREATE TABLE {table}"))
                    .get_result::<Create>(&mut conn)
                    .expect("show create table");
                schema.push(create.create);
            }
        }
        TestBackend::Sqlite => schema.extend(lines(
            &mut conn,
            "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || COALESCE(sql, '') AS line \
             FROM sqlite_master",
        )),
    }
    schema
}

#[test]
fn a_clone_has_the_schema_of_a_freshly_migrated_database() {
    for backend in backends() {
        let Some(clone) = migrated_database(backend) else {
            continue;
        };
        let Some(migrated) = empty_database(backend) else {
            continue;
        };
        Migrator::new(migrated.url())
            .and_then(|mut m| m.run_pending())
            .expect("migrate");
        let (cloned, expected) = (schema(&clone), schema(&migrated));
        assert!(cloned.len() >= 5, "{backend}: {cloned:#?}");
        assert_eq!(cloned, expected, "{backend}");
        let status = Migrator::new(clone.url())
            .and_then(|mut m| m.status())
            .expect("status");
        assert!(status.is_up_to_date(), "{backend}: {status:?}");
    }
}

#[test]
fn every_test_gets_a_database_of_its_own_that_goes_when_dropped() {
    for backend in backends() {
        let (Some(one), Some(two)) = (migrated_database(backend), migrated_database(backend))
        else {
            continue;
        };
        assert_ne!(one.url(), two.url());
        let store = one.open_store().expect("store");
        store
            .create_tenant(NewTenant::named("Only in one"))
            .expect("create");
        let other = two.open_store().expect("store");
        let page = other.list_tenants(&PageRequest::default()).expect("list");
        assert!(page.items.is_empty(), "{backend}: {page:?}");
        drop(store);
        let (url, name) = (one.url().to_owned(), one.name());
        drop(one);
        match backend {
            TestBackend::Sqlite => assert!(!std::path::Path::new(&name).exists(), "{name}"),
            _ => assert!(
                DbConnection::open(&url, Duration::from_secs(5)).is_err(),
                "{backend}: {name} is still there"
            ),
        }
    }
}

/// A process id no process has now.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

#[test]
fn leftovers_of_gone_processes_are_swept_and_live_ones_kept() {
    for backend in backends() {
        let Some(live) = migrated_database(backend) else {
            continue;
        };
        let leftover = match backend {
            TestBackend::Sqlite => {
                let path = std::env::temp_dir().join(format!("jobstore_t_{}_1.db", dead_pid()));
                std::fs::write(&path, b"").expect("write");
                path.display().to_string()
            }
            _ => {
                // An owner mark that no process holds, different in every run (two runs at
                // once must not collide on the name).
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let name = &format!("jobstore_t_{:08x}_1", nanos ^ std::process::id());
                let server = backend.server_url().expect("a server");
                jobstore_testkit::execute(&server, &format!("CREATE DATABASE {name}"))
                    .expect("create a leftover");
                name.to_owned()
            }
        };
        sweep_leftovers(backend).expect("sweep");
        match backend {
            TestBackend::Sqlite => {
                assert!(!std::path::Path::new(&leftover).exists(), "{leftover}");
                assert!(std::path::Path::new(&live.name()).exists());
            }
            _ => {
                let server = backend.server_url().expect("a server");
                let url = jobstore_testkit::with_database(&server, &leftover);
                assert!(
                    DbConnection::open(&url, Duration::from_secs(5)).is_err(),
                    "{backend}: {leftover} was not swept"
                );
                live.connect()
                    .expect("the live database is kept")
                    .ping()
                    .expect("ping");
            }
        }
    }
}

#[test]
fn memory_stores_are_migrated_separate_and_shared_by_their_connections() {
    let one = memory_store().expect("memory store");
    let two = memory_store().expect("memory store");
    let tenant = one
        .create_tenant(NewTenant::named("Acme Corp"))
        .expect("create");
    assert!(two.get_tenant(&tenant.id).is_err(), "stores share nothing");
    // Another pool on the same database sees the row, and writes from threads all land.
    let other = one.database().open_store().expect("store");
    assert_eq!(other.get_tenant(&tenant.id).expect("get"), tenant);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (store, tenant) = (&other, &tenant);
            scope.spawn(move || {
                for _ in 0..10 {
                    store
                        .create_job(NewJob::new(tenant.id.clone()))
                        .expect("create job");
                }
            });
        }
    });
    let jobs = one
        .list_jobs(
            &tenant.id,
            &Default::default(),
            &PageRequest {
                limit: 100,
                ..PageRequest::default()
            },
        )
        .expect("list");
    assert_eq!(jobs.items.len(), 40);
}

#[test]
fn the_fixture_has_two_tenants_and_a_job_in_every_status_with_its_trail() {
    let store = memory_store().expect("memory store");
    let fixture = seed_test_data(&store).expect("seed");
    assert_eq!(fixture.acme.id.as_str(), "tenant-acme");
    assert_eq!(fixture.globex.id.as_str(), "tenant-globex");
    assert_eq!(
        fixture.jobs.keys().copied().collect::<BTreeSet<_>>(),
        JobStatus::ALL.into_iter().collect()
    );
    for (status, job) in &fixture.jobs {
        let stored = store.get_job(&fixture.acme.id, &job.id).expect("get");
        assert_eq!(stored.status, *status);
        assert_eq!(&stored, job);
        let trail = store.job_history(&fixture.acme.id, &job.id).expect("trail");
        assert_eq!(trail.last().map(|t| t.to), Some(*status), "{trail:?}");
        assert!(
            trail
                .iter()
                .all(|t| t.from.is_none_or(|from| from.can_transition_to(t.to)))
        );
    }
    assert_eq!(fixture.globex_job.status, JobStatus::Pending);
    assert_eq!(
        fixture.job(JobStatus::Lost),
        fixture.jobs.get(&JobStatus::Lost)
    );
}

#[test]
fn reset_empties_every_table_and_keeps_the_schema() {
    let memory = memory_store().expect("memory store");
    let mut databases = vec![];
    for backend in backends() {
        if let Some(db) = migrated_database(backend) {
            databases.push(db);
        }
    }
    for db in databases.iter().chain([memory.database()]) {
        let store = db.open_store().expect("store");
        let fixture = seed_test_data(&store).expect("seed");
        reset(db).expect("reset");
        let mut conn = db.connect().expect("connect");
        for table in ["tenants", "jobs", "job_state_transitions"] {
            let rows = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<Count>(&mut conn)
                .expect("count")
                .n;
            assert_eq!(rows, 0, "{}: {table}", db.backend());
        }
        let status = Migrator::from_connection(&mut conn)
            .status()
            .expect("status");
        assert!(status.is_up_to_date(), "{}", db.backend());
        // The fixture's fixed ids are free again.
        seed_test_data(&store).expect("seed again");
        assert!(store.get_tenant(&fixture.acme.id).is_ok());
    }
}

/// Run by the next test in a child process with the environment it sets; in a plain run it
/// just asks for a database.
#[test]
fn probe_postgres() {
    let _ = migrated_database(TestBackend::Postgres);
}

#[test]
fn an_unavailable_backend_skips_loudly_unless_required() {
    let run = |require: &str| {
        let output = Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "probe_postgres", "--nocapture"])
            .env(
                "JOBSTORE_TEST_POSTGRES_URL",
                "postgres://nobody@127.0.0.1:1/x",
            )
            .env("JOBSTORE_REQUIRE", require)
            .output()
            .expect("run the probe");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), stderr)
    };
    let (passed, stderr) = run("mysql,sqlite");
    assert!(passed, "{stderr}");
    assert!(stderr.contains("SKIPPED postgres: "), "{stderr}");
    let (passed, stderr) = run("all");
    assert!(
        !passed,
        "a required backend that is unavailable must fail: {stderr}"
    );
    assert!(
        stderr.contains("JOBSTORE_REQUIRE requires postgres"),
        "{stderr}"
    );
}
