//! `Store::transaction`: repository calls on a `Tx` commit together or not at all.

use std::panic::{AssertUnwindSafe, catch_unwind};

use jobstore_conformance::{RowCounts, TestDb, assert_matches, backends};
use jobstore_domain::{
    DomainError, JobFilter, JobId, JobStatus, NewJob, NewTenant, PageRequest, TenantId,
};
use jobstore_storage::{Entity, JobRepository, StorageError, TenantRepository};

fn chosen(tenant: &TenantId, id: &str) -> NewJob {
    NewJob {
        id: Some(JobId::new(id).expect("id")),
        ..NewJob::new(tenant.clone())
    }
}

fn transaction_commits_a_tenant_and_its_jobs_together(db: &TestDb) {
    let (tenant, job) = db
        .store
        .transaction(|tx| {
            let tenant = tx.create_tenant(NewTenant::named("Acme"))?;
            let job = tx.create_job(NewJob::new(tenant.id.clone()))?;
            tx.create_jobs(vec![
                NewJob::new(tenant.id.clone()),
                NewJob::new(tenant.id.clone()),
            ])?;
            Ok((tenant, job))
        })
        .expect("commit");
    assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), tenant);
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: 1,
            jobs: 3,
            transitions: 3
        }
    );
}

fn transaction_rolls_back_a_tenant_and_a_job_when_the_closure_fails(db: &TestDb) {
    let outside = db.tenant();
    let before = db.counts();
    let result: Result<(), StorageError> = db.store.transaction(|tx| {
        let tenant = tx.create_tenant(NewTenant {
            id: Some(TenantId::new("inside").expect("id")),
            ..NewTenant::named("Inside")
        })?;
        tx.create_job(chosen(&tenant.id, "j1"))?;
        tx.create_job(chosen(&outside.id, "j2"))?;
        Err(StorageError::Domain(DomainError::Validation {
            field: "test",
            reason: "the caller changed its mind".into(),
        }))
    });
    assert_matches!(
        result,
        Err(StorageError::Domain(DomainError::Validation {
            field: "test",
            ..
        }))
    );
    assert_eq!(db.counts(), before);
    assert_matches!(
        db.store.get_tenant(&TenantId::new("inside").expect("id")),
        Err(StorageError::NotFound { .. })
    );
    assert_matches!(
        db.store
            .get_job(&outside.id, &JobId::new("j2").expect("id")),
        Err(StorageError::NotFound { .. })
    );
}

fn transaction_rolls_back_state_changes_and_their_history(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let other = db.tenant();
    let result: Result<(), StorageError> = db.store.transaction(|tx| {
        tx.cancel_job(&tenant.id, &job.id, "inside")?;
        tx.set_batch_job_name(&tenant.id, &job.id, "b")?;
        tx.purge_tenant(&other.id)?;
        Err(StorageError::Domain(DomainError::Validation {
            field: "test",
            reason: "undo".into(),
        }))
    });
    assert!(result.is_err());
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
    assert_eq!(
        db.store
            .job_history(&tenant.id, &job.id)
            .expect("history")
            .len(),
        1
    );
    assert_eq!(db.counts().tenants, 2, "the purge inside was undone");
}

fn transaction_sees_its_own_writes(db: &TestDb) {
    db.store
        .transaction(|tx| {
            let tenant = tx.create_tenant(NewTenant::named("Acme"))?;
            let job = tx.create_job(NewJob::new(tenant.id.clone()))?;
            assert_eq!(tx.get_tenant(&tenant.id)?, tenant);
            assert_eq!(tx.get_job(&tenant.id, &job.id)?, job);
            let cancelled = tx.cancel_job(&tenant.id, &job.id, "changed my mind")?;
            let listed = tx.list_jobs(
                &tenant.id,
                &JobFilter::statuses([JobStatus::Cancelled]),
                &PageRequest::default(),
            )?;
            assert_eq!(listed.items, vec![cancelled]);
            assert_eq!(tx.job_history(&tenant.id, &job.id)?.len(), 2);
            Ok(())
        })
        .expect("commit");
}

fn transaction_survives_a_failing_call_whose_error_is_handled(db: &TestDb) {
    let existing = db.tenant();
    let taken = db.job(&existing.id);
    let done = db.job_in(&existing.id, JobStatus::Completed);
    let before = db.counts();
    let created = db
        .store
        .transaction(|tx| {
            let tenant = tx.create_tenant(NewTenant::named("Acme"))?;
            tx.create_job(chosen(&tenant.id, "first"))?;
            // A unique violation inside the database: only its own savepoint is undone.
            assert_matches!(
                tx.create_tenant(NewTenant {
                    id: Some(existing.id.clone()),
                    ..NewTenant::named("Dup")
                }),
                Err(StorageError::AlreadyExists {
                    entity: Entity::Tenant,
                    ..
                })
            );
            assert_matches!(
                tx.create_job(chosen(&existing.id, taken.id.as_str())),
                Err(StorageError::AlreadyExists {
                    entity: Entity::Job,
                    ..
                })
            );
            assert_matches!(
                tx.create_jobs(vec![
                    chosen(&tenant.id, "second"),
                    chosen(&tenant.id, "first")
                ]),
                Err(StorageError::AlreadyExists { .. })
            );
            // Refusals of the rules and missing rows.
            assert_matches!(
                tx.cancel_job(&existing.id, &done.id, "x"),
                Err(StorageError::Domain(DomainError::InvalidTransition { .. }))
            );
            assert_matches!(
                tx.get_job(&tenant.id, &JobId::new("nope").expect("id")),
                Err(StorageError::NotFound { .. })
            );
            assert_matches!(
                tx.create_job(NewJob {
                    spec: Some("{".into()),
                    ..NewJob::new(tenant.id.clone())
                }),
                Err(StorageError::Domain(DomainError::Validation { .. }))
            );
            // The transaction is still usable, and commits what succeeded.
            tx.create_job(chosen(&tenant.id, "third"))?;
            tx.cancel_job(&existing.id, &taken.id, "inside")?;
            Ok(tenant)
        })
        .expect("commit");
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: before.tenants + 1,
            jobs: before.jobs + 2,
            transitions: before.transitions + 3
        }
    );
    for id in ["first", "third"] {
        db.store
            .get_job(&created.id, &JobId::new(id).expect("id"))
            .expect("committed");
    }
    assert_matches!(
        db.store
            .get_job(&created.id, &JobId::new("second").expect("id")),
        Err(StorageError::NotFound { .. })
    );
    assert_eq!(
        db.store
            .get_job(&existing.id, &taken.id)
            .expect("get")
            .status,
        JobStatus::Cancelled
    );
}

fn transaction_that_panics_commits_nothing_and_leaves_the_store_usable(db: &TestDb) {
    let before = db.counts();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _ = db.store.transaction(|tx| -> Result<(), StorageError> {
            tx.create_tenant(NewTenant::named("Doomed"))?;
            panic!("a bug in the caller (expected by this test)");
        });
    }));
    assert!(outcome.is_err());
    assert_eq!(db.counts(), before);
    let tenant = db.tenant();
    db.job(&tenant.id);
    assert_eq!(db.counts().jobs, before.jobs + 1);
}

backends!(
    transaction_commits_a_tenant_and_its_jobs_together,
    transaction_rolls_back_a_tenant_and_a_job_when_the_closure_fails,
    transaction_rolls_back_state_changes_and_their_history,
    transaction_sees_its_own_writes,
    transaction_survives_a_failing_call_whose_error_is_handled,
    transaction_that_panics_commits_nothing_and_leaves_the_store_usable
);
