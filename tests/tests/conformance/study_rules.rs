//! How a study and its jobs follow each other, and the rules its data keeps: a job back to
//! PENDING follows its paused or ended study; a study's jobs all cancelled cancel it; a caller
//! cannot mark a study finished; batches complete all or none; a job has one result; the audit
//! log keeps write order; sums never clip; checkpoint saves take turns; a soft-deleted tenant's
//! studies and users are hidden.

use jobstore_conformance::{
    TestBackend, TestDb, assert_matches, backends,
    race::{at_once, retrying, together},
};
use jobstore_domain::{
    AuditAction, DomainError, JobStatus, LeaseId, NewUser, Role, StudyState, held_until,
};
use jobstore_storage::{
    AuditFilter, Completion, CostFilter, Entity, JobRepository, StorageError, Store,
    StudyDataRepository, StudyRepository, TenantRepository, UserRepository, WorkerRepository,
};

use crate::studies::{
    audit_entries, checkpoint, claim, cost, currency, draft, eur, lease, manifest, not_found,
    queued, result_of, state_of, states, study_rows,
};

fn a_job_back_to_pending_while_its_study_is_paused_is_held(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(3, 1));
    let running = claim(&db.store, 1, true).remove(0);
    let assigned = claim(&db.store, 1, false).remove(0);
    db.store.pause_study(&tenant, &study.id)?;

    let retried = db.store.fail(&lease(&running), "flaky", true)?;
    let released = db.store.release(&lease(&assigned))?;
    for job in [&retried, &released] {
        assert_eq!(
            (job.status, job.not_before),
            (JobStatus::Pending, held_until()),
            "returned as stored: held"
        );
        assert_eq!(db.store.get_job(&tenant, &job.id)?.not_before, held_until());
    }
    assert!(
        claim(&db.store, 10, true).is_empty(),
        "no job of a paused study is claimable"
    );

    db.store.resume_study(&tenant, &study.id)?;
    assert_eq!(
        claim(&db.store, 10, true).len(),
        3,
        "all three after the resume"
    );
    Ok(())
}

fn a_job_retried_after_its_study_was_cancelled_is_cancelled(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 3));
    let running = claim(&db.store, 1, true);
    let failed = db.store.fail(&lease(&running[0]), "broken", false)?;
    assert_eq!(failed.status, JobStatus::Failed);
    db.store.cancel_study(&tenant, &study.id, "not needed")?;

    let retried = db.store.retry_job(&tenant, &failed.id)?;
    assert_eq!(retried.status, JobStatus::Cancelled, "returned as stored");
    assert_eq!(
        db.store.get_job(&tenant, &failed.id)?.status,
        JobStatus::Cancelled
    );
    let trail = db.store.job_history(&tenant, &failed.id)?;
    assert_eq!(
        trail.last().and_then(|t| t.reason.as_deref()),
        Some("its study is CANCELLED")
    );
    assert!(claim(&db.store, 10, true).is_empty());
    Ok(())
}

fn a_queued_study_whose_jobs_are_all_cancelled_is_cancelled(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    let jobs = db
        .store
        .study_jobs(&tenant, &study.id, None, &Default::default())?
        .items;
    db.store.cancel_job(&tenant, &jobs[0].id, "one")?;
    assert_eq!(state_of(db, &study), StudyState::Queued);
    db.store.cancel_job(&tenant, &jobs[1].id, "two")?;
    assert_eq!(
        states(db, &study),
        [StudyState::Draft, StudyState::Queued, StudyState::Cancelled]
    );
    Ok(())
}

fn a_caller_cannot_mark_a_study_finished_while_its_jobs_run(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    claim(&db.store, 1, true);
    assert_eq!(state_of(db, &study), StudyState::Running);
    let rows = study_rows(db);
    for to in [StudyState::Completed, StudyState::Failed] {
        assert_matches!(
            db.store.transition_study(&tenant, &study.id, to, None),
            Err(StorageError::Domain(DomainError::Validation {
                field: "to",
                ..
            })),
            "RUNNING to {to}"
        );
    }
    assert_eq!(study_rows(db), rows, "refused requests write nothing");
    let paused = db
        .store
        .transition_study(&tenant, &study.id, StudyState::Paused, None)?;
    assert_eq!(paused.state, StudyState::Paused);
    let resumed = db
        .store
        .transition_study(&tenant, &study.id, StudyState::Queued, None)?;
    assert_eq!(
        resumed.state,
        StudyState::Running,
        "the jobs decide: one has started"
    );
    Ok(())
}

fn a_batch_of_completions_is_stored_all_or_none(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(3, 0));
    let running = claim(&db.store, 3, true);
    let completions = |stale: Option<usize>| -> Vec<Completion> {
        running
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let mut lease = lease(job);
                if stale == Some(i) {
                    lease.lease_id = LeaseId::generate();
                }
                Completion {
                    lease,
                    result: result_of(job, true),
                    evidence: Vec::new(),
                }
            })
            .collect()
    };
    let rows = study_rows(db);
    assert_matches!(
        db.store.complete_with_results(completions(Some(2))),
        Err(StorageError::StaleLease { .. })
    );
    assert_eq!(study_rows(db), rows, "one stale lease: nothing written");
    assert_eq!(db.store.study_progress(&tenant, &study.id)?.running, 3);

    let completed = db.store.complete_with_results(completions(None))?;
    assert_eq!(completed.len(), 3);
    assert!(
        completed
            .iter()
            .all(|c| c.job.status == JobStatus::Completed)
    );
    assert_eq!(state_of(db, &study), StudyState::Completed);
    assert_eq!(db.store.study_stats(&tenant, &study.id)?.results, 3);
    Ok(())
}

fn a_job_has_one_result(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(1, 0));
    let job = claim(&db.store, 1, true).remove(0);
    db.store
        .complete_with_result(&lease(&job), result_of(&job, true), Vec::new())?;
    let rows = study_rows(db);
    assert_matches!(
        db.store.create_result(result_of(&job, false)),
        Err(StorageError::AlreadyExists {
            entity: Entity::Result,
            ..
        })
    );
    assert_eq!(study_rows(db), rows);
    assert_eq!(db.store.study_stats(&tenant, &study.id)?.results, 1);
    Ok(())
}

fn a_batch_of_costs_is_recorded_all_or_none(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let gone = draft(db, &tenant);
    db.store.purge_study(&tenant, &gone.id)?;
    let rows = study_rows(db);
    not_found(
        db.store.record_costs(vec![
            cost(&tenant, Some(&study.id), "llm", eur("1.00")),
            cost(&tenant, Some(&gone.id), "llm", eur("2.00")),
        ]),
        Entity::Study,
        "a cost of a purged study",
    );
    assert_eq!(study_rows(db), rows, "nothing written");
    let recorded = db.store.acting_as("billing").record_costs(vec![
        cost(&tenant, Some(&study.id), "llm", eur("1.00")),
        cost(&tenant, None, "storage", eur("0.25")),
    ])?;
    assert_eq!(recorded.len(), 2);
    let totals = db.store.cost_totals(&tenant, &CostFilter::default())?;
    assert_eq!(totals.get(currency("EUR")).minor_units(), 125);
    let audited: Vec<_> = audit_entries(db, &tenant, &AuditFilter::default())
        .into_iter()
        .filter(|e| e.action == AuditAction::CostRecordCreated.as_str())
        .collect();
    assert_eq!(audited.len(), 2, "each cost audited");
    assert!(audited.iter().all(|e| e.actor == "billing"));
    Ok(())
}

fn audit_entries_of_one_instant_list_in_write_order(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let mut written = Vec::new();
    for i in 0..12 {
        let user = db.store.create_user(NewUser::new(
            tenant.clone(),
            format!("user{i}@example.com"),
            format!("User {i}"),
            Role::Member,
        ))?;
        written.push(user.id.to_string());
    }
    let entries = audit_entries(db, &tenant, &AuditFilter::default());
    assert!(entries.iter().all(|e| e.at == db.now()), "one instant");
    let listed: Vec<&str> = entries.iter().map(|e| e.entity_id.as_str()).collect();
    assert_eq!(listed, written);
    Ok(())
}

fn a_cost_total_too_large_is_an_error_not_a_clipped_sum(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let huge = jobstore_domain::Amount::from_minor_units(i64::MAX / 2 + 1, currency("EUR"))?;
    db.store.record_costs(vec![
        cost(&tenant, None, "llm", huge),
        cost(&tenant, None, "llm", huge),
    ])?;
    let total = db.store.cost_totals(&tenant, &CostFilter::default());
    if db.backend == TestBackend::Sqlite {
        // SQLite's SUM of integers refuses to overflow itself.
        assert_matches!(total, Err(StorageError::Database(_)));
    } else {
        assert_matches!(
            total,
            Err(StorageError::Domain(DomainError::Validation {
                field: "amount",
                ..
            }))
        );
    }
    Ok(())
}

fn checkpoint_saves_racing_take_turns(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    db.store
        .save_checkpoint(checkpoint(&tenant, &study.id, 1))?;
    let stores: Vec<Store> = (0..6).map(|_| db.open_store()).collect();
    let saved: Vec<i64> = at_once(&stores, |store, i| {
        let sequence = 2 + i as i64;
        match retrying(|| store.save_checkpoint(checkpoint(&tenant, &study.id, sequence))) {
            Ok(_) => Some(sequence),
            Err(StorageError::Domain(DomainError::Validation {
                field: "sequence", ..
            })) => None,
            Err(e) => panic!("saving checkpoint {sequence}: {e}"),
        }
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(!saved.is_empty());
    // The log lists the saves in the order they took their turns: each after the last.
    let in_turn: Vec<i64> = audit_entries(db, &tenant, &AuditFilter::default())
        .iter()
        .filter(|e| e.action == AuditAction::CheckpointSaved.as_str())
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.details).expect("JSON")["sequence"]
                .as_i64()
                .expect("a sequence")
        })
        .collect();
    assert!(
        in_turn.windows(2).all(|w| w[0] < w[1]),
        "saved in turn: {in_turn:?}"
    );
    assert_eq!(in_turn.len(), saved.len() + 1);
    Ok(())
}

fn a_soft_deleted_tenants_studies_and_users_are_hidden(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    let user = db.store.create_user(NewUser::new(
        tenant.clone(),
        "ann@example.com",
        "Ann",
        Role::Owner,
    ))?;
    db.store.soft_delete_tenant(&tenant)?;
    not_found(
        db.store.get_study(&tenant, &study.id),
        Entity::Study,
        "a study of a deleted tenant",
    );
    not_found(
        db.store.get_user(&tenant, &user.id),
        Entity::User,
        "a user of a deleted tenant",
    );
    let page = Default::default();
    assert!(
        db.store
            .list_studies(&tenant, &page, false)?
            .items
            .is_empty()
    );
    assert_eq!(db.store.list_studies(&tenant, &page, true)?.items.len(), 1);
    assert!(db.store.list_users(&tenant, &page, false)?.items.is_empty());
    assert_eq!(db.store.list_users(&tenant, &page, true)?.items.len(), 1);
    let deleted: Vec<_> = audit_entries(db, &tenant, &AuditFilter::default())
        .into_iter()
        .filter(|e| e.details.contains("with_tenant"))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        deleted,
        [
            AuditAction::StudyDeleted.as_str(),
            AuditAction::UserDeleted.as_str()
        ]
    );
    Ok(())
}

fn a_study_ends_when_its_last_jobs_finish_by_completion_and_cancel_at_once(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let (worker, canceller) = (db.open_store(), db.open_store());
    for round in 0..12 {
        let study = queued(db, &tenant, &manifest(2, 0));
        let running = claim(&db.store, 1, true).remove(0);
        let pending = db
            .store
            .study_jobs(
                &tenant,
                &study.id,
                Some(JobStatus::Pending),
                &Default::default(),
            )?
            .items
            .remove(0);
        let (completed, cancelled) = together(
            || retrying(|| worker.complete(&lease(&running))),
            || retrying(|| canceller.cancel_job(&tenant, &pending.id, "not needed")),
        );
        completed?;
        cancelled?;
        assert_eq!(state_of(db, &study), StudyState::Completed, "round {round}");
    }
    Ok(())
}

fn a_study_resumed_as_its_last_job_finishes_ends(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let (worker, resumer) = (db.open_store(), db.open_store());
    for round in 0..12 {
        let study = queued(db, &tenant, &manifest(1, 0));
        let running = claim(&db.store, 1, true).remove(0);
        db.store.pause_study(&tenant, &study.id)?;
        let (completed, resumed) = together(
            || retrying(|| worker.complete(&lease(&running))),
            || retrying(|| resumer.resume_study(&tenant, &study.id)),
        );
        completed?;
        resumed?;
        assert_eq!(state_of(db, &study), StudyState::Completed, "round {round}");
    }
    Ok(())
}

fn only_a_draft_or_ended_study_is_purged(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    claim(&db.store, 1, true);
    let rows = study_rows(db);
    assert_matches!(
        db.store.purge_study(&tenant, &study.id),
        Err(StorageError::Domain(DomainError::Validation {
            field: "state",
            ..
        }))
    );
    assert_eq!(study_rows(db), rows, "nothing deleted");
    db.store.cancel_study(&tenant, &study.id, "done with it")?;
    db.store.purge_study(&tenant, &study.id)?;
    not_found(
        db.store.get_study(&tenant, &study.id),
        Entity::Study,
        "purged",
    );
    Ok(())
}

backends!(
    a_job_back_to_pending_while_its_study_is_paused_is_held,
    a_job_retried_after_its_study_was_cancelled_is_cancelled,
    a_queued_study_whose_jobs_are_all_cancelled_is_cancelled,
    a_caller_cannot_mark_a_study_finished_while_its_jobs_run,
    a_batch_of_completions_is_stored_all_or_none,
    a_job_has_one_result,
    a_batch_of_costs_is_recorded_all_or_none,
    audit_entries_of_one_instant_list_in_write_order,
    a_cost_total_too_large_is_an_error_not_a_clipped_sum,
    checkpoint_saves_racing_take_turns,
    a_soft_deleted_tenants_studies_and_users_are_hidden,
    a_study_ends_when_its_last_jobs_finish_by_completion_and_cancel_at_once,
    a_study_resumed_as_its_last_job_finishes_ends,
    only_a_draft_or_ended_study_is_purged
);
