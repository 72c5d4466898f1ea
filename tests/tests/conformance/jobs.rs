//! Jobs: create one or many (all or none), enqueue by unique key, read, name, soft delete,
//! purge, and the audit trail.

use chrono::TimeDelta;
use jobstore_conformance::{RowCounts, TestDb, assert_matches, backends, start_time};
use jobstore_domain::{
    Change, DomainError, JobId, JobStatus, NewJob, PageRequest, RetryPolicy, TenantId,
};
use jobstore_storage::{Entity, JobRepository, StorageError};

fn job_id(id: &str) -> JobId {
    JobId::new(id).expect("a valid job id")
}

fn new_job(tenant: &TenantId, id: &str) -> NewJob {
    NewJob {
        id: Some(job_id(id)),
        ..NewJob::new(tenant.clone())
    }
}

/// A job with every field set, the text fields holding what JSON or SQL might mangle.
fn full_job(tenant: &TenantId) -> NewJob {
    NewJob {
        id: Some(job_id("job-456")),
        image_uri: Some("gcr.io/project/image:latest".into()),
        commands: vec![
            "sh".into(),
            "-c".into(),
            "echo \"hello, $USER\" && printf '%s\\n' done".into(),
            String::new(),
            "ünïcödé ✓ 🚀".into(),
        ],
        // Kept as written: whitespace, key order and number spelling are not normalised.
        spec: Some(
            r#"{ "cpu": 2,  "env": {"B": "1", "A": "x"}, "ratio": 1.50, "list": [null, true] }"#
                .into(),
        ),
        input_bucket: Some("in-bucket".into()),
        input_key: Some("inputs/2030/01/data.csv".into()),
        output_bucket: Some("out-bucket".into()),
        output_key: Some("jobs/job-456/1/result.tar.gz".into()),
        output_prefix: Some("jobs/job-456/1/".into()),
        max_retries: 5,
        retry_policy: Some(RetryPolicy {
            base: TimeDelta::seconds(2),
            max_delay: TimeDelta::seconds(60),
            jitter: 0.25,
        }),
        queue: "gpu.large".into(),
        priority: -7,
        // Nanoseconds are cut to the microsecond, as every backend stores times.
        not_before: Some(start_time() + TimeDelta::nanoseconds(3_600_000_001_999)),
        unique_key: Some("nightly-2030-01-02".into()),
        ..NewJob::new(tenant.clone())
    }
}

fn create_job_makes_a_pending_job_on_attempt_one_at_the_clock_time(db: &TestDb) {
    let tenant = db.tenant();
    let job = db
        .store
        .create_job(NewJob::new(tenant.id.clone()))
        .expect("create");
    assert_eq!(job.tenant_id, tenant.id);
    assert_eq!(job.id.as_str().len(), 36, "a generated UUID");
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(
        (job.attempt, job.retry_count, job.max_retries, job.version),
        (1, 0, 3, 1)
    );
    assert_eq!(job.output_prefix, format!("jobs/{}/1/", job.id));
    assert_eq!(job.queue, "default");
    assert_eq!(job.commands, Vec::<String>::new());
    assert_eq!(
        (job.created_at, job.updated_at, job.not_before),
        (start_time(), start_time(), start_time())
    );
    assert_eq!(
        (
            job.scheduled_at,
            job.started_at,
            job.completed_at,
            job.deleted_at
        ),
        (None, None, None, None)
    );
    assert_eq!(
        (
            job.lease_id.as_ref(),
            job.lease_deadline,
            job.assigned_agent.as_ref()
        ),
        (None, None, None)
    );
    assert_eq!(
        (job.batch_job_name.as_ref(), job.error_message.as_ref()),
        (None, None)
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
}

fn create_job_round_trips_commands_spec_buckets_and_every_field_exactly(db: &TestDb) {
    let tenant = db.tenant();
    let new = full_job(&tenant.id);
    let job = db.store.create_job(new.clone()).expect("create");
    assert_eq!(job.id.as_str(), "job-456");
    assert_eq!(job.image_uri, new.image_uri);
    assert_eq!(job.commands, new.commands);
    assert_eq!(job.spec, new.spec);
    assert_eq!(
        (&job.input_bucket, &job.input_key),
        (&new.input_bucket, &new.input_key)
    );
    assert_eq!(
        (&job.output_bucket, &job.output_key),
        (&new.output_bucket, &new.output_key)
    );
    assert_eq!(job.output_prefix, "jobs/job-456/1/");
    assert_eq!((job.max_retries, job.priority), (5, -7));
    assert_eq!(job.retry_policy, new.retry_policy);
    assert_eq!(job.queue, "gpu.large");
    assert_eq!(
        job.not_before,
        start_time() + TimeDelta::microseconds(3_600_000_001)
    );
    assert_eq!(job.unique_key, new.unique_key);
    // And the database gives back exactly what the call returned.
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
}

fn created_job_has_one_history_row_from_none_to_pending(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    assert_eq!(history.len(), 1);
    let created = &history[0];
    assert_eq!((&created.tenant_id, &created.job_id), (&tenant.id, &job.id));
    assert_eq!((created.from, created.to), (None, JobStatus::Pending));
    assert_eq!(
        (created.seq, created.attempt, created.at),
        (1, 1, start_time())
    );
    assert_eq!(
        (created.reason.as_ref(), created.actor.as_ref()),
        (None, None)
    );
}

fn create_job_for_an_unknown_tenant_is_not_found_and_writes_nothing(db: &TestDb) {
    db.tenant();
    let before = db.counts();
    assert_matches!(
        db.store.create_job(NewJob::new(TenantId::new("nobody").expect("id"))),
        Err(StorageError::NotFound { entity: Entity::Tenant, ref id, .. }) if id == "nobody"
    );
    assert_eq!(db.counts(), before);
}

fn create_job_with_an_id_in_use_is_already_exists_and_changes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let first = db
        .store
        .create_job(new_job(&tenant.id, "j1"))
        .expect("create");
    db.advance(TimeDelta::seconds(1));
    let before = db.counts();
    assert_matches!(
        db.store.create_job(NewJob {
            image_uri: Some("other".into()),
            ..new_job(&tenant.id, "j1")
        }),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(db.counts(), before);
    assert_eq!(db.store.get_job(&tenant.id, &first.id).expect("get"), first);
    assert_eq!(
        db.store
            .job_history(&tenant.id, &first.id)
            .expect("history")
            .len(),
        1
    );
}

fn create_jobs_creates_every_job_with_its_history_in_order(db: &TestDb) {
    let a = db.tenant();
    let b = db.tenant();
    let jobs = db
        .store
        .create_jobs(vec![
            new_job(&a.id, "j1"),
            full_job(&b.id),
            new_job(&a.id, "j2"),
        ])
        .expect("create");
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["j1", "job-456", "j2"]);
    for job in &jobs {
        assert_eq!(
            db.store.get_job(&job.tenant_id, &job.id).expect("get"),
            *job
        );
        let history = db
            .store
            .job_history(&job.tenant_id, &job.id)
            .expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!((history[0].from, history[0].to), (None, JobStatus::Pending));
    }
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: 2,
            jobs: 3,
            transitions: 3
        }
    );
}

fn create_jobs_of_nothing_writes_nothing(db: &TestDb) {
    db.tenant();
    let before = db.counts();
    assert_eq!(
        db.store.create_jobs(Vec::new()).expect("create"),
        Vec::new()
    );
    assert_eq!(db.counts(), before);
}

fn create_jobs_with_one_invalid_job_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    let bad = NewJob {
        spec: Some("{not json".into()),
        ..new_job(&tenant.id, "bad")
    };
    assert_matches!(
        db.store.create_jobs(vec![
            new_job(&tenant.id, "j1"),
            bad,
            new_job(&tenant.id, "j2")
        ]),
        Err(StorageError::Domain(DomainError::Validation {
            field: "spec",
            ..
        }))
    );
    assert_eq!(db.counts(), before);
}

fn create_jobs_with_an_id_already_in_use_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_job(new_job(&tenant.id, "taken"))
        .expect("create");
    let before = db.counts();
    assert_matches!(
        db.store.create_jobs(vec![
            new_job(&tenant.id, "j1"),
            new_job(&tenant.id, "taken")
        ]),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(db.counts(), before);
    assert_matches!(
        db.store.get_job(&tenant.id, &job_id("j1")),
        Err(StorageError::NotFound { .. })
    );
}

fn create_jobs_with_the_same_id_twice_in_the_batch_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    assert_matches!(
        db.store.create_jobs(vec![
            new_job(&tenant.id, "j1"),
            new_job(&tenant.id, "j2"),
            new_job(&tenant.id, "j1")
        ]),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(db.counts(), before);
}

fn create_jobs_with_an_unknown_tenant_in_the_batch_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    let before = db.counts();
    assert_matches!(
        db.store.create_jobs(vec![new_job(&tenant.id, "j1"), NewJob::new(TenantId::new("nobody").expect("id"))]),
        Err(StorageError::NotFound { entity: Entity::Tenant, ref id, .. }) if id == "nobody"
    );
    assert_eq!(db.counts(), before);
}

fn create_jobs_with_a_unique_key_in_use_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .create_job(NewJob {
            unique_key: Some("k".into()),
            ..new_job(&tenant.id, "holder")
        })
        .expect("create");
    let before = db.counts();
    assert_matches!(
        db.store.create_jobs(vec![
            new_job(&tenant.id, "j1"),
            NewJob {
                unique_key: Some("k".into()),
                ..new_job(&tenant.id, "j2")
            },
        ]),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(db.counts(), before);
}

fn create_jobs_over_several_insert_statements_is_still_all_or_none(db: &TestDb) {
    let tenant = db.tenant();
    let batch = |prefix: &str| -> Vec<NewJob> {
        (0..600)
            .map(|i| new_job(&tenant.id, &format!("{prefix}-{i:04}")))
            .collect()
    };
    let created = db.store.create_jobs(batch("a")).expect("600 jobs");
    assert_eq!(created.len(), 600);
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: 1,
            jobs: 600,
            transitions: 600
        }
    );
    // The duplicate is in the second insert statement: the first one must be undone too.
    let mut second = batch("b");
    second[550] = new_job(&tenant.id, "a-0007");
    assert_matches!(
        db.store.create_jobs(second),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: 1,
            jobs: 600,
            transitions: 600
        }
    );
}

fn enqueue_with_a_unique_key_held_by_an_unfinished_job_returns_that_job_unchanged(db: &TestDb) {
    let tenant = db.tenant();
    let keyed = |id: &str| NewJob {
        unique_key: Some("nightly".into()),
        ..new_job(&tenant.id, id)
    };
    let first = db.store.enqueue(keyed("first")).expect("enqueue");
    assert!(!first.is_duplicate());
    db.advance(TimeDelta::seconds(1));
    let again = db.store.enqueue(keyed("second")).expect("enqueue");
    assert!(again.is_duplicate());
    assert_eq!(again.job(), first.job());
    assert_eq!(db.counts().jobs, 1);
    assert_matches!(
        db.store.create_job(keyed("third")),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    // Still a duplicate while the holder runs.
    db.move_job(&tenant.id, &first.job().id, JobStatus::Running);
    assert!(
        db.store
            .enqueue(keyed("fourth"))
            .expect("enqueue")
            .is_duplicate()
    );
    // Once it has finished, the key is free.
    db.store
        .complete_job(&tenant.id, &first.job().id)
        .expect("complete");
    let fresh = db.store.enqueue(keyed("fifth")).expect("enqueue");
    assert!(!fresh.is_duplicate());
    assert_eq!(fresh.job().id.as_str(), "fifth");
    assert_eq!(db.counts().jobs, 2);
}

fn enqueue_without_a_unique_key_always_creates_and_keys_are_per_tenant(db: &TestDb) {
    let a = db.tenant();
    let b = db.tenant();
    assert!(
        !db.store
            .enqueue(NewJob::new(a.id.clone()))
            .expect("enqueue")
            .is_duplicate()
    );
    assert!(
        !db.store
            .enqueue(NewJob::new(a.id.clone()))
            .expect("enqueue")
            .is_duplicate()
    );
    let keyed = |tenant: &TenantId| NewJob {
        unique_key: Some("k".into()),
        ..NewJob::new(tenant.clone())
    };
    assert!(
        !db.store
            .enqueue(keyed(&a.id))
            .expect("enqueue")
            .is_duplicate()
    );
    assert!(
        !db.store
            .enqueue(keyed(&b.id))
            .expect("enqueue")
            .is_duplicate(),
        "another tenant's key"
    );
    assert_eq!(db.counts().jobs, 4);
}

fn get_job_of_an_unknown_id_is_not_found(db: &TestDb) {
    let tenant = db.tenant();
    assert_matches!(
        db.store.get_job(&tenant.id, &job_id("nope")),
        Err(StorageError::NotFound { entity: Entity::Job, ref id }) if id.contains("nope")
    );
}

fn set_batch_job_name_is_stored_moves_version_and_updated_at_and_is_recorded(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Running);
    let later = db.advance(TimeDelta::seconds(3));
    let named = db
        .store
        .set_batch_job_name(&tenant.id, &job.id, "projects/p/locations/l/jobs/batch-1")
        .expect("name");
    assert_eq!(
        named.batch_job_name.as_deref(),
        Some("projects/p/locations/l/jobs/batch-1")
    );
    assert_eq!(
        (named.status, named.version, named.updated_at),
        (JobStatus::Running, job.version + 1, later)
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), named);
    // The trail numbers every version: the rename is its fourth record, RUNNING to RUNNING.
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    let seqs: Vec<i64> = history.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(
        (history[3].from, history[3].to, history[3].at),
        (Some(JobStatus::Running), JobStatus::Running, later)
    );
    assert!(
        history[3]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("batch-1"))
    );
    // Renaming replaces it.
    let renamed = db
        .store
        .set_batch_job_name(&tenant.id, &job.id, "batch-2")
        .expect("rename");
    assert_eq!(renamed.batch_job_name.as_deref(), Some("batch-2"));
}

fn set_batch_job_name_refuses_an_empty_name_and_an_unknown_job(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    assert_matches!(
        db.store.set_batch_job_name(&tenant.id, &job.id, ""),
        Err(StorageError::Domain(DomainError::Validation {
            field: "batch_job_name",
            ..
        }))
    );
    assert_matches!(
        db.store
            .set_batch_job_name(&tenant.id, &job_id("nope"), "b"),
        Err(StorageError::NotFound {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
}

fn soft_delete_job_refuses_unfinished_jobs_and_changes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    for status in [JobStatus::Pending, JobStatus::Assigned, JobStatus::Running] {
        let job = db.job_in(&tenant.id, status);
        let history = db.store.job_history(&tenant.id, &job.id).expect("history");
        assert_matches!(
            db.store.soft_delete_job(&tenant.id, &job.id),
            Err(StorageError::Domain(DomainError::Validation {
                field: "status",
                ..
            })),
            "soft delete of a {status} job"
        );
        assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
        assert_eq!(
            db.store.job_history(&tenant.id, &job.id).expect("history"),
            history
        );
    }
    assert_eq!(db.count_where("jobs", "deleted_at IS NOT NULL"), 0);
}

fn soft_deleted_job_is_hidden_from_every_read_and_write_but_kept(db: &TestDb) {
    let tenant = db.tenant();
    for status in [
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Lost,
    ] {
        let job = db.job_in(&tenant.id, status);
        db.store
            .soft_delete_job(&tenant.id, &job.id)
            .expect("soft delete");
        let not_found = |result: Result<(), StorageError>| {
            assert_matches!(
                result,
                Err(StorageError::NotFound {
                    entity: Entity::Job,
                    ..
                }),
                "{status}"
            );
        };
        not_found(db.store.get_job(&tenant.id, &job.id).map(|_| ()));
        not_found(db.store.job_history(&tenant.id, &job.id).map(|_| ()));
        not_found(db.store.retry_job(&tenant.id, &job.id).map(|_| ()));
        not_found(
            db.store
                .set_batch_job_name(&tenant.id, &job.id, "b")
                .map(|_| ()),
        );
        not_found(db.store.soft_delete_job(&tenant.id, &job.id));
    }
    let listed = db
        .store
        .list_jobs(&tenant.id, &Default::default(), &PageRequest::default())
        .expect("list");
    assert!(listed.items.is_empty(), "{:?}", listed.items);
    assert_eq!(
        db.count_where("jobs", "deleted_at IS NOT NULL"),
        4,
        "the rows stay until purged"
    );
}

fn purge_job_removes_the_job_and_its_history_and_nothing_else(db: &TestDb) {
    let tenant = db.tenant();
    let doomed = db.job_in(&tenant.id, JobStatus::Completed);
    let kept = db.job_in(&tenant.id, JobStatus::Completed);
    let kept_history = db.store.job_history(&tenant.id, &kept.id).expect("history");
    db.store.purge_job(&tenant.id, &doomed.id).expect("purge");
    assert_eq!(
        db.count_where("jobs", &format!("job_id = '{}'", doomed.id)),
        0
    );
    assert_eq!(
        db.count_where(
            "job_state_transitions",
            &format!("job_id = '{}'", doomed.id)
        ),
        0
    );
    assert_eq!(db.store.get_job(&tenant.id, &kept.id).expect("get"), kept);
    assert_eq!(
        db.store.job_history(&tenant.id, &kept.id).expect("history"),
        kept_history
    );
    assert_matches!(
        db.store.purge_job(&tenant.id, &doomed.id),
        Err(StorageError::NotFound {
            entity: Entity::Job,
            ..
        }),
        "purging twice"
    );
}

fn purge_job_removes_a_soft_deleted_job_too(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job_in(&tenant.id, JobStatus::Cancelled);
    db.store
        .soft_delete_job(&tenant.id, &job.id)
        .expect("soft delete");
    db.store.purge_job(&tenant.id, &job.id).expect("purge");
    assert_eq!(
        db.counts(),
        RowCounts {
            tenants: 1,
            jobs: 0,
            transitions: 0
        }
    );
}

fn job_history_lists_every_change_in_order_with_reason_actor_and_attempt(db: &TestDb) {
    let tenant = db.tenant();
    let job = db
        .store
        .create_job(NewJob {
            max_retries: 2,
            ..new_job(&tenant.id, "j1")
        })
        .expect("create");
    let mut times = vec![db.now()];
    let mut step = |change: Change| {
        times.push(db.advance(TimeDelta::seconds(10)));
        db.store
            .transition_job(&tenant.id, &job.id, change)
            .expect("transition");
    };
    step(Change::to(JobStatus::Assigned).actor("worker-1"));
    step(Change::to(JobStatus::Running).actor("worker-1"));
    step(
        Change::to(JobStatus::Failed)
            .reason("exit 1")
            .actor("worker-1"),
    );
    step(
        Change::to(JobStatus::Pending)
            .reason("retrying")
            .actor("scheduler"),
    );
    step(
        Change::to(JobStatus::Cancelled)
            .reason("no longer needed")
            .actor("alice"),
    );
    let history = db.store.job_history(&tenant.id, &job.id).expect("history");
    let got: Vec<_> = history
        .iter()
        .map(|t| {
            (
                t.seq,
                t.from,
                t.to,
                t.reason.as_deref(),
                t.actor.as_deref(),
                t.attempt,
            )
        })
        .collect();
    use JobStatus::*;
    assert_eq!(
        got,
        vec![
            (1, None, Pending, None, None, 1),
            (2, Some(Pending), Assigned, None, Some("worker-1"), 1),
            (3, Some(Assigned), Running, None, Some("worker-1"), 1),
            (
                4,
                Some(Running),
                Failed,
                Some("exit 1"),
                Some("worker-1"),
                1
            ),
            (
                5,
                Some(Failed),
                Pending,
                Some("retrying"),
                Some("scheduler"),
                2
            ),
            (
                6,
                Some(Pending),
                Cancelled,
                Some("no longer needed"),
                Some("alice"),
                2
            ),
        ]
    );
    assert_eq!(history.iter().map(|t| t.at).collect::<Vec<_>>(), times);
    let mut ids: Vec<_> = history.iter().map(|t| t.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "every record has its own id");
    assert!(
        history
            .iter()
            .all(|t| t.tenant_id == tenant.id && t.job_id == job.id)
    );
}

fn retrying_a_job_whose_unique_key_was_taken_meanwhile_is_already_exists_and_changes_nothing(
    db: &TestDb,
) {
    let tenant = db.tenant();
    let keyed = || NewJob {
        unique_key: Some("nightly".into()),
        ..NewJob::new(tenant.id.clone())
    };
    let first = db.store.create_job(keyed()).expect("create");
    let failed = db.move_job(&tenant.id, &first.id, JobStatus::Failed);
    // FAILED is finished: the key is free for a new job...
    let second = db.store.create_job(keyed()).expect("the key is free");
    let before = db.counts();
    // ...so the failed one cannot come back to PENDING under it.
    assert_matches!(
        db.store.retry_job(&tenant.id, &first.id),
        Err(StorageError::AlreadyExists {
            entity: Entity::Job,
            ..
        })
    );
    assert_eq!(
        db.store.get_job(&tenant.id, &first.id).expect("get"),
        failed
    );
    assert_eq!(
        db.store.get_job(&tenant.id, &second.id).expect("get"),
        second
    );
    assert_eq!(db.counts(), before);
}

fn integer_fields_round_trip_at_their_extremes(db: &TestDb) {
    let tenant = db.tenant();
    for (priority, max_retries) in [(i32::MAX, 1000), (i32::MIN, 0)] {
        let job = db
            .store
            .create_job(NewJob {
                priority,
                max_retries,
                ..NewJob::new(tenant.id.clone())
            })
            .expect("create");
        assert_eq!((job.priority, job.max_retries), (priority, max_retries));
        assert_eq!(db.store.get_job(&tenant.id, &job.id).expect("get"), job);
    }
}

fn job_ids_differing_only_in_letter_case_are_different_jobs(db: &TestDb) {
    let tenant = db.tenant();
    let lower = db
        .store
        .create_job(new_job(&tenant.id, "job-a"))
        .expect("create");
    let upper = db
        .store
        .create_job(new_job(&tenant.id, "JOB-A"))
        .expect("another job");
    db.store
        .cancel_job(&tenant.id, &upper.id, "only the upper-case one")
        .expect("cancel");
    assert_eq!(db.store.get_job(&tenant.id, &lower.id).expect("get"), lower);
    assert_eq!(db.counts().jobs, 2);
}

backends!(
    create_job_makes_a_pending_job_on_attempt_one_at_the_clock_time,
    create_job_round_trips_commands_spec_buckets_and_every_field_exactly,
    created_job_has_one_history_row_from_none_to_pending,
    create_job_for_an_unknown_tenant_is_not_found_and_writes_nothing,
    create_job_with_an_id_in_use_is_already_exists_and_changes_nothing,
    create_jobs_creates_every_job_with_its_history_in_order,
    create_jobs_of_nothing_writes_nothing,
    create_jobs_with_one_invalid_job_writes_nothing,
    create_jobs_with_an_id_already_in_use_writes_nothing,
    create_jobs_with_the_same_id_twice_in_the_batch_writes_nothing,
    create_jobs_with_an_unknown_tenant_in_the_batch_writes_nothing,
    create_jobs_with_a_unique_key_in_use_writes_nothing,
    create_jobs_over_several_insert_statements_is_still_all_or_none,
    enqueue_with_a_unique_key_held_by_an_unfinished_job_returns_that_job_unchanged,
    enqueue_without_a_unique_key_always_creates_and_keys_are_per_tenant,
    get_job_of_an_unknown_id_is_not_found,
    set_batch_job_name_is_stored_moves_version_and_updated_at_and_is_recorded,
    set_batch_job_name_refuses_an_empty_name_and_an_unknown_job,
    soft_delete_job_refuses_unfinished_jobs_and_changes_nothing,
    soft_deleted_job_is_hidden_from_every_read_and_write_but_kept,
    purge_job_removes_the_job_and_its_history_and_nothing_else,
    purge_job_removes_a_soft_deleted_job_too,
    job_history_lists_every_change_in_order_with_reason_actor_and_attempt,
    retrying_a_job_whose_unique_key_was_taken_meanwhile_is_already_exists_and_changes_nothing,
    integer_fields_round_trip_at_their_extremes,
    job_ids_differing_only_in_letter_case_are_different_jobs
);
