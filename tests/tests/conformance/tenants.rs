//! Tenants: create, read, find by OAuth identity, list, update, soft delete, purge.

use std::collections::HashSet;

use chrono::TimeDelta;
use jobstore_conformance::{RowCounts, TestDb, assert_matches, backends, start_time};
use jobstore_domain::{
    Cursor, JobStatus, NewJob, NewTenant, OAuthIdentity, PageRequest, TenantId, TenantUpdate,
};
use jobstore_storage::{Entity, JobRepository, StorageError, TenantRepository};

fn google(user_id: &str) -> Option<OAuthIdentity> {
    Some(OAuthIdentity {
        provider: "google".into(),
        user_id: user_id.into(),
    })
}

fn tenant_id(id: &str) -> TenantId {
    TenantId::new(id).expect("a valid tenant id")
}

fn create_tenant_generates_a_uuid_id_when_none_is_chosen(db: &TestDb) {
    let tenant = db
        .store
        .create_tenant(NewTenant::named("Acme Corp"))
        .expect("create");
    assert_eq!(tenant.id.as_str().len(), 36);
    assert!(
        uuid::Uuid::parse_str(tenant.id.as_str()).is_ok(),
        "{}",
        tenant.id
    );
    let other = db
        .store
        .create_tenant(NewTenant::named("Acme Corp"))
        .expect("create");
    assert_ne!(tenant.id, other.id, "the same name makes two tenants");
}

fn create_tenant_keeps_the_chosen_id_and_every_field(db: &TestDb) {
    let tenant = db
        .store
        .create_tenant(NewTenant {
            id: Some(tenant_id("tenant-123")),
            user_email: Some("ada@example.com".into()),
            oauth: google("1234567890"),
            ..NewTenant::named("Acme Corp")
        })
        .expect("create");
    assert_eq!(tenant.id.as_str(), "tenant-123");
    assert_eq!(tenant.name, "Acme Corp");
    assert_eq!(tenant.user_email.as_deref(), Some("ada@example.com"));
    assert_eq!(tenant.oauth, google("1234567890"));
    assert_eq!(
        (tenant.created_at, tenant.updated_at),
        (start_time(), start_time())
    );
    assert_eq!(tenant.deleted_at, None);
    assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), tenant);
}

fn get_tenant_of_an_unknown_id_is_not_found(db: &TestDb) {
    assert_matches!(
        db.store.get_tenant(&tenant_id("nobody")),
        Err(StorageError::NotFound { entity: Entity::Tenant, ref id, .. }) if id == "nobody"
    );
}

fn find_tenant_by_oauth_returns_the_linked_tenant_only(db: &TestDb) {
    let linked = db
        .store
        .create_tenant(NewTenant {
            oauth: google("42"),
            ..NewTenant::named("Linked")
        })
        .expect("create");
    db.store
        .create_tenant(NewTenant {
            oauth: Some(OAuthIdentity {
                provider: "github".into(),
                user_id: "43".into(),
            }),
            ..NewTenant::named("Other")
        })
        .expect("create");
    assert_eq!(
        db.store.find_tenant_by_oauth("google", "42").expect("find"),
        Some(linked)
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("google", "43").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("github", "42").expect("find"),
        None
    );
    assert_eq!(
        db.store.find_tenant_by_oauth("GOOGLE", "42").expect("find"),
        None,
        "case matters"
    );
}

fn list_tenants_pages_through_every_tenant_in_id_order_without_duplicates(db: &TestDb) {
    // Created out of order, so that the listing's order is its own.
    let mut ids: Vec<String> = ["t-05", "t-01", "t-10", "t-03", "t-07", "t-02", "t-09"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for id in &ids {
        db.store
            .create_tenant(NewTenant {
                id: Some(tenant_id(id)),
                ..NewTenant::named(id.as_str())
            })
            .expect("create");
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut pages = 0;
    loop {
        let got = db.store.list_tenants(&page).expect("list");
        pages += 1;
        assert!(got.items.len() <= 3);
        seen.extend(got.items.iter().map(|t| t.id.to_string()));
        match got.next {
            Some(next) => {
                page = PageRequest {
                    limit: 3,
                    after: Some(next),
                }
            }
            None => break,
        }
        assert!(pages < 10, "the cursor does not move on");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

fn list_tenants_last_full_page_has_no_next_cursor(db: &TestDb) {
    for i in 0..4 {
        db.store
            .create_tenant(NewTenant {
                id: Some(tenant_id(&format!("t{i}"))),
                ..NewTenant::named("T")
            })
            .expect("create");
    }
    let first = db.store.list_tenants(&PageRequest::first(2)).expect("list");
    assert_eq!(first.items.len(), 2);
    let second = db
        .store
        .list_tenants(&PageRequest {
            limit: 2,
            after: first.next,
        })
        .expect("list");
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next, None, "no empty page after an exact fit");
    let all = db.store.list_tenants(&PageRequest::first(4)).expect("list");
    assert_eq!((all.items.len(), all.next), (4, None));
    let empty = db
        .store
        .list_tenants(&PageRequest {
            limit: 2,
            after: Some(Cursor::after_tenant(&tenant_id("t3"))),
        })
        .expect("list");
    assert_eq!((empty.items.len(), empty.next), (0, None));
}

fn update_tenant_changes_only_the_given_fields_and_updated_at(db: &TestDb) {
    let tenant = db
        .store
        .create_tenant(NewTenant {
            user_email: Some("ada@example.com".into()),
            oauth: google("1"),
            ..NewTenant::named("Acme")
        })
        .expect("create");
    let later = db.advance(TimeDelta::seconds(5));
    let renamed = db
        .store
        .update_tenant(
            &tenant.id,
            TenantUpdate {
                name: Some("Acme Corp".into()),
                ..TenantUpdate::default()
            },
        )
        .expect("update");
    assert_eq!(renamed.name, "Acme Corp");
    assert_eq!(renamed.user_email, tenant.user_email);
    assert_eq!(renamed.oauth, tenant.oauth);
    assert_eq!(
        (renamed.created_at, renamed.updated_at),
        (tenant.created_at, later)
    );
    assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), renamed);
}

fn update_tenant_clears_the_email_and_unlinks_the_oauth_identity(db: &TestDb) {
    let tenant = db
        .store
        .create_tenant(NewTenant {
            user_email: Some("ada@example.com".into()),
            oauth: google("1"),
            ..NewTenant::named("Acme")
        })
        .expect("create");
    let cleared = db
        .store
        .update_tenant(
            &tenant.id,
            TenantUpdate {
                user_email: Some(None),
                oauth: Some(None),
                ..TenantUpdate::default()
            },
        )
        .expect("update");
    assert_eq!(
        (cleared.user_email.as_deref(), cleared.oauth.as_ref()),
        (None, None)
    );
    assert_eq!(db.store.get_tenant(&tenant.id).expect("get"), cleared);
    assert_eq!(
        db.store.find_tenant_by_oauth("google", "1").expect("find"),
        None
    );
    // The identity is free again.
    db.store
        .create_tenant(NewTenant {
            oauth: google("1"),
            ..NewTenant::named("Next")
        })
        .expect("the unlinked identity can be linked again");
}

fn update_tenant_to_an_oauth_identity_in_use_is_already_exists_and_changes_nothing(db: &TestDb) {
    db.store
        .create_tenant(NewTenant {
            oauth: google("1"),
            ..NewTenant::named("First")
        })
        .expect("create");
    let second = db
        .store
        .create_tenant(NewTenant {
            oauth: google("2"),
            ..NewTenant::named("Second")
        })
        .expect("create");
    db.advance(TimeDelta::seconds(1));
    assert_matches!(
        db.store.update_tenant(
            &second.id,
            TenantUpdate {
                name: Some("Renamed".into()),
                oauth: Some(google("1")),
                ..TenantUpdate::default()
            },
        ),
        Err(StorageError::AlreadyExists {
            entity: Entity::Tenant,
            ..
        })
    );
    assert_eq!(db.store.get_tenant(&second.id).expect("get"), second);
}

fn update_tenant_of_an_unknown_or_soft_deleted_tenant_is_not_found(db: &TestDb) {
    let update = || TenantUpdate {
        name: Some("x".into()),
        ..TenantUpdate::default()
    };
    assert_matches!(
        db.store.update_tenant(&tenant_id("nobody"), update()),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        })
    );
    let tenant = db.tenant();
    db.store
        .soft_delete_tenant(&tenant.id)
        .expect("soft delete");
    assert_matches!(
        db.store.update_tenant(&tenant.id, update()),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        })
    );
}

fn soft_deleted_tenant_is_hidden_from_get_list_and_oauth_lookup_but_kept(db: &TestDb) {
    let kept = db.tenant();
    let gone = db
        .store
        .create_tenant(NewTenant {
            oauth: google("7"),
            ..NewTenant::named("Gone")
        })
        .expect("create");
    db.store.soft_delete_tenant(&gone.id).expect("soft delete");
    assert_matches!(
        db.store.get_tenant(&gone.id),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        })
    );
    let listed = db
        .store
        .list_tenants(&PageRequest::default())
        .expect("list");
    assert_eq!(listed.items, vec![kept]);
    assert_eq!(
        db.store.find_tenant_by_oauth("google", "7").expect("find"),
        None
    );
    assert_eq!(db.counts().tenants, 2, "a soft delete keeps the row");
    assert_matches!(
        db.store.soft_delete_tenant(&gone.id),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        }),
        "deleting twice"
    );
}

fn creating_jobs_for_a_soft_deleted_tenant_is_not_found_and_writes_nothing(db: &TestDb) {
    let tenant = db.tenant();
    db.store
        .soft_delete_tenant(&tenant.id)
        .expect("soft delete");
    let before = db.counts();
    assert_matches!(
        db.store.create_job(NewJob::new(tenant.id.clone())),
        Err(StorageError::NotFound { entity: Entity::Tenant, ref id, .. }) if *id == tenant.id.to_string()
    );
    assert_matches!(
        db.store.create_jobs(vec![NewJob::new(tenant.id.clone())]),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        })
    );
    assert_matches!(
        db.store.enqueue(NewJob::new(tenant.id.clone())),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        })
    );
    assert_eq!(db.counts(), before);
}

fn purge_tenant_cascades_to_jobs_and_transitions(db: &TestDb) {
    let doomed = db.tenant();
    let other = db.tenant();
    let cancelled = db.job_in(&doomed.id, JobStatus::Cancelled);
    db.job_in(&doomed.id, JobStatus::Running);
    let survivor = db.job_in(&other.id, JobStatus::Completed);
    let survivor_history = db
        .store
        .job_history(&other.id, &survivor.id)
        .expect("history");
    assert_eq!(
        db.count_where("jobs", &format!("tenant_id = '{}'", doomed.id)),
        2
    );
    db.store.purge_tenant(&doomed.id).expect("purge");
    assert_eq!(
        db.count_where("tenants", &format!("tenant_id = '{}'", doomed.id)),
        0
    );
    assert_eq!(
        db.count_where("jobs", &format!("tenant_id = '{}'", doomed.id)),
        0
    );
    assert_eq!(
        db.count_where(
            "job_state_transitions",
            &format!("tenant_id = '{}'", doomed.id)
        ),
        0
    );
    assert_matches!(
        db.store.get_job(&doomed.id, &cancelled.id),
        Err(StorageError::NotFound { .. })
    );
    // The other tenant's rows are untouched.
    assert_eq!(
        db.store.get_job(&other.id, &survivor.id).expect("get"),
        survivor
    );
    assert_eq!(
        db.store
            .job_history(&other.id, &survivor.id)
            .expect("history"),
        survivor_history
    );
    assert_eq!(db.counts().tenants, 1);
}

fn purge_tenant_removes_a_soft_deleted_tenant_too(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    db.store
        .soft_delete_tenant(&tenant.id)
        .expect("soft delete");
    db.store.purge_tenant(&tenant.id).expect("purge");
    assert_eq!(
        db.counts(),
        jobstore_conformance::RowCounts {
            tenants: 0,
            jobs: 0,
            transitions: 0
        }
    );
    assert_matches!(
        db.store.purge_tenant(&tenant.id),
        Err(StorageError::NotFound {
            entity: Entity::Tenant,
            ..
        }),
        "purging twice"
    );
}

fn create_tenant_with_an_id_in_use_is_already_exists_and_changes_nothing(db: &TestDb) {
    let first = db
        .store
        .create_tenant(NewTenant {
            id: Some(tenant_id("acme")),
            ..NewTenant::named("First")
        })
        .expect("create");
    db.advance(TimeDelta::seconds(1));
    assert_matches!(
        db.store.create_tenant(NewTenant { id: Some(tenant_id("acme")), ..NewTenant::named("Second") }),
        Err(StorageError::AlreadyExists { entity: Entity::Tenant, id: Some(ref id), .. }) if id.contains("acme")
    );
    assert_eq!(db.store.get_tenant(&first.id).expect("get"), first);
    assert_eq!(db.counts().tenants, 1);
}

fn create_tenant_with_an_id_of_a_soft_deleted_tenant_is_already_exists(db: &TestDb) {
    let first = db
        .store
        .create_tenant(NewTenant {
            id: Some(tenant_id("acme")),
            ..NewTenant::named("First")
        })
        .expect("create");
    db.store.soft_delete_tenant(&first.id).expect("soft delete");
    assert_matches!(
        db.store.create_tenant(NewTenant {
            id: Some(tenant_id("acme")),
            ..NewTenant::named("Second")
        }),
        Err(StorageError::AlreadyExists {
            entity: Entity::Tenant,
            ..
        })
    );
}

fn create_tenant_with_an_oauth_identity_in_use_is_already_exists(db: &TestDb) {
    db.store
        .create_tenant(NewTenant {
            oauth: google("99"),
            ..NewTenant::named("First")
        })
        .expect("create");
    let before = db.counts();
    assert_matches!(
        db.store.create_tenant(NewTenant {
            oauth: google("99"),
            ..NewTenant::named("Second")
        }),
        Err(StorageError::AlreadyExists {
            entity: Entity::Tenant,
            ..
        })
    );
    assert_eq!(db.counts(), before);
    // The same user id at another provider is another identity.
    db.store
        .create_tenant(NewTenant {
            oauth: Some(OAuthIdentity {
                provider: "github".into(),
                user_id: "99".into(),
            }),
            ..NewTenant::named("Third")
        })
        .expect("another provider");
}

fn oauth_identity_of_a_soft_deleted_tenant_stays_taken_until_purged(db: &TestDb) {
    let first = db
        .store
        .create_tenant(NewTenant {
            oauth: google("5"),
            ..NewTenant::named("First")
        })
        .expect("create");
    db.store.soft_delete_tenant(&first.id).expect("soft delete");
    assert_matches!(
        db.store.create_tenant(NewTenant {
            oauth: google("5"),
            ..NewTenant::named("Second")
        }),
        Err(StorageError::AlreadyExists {
            entity: Entity::Tenant,
            ..
        })
    );
    db.store.purge_tenant(&first.id).expect("purge");
    db.store
        .create_tenant(NewTenant {
            oauth: google("5"),
            ..NewTenant::named("Second")
        })
        .expect("free after the purge");
}

fn list_tenants_orders_ids_by_their_bytes_on_every_backend(db: &TestDb) {
    // Byte order, as SQLite and MySQL's utf8mb4_bin sort: a linguistic collation (PostgreSQL
    // with an en_US database) would put `a` before `A_1` and ignore the punctuation.
    let ids = ["B", "a", "a-c", "ab", "A_1", "a.b", "a:b", "Z9", "0"];
    for id in ids {
        db.store
            .create_tenant(NewTenant {
                id: Some(tenant_id(id)),
                ..NewTenant::named(id)
            })
            .expect("create");
    }
    let mut expected: Vec<&str> = ids.to_vec();
    expected.sort();
    assert_eq!(
        expected,
        ["0", "A_1", "B", "Z9", "a", "a-c", "a.b", "a:b", "ab"]
    );
    for limit in [1, 4, 100] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(limit);
        loop {
            let got = db.store.list_tenants(&page).expect("list");
            seen.extend(got.items.into_iter().map(|t| t.id.to_string()));
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "pages of {limit}");
    }
}

fn tenant_ids_differing_only_in_letter_case_are_different_tenants(db: &TestDb) {
    let lower = db
        .store
        .create_tenant(NewTenant {
            id: Some(tenant_id("acme")),
            ..NewTenant::named("lower")
        })
        .expect("create");
    let upper = db
        .store
        .create_tenant(NewTenant {
            id: Some(tenant_id("ACME")),
            ..NewTenant::named("upper")
        })
        .expect("another tenant");
    assert_eq!(db.store.get_tenant(&lower.id).expect("get").name, "lower");
    assert_eq!(db.store.get_tenant(&upper.id).expect("get").name, "upper");
    db.store.purge_tenant(&upper.id).expect("purge");
    assert_eq!(db.store.get_tenant(&lower.id).expect("get"), lower);
}

fn soft_deleting_a_tenant_hides_its_jobs_from_every_read_and_write(db: &TestDb) {
    let tenant = db.tenant();
    let other = db.tenant();
    let jobs: Vec<_> = [JobStatus::Pending, JobStatus::Running, JobStatus::Completed]
        .into_iter()
        .map(|status| db.job_in(&tenant.id, status))
        .collect();
    let kept = db.job(&other.id);
    let before = db.counts();
    db.store
        .soft_delete_tenant(&tenant.id)
        .expect("soft delete");
    for job in &jobs {
        let not_found = |result: Result<(), StorageError>, call: &str| {
            assert_matches!(
                result,
                Err(StorageError::NotFound { .. }),
                "{call} of a {} job",
                job.status
            );
        };
        not_found(db.store.get_job(&tenant.id, &job.id).map(drop), "get_job");
        not_found(
            db.store.job_history(&tenant.id, &job.id).map(drop),
            "job_history",
        );
        not_found(
            db.store.cancel_job(&tenant.id, &job.id, "x").map(drop),
            "cancel_job",
        );
        not_found(
            db.store
                .set_batch_job_name(&tenant.id, &job.id, "b")
                .map(drop),
            "set_batch_job_name",
        );
    }
    let listed = db
        .store
        .list_jobs(&tenant.id, &Default::default(), &PageRequest::default())
        .expect("list");
    assert!(listed.items.is_empty(), "{:?}", listed.items);
    let hidden = i64::try_from(jobs.len()).expect("few jobs");
    assert_eq!(
        db.counts(),
        RowCounts {
            transitions: before.transitions + hidden,
            ..before
        },
        "the rows stay until purged; each hidden job's trail records it"
    );
    assert_eq!(db.store.get_job(&other.id, &kept.id).expect("get"), kept);
    db.store.purge_tenant(&tenant.id).expect("purge");
    assert_eq!(
        db.count_where("jobs", &format!("tenant_id = '{}'", tenant.id)),
        0
    );
}

backends!(
    create_tenant_generates_a_uuid_id_when_none_is_chosen,
    create_tenant_keeps_the_chosen_id_and_every_field,
    get_tenant_of_an_unknown_id_is_not_found,
    find_tenant_by_oauth_returns_the_linked_tenant_only,
    list_tenants_pages_through_every_tenant_in_id_order_without_duplicates,
    list_tenants_last_full_page_has_no_next_cursor,
    update_tenant_changes_only_the_given_fields_and_updated_at,
    update_tenant_clears_the_email_and_unlinks_the_oauth_identity,
    update_tenant_to_an_oauth_identity_in_use_is_already_exists_and_changes_nothing,
    update_tenant_of_an_unknown_or_soft_deleted_tenant_is_not_found,
    soft_deleted_tenant_is_hidden_from_get_list_and_oauth_lookup_but_kept,
    creating_jobs_for_a_soft_deleted_tenant_is_not_found_and_writes_nothing,
    purge_tenant_cascades_to_jobs_and_transitions,
    purge_tenant_removes_a_soft_deleted_tenant_too,
    create_tenant_with_an_id_in_use_is_already_exists_and_changes_nothing,
    create_tenant_with_an_id_of_a_soft_deleted_tenant_is_already_exists,
    create_tenant_with_an_oauth_identity_in_use_is_already_exists,
    oauth_identity_of_a_soft_deleted_tenant_stays_taken_until_purged,
    list_tenants_orders_ids_by_their_bytes_on_every_backend,
    tenant_ids_differing_only_in_letter_case_are_different_tenants,
    soft_deleting_a_tenant_hides_its_jobs_from_every_read_and_write
);
