//! Studies (seed 004): users, studies made of jobs from a manifest and following them, pausing
//! and cancelling, results with evidence, statistics, checkpoints, cost records, the audit log
//! and the health check; soft-deleted records hidden unless asked for, no tenant seeing or
//! changing another's, and bad input refused with a typed error and nothing written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeDelta;
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Amount, AuditAction, AuditEntry, Cell, Checkpoint, Currency, DomainError, EvidenceKind, Job,
    JobId, JobStatus, Lease, LeaseId, MAX_CELLS, Manifest, NewCheckpoint, NewCostRecord,
    NewEvidence, NewResult, NewStudy, NewUser, Page, PageRequest, ResultId, ResultMetrics, Role,
    STUDY_ACTOR, SYSTEM_ACTOR, Study, StudyId, StudyState, StudyUpdate, TenantId, UserId,
    UserUpdate,
};
use jobstore_storage::{
    AuditFilter, ClaimRequest, CostFilter, Entity, JobRepository, StorageError, Store,
    StudyDataRepository, StudyRepository, UserRepository, WorkerRepository,
};

/// The queue every study of these cases sends its jobs to.
pub(crate) const QUEUE: &str = "studies";

/// A SHA-256 in upper case (stored lower-case).
const HASH: &str = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";

/// A manifest of `queries` × `surfaces` (× `locations` when not empty) for [`QUEUE`].
fn manifest_of(
    queries: &[&str],
    surfaces: &[&str],
    locations: &[&str],
    max_retries: i32,
) -> Manifest {
    let mut json = serde_json::json!({
        "template": {
            "queue": QUEUE,
            "imageUri": "gcr.io/p/crawler:1",
            "commands": ["run", "--fast"],
            "priority": 5,
            "maxRetries": max_retries,
        },
        "queries": queries,
        "surfaces": surfaces,
    });
    if !locations.is_empty() {
        json["locations"] = serde_json::json!(locations);
    }
    Manifest::parse(&json.to_string()).expect("a valid manifest")
}

/// A manifest of `n` queries on one surface: `n` jobs.
pub(crate) fn manifest(n: usize, max_retries: i32) -> Manifest {
    let queries: Vec<String> = (0..n).map(|i| format!("q{i}")).collect();
    let queries: Vec<&str> = queries.iter().map(String::as_str).collect();
    manifest_of(&queries, &["google"], &[], max_retries)
}

pub(crate) fn draft(db: &TestDb, tenant: &TenantId) -> Study {
    db.store
        .create_study(NewStudy::new(tenant.clone(), "pricing"))
        .expect("create study")
}

/// A QUEUED study whose jobs are `manifest`'s.
pub(crate) fn queued(db: &TestDb, tenant: &TenantId, manifest: &Manifest) -> Study {
    let study = draft(db, tenant);
    db.store
        .create_from_manifest(tenant, &study.id, manifest)
        .expect("create from manifest")
}

pub(crate) fn claim(store: &Store, limit: u32, start: bool) -> Vec<Job> {
    store
        .claim(&ClaimRequest {
            limit,
            start,
            ..ClaimRequest::new(QUEUE, "worker-1")
        })
        .expect("claim")
}

pub(crate) fn lease(job: &Job) -> Lease {
    job.lease().expect("a claimed job has a lease")
}

fn cell(job: &Job) -> Cell {
    Cell::from_spec_json(job.spec.as_deref().expect("a study job has a spec")).expect("a cell")
}

/// The result of a study's job, with a chosen id (so evidence can name it).
pub(crate) fn result_of(job: &Job, success: bool) -> NewResult {
    let cell = cell(job);
    NewResult {
        tenant_id: job.tenant_id.clone(),
        id: Some(ResultId::generate()),
        study_id: job.study_id.clone().expect("a study job"),
        job_id: job.id.clone(),
        surface: cell.surface,
        query: cell.query,
        success,
        response_text: Some("an answer".into()),
        data: Some(r#"{"rank":1}"#.into()),
        metrics: ResultMetrics {
            latency_ms: Some(840),
            tokens_in: Some(12),
            tokens_out: Some(212),
        },
    }
}

fn evidence_of(result: &NewResult, kind: EvidenceKind) -> NewEvidence {
    NewEvidence {
        tenant_id: result.tenant_id.clone(),
        id: None,
        result_id: result.id.clone().expect("a chosen id"),
        kind,
        uri: format!("s3://evidence/{}/{kind}", result.job_id),
        sha256: HASH.into(),
        size_bytes: 48_213,
        content_type: "image/png".into(),
        captured_at: None,
    }
}

pub(crate) fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("a currency")
}

pub(crate) fn cost(
    tenant: &TenantId,
    study: Option<&StudyId>,
    category: &str,
    amount: Amount,
) -> NewCostRecord {
    NewCostRecord {
        tenant_id: tenant.clone(),
        id: None,
        study_id: study.cloned(),
        job_id: None,
        category: category.into(),
        provider: "openai".into(),
        quantity: "1500".into(),
        unit: "tokens".into(),
        amount,
    }
}

pub(crate) fn eur(decimal: &str) -> Amount {
    Amount::parse_decimal(decimal, currency("EUR")).expect("an amount")
}

pub(crate) fn checkpoint(tenant: &TenantId, study: &StudyId, sequence: i64) -> NewCheckpoint {
    NewCheckpoint {
        tenant_id: tenant.clone(),
        study_id: study.clone(),
        sequence,
        state: format!(r#"{{"done":{sequence}}}"#),
    }
}

/// Every item of a listing, page by page of `limit`.
fn all_pages<T>(
    limit: u32,
    mut list: impl FnMut(&PageRequest) -> Result<Page<T>, StorageError>,
) -> Vec<T> {
    let mut items = Vec::new();
    let mut request = PageRequest::first(limit);
    loop {
        let page = list(&request).expect("a page");
        assert!(
            page.items.len() <= limit as usize,
            "a page holds at most its limit"
        );
        items.extend(page.items);
        match page.next {
            Some(next) => request.after = Some(next),
            None => return items,
        }
    }
}

pub(crate) fn audit_entries(
    db: &TestDb,
    tenant: &TenantId,
    filter: &AuditFilter,
) -> Vec<AuditEntry> {
    all_pages(1000, |page| db.store.audit_log(tenant, filter, page))
}

fn of_entity(kind: &str, id: &str) -> AuditFilter {
    AuditFilter {
        entity: Some((kind.into(), id.into())),
        ..AuditFilter::default()
    }
}

fn actions(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.action.as_str()).collect()
}

pub(crate) fn states(db: &TestDb, study: &Study) -> Vec<StudyState> {
    db.store
        .study_history(&study.tenant_id, &study.id)
        .expect("history")
        .iter()
        .map(|t| t.to_state)
        .collect()
}

pub(crate) fn state_of(db: &TestDb, study: &Study) -> StudyState {
    db.store
        .get_study(&study.tenant_id, &study.id)
        .expect("get study")
        .state
}

/// Rows of every table a study touches, to show that a refused call wrote nothing.
pub(crate) fn study_rows(db: &TestDb) -> BTreeMap<&'static str, i64> {
    [
        "users",
        "studies",
        "study_transitions",
        "jobs",
        "job_state_transitions",
        "results",
        "evidence",
        "checkpoints",
        "audit_logs",
        "cost_records",
    ]
    .into_iter()
    .map(|table| (table, db.count(table)))
    .collect()
}

pub(crate) fn not_found<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    entity: Entity,
    what: &str,
) {
    assert_matches!(
        result,
        Err(StorageError::NotFound { entity: e, .. }) if e == entity,
        "{what}"
    );
}

pub(crate) fn invalid<T: std::fmt::Debug>(
    result: Result<T, StorageError>,
    field: &str,
    what: &str,
) {
    assert_matches!(
        result,
        Err(StorageError::Domain(DomainError::Validation { field: f, .. })) if f == field,
        "{what}"
    );
}

fn domain_field<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
    match result {
        Err(DomainError::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

// Users.

fn users_are_created_read_found_by_email_updated_and_their_role_changed(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let ann = db.store.create_user(NewUser::new(
        tenant.clone(),
        "Ann.Lee@Example.COM",
        "Ann",
        Role::Member,
    ))?;
    assert_eq!(
        (ann.version, ann.role, ann.deleted_at),
        (1, Role::Member, None)
    );
    assert_eq!(ann.created_at, db.now());
    assert_eq!(db.store.get_user(&tenant, &ann.id)?, ann);
    assert_eq!(
        db.store
            .find_user_by_email(&tenant, "ann.lee@example.com")?,
        Some(ann.clone()),
        "e-mail addresses are compared without case"
    );
    assert_eq!(
        db.store.find_user_by_email(&tenant, "bob@example.com")?,
        None
    );

    db.advance(TimeDelta::seconds(1));
    let renamed = db.store.update_user(
        &tenant,
        &ann.id,
        UserUpdate {
            name: Some("Ann Lee".into()),
            email: Some("ann@example.org".into()),
        },
    )?;
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.email.as_str(),
            renamed.version
        ),
        ("Ann Lee", "ann@example.org", 2)
    );
    assert_eq!(
        (renamed.created_at, renamed.updated_at),
        (ann.created_at, db.now())
    );
    assert_eq!(db.store.get_user(&tenant, &ann.id)?, renamed);
    assert_eq!(
        db.store
            .find_user_by_email(&tenant, "Ann.Lee@Example.COM")?,
        None
    );

    let admin = db.store.change_role(&tenant, &ann.id, Role::Admin)?;
    assert_eq!((admin.role, admin.version), (Role::Admin, 3));
    assert_eq!(db.store.get_user(&tenant, &ann.id)?, admin);
    Ok(())
}

fn a_users_email_is_unique_within_its_tenant_without_case(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let other = db.tenant().id;
    let ann = db.store.create_user(NewUser::new(
        tenant.clone(),
        "ann@example.com",
        "Ann",
        Role::Owner,
    ))?;
    let rows = study_rows(db);
    assert_matches!(
        db.store.create_user(NewUser::new(
            tenant.clone(),
            "ANN@example.com",
            "Ann again",
            Role::Viewer,
        )),
        Err(StorageError::AlreadyExists {
            entity: Entity::User,
            ..
        })
    );
    let bob = db.store.create_user(NewUser::new(
        tenant.clone(),
        "bob@example.com",
        "Bob",
        Role::Viewer,
    ))?;
    assert_matches!(
        db.store.update_user(
            &tenant,
            &bob.id,
            UserUpdate {
                email: Some("Ann@Example.com".into()),
                ..UserUpdate::default()
            },
        ),
        Err(StorageError::AlreadyExists {
            entity: Entity::User,
            ..
        }),
        "an update may not take another user's address either"
    );
    assert_eq!(db.store.get_user(&tenant, &bob.id)?, bob);
    assert_eq!(db.count("users"), rows["users"] + 1, "only Bob was added");
    let elsewhere = db.store.create_user(NewUser::new(
        other.clone(),
        "ann@example.com",
        "Another Ann",
        Role::Owner,
    ))?;
    assert_ne!(elsewhere.id, ann.id);
    assert_eq!(
        db.store.find_user_by_email(&other, "ann@example.com")?,
        Some(elsewhere)
    );
    Ok(())
}

fn users_are_listed_by_id_in_pages(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let other = db.tenant().id;
    db.store
        .create_user(NewUser::new(other, "x@example.com", "X", Role::Owner))?;
    // Created in the reverse of their ids' order.
    for (i, letter) in ["e", "d", "c", "b", "a"].into_iter().enumerate() {
        db.advance(TimeDelta::seconds(1));
        db.store.create_user(NewUser {
            id: Some(UserId::new(format!("user-{letter}"))?),
            ..NewUser::new(
                tenant.clone(),
                format!("u{i}@example.com"),
                "U",
                Role::Member,
            )
        })?;
    }
    let listed = all_pages(2, |page| db.store.list_users(&tenant, page, false));
    let ids: Vec<&str> = listed.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["user-a", "user-b", "user-c", "user-d", "user-e"]);
    Ok(())
}

fn a_soft_deleted_user_is_hidden_unless_asked_for_and_a_purged_one_is_gone(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let ann = db.store.create_user(NewUser::new(
        tenant.clone(),
        "ann@example.com",
        "Ann",
        Role::Member,
    ))?;
    let bob = db.store.create_user(NewUser::new(
        tenant.clone(),
        "bob@example.com",
        "Bob",
        Role::Member,
    ))?;
    db.advance(TimeDelta::seconds(1));
    db.store.soft_delete_user(&tenant, &ann.id)?;
    not_found(db.store.get_user(&tenant, &ann.id), Entity::User, "get");
    assert_eq!(
        db.store.find_user_by_email(&tenant, "ann@example.com")?,
        None
    );
    let live = db
        .store
        .list_users(&tenant, &PageRequest::first(10), false)?;
    assert_eq!(live.items, vec![bob.clone()]);
    let every = db
        .store
        .list_users(&tenant, &PageRequest::first(10), true)?;
    let deleted = every
        .items
        .iter()
        .find(|u| u.id == ann.id)
        .expect("listed with include_deleted");
    assert_eq!(deleted.deleted_at, Some(db.now()));
    assert_eq!(every.items.len(), 2);
    not_found(
        db.store
            .update_user(&tenant, &ann.id, UserUpdate::default()),
        Entity::User,
        "a deleted user is not updated",
    );
    not_found(
        db.store.change_role(&tenant, &ann.id, Role::Owner),
        Entity::User,
        "nor its role changed",
    );
    not_found(
        db.store.soft_delete_user(&tenant, &ann.id),
        Entity::User,
        "nor deleted twice",
    );
    db.store.purge_user(&tenant, &ann.id)?;
    let every = db
        .store
        .list_users(&tenant, &PageRequest::first(10), true)?;
    assert_eq!(every.items, vec![bob]);
    not_found(
        db.store.purge_user(&tenant, &ann.id),
        Entity::User,
        "purged once",
    );
    Ok(())
}

// Studies.

fn a_study_is_created_as_a_draft_with_its_trail_and_read_back(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let ann = db.store.create_user(NewUser::new(
        tenant.clone(),
        "ann@example.com",
        "Ann",
        Role::Member,
    ))?;
    let study = db.store.create_study(NewStudy {
        description: Some("prices across surfaces".into()),
        created_by: Some(ann.id.clone()),
        ..NewStudy::new(tenant.clone(), "pricing")
    })?;
    assert_eq!(
        (study.state, study.version, study.manifest.clone()),
        (StudyState::Draft, 1, None)
    );
    assert_eq!(study.created_by, Some(ann.id));
    assert_eq!((study.created_at, study.updated_at), (db.now(), db.now()));
    assert_eq!(db.store.get_study(&tenant, &study.id)?, study);
    let history = db.store.study_history(&tenant, &study.id)?;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].from_state, history[0].to_state, history[0].seq),
        (None, StudyState::Draft, 1)
    );
    assert_eq!(db.store.study_progress(&tenant, &study.id)?.total(), 0);
    Ok(())
}

fn a_studys_name_and_description_are_updated_and_its_state_is_not(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = db.store.create_study(NewStudy {
        description: Some("old".into()),
        ..NewStudy::new(tenant.clone(), "pricing")
    })?;
    db.advance(TimeDelta::seconds(1));
    let renamed = db.store.update_study(
        &tenant,
        &study.id,
        StudyUpdate {
            name: Some("pricing 2".into()),
            description: Some(None),
        },
    )?;
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_deref()),
        ("pricing 2", None)
    );
    assert_eq!(
        (renamed.state, renamed.version, renamed.updated_at),
        (StudyState::Draft, 2, db.now())
    );
    assert_eq!(db.store.get_study(&tenant, &study.id)?, renamed);
    assert_eq!(
        states(db, &study),
        [StudyState::Draft],
        "no state change, no trail row"
    );
    Ok(())
}

fn studies_are_listed_oldest_first_in_pages(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    draft(db, &db.tenant().id);
    // Created in the reverse of their ids' order.
    for letter in ["e", "d", "c", "b", "a"] {
        db.advance(TimeDelta::seconds(1));
        db.store.create_study(NewStudy {
            id: Some(StudyId::new(format!("study-{letter}"))?),
            ..NewStudy::new(tenant.clone(), letter)
        })?;
    }
    let listed = all_pages(2, |page| db.store.list_studies(&tenant, page, false));
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["study-e", "study-d", "study-c", "study-b", "study-a"]);
    Ok(())
}

fn a_study_moves_only_along_its_state_machine(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let rows = study_rows(db);
    for to in [
        StudyState::Running,
        StudyState::Paused,
        StudyState::Completed,
        StudyState::Failed,
        StudyState::Draft,
    ] {
        assert_matches!(
            db.store.transition_study(&tenant, &study.id, to, None),
            Err(StorageError::Domain(DomainError::InvalidStudyTransition {
                from: StudyState::Draft,
                ..
            })),
            "DRAFT to {to}"
        );
    }
    assert_eq!(study_rows(db), rows, "refused changes write nothing");
    let cancelled = db.store.acting_as("ann").transition_study(
        &tenant,
        &study.id,
        StudyState::Cancelled,
        Some("not needed".into()),
    )?;
    assert_eq!(cancelled.state, StudyState::Cancelled);
    let history = db.store.study_history(&tenant, &study.id)?;
    let last = history.last().expect("a trail row");
    assert_eq!(
        (last.from_state, last.to_state, last.seq),
        (
            Some(StudyState::Draft),
            StudyState::Cancelled,
            cancelled.version
        )
    );
    assert_eq!(
        (last.actor.as_deref(), last.reason.as_deref()),
        (Some("ann"), Some("not needed"))
    );
    assert_matches!(
        db.store
            .transition_study(&tenant, &study.id, StudyState::Queued, None),
        Err(StorageError::Domain(
            DomainError::InvalidStudyTransition { .. }
        )),
        "a final state is never left"
    );
    Ok(())
}

fn a_soft_deleted_study_is_hidden_unless_asked_for_and_its_jobs_are_cancelled(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let kept = draft(db, &tenant);
    let doomed = queued(db, &tenant, &manifest(3, 0));
    db.advance(TimeDelta::seconds(1));
    db.store.soft_delete_study(&tenant, &doomed.id)?;
    not_found(
        db.store.get_study(&tenant, &doomed.id),
        Entity::Study,
        "get",
    );
    not_found(
        db.store.study_history(&tenant, &doomed.id),
        Entity::Study,
        "history",
    );
    not_found(
        db.store.study_progress(&tenant, &doomed.id),
        Entity::Study,
        "progress",
    );
    not_found(
        db.store
            .study_jobs(&tenant, &doomed.id, None, &PageRequest::first(10)),
        Entity::Study,
        "jobs",
    );
    not_found(
        db.store.study_stats(&tenant, &doomed.id),
        Entity::Study,
        "stats",
    );
    not_found(
        db.store
            .list_results(&tenant, &doomed.id, None, &PageRequest::first(10)),
        Entity::Study,
        "results",
    );
    not_found(
        db.store.list_checkpoints(&tenant, &doomed.id),
        Entity::Study,
        "checkpoints",
    );
    not_found(
        db.store.save_checkpoint(checkpoint(&tenant, &doomed.id, 1)),
        Entity::Study,
        "no checkpoint is saved for it",
    );
    not_found(
        db.store
            .update_study(&tenant, &doomed.id, StudyUpdate::default()),
        Entity::Study,
        "update",
    );
    not_found(
        db.store.soft_delete_study(&tenant, &doomed.id),
        Entity::Study,
        "deleted once",
    );
    let live = db
        .store
        .list_studies(&tenant, &PageRequest::first(10), false)?;
    assert_eq!(live.items, vec![kept]);
    let every = db
        .store
        .list_studies(&tenant, &PageRequest::first(10), true)?;
    assert_eq!(every.items.len(), 2);
    let deleted = every
        .items
        .iter()
        .find(|s| s.id == doomed.id)
        .expect("listed with include_deleted");
    assert_eq!(deleted.deleted_at, Some(db.now()));
    assert_eq!(
        deleted.state,
        StudyState::Cancelled,
        "its unfinished jobs were cancelled first"
    );
    assert_eq!(
        db.count_where(
            "jobs",
            &format!("study_id = '{}' AND status = 'CANCELLED'", doomed.id)
        ),
        3
    );
    assert!(claim(&db.store, 10, false).is_empty(), "none is claimable");
    Ok(())
}

fn purging_a_study_removes_its_jobs_results_evidence_checkpoints_and_costs(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let doomed = queued(db, &tenant, &manifest(2, 0));
    let kept = queued(db, &tenant, &manifest(2, 0));
    for job in claim(&db.store, 4, true) {
        let result = result_of(&job, true);
        let evidence = vec![evidence_of(&result, EvidenceKind::Html)];
        db.store
            .complete_with_result(&lease(&job), result, evidence)?;
    }
    for study in [&doomed, &kept] {
        db.store
            .save_checkpoint(checkpoint(&tenant, &study.id, 1))?;
        db.store
            .record_cost(cost(&tenant, Some(&study.id), "llm", eur("1.00")))?;
    }
    let audit_before = db.count("audit_logs");
    db.advance(TimeDelta::seconds(1));
    db.store.purge_study(&tenant, &doomed.id)?;
    not_found(
        db.store.get_study(&tenant, &doomed.id),
        Entity::Study,
        "get",
    );
    let every = db
        .store
        .list_studies(&tenant, &PageRequest::first(10), true)?;
    assert_eq!(every.items.len(), 1, "gone even with include_deleted");
    let of_doomed = format!("study_id = '{}'", doomed.id);
    for table in [
        "jobs",
        "results",
        "checkpoints",
        "cost_records",
        "study_transitions",
    ] {
        assert_eq!(db.count_where(table, &of_doomed), 0, "{table}");
    }
    assert_eq!(db.count("evidence"), 2, "the kept study's evidence only");
    let of_kept = format!("study_id = '{}'", kept.id);
    for (table, n) in [
        ("jobs", 2),
        ("results", 2),
        ("checkpoints", 1),
        ("cost_records", 1),
    ] {
        assert_eq!(db.count_where(table, &of_kept), n, "{table}");
    }
    assert!(
        db.count("audit_logs") > audit_before,
        "the audit log keeps its entries and records the purge"
    );
    let entries = audit_entries(db, &tenant, &of_entity("study", doomed.id.as_str()));
    assert_eq!(actions(&entries).last(), Some(&"study.purged"));
    not_found(
        db.store.purge_study(&tenant, &doomed.id),
        Entity::Study,
        "purged once",
    );
    Ok(())
}

// Manifests.

fn a_manifest_makes_one_job_per_cell_and_queues_its_study(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let manifest = manifest_of(
        &["best pizza", "cheap flights", "used cars"],
        &["google", "bing"],
        &["Paris", "Berlin"],
        2,
    );
    let study = draft(db, &tenant);
    db.advance(TimeDelta::seconds(1));
    let queued = db
        .store
        .acting_as("ann")
        .create_from_manifest(&tenant, &study.id, &manifest)?;
    assert_eq!(queued.state, StudyState::Queued);
    assert_eq!(
        queued.manifest.as_deref(),
        Some(manifest.to_json().as_str())
    );
    assert_eq!(
        Manifest::parse(queued.manifest.as_deref().unwrap_or_default())?,
        manifest,
        "the recorded manifest reads back"
    );
    assert_eq!(db.store.get_study(&tenant, &study.id)?, queued);

    let jobs = all_pages(5, |page| {
        db.store.study_jobs(&tenant, &study.id, None, page)
    });
    assert_eq!(jobs.len(), 12);
    let specs: BTreeSet<String> = jobs
        .iter()
        .map(|j| j.spec.clone().unwrap_or_default())
        .collect();
    let cells: BTreeSet<String> = manifest.cells().map(|c| c.spec_json()).collect();
    assert_eq!(specs, cells, "each job's spec is its cell");
    for job in &jobs {
        assert_eq!(job.study_id.as_ref(), Some(&study.id));
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(
            (job.queue.as_str(), job.priority, job.max_retries),
            (QUEUE, 5, 2)
        );
        assert_eq!(job.image_uri.as_deref(), Some("gcr.io/p/crawler:1"));
        assert_eq!(job.commands, ["run", "--fast"]);
        assert_eq!(db.store.get_job(&tenant, &job.id)?, *job);
        assert_eq!(db.store.job_history(&tenant, &job.id)?.len(), 1);
    }
    let progress = db.store.study_progress(&tenant, &study.id)?;
    assert_eq!((progress.pending, progress.total()), (12, 12));
    let history = db.store.study_history(&tenant, &study.id)?;
    let last = history.last().expect("a trail row");
    assert_eq!(
        (last.from_state, last.to_state, last.actor.as_deref()),
        (Some(StudyState::Draft), StudyState::Queued, Some("ann"))
    );
    Ok(())
}

fn a_study_not_in_draft_gets_no_jobs_from_a_manifest(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(3, 0));
    let cancelled = draft(db, &tenant);
    db.store
        .cancel_study(&tenant, &cancelled.id, "not needed")?;
    let rows = study_rows(db);
    for (id, from) in [
        (&study.id, StudyState::Queued),
        (&cancelled.id, StudyState::Cancelled),
    ] {
        assert_matches!(
            db.store.create_from_manifest(&tenant, id, &manifest(4, 0)),
            Err(StorageError::Domain(DomainError::InvalidStudyTransition { from: f, to: StudyState::Queued })) if f == from
        );
    }
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(db.store.study_progress(&tenant, &study.id)?.total(), 3);
    Ok(())
}

fn an_invalid_manifest_writes_nothing(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let rows = study_rows(db);
    let empty = Manifest {
        queries: Vec::new(),
        ..manifest(1, 0)
    };
    invalid(
        db.store.create_from_manifest(&tenant, &study.id, &empty),
        "manifest.queries",
        "an empty matrix",
    );
    let too_many = Manifest {
        queries: (0..=MAX_CELLS).map(|i| format!("q{i}")).collect(),
        ..manifest(1, 0)
    };
    invalid(
        db.store.create_from_manifest(&tenant, &study.id, &too_many),
        "manifest",
        "too many cells",
    );
    let mut bad_template = manifest(2, 0);
    bad_template.template.max_retries = -1;
    invalid(
        db.store
            .create_from_manifest(&tenant, &study.id, &bad_template),
        "manifest.template.maxRetries",
        "a bad template",
    );
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(state_of(db, &study), StudyState::Draft);
    Ok(())
}

// Following the jobs.

fn a_study_runs_when_its_first_job_starts_and_completes_with_its_last(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(3, 0));
    let first = claim(&db.store, 1, true);
    assert_eq!(first.len(), 1);
    assert_eq!(
        state_of(db, &study),
        StudyState::Running,
        "a claim with start"
    );
    let rest = claim(&db.store, 2, true);
    db.store.complete(&lease(&first[0]))?;
    db.store.complete(&lease(&rest[0]))?;
    assert_eq!(state_of(db, &study), StudyState::Running, "one job left");
    db.store.fail(&lease(&rest[1]), "boom", false)?;
    assert_eq!(
        state_of(db, &study),
        StudyState::Completed,
        "the last job finished and some completed"
    );
    assert_eq!(
        states(db, &study),
        [
            StudyState::Draft,
            StudyState::Queued,
            StudyState::Running,
            StudyState::Completed
        ]
    );
    let history = db.store.study_history(&tenant, &study.id)?;
    for step in &history[2..] {
        assert_eq!(
            step.actor.as_deref(),
            Some(STUDY_ACTOR),
            "{:?}",
            step.to_state
        );
    }
    Ok(())
}

fn a_study_runs_when_a_claimed_job_is_started(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    let claimed = claim(&db.store, 1, false);
    db.store.start(&lease(&claimed[0]))?;
    assert_eq!(state_of(db, &study), StudyState::Running);
    assert_eq!(
        db.count_where(
            "study_transitions",
            &format!("study_id = '{}' AND to_state = 'RUNNING'", study.id)
        ),
        1
    );
    Ok(())
}

fn a_study_whose_jobs_all_fail_ends_failed(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(3, 0));
    for job in claim(&db.store, 3, true) {
        db.store.fail(&lease(&job), "boom", true)?;
    }
    assert_eq!(state_of(db, &study), StudyState::Failed);
    assert_eq!(
        states(db, &study),
        [
            StudyState::Draft,
            StudyState::Queued,
            StudyState::Running,
            StudyState::Failed
        ]
    );
    Ok(())
}

fn a_retried_job_keeps_its_study_running_and_one_failed_for_good_ends_it(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 1));
    let jobs = claim(&db.store, 2, true);
    db.store.complete(&lease(&jobs[0]))?;
    let retried = db.store.fail(&lease(&jobs[1]), "flaky", true)?;
    assert_eq!(retried.status, JobStatus::Pending);
    assert_eq!(
        state_of(db, &study),
        StudyState::Running,
        "a job to be retried is unfinished"
    );
    db.advance(TimeDelta::hours(1));
    let again = claim(&db.store, 1, true);
    assert_eq!(again[0].id, retried.id);
    let failed = db.store.fail(&lease(&again[0]), "broken", false)?;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(
        state_of(db, &study),
        StudyState::Completed,
        "a job failed for good is finished, and one job completed"
    );
    Ok(())
}

// Pausing and cancelling.

fn pausing_a_study_holds_its_pending_jobs_until_it_is_resumed(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(6, 0));
    let running = claim(&db.store, 2, true);
    let paused = db.store.pause_study(&tenant, &study.id)?;
    assert_eq!(paused.state, StudyState::Paused);
    let other = db.store.create_job(jobstore_domain::NewJob {
        queue: QUEUE.into(),
        ..jobstore_domain::NewJob::new(tenant.clone())
    })?;
    let claimed = claim(&db.store, 10, true);
    assert_eq!(
        claimed.iter().map(|j| &j.id).collect::<Vec<_>>(),
        [&other.id],
        "only the job outside the study is claimed"
    );
    let progress = db.store.study_progress(&tenant, &study.id)?;
    assert_eq!((progress.pending, progress.running), (4, 2));
    let result = result_of(&running[0], true);
    let done = db
        .store
        .complete_with_result(&lease(&running[0]), result, Vec::new())?;
    assert_eq!(done.job.status, JobStatus::Completed, "claimed jobs go on");
    assert_eq!(state_of(db, &study), StudyState::Paused);

    let resumed = db.store.resume_study(&tenant, &study.id)?;
    assert_eq!(resumed.state, StudyState::Running);
    let rest = claim(&db.store, 10, true);
    assert_eq!(rest.len(), 4, "its held jobs are claimable again");
    assert!(rest.iter().all(|j| j.study_id.as_ref() == Some(&study.id)));
    assert_eq!(
        states(db, &study),
        [
            StudyState::Draft,
            StudyState::Queued,
            StudyState::Running,
            StudyState::Paused,
            StudyState::Running
        ]
    );
    Ok(())
}

fn a_study_paused_before_any_job_started_resumes_queued(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    db.store.pause_study(&tenant, &study.id)?;
    assert!(claim(&db.store, 10, true).is_empty());
    let resumed = db.store.resume_study(&tenant, &study.id)?;
    assert_eq!(resumed.state, StudyState::Queued);
    assert_eq!(claim(&db.store, 10, true).len(), 2);
    assert_eq!(state_of(db, &study), StudyState::Running);
    Ok(())
}

fn cancelling_a_study_cancels_its_unfinished_jobs_each_with_its_audit_row(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(5, 0));
    let claimed = claim(&db.store, 2, true);
    let completed = db.store.complete(&lease(&claimed[0]))?;
    let running = &claimed[1];
    db.advance(TimeDelta::seconds(1));
    let cancelled = db
        .store
        .acting_as("ann")
        .cancel_study(&tenant, &study.id, "budget cut")?;
    assert_eq!(cancelled.state, StudyState::Cancelled);
    let jobs = all_pages(10, |page| {
        db.store.study_jobs(&tenant, &study.id, None, page)
    });
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        if job.id == completed.id {
            assert_eq!(job.status, JobStatus::Completed, "a finished job stays");
            continue;
        }
        assert_eq!(job.status, JobStatus::Cancelled);
        let history = db.store.job_history(&tenant, &job.id)?;
        let last = history.last().expect("a trail");
        assert_eq!(last.to, JobStatus::Cancelled);
        assert_eq!(
            (last.reason.as_deref(), last.actor.as_deref(), last.at),
            (Some("budget cut"), Some("ann"), db.now())
        );
    }
    assert_eq!(
        db.count_where("job_state_transitions", "to_status = 'CANCELLED'"),
        4,
        "one audit row per cancelled job"
    );
    assert_matches!(
        db.store.complete(&lease(running)),
        Err(StorageError::StaleLease { .. }),
        "the worker learns it at its next report"
    );
    assert_eq!(
        db.store
            .study_jobs(
                &tenant,
                &study.id,
                Some(JobStatus::Cancelled),
                &PageRequest::first(10)
            )?
            .items
            .len(),
        4
    );
    let last = db
        .store
        .study_history(&tenant, &study.id)?
        .pop()
        .expect("a trail row");
    assert_eq!(
        (last.to_state, last.reason.as_deref()),
        (StudyState::Cancelled, Some("budget cut"))
    );
    Ok(())
}

// Results and evidence.

fn a_worker_completes_its_job_with_its_result_and_evidence_in_one_call(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(2, 0));
    let job = claim(&db.store, 1, true).remove(0);
    db.advance(TimeDelta::seconds(2));
    let result = result_of(&job, true);
    let evidence = vec![
        evidence_of(&result, EvidenceKind::Screenshot),
        NewEvidence {
            captured_at: Some(db.now() - TimeDelta::seconds(1)),
            ..evidence_of(&result, EvidenceKind::Html)
        },
    ];
    let done = db
        .store
        .complete_with_result(&lease(&job), result.clone(), evidence)?;
    assert_eq!(done.job.status, JobStatus::Completed);
    assert_eq!(done.job.completed_at, Some(db.now()));
    assert_eq!(db.store.get_job(&tenant, &job.id)?, done.job);
    assert_eq!(Some(&done.result.id), result.id.as_ref());
    assert_eq!(
        (done.result.surface.as_str(), done.result.query.as_str()),
        (cell(&job).surface.as_str(), cell(&job).query.as_str())
    );
    assert_eq!(done.result.created_at, db.now());
    assert_eq!(done.result.metrics, result.metrics);
    assert_eq!(done.evidence.len(), 2);
    assert!(
        done.evidence
            .iter()
            .all(|e| e.sha256 == HASH.to_lowercase())
    );
    let listed = db
        .store
        .list_results(&tenant, &study.id, None, &PageRequest::first(10))?;
    assert_eq!(listed.items, vec![done.result.clone()]);
    let evidence = db.store.list_evidence(&tenant, &done.result.id)?;
    assert_eq!(
        evidence.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EvidenceKind::Html, EvidenceKind::Screenshot],
        "by capture time"
    );
    Ok(())
}

fn a_stale_lease_completes_nothing_and_stores_no_result(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    queued(db, &tenant, &manifest(2, 0));
    let jobs = claim(&db.store, 2, true);
    let rows = study_rows(db);
    let forged = Lease {
        lease_id: LeaseId::generate(),
        ..lease(&jobs[0])
    };
    let result = result_of(&jobs[0], true);
    let evidence = vec![evidence_of(&result, EvidenceKind::Text)];
    assert_matches!(
        db.store
            .complete_with_result(&forged, result.clone(), evidence.clone()),
        Err(StorageError::StaleLease { .. }),
        "a lease the job does not hold"
    );
    assert_matches!(
        db.store
            .complete_with_result(&lease(&jobs[1]), result.clone(), evidence.clone()),
        Err(StorageError::Domain(DomainError::Validation { .. })),
        "a result of another job than the lease's"
    );
    db.advance(TimeDelta::seconds(31));
    assert_matches!(
        db.store
            .complete_with_result(&lease(&jobs[0]), result, evidence),
        Err(StorageError::StaleLease { .. }),
        "an expired lease"
    );
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(
        db.store.get_job(&tenant, &jobs[0].id)?.status,
        JobStatus::Running
    );
    Ok(())
}

fn results_are_listed_oldest_first_by_study_and_surface_in_pages(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(
        db,
        &tenant,
        &manifest_of(&["a", "b", "c"], &["google", "bing"], &[], 0),
    );
    let other = queued(db, &tenant, &manifest(1, 0));
    let mut created = Vec::new();
    for job in all_pages(100, |page| {
        db.store.study_jobs(&tenant, &study.id, None, page)
    }) {
        db.advance(TimeDelta::seconds(1));
        created.push(db.store.create_result(result_of(&job, true))?);
    }
    let other_job = db
        .store
        .study_jobs(&tenant, &other.id, None, &PageRequest::first(1))?
        .items
        .remove(0);
    db.store.create_result(result_of(&other_job, true))?;
    let listed = all_pages(4, |page| {
        db.store.list_results(&tenant, &study.id, None, page)
    });
    assert_eq!(listed, created);
    let bing = all_pages(2, |page| {
        db.store
            .list_results(&tenant, &study.id, Some("bing".into()), page)
    });
    let expected: Vec<_> = created
        .iter()
        .filter(|r| r.surface == "bing")
        .cloned()
        .collect();
    assert_eq!(bing, expected);
    assert_eq!(bing.len(), 3);
    Ok(())
}

fn a_result_names_a_job_of_its_study(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(1, 0));
    let stray = db.job(&tenant);
    let rows = study_rows(db);
    let job = db
        .store
        .study_jobs(&tenant, &study.id, None, &PageRequest::first(1))?
        .items
        .remove(0);
    let result = NewResult {
        job_id: stray.id.clone(),
        ..result_of(&job, true)
    };
    assert_matches!(
        db.store.create_result(result),
        Err(StorageError::Domain(DomainError::Validation { .. })),
        "a job outside the study"
    );
    let unknown = NewResult {
        job_id: JobId::generate(),
        ..result_of(&job, true)
    };
    not_found(
        db.store.create_result(unknown),
        Entity::Job,
        "an unknown job",
    );
    assert_eq!(study_rows(db), rows);
    Ok(())
}

fn evidence_is_attached_to_a_result_and_listed_by_capture_time(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(1, 0));
    let job = db
        .store
        .study_jobs(&tenant, &study.id, None, &PageRequest::first(1))?
        .items
        .remove(0);
    let new = result_of(&job, true);
    let result = db.store.create_result(new.clone())?;
    let mut attached = Vec::new();
    for (i, kind) in [EvidenceKind::Video, EvidenceKind::Har, EvidenceKind::Text]
        .into_iter()
        .enumerate()
    {
        let seconds = 10 - i64::try_from(i).unwrap_or(0);
        attached.push(db.store.attach_evidence(NewEvidence {
            captured_at: Some(db.now() - TimeDelta::seconds(seconds)),
            ..evidence_of(&new, kind)
        })?);
    }
    assert_eq!(db.store.list_evidence(&tenant, &result.id)?, attached);
    not_found(
        db.store.attach_evidence(NewEvidence {
            result_id: ResultId::generate(),
            ..evidence_of(&new, EvidenceKind::Other)
        }),
        Entity::Result,
        "an unknown result",
    );
    not_found(
        db.store.list_evidence(&tenant, &ResultId::generate()),
        Entity::Result,
        "an unknown result",
    );
    Ok(())
}

// Statistics.

fn study_stats_add_up_its_jobs_results_evidence_and_costs(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(
        db,
        &tenant,
        &manifest_of(&["a", "b", "c"], &["google", "bing"], &[], 0),
    );
    let other = queued(db, &tenant, &manifest(2, 0));
    let empty = db.store.study_stats(&tenant, &study.id)?;
    assert_eq!(
        (empty.jobs.pending, empty.results, empty.evidence),
        (6, 0, 0)
    );
    assert_eq!((empty.first_result_at, empty.last_result_at), (None, None));
    assert!(empty.cost.is_empty());

    // Every job is claimed: 4 of the study's complete with a result, 1 fails, 1 runs on.
    let claimed: Vec<Job> = claim(&db.store, 8, true);
    let mine: Vec<&Job> = claimed
        .iter()
        .filter(|j| j.study_id.as_ref() == Some(&study.id))
        .collect();
    assert_eq!(mine.len(), 6);
    let mut times = Vec::new();
    let mut expected_per_surface: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (i, job) in mine.iter().take(4).enumerate() {
        times.push(db.advance(TimeDelta::seconds(1)));
        let success = i != 1;
        let result = result_of(job, success);
        let evidence = (0..i)
            .map(|_| evidence_of(&result, EvidenceKind::Text))
            .collect();
        let slot = expected_per_surface
            .entry(result.surface.clone())
            .or_default();
        slot.0 += 1;
        slot.1 += u64::from(success);
        db.store
            .complete_with_result(&lease(job), result, evidence)?;
    }
    db.store.fail(&lease(mine[4]), "boom", false)?;
    db.advance(TimeDelta::seconds(1));
    for job in claimed
        .iter()
        .filter(|j| j.study_id.as_ref() == Some(&other.id))
    {
        db.store
            .complete_with_result(&lease(job), result_of(job, true), Vec::new())?;
    }
    db.store
        .record_cost(cost(&tenant, Some(&study.id), "llm", eur("0.10")))?;
    db.store
        .record_cost(cost(&tenant, Some(&study.id), "llm", eur("0.20")))?;
    db.store.record_cost(cost(
        &tenant,
        Some(&study.id),
        "proxy",
        Amount::from_minor_units(500, currency("JPY"))?,
    ))?;
    db.store
        .record_cost(cost(&tenant, Some(&other.id), "llm", eur("9.99")))?;
    db.store
        .record_cost(cost(&tenant, None, "llm", eur("5.00")))?;

    let stats = db.store.study_stats(&tenant, &study.id)?;
    assert_eq!(
        (
            stats.jobs.pending,
            stats.jobs.running,
            stats.jobs.completed,
            stats.jobs.failed,
            stats.jobs.total()
        ),
        (0, 1, 4, 1, 6)
    );
    assert_eq!(stats.jobs, db.store.study_progress(&tenant, &study.id)?);
    assert_eq!(stats.progress(), (5, 6));
    assert_eq!((stats.results, stats.successes), (4, 3));
    let per_surface: BTreeMap<String, (u64, u64)> = stats
        .per_surface
        .iter()
        .map(|s| (s.surface.clone(), (s.results, s.successes)))
        .collect();
    assert_eq!(per_surface, expected_per_surface);
    let surfaces: Vec<&str> = stats
        .per_surface
        .iter()
        .map(|s| s.surface.as_str())
        .collect();
    let mut sorted = surfaces.clone();
    sorted.sort_unstable();
    assert_eq!(surfaces, sorted, "ordered by surface");
    assert_eq!(stats.evidence, 1 + 2 + 3);
    assert_eq!(
        stats.cost,
        BTreeMap::from([("EUR".to_owned(), 30), ("JPY".to_owned(), 500)])
    );
    assert_eq!(
        (stats.first_result_at, stats.last_result_at),
        (times.first().copied(), times.last().copied()),
        "another study's results do not count"
    );
    Ok(())
}

// Checkpoints.

fn checkpoints_are_saved_in_strictly_increasing_sequence(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let other = draft(db, &tenant);
    assert_eq!(db.store.latest_checkpoint(&tenant, &study.id)?, None);
    let mut saved: Vec<Checkpoint> = Vec::new();
    for sequence in [1, 2, 5] {
        db.advance(TimeDelta::seconds(1));
        let checkpoint = db
            .store
            .save_checkpoint(checkpoint(&tenant, &study.id, sequence))?;
        assert_eq!(
            (checkpoint.sequence, checkpoint.created_at),
            (sequence, db.now())
        );
        saved.push(checkpoint);
    }
    db.store
        .save_checkpoint(checkpoint(&tenant, &other.id, 1))?;
    let rows = study_rows(db);
    for sequence in [5, 4, 1] {
        invalid(
            db.store
                .save_checkpoint(checkpoint(&tenant, &study.id, sequence)),
            "sequence",
            &format!("sequence {sequence} after 5"),
        );
    }
    assert_eq!(study_rows(db), rows, "refused checkpoints write nothing");
    assert_eq!(
        db.store.latest_checkpoint(&tenant, &study.id)?,
        saved.last().cloned()
    );
    assert_eq!(db.store.list_checkpoints(&tenant, &study.id)?, saved);
    assert_eq!(
        db.store
            .latest_checkpoint(&tenant, &study.id)?
            .map(|c| c.state),
        Some(r#"{"done":5}"#.to_owned())
    );
    Ok(())
}

fn pruning_keeps_a_studys_latest_checkpoints(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let other = draft(db, &tenant);
    for sequence in 1..=6 {
        db.store
            .save_checkpoint(checkpoint(&tenant, &study.id, sequence))?;
        db.store
            .save_checkpoint(checkpoint(&tenant, &other.id, sequence))?;
    }
    assert_eq!(db.store.prune_checkpoints(&tenant, &study.id, 2)?, 4);
    let kept: Vec<i64> = db
        .store
        .list_checkpoints(&tenant, &study.id)?
        .iter()
        .map(|c| c.sequence)
        .collect();
    assert_eq!(kept, [5, 6]);
    assert_eq!(db.store.prune_checkpoints(&tenant, &study.id, 2)?, 0);
    assert_eq!(db.store.prune_checkpoints(&tenant, &study.id, 10)?, 0);
    assert_eq!(
        db.store.list_checkpoints(&tenant, &other.id)?.len(),
        6,
        "another study's are kept"
    );
    assert_eq!(db.store.prune_checkpoints(&tenant, &study.id, 0)?, 2);
    assert_eq!(db.store.latest_checkpoint(&tenant, &study.id)?, None);
    Ok(())
}

// Costs.

fn cost_totals_are_exact_per_currency_and_filtered_by_study_category_and_time(
    db: &TestDb,
) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let other_tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let other = draft(db, &tenant);
    let start = db.now();
    // Ten times 0.10 is exactly 1.00 (as a binary float it is not).
    for _ in 0..10 {
        db.store
            .record_cost(cost(&tenant, Some(&study.id), "llm", eur("0.10")))?;
    }
    let noon = db.advance(TimeDelta::hours(1));
    let usd = Amount::parse_decimal("92233720368547.75", currency("USD"))?;
    let recorded = db
        .store
        .record_cost(cost(&tenant, Some(&study.id), "proxy", usd))?;
    assert_eq!((recorded.amount, recorded.recorded_at), (usd, noon));
    db.store.record_cost(cost(
        &tenant,
        Some(&other.id),
        "llm",
        Amount::parse_decimal("1.234", currency("KWD"))?,
    ))?;
    let late = db.advance(TimeDelta::hours(1));
    db.store
        .record_cost(cost(&tenant, None, "llm", eur("2.50")))?;
    db.store
        .record_cost(cost(&other_tenant, None, "llm", eur("100.00")))?;

    let totals = |filter: CostFilter| -> Vec<(String, i64)> {
        db.store
            .cost_totals(&tenant, &filter)
            .expect("totals")
            .iter()
            .map(|a| (a.currency().code().to_owned(), a.minor_units()))
            .collect()
    };
    let pair = |code: &str, n: i64| (code.to_owned(), n);
    assert_eq!(
        totals(CostFilter::default()),
        [
            pair("EUR", 350),
            pair("KWD", 1234),
            pair("USD", 9_223_372_036_854_775)
        ]
    );
    assert_eq!(
        totals(CostFilter {
            study: Some(study.id.clone()),
            ..CostFilter::default()
        }),
        [pair("EUR", 100), pair("USD", 9_223_372_036_854_775)]
    );
    assert_eq!(
        totals(CostFilter {
            category: Some("llm".into()),
            ..CostFilter::default()
        }),
        [pair("EUR", 350), pair("KWD", 1234)]
    );
    assert_eq!(
        totals(CostFilter {
            study: Some(study.id.clone()),
            category: Some("llm".into()),
            ..CostFilter::default()
        }),
        [pair("EUR", 100)]
    );
    assert_eq!(
        totals(CostFilter {
            from: Some(noon),
            until: Some(late),
            ..CostFilter::default()
        }),
        [pair("KWD", 1234), pair("USD", 9_223_372_036_854_775)],
        "from is inclusive, until exclusive"
    );
    assert_eq!(
        totals(CostFilter {
            from: Some(start),
            until: Some(noon),
            ..CostFilter::default()
        }),
        [pair("EUR", 100)]
    );
    assert_eq!(
        totals(CostFilter {
            category: Some("storage".into()),
            ..CostFilter::default()
        }),
        Vec::<(String, i64)>::new()
    );
    let eur_total = db.store.cost_totals(&tenant, &CostFilter::default())?;
    assert_eq!(eur_total.get(currency("EUR")).decimal(), "3.50");
    Ok(())
}

// The audit log.

fn every_audited_write_names_the_stores_actor(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let ann = db.store.acting_as("ann@example.com");
    let start = db.now();
    db.advance(TimeDelta::seconds(1));
    let user = ann.create_user(NewUser::new(
        tenant.clone(),
        "bob@example.com",
        "Bob",
        Role::Member,
    ))?;
    db.advance(TimeDelta::seconds(1));
    ann.update_user(
        &tenant,
        &user.id,
        UserUpdate {
            name: Some("Robert".into()),
            ..UserUpdate::default()
        },
    )?;
    db.advance(TimeDelta::seconds(1));
    ann.change_role(&tenant, &user.id, Role::Admin)?;
    db.advance(TimeDelta::seconds(1));
    ann.soft_delete_user(&tenant, &user.id)?;
    db.advance(TimeDelta::seconds(1));
    let study = ann.create_study(NewStudy::new(tenant.clone(), "pricing"))?;
    db.advance(TimeDelta::seconds(1));
    ann.update_study(
        &tenant,
        &study.id,
        StudyUpdate {
            name: Some("pricing 2".into()),
            ..StudyUpdate::default()
        },
    )?;
    db.advance(TimeDelta::seconds(1));
    ann.save_checkpoint(checkpoint(&tenant, &study.id, 1))?;
    db.advance(TimeDelta::seconds(1));
    let record = ann.record_cost(cost(&tenant, Some(&study.id), "llm", eur("0.42")))?;
    db.advance(TimeDelta::seconds(1));
    ann.soft_delete_study(&tenant, &study.id)?;
    // The default store names the system.
    let system_study = db
        .store
        .create_study(NewStudy::new(tenant.clone(), "nightly"))?;

    let entries = audit_entries(db, &tenant, &AuditFilter::default());
    assert!(entries.iter().all(|e| e.tenant_id == tenant));
    let of_user = audit_entries(db, &tenant, &of_entity("user", user.id.as_str()));
    assert_eq!(
        actions(&of_user),
        [
            AuditAction::UserCreated.as_str(),
            AuditAction::UserUpdated.as_str(),
            AuditAction::UserRoleChanged.as_str(),
            AuditAction::UserDeleted.as_str()
        ]
    );
    let of_study = audit_entries(db, &tenant, &of_entity("study", study.id.as_str()));
    let study_actions = actions(&of_study);
    assert_eq!(study_actions.first(), Some(&"study.created"));
    assert!(study_actions.contains(&"study.updated"));
    // Deleting a DRAFT study cancels it first: both entries are of the same instant.
    assert!(
        study_actions.contains(&"study.deleted"),
        "{study_actions:?}"
    );
    let of_cost = audit_entries(db, &tenant, &of_entity("cost_record", record.id.as_str()));
    assert_eq!(actions(&of_cost), ["cost_record.created"]);
    let saved: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| e.action == "checkpoint.saved")
        .collect();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].entity_type, "checkpoint");
    for entry in of_user.iter().chain(&of_study).chain(&of_cost).chain(saved) {
        assert_eq!(entry.actor, "ann@example.com", "{}", entry.action);
        assert!(entry.at > start && entry.at <= db.now(), "{}", entry.action);
        serde_json::from_str::<serde_json::Value>(&entry.details).expect("details are JSON");
    }
    let of_system = audit_entries(db, &tenant, &of_entity("study", system_study.id.as_str()));
    assert_eq!(actions(&of_system), ["study.created"]);
    assert_eq!(of_system[0].actor, SYSTEM_ACTOR);
    Ok(())
}

fn the_audit_log_is_listed_by_time_range_in_pages(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let other = db.tenant().id;
    db.store
        .create_study(NewStudy::new(other.clone(), "theirs"))?;
    let mut times = Vec::new();
    for i in 0..7 {
        times.push(db.advance(TimeDelta::minutes(1)));
        db.store.create_user(NewUser::new(
            tenant.clone(),
            format!("u{i}@example.com"),
            "U",
            Role::Viewer,
        ))?;
    }
    let every = audit_entries(db, &tenant, &AuditFilter::default());
    assert_eq!(every.len(), 7);
    let paged = all_pages(3, |page| {
        db.store.audit_log(&tenant, &AuditFilter::default(), page)
    });
    assert_eq!(paged, every);
    let at: Vec<_> = every.iter().map(|e| e.at).collect();
    assert_eq!(at, times, "oldest first");
    let window = all_pages(2, |page| {
        db.store.audit_log(
            &tenant,
            &AuditFilter {
                from: Some(times[2]),
                until: Some(times[5]),
                ..AuditFilter::default()
            },
            page,
        )
    });
    assert_eq!(window, &every[2..5], "from is inclusive, until exclusive");
    assert!(
        audit_entries(
            db,
            &tenant,
            &AuditFilter {
                from: Some(times[6] + TimeDelta::seconds(1)),
                ..AuditFilter::default()
            }
        )
        .is_empty()
    );
    Ok(())
}

// Health.

fn health_reports_the_backend_its_connections_and_an_up_to_date_schema(
    db: &TestDb,
) -> Result<(), StorageError> {
    let health = db.store.health()?;
    assert_eq!(health.backend, db.backend.backend());
    assert!(health.schema_up_to_date, "{health:?}");
    assert!(
        health.connections >= 1,
        "the check held a connection: {health:?}"
    );
    assert!(health.idle_connections <= health.connections, "{health:?}");
    assert!(
        health.latency < std::time::Duration::from_secs(10),
        "{health:?}"
    );
    Ok(())
}

fn health_says_when_the_schema_is_behind_the_code(db: &TestDb) -> Result<(), StorageError> {
    db.execute(
        "DELETE FROM __diesel_schema_migrations WHERE version = \
         (SELECT v FROM (SELECT MAX(version) AS v FROM __diesel_schema_migrations) AS newest)",
    )?;
    let health = db.store.health()?;
    assert!(!health.schema_up_to_date, "{health:?}");
    Ok(())
}

// Isolation.

fn no_tenant_reads_or_changes_another_tenants_users_studies_or_their_data(
    db: &TestDb,
) -> Result<(), StorageError> {
    let owner = db.tenant().id;
    let intruder = db.tenant().id;
    let shared = StudyId::new("same-id")?;
    let theirs = db.store.create_study(NewStudy {
        id: Some(shared.clone()),
        ..NewStudy::new(intruder.clone(), "theirs")
    })?;
    let user = db.store.create_user(NewUser::new(
        owner.clone(),
        "ann@example.com",
        "Ann",
        Role::Owner,
    ))?;
    let twin = db.store.create_study(NewStudy {
        id: Some(shared.clone()),
        ..NewStudy::new(owner.clone(), "mine too")
    })?;
    let study = draft(db, &owner);
    db.store
        .create_from_manifest(&owner, &study.id, &manifest(3, 0))?;
    let jobs = claim(&db.store, 2, true);
    let new_result = result_of(&jobs[0], true);
    let done = db.store.complete_with_result(
        &lease(&jobs[0]),
        new_result.clone(),
        vec![evidence_of(&new_result, EvidenceKind::Html)],
    )?;
    db.store.save_checkpoint(checkpoint(&owner, &study.id, 1))?;
    db.store
        .record_cost(cost(&owner, Some(&study.id), "llm", eur("1.00")))?;
    let snapshot = || {
        (
            db.store.get_user(&owner, &user.id).expect("user"),
            db.store.get_study(&owner, &study.id).expect("study"),
            db.store.study_history(&owner, &study.id).expect("history"),
            db.store.study_stats(&owner, &study.id).expect("stats"),
            db.store
                .list_checkpoints(&owner, &study.id)
                .expect("checkpoints"),
            db.store
                .list_evidence(&owner, &done.result.id)
                .expect("evidence"),
        )
    };
    let before = snapshot();
    let rows = study_rows(db);
    let page = PageRequest::first(100);
    for other in [intruder.clone(), TenantId::new("nobody")?] {
        let what = |call: &str| format!("{call} as {other}");
        not_found(
            db.store.get_user(&other, &user.id),
            Entity::User,
            &what("get_user"),
        );
        assert_eq!(
            db.store.find_user_by_email(&other, "ann@example.com")?,
            None
        );
        assert!(db.store.list_users(&other, &page, true)?.items.is_empty());
        not_found(
            db.store
                .update_user(&other, &user.id, UserUpdate::default()),
            Entity::User,
            &what("update_user"),
        );
        not_found(
            db.store.change_role(&other, &user.id, Role::Viewer),
            Entity::User,
            &what("change_role"),
        );
        not_found(
            db.store.soft_delete_user(&other, &user.id),
            Entity::User,
            &what("soft_delete_user"),
        );
        not_found(
            db.store.purge_user(&other, &user.id),
            Entity::User,
            &what("purge_user"),
        );

        let listed = db.store.list_studies(&other, &page, true)?.items;
        assert!(
            listed.iter().all(|s| s.tenant_id == other),
            "{}",
            what("list_studies")
        );
        let study_id = &study.id;
        not_found(
            db.store.get_study(&other, study_id),
            Entity::Study,
            &what("get_study"),
        );
        not_found(
            db.store
                .update_study(&other, study_id, StudyUpdate::default()),
            Entity::Study,
            &what("update_study"),
        );
        not_found(
            db.store.soft_delete_study(&other, study_id),
            Entity::Study,
            &what("soft_delete_study"),
        );
        not_found(
            db.store.purge_study(&other, study_id),
            Entity::Study,
            &what("purge_study"),
        );
        // A tenant that does not exist is named first; the intruder's own tenant has no such
        // study.
        not_found(
            db.store
                .create_from_manifest(&other, study_id, &manifest(1, 0)),
            if other == intruder {
                Entity::Study
            } else {
                Entity::Tenant
            },
            &what("create_from_manifest"),
        );
        not_found(
            db.store
                .transition_study(&other, study_id, StudyState::Cancelled, None),
            Entity::Study,
            &what("transition_study"),
        );
        not_found(
            db.store.pause_study(&other, study_id),
            Entity::Study,
            &what("pause_study"),
        );
        not_found(
            db.store.resume_study(&other, study_id),
            Entity::Study,
            &what("resume_study"),
        );
        not_found(
            db.store.cancel_study(&other, study_id, "x"),
            Entity::Study,
            &what("cancel_study"),
        );
        not_found(
            db.store.study_history(&other, study_id),
            Entity::Study,
            &what("study_history"),
        );
        not_found(
            db.store.study_progress(&other, study_id),
            Entity::Study,
            &what("study_progress"),
        );
        not_found(
            db.store.study_jobs(&other, study_id, None, &page),
            Entity::Study,
            &what("study_jobs"),
        );
        not_found(
            db.store.study_stats(&other, study_id),
            Entity::Study,
            &what("study_stats"),
        );
        not_found(
            db.store.list_results(&other, study_id, None, &page),
            Entity::Study,
            &what("list_results"),
        );
        not_found(
            db.store.save_checkpoint(checkpoint(&other, study_id, 9)),
            Entity::Study,
            &what("save_checkpoint"),
        );
        not_found(
            db.store.latest_checkpoint(&other, study_id),
            Entity::Study,
            &what("latest_checkpoint"),
        );
        not_found(
            db.store.list_checkpoints(&other, study_id),
            Entity::Study,
            &what("list_checkpoints"),
        );
        not_found(
            db.store.prune_checkpoints(&other, study_id, 0),
            Entity::Study,
            &what("prune_checkpoints"),
        );
    }
    for other in [intruder.clone(), TenantId::new("nobody")?] {
        let what = |call: &str| format!("{call} as {other}");
        not_found(
            db.store.list_evidence(&other, &done.result.id),
            Entity::Result,
            &what("list_evidence"),
        );
        not_found(
            db.store.attach_evidence(NewEvidence {
                tenant_id: other.clone(),
                ..evidence_of(&new_result, EvidenceKind::Text)
            }),
            Entity::Result,
            &what("attach_evidence"),
        );
        assert_matches!(
            db.store.create_result(NewResult {
                tenant_id: other.clone(),
                id: None,
                ..result_of(&jobs[1], true)
            }),
            Err(StorageError::NotFound { .. }),
            "{}",
            what("create_result")
        );
        assert_matches!(
            db.store.complete_with_result(
                &Lease {
                    tenant_id: other.clone(),
                    ..lease(&jobs[1])
                },
                NewResult {
                    tenant_id: other.clone(),
                    ..result_of(&jobs[1], true)
                },
                Vec::new(),
            ),
            Err(StorageError::NotFound { .. }),
            "{}",
            what("complete_with_result")
        );
        assert_matches!(
            db.store
                .record_cost(cost(&other, Some(&study.id), "llm", eur("1.00"))),
            Err(StorageError::NotFound { .. }),
            "{}",
            what("record_cost on another tenant's study")
        );
        let totals = db.store.cost_totals(
            &other,
            &CostFilter {
                study: Some(study.id.clone()),
                ..CostFilter::default()
            },
        )?;
        assert!(totals.is_empty(), "{}", what("cost_totals"));
        assert!(
            db.store
                .cost_totals(&other, &CostFilter::default())?
                .is_empty(),
            "{}",
            what("cost_totals")
        );
        let seen = audit_entries(db, &other, &AuditFilter::default());
        assert!(
            seen.iter().all(|e| e.tenant_id == other),
            "{}",
            what("audit_log")
        );
        assert!(
            audit_entries(db, &other, &of_entity("user", user.id.as_str())).is_empty(),
            "{}",
            what("audit_log of the owner's user")
        );
    }
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(snapshot(), before, "nothing changed");
    assert_eq!(
        db.store.get_study(&intruder, &shared)?,
        theirs,
        "the same id names each tenant's own study"
    );
    assert_eq!(db.store.get_study(&owner, &shared)?, twin);
    Ok(())
}

// Bad input.

fn bad_manifests_are_typed_errors_naming_the_field(db: &TestDb) {
    let parse = |json: serde_json::Value| Manifest::parse(&json.to_string());
    assert_eq!(
        domain_field(parse(serde_json::json!({
            "template": {"priority": "high"}, "queries": ["q"], "surfaces": ["s"]
        }))),
        "manifest.template.priority",
        "a wrong type"
    );
    assert_eq!(
        domain_field(parse(serde_json::json!({
            "template": {}, "queries": "q", "surfaces": ["s"]
        }))),
        "manifest.queries",
        "a string for a list"
    );
    assert_eq!(
        domain_field(parse(serde_json::json!({
            "template": {}, "queries": [], "surfaces": ["s"]
        }))),
        "manifest.queries",
        "an empty matrix"
    );
    let queries: Vec<String> = (0..1001).map(|i| format!("q{i}")).collect();
    let surfaces: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    assert_eq!(
        domain_field(parse(serde_json::json!({
            "template": {}, "queries": queries, "surfaces": surfaces
        }))),
        "manifest",
        "too many cells"
    );
    assert_eq!(domain_field(Manifest::parse("{")), "manifest", "not JSON");

    // A manifest built in code is checked again by the call, which then writes nothing.
    let tenant = db.tenant().id;
    let study = draft(db, &tenant);
    let rows = study_rows(db);
    let empty = Manifest {
        queries: Vec::new(),
        ..manifest(1, 0)
    };
    invalid(
        db.store.create_from_manifest(&tenant, &study.id, &empty),
        "manifest.queries",
        "an empty matrix built in code",
    );
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(state_of(db, &study), StudyState::Draft);
}

fn bad_study_data_is_a_typed_error_with_nothing_written(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let study = queued(db, &tenant, &manifest(1, 0));
    let job = claim(&db.store, 1, true).remove(0);
    let result = result_of(&job, true);
    let rows = study_rows(db);

    for (sha256, what) in [
        ("abc", "too short"),
        (&"g".repeat(64)[..], "not hex"),
        (&"a".repeat(65)[..], "too long"),
    ] {
        let evidence = NewEvidence {
            sha256: sha256.into(),
            ..evidence_of(&result, EvidenceKind::Screenshot)
        };
        invalid(
            db.store
                .complete_with_result(&lease(&job), result.clone(), vec![evidence]),
            "sha256",
            what,
        );
    }
    invalid(
        db.store.complete_with_result(
            &lease(&job),
            NewResult {
                data: Some("{not json".into()),
                ..result.clone()
            },
            Vec::new(),
        ),
        "data",
        "result data that is not JSON",
    );
    invalid(
        db.store
            .create_user(NewUser::new(tenant.clone(), "nobody", "N", Role::Viewer)),
        "email",
        "an e-mail that is not one",
    );
    invalid(
        db.store.create_user(NewUser::new(
            tenant.clone(),
            "Ann <ann@example.com>",
            "Ann",
            Role::Viewer,
        )),
        "email",
        "an address with a display name",
    );
    invalid(
        db.store.create_study(NewStudy::new(tenant.clone(), "")),
        "name",
        "a study without a name",
    );
    invalid(
        db.store.save_checkpoint(NewCheckpoint {
            state: "not json".into(),
            ..checkpoint(&tenant, &study.id, 1)
        }),
        "state",
        "a checkpoint state that is not JSON",
    );
    invalid(
        db.store.save_checkpoint(checkpoint(&tenant, &study.id, 0)),
        "sequence",
        "a checkpoint numbered 0",
    );
    invalid(
        db.store.record_cost(NewCostRecord {
            quantity: "-3".into(),
            ..cost(&tenant, Some(&study.id), "llm", eur("1.00"))
        }),
        "quantity",
        "a negative quantity",
    );
    assert_eq!(study_rows(db), rows, "nothing written");
    assert_eq!(
        db.store.get_job(&tenant, &job.id)?.status,
        JobStatus::Running
    );

    // Money is refused before it reaches the store.
    assert_eq!(
        domain_field(Amount::from_minor_units(-1, currency("EUR"))),
        "amount",
        "a negative amount"
    );
    assert_eq!(
        domain_field(Amount::parse_decimal("0.001", currency("EUR"))),
        "amount",
        "a fraction of a cent"
    );
    assert_eq!(
        domain_field(Amount::parse_decimal("1.5", currency("JPY"))),
        "amount",
        "a fraction of a yen"
    );
    assert_eq!(
        domain_field(Currency::parse("XYZ")),
        "currency",
        "an unknown currency"
    );
    assert_eq!(
        domain_field(Currency::parse("eur")),
        "currency",
        "lower case"
    );
    Ok(())
}

backends!(
    users_are_created_read_found_by_email_updated_and_their_role_changed,
    a_users_email_is_unique_within_its_tenant_without_case,
    users_are_listed_by_id_in_pages,
    a_soft_deleted_user_is_hidden_unless_asked_for_and_a_purged_one_is_gone,
    a_study_is_created_as_a_draft_with_its_trail_and_read_back,
    a_studys_name_and_description_are_updated_and_its_state_is_not,
    studies_are_listed_oldest_first_in_pages,
    a_study_moves_only_along_its_state_machine,
    a_soft_deleted_study_is_hidden_unless_asked_for_and_its_jobs_are_cancelled,
    purging_a_study_removes_its_jobs_results_evidence_checkpoints_and_costs,
    a_manifest_makes_one_job_per_cell_and_queues_its_study,
    a_study_not_in_draft_gets_no_jobs_from_a_manifest,
    an_invalid_manifest_writes_nothing,
    a_study_runs_when_its_first_job_starts_and_completes_with_its_last,
    a_study_runs_when_a_claimed_job_is_started,
    a_study_whose_jobs_all_fail_ends_failed,
    a_retried_job_keeps_its_study_running_and_one_failed_for_good_ends_it,
    pausing_a_study_holds_its_pending_jobs_until_it_is_resumed,
    a_study_paused_before_any_job_started_resumes_queued,
    cancelling_a_study_cancels_its_unfinished_jobs_each_with_its_audit_row,
    a_worker_completes_its_job_with_its_result_and_evidence_in_one_call,
    a_stale_lease_completes_nothing_and_stores_no_result,
    results_are_listed_oldest_first_by_study_and_surface_in_pages,
    a_result_names_a_job_of_its_study,
    evidence_is_attached_to_a_result_and_listed_by_capture_time,
    study_stats_add_up_its_jobs_results_evidence_and_costs,
    checkpoints_are_saved_in_strictly_increasing_sequence,
    pruning_keeps_a_studys_latest_checkpoints,
    cost_totals_are_exact_per_currency_and_filtered_by_study_category_and_time,
    every_audited_write_names_the_stores_actor,
    the_audit_log_is_listed_by_time_range_in_pages,
    health_reports_the_backend_its_connections_and_an_up_to_date_schema,
    health_says_when_the_schema_is_behind_the_code,
    no_tenant_reads_or_changes_another_tenants_users_studies_or_their_data,
    bad_manifests_are_typed_errors_naming_the_field,
    bad_study_data_is_a_typed_error_with_nothing_written
);
