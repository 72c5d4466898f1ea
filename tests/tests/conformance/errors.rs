//! Errors tell the truth on every backend: each kind of failure has its [`ErrorKind`], keeps
//! its cause as a source, and names a record only when the call knew which.

use std::{error::Error as _, time::Duration};

use chrono::TimeDelta;
use diesel::{RunQueryDsl, connection::SimpleConnection};
use jobstore_conformance::{TestBackend, TestDb, assert_matches, backends};
use jobstore_domain::{
    DomainError, JobId, JobStatus, NewJob, NewTenant, StaleLease, TenantId, TenantUpdate,
};
use jobstore_storage::{
    ClaimRequest, Entity, ErrorKind, JobRepository, StorageError, Store, StoreConfig,
    TenantRepository, WorkerRepository,
};

fn not_found_names_the_record_the_call_asked_for(db: &TestDb) {
    let missing = TenantId::new("missing").expect("id");
    let error = db.store.get_tenant(&missing).expect_err("no such tenant");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_matches!(error, StorageError::NotFound { entity: Entity::Tenant, ref id } if id == "missing");
    let tenant = db.tenant();
    let error = db
        .store
        .get_job(&tenant.id, &JobId::new("nope").expect("id"))
        .expect_err("no such job");
    assert_matches!(error, StorageError::NotFound { entity: Entity::Job, ref id } if *id == format!("{}/nope", tenant.id));
}

fn already_exists_names_the_tenant_and_keeps_the_databases_refusal(db: &TestDb) {
    let id = TenantId::new("twice").expect("id");
    let new = || NewTenant {
        id: Some(id.clone()),
        ..NewTenant::named("Twice")
    };
    db.store.create_tenant(new()).expect("first");
    let error = db.store.create_tenant(new()).expect_err("second");
    assert_eq!(error.kind(), ErrorKind::AlreadyExists);
    assert!(!error.is_transient());
    assert_matches!(error, StorageError::AlreadyExists { entity: Entity::Tenant, id: Some(ref id), source: Some(_) } if id == "twice");
    assert!(error.source().is_some(), "the database's error is kept");
}

fn a_row_naming_an_unknown_tenant_is_a_foreign_key_error(db: &TestDb) {
    // The API checks tenants first; the database is the last judge, and its refusal is typed.
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let error = db
        .execute(&format!(
            "INSERT INTO job_state_transitions (tenant_id, job_id, transition_id, seq, to_status, transitioned_at, attempt) \
             VALUES ('no-such-tenant', '{}', 'tr-1', 9, 'PENDING', '2030-01-01 00:00:00', 1)",
            job.id
        ))
        .expect_err("no such tenant");
    assert_eq!(error.kind(), ErrorKind::ForeignKey);
    assert!(error.source().is_some());
}

fn a_batch_with_one_stale_lease_is_refused_whole(db: &TestDb) {
    // (Conflicts need real concurrency: see races.rs, which checks their kind.)
    let tenant = db.tenant();
    db.job(&tenant.id);
    db.job(&tenant.id);
    let claimed = db
        .store
        .claim(&ClaimRequest {
            limit: 2,
            start: true,
            ..ClaimRequest::new("default", "w1")
        })
        .expect("claim");
    let leases: Vec<_> = claimed.iter().filter_map(|job| job.lease()).collect();
    db.store.complete(&leases[1]).expect("one completes alone");
    let before = db.counts();
    let error = db
        .store
        .complete_all(&leases)
        .expect_err("one is done already");
    assert_eq!(error.kind(), ErrorKind::StaleLease);
    assert_matches!(error, StorageError::StaleLease { ref job, reason: StaleLease::NotHeld, .. } if *job == leases[1].job_id);
    assert_eq!(db.counts(), before, "nothing written");
    let first = db
        .store
        .get_job(&tenant.id, &leases[0].job_id)
        .expect("get");
    assert_eq!(first.status, JobStatus::Running);
}

fn a_stale_lease_names_the_job_and_why(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Running);
    let lease = job.lease().expect("leased");
    db.advance(TimeDelta::seconds(31));
    let error = db.store.complete(&lease).expect_err("expired");
    assert_eq!(error.kind(), ErrorKind::StaleLease);
    assert!(!error.is_transient());
    assert_matches!(error, StorageError::StaleLease { ref tenant, ref job, reason: StaleLease::Expired } if *tenant == lease.tenant_id && *job == lease.job_id);
}

fn invalid_input_is_the_domains_own_error_carried_through(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    let error = db
        .store
        .create_job(NewJob {
            queue: "no spaces".into(),
            ..NewJob::new(tenant.id.clone())
        })
        .expect_err("bad queue");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_matches!(
        error,
        StorageError::Domain(DomainError::Validation { field: "queue", .. })
    );
    let job = db.job_in(&tenant.id, JobStatus::Completed);
    let error = db
        .store
        .retry_job(&tenant.id, &job.id)
        .expect_err("completed");
    assert_matches!(
        error,
        StorageError::Domain(DomainError::InvalidTransition {
            from: JobStatus::Completed,
            to: JobStatus::Pending
        })
    );
    assert_eq!(db.counts().tenants, before.tenants);
}

fn a_row_written_by_hand_that_cannot_be_read_is_corrupt(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    db.execute(&format!(
        "UPDATE jobs SET commands = 'not json' WHERE job_id = '{}'",
        job.id
    ))
    .expect("write by hand");
    let error = db.store.get_job(&tenant.id, &job.id).expect_err("corrupt");
    assert_eq!(error.kind(), ErrorKind::Corrupt);
    assert_matches!(error, StorageError::CorruptRow { entity: Entity::Job, ref id, .. } if *id == format!("{}/{}", tenant.id, job.id));
    assert!(error.source().is_some());
}

fn a_stopped_server_or_missing_file_is_unavailable_and_transient(db: &TestDb) {
    let url = match db.backend {
        // Nothing listens on port 9: a server that is down.
        TestBackend::Postgres => "postgres://postgres@127.0.0.1:9/test".to_owned(),
        TestBackend::Mysql => "mysql://root@127.0.0.1:9/test".to_owned(),
        TestBackend::Sqlite => "/nonexistent-folder/jobstore/db.sqlite".to_owned(),
    };
    let error = Store::open(StoreConfig {
        connect_timeout: Duration::from_secs(2),
        ..StoreConfig::new(&url)
    })
    .expect_err("nothing there");
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error:?}");
    assert!(error.is_transient());
    assert_matches!(error, StorageError::Connect { .. });
    assert!(error.source().is_some(), "the driver's error is kept");
}

fn a_busy_database_is_busy_and_transient(db: &TestDb) {
    let tenant = db.tenant();
    let mut holder = db.connect();
    // Each backend made to give up on a lock quickly: SQLite's busy timeout, PostgreSQL's
    // lock_timeout (as a connection option). MariaDB's lock wait timeout is a server setting
    // that a URL cannot lower, so it is not provoked here (`dialect::is_busy` maps it).
    let store = match db.backend {
        TestBackend::Sqlite => {
            holder
                .batch_execute("BEGIN IMMEDIATE")
                .expect("take the write lock");
            db.open_store_with(StoreConfig {
                busy_timeout: Duration::from_millis(50),
                ..db.config()
            })
        }
        TestBackend::Postgres => {
            holder
                .batch_execute(&format!(
                    "BEGIN; SELECT 1 FROM tenants WHERE tenant_id = '{}' FOR UPDATE",
                    tenant.id
                ))
                .expect("lock the tenant");
            let separator = if db.url.contains('?') { '&' } else { '?' };
            db.open_store_with(StoreConfig::new(format!(
                "{}{separator}options=-c%20lock_timeout%3D100",
                db.url
            )))
        }
        TestBackend::Mysql => return,
    };
    let error = store
        .update_tenant(
            &tenant.id,
            TenantUpdate {
                name: Some("Blocked".into()),
                ..TenantUpdate::default()
            },
        )
        .expect_err("the row or file is locked");
    holder.batch_execute("ROLLBACK").expect("release");
    assert_eq!(error.kind(), ErrorKind::Busy, "{error:?}");
    assert!(error.is_transient());
    assert_matches!(error, StorageError::Busy { .. });
    assert!(error.source().is_some());
    assert!(
        !error.to_string().contains("job"),
        "no invented context: {error}"
    );
    store
        .create_tenant(NewTenant::named("Later"))
        .expect("free again");
}

fn a_connection_lost_mid_use_is_unavailable_and_the_pool_recovers(db: &TestDb) {
    #[derive(diesel::QueryableByName)]
    struct Session {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let store = db.open_store_with(StoreConfig {
        max_open: 1,
        ..db.config()
    });
    let tenant = store
        .create_tenant(NewTenant::named("Acme"))
        .expect("create");
    let mut admin = db.connect();
    match db.backend {
        TestBackend::Sqlite => return, // an embedded database has no connection to lose
        TestBackend::Postgres => admin
            .batch_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .expect("terminate the store's connection"),
        TestBackend::Mysql => {
            let sessions: Vec<Session> = diesel::sql_query(
                "SELECT CAST(id AS SIGNED) AS id FROM information_schema.processlist \
                 WHERE db = DATABASE() AND id <> CONNECTION_ID()",
            )
            .load(&mut admin)
            .expect("list sessions");
            for session in sessions {
                admin
                    .batch_execute(&format!("KILL {}", session.id))
                    .expect("kill the store's connection");
            }
        }
    }
    let error = store
        .get_tenant(&tenant.id)
        .expect_err("its connection is gone");
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error:?}");
    assert!(error.is_transient());
    assert_matches!(error, StorageError::ConnectionLost { .. });
    assert_eq!(
        store.get_tenant(&tenant.id).expect("a fresh connection"),
        tenant
    );
}

backends!(
    not_found_names_the_record_the_call_asked_for,
    already_exists_names_the_tenant_and_keeps_the_databases_refusal,
    a_row_naming_an_unknown_tenant_is_a_foreign_key_error,
    a_batch_with_one_stale_lease_is_refused_whole,
    a_stale_lease_names_the_job_and_why,
    invalid_input_is_the_domains_own_error_carried_through,
    a_row_written_by_hand_that_cannot_be_read_is_corrupt,
    a_stopped_server_or_missing_file_is_unavailable_and_transient,
    a_busy_database_is_busy_and_transient,
    a_connection_lost_mid_use_is_unavailable_and_the_pool_recovers,
);
