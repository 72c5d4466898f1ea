//! Job listings: filters by status and creation time, and keyset pagination.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Cursor, DomainError, Job, JobFilter, JobId, JobStatus, NewJob, PageRequest, TenantId,
};
use jobstore_storage::{JobRepository, StorageError};

/// Every job a listing gives, page after page of `limit`, checking that pages are full but
/// the last and that the cursor always moves on.
fn all_pages(db: &TestDb, tenant: &TenantId, filter: &JobFilter, limit: u32) -> Vec<Job> {
    let mut page = PageRequest::first(limit);
    let mut out = Vec::new();
    for _ in 0..1000 {
        let got = db.store.list_jobs(tenant, filter, &page).expect("list");
        assert!(got.items.len() <= limit as usize);
        out.extend(got.items.iter().cloned());
        match got.next {
            Some(next) => {
                assert_eq!(
                    got.items.len(),
                    limit as usize,
                    "only the last page may be short"
                );
                page = PageRequest {
                    limit,
                    after: Some(next),
                };
            }
            None => return out,
        }
    }
    panic!("the listing never ends");
}

fn ids(jobs: &[Job]) -> Vec<String> {
    jobs.iter().map(|j| j.id.to_string()).collect()
}

fn assert_no_duplicates(jobs: &[Job]) {
    let unique: HashSet<&JobId> = jobs.iter().map(|j| &j.id).collect();
    assert_eq!(unique.len(), jobs.len(), "duplicates in {:?}", ids(jobs));
}

/// Creates a job a second after the previous one, and returns it with its creation time.
fn job_later(db: &TestDb, tenant: &TenantId) -> (Job, DateTime<Utc>) {
    let at = db.advance(TimeDelta::seconds(1));
    (db.job(tenant), at)
}

fn list_jobs_pages_through_every_job_oldest_first_without_duplicates(db: &TestDb) {
    let tenant = db.tenant();
    let created: Vec<Job> = (0..7).map(|_| job_later(db, &tenant.id).0).collect();
    for limit in [1, 2, 3, 7, 100] {
        let listed = all_pages(db, &tenant.id, &JobFilter::default(), limit);
        assert_eq!(ids(&listed), ids(&created), "pages of {limit}");
        assert_eq!(listed, created);
    }
    let exact = db
        .store
        .list_jobs(&tenant.id, &JobFilter::default(), &PageRequest::first(7))
        .expect("list");
    assert_eq!(
        (exact.items.len(), exact.next),
        (7, None),
        "no cursor after an exact fit"
    );
}

fn list_jobs_pages_jobs_created_at_the_same_time_by_id(db: &TestDb) {
    let tenant = db.tenant();
    let names = ["j-5", "j-1", "j-7", "j-3", "j-2", "j-6", "j-4", "j-0"];
    let batch = names
        .iter()
        .map(|id| NewJob {
            id: Some(JobId::new(*id).expect("id")),
            ..NewJob::new(tenant.id.clone())
        })
        .collect();
    db.store.create_jobs(batch).expect("create");
    // And some before and after, at other times.
    db.advance(TimeDelta::microseconds(1));
    let after = db.job(&tenant.id);
    db.clock.advance(TimeDelta::microseconds(-2));
    let before = db.job(&tenant.id);
    for limit in [1, 2, 3, 4] {
        let listed = all_pages(db, &tenant.id, &JobFilter::default(), limit);
        assert_no_duplicates(&listed);
        let mut expected = vec![before.id.to_string()];
        let mut same: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        same.sort();
        expected.extend(same);
        expected.push(after.id.to_string());
        assert_eq!(ids(&listed), expected, "pages of {limit}");
    }
}

fn list_jobs_keeps_microseconds_apart_jobs_in_order(db: &TestDb) {
    let tenant = db.tenant();
    let created: Vec<Job> = (0..5)
        .map(|_| {
            db.advance(TimeDelta::microseconds(1));
            db.job(&tenant.id)
        })
        .collect();
    assert_eq!(all_pages(db, &tenant.id, &JobFilter::default(), 1), created);
}

fn list_jobs_filters_by_a_set_of_statuses(db: &TestDb) {
    let tenant = db.tenant();
    let mut by_status = Vec::new();
    for status in JobStatus::ALL {
        db.advance(TimeDelta::seconds(1));
        by_status.push((status, db.job_in(&tenant.id, status)));
        db.advance(TimeDelta::seconds(1));
        by_status.push((status, db.job_in(&tenant.id, status)));
    }
    let wanted = [JobStatus::Running, JobStatus::Assigned, JobStatus::Lost];
    let expected: Vec<Job> = by_status
        .iter()
        .filter(|(s, _)| wanted.contains(s))
        .map(|(_, j)| j.clone())
        .collect();
    for limit in [1, 4, 100] {
        assert_eq!(
            all_pages(db, &tenant.id, &JobFilter::statuses(wanted), limit),
            expected,
            "pages of {limit}"
        );
    }
    let every: Vec<Job> = by_status.iter().map(|(_, j)| j.clone()).collect();
    assert_eq!(
        all_pages(db, &tenant.id, &JobFilter::default(), 5),
        every,
        "no statuses means any"
    );
    assert_eq!(
        all_pages(db, &tenant.id, &JobFilter::statuses(JobStatus::ALL), 5),
        every
    );
}

fn list_jobs_by_status_lists_one_status(db: &TestDb) {
    let tenant = db.tenant();
    let pending: Vec<Job> = (0..3).map(|_| job_later(db, &tenant.id).0).collect();
    db.job_in(&tenant.id, JobStatus::Cancelled);
    db.job_in(&tenant.id, JobStatus::Running);
    let page = db
        .store
        .list_jobs_by_status(&tenant.id, JobStatus::Pending, &PageRequest::first(2))
        .expect("list");
    assert_eq!(page.items, pending[..2]);
    let rest = db
        .store
        .list_jobs_by_status(
            &tenant.id,
            JobStatus::Pending,
            &PageRequest {
                limit: 2,
                after: page.next,
            },
        )
        .expect("list");
    assert_eq!((rest.items, rest.next), (pending[2..].to_vec(), None));
    let cancelled = db
        .store
        .list_jobs_by_status(&tenant.id, JobStatus::Cancelled, &PageRequest::default())
        .expect("list");
    assert_eq!(cancelled.items.len(), 1);
    assert!(
        db.store
            .list_jobs_by_status(&tenant.id, JobStatus::Lost, &PageRequest::default())
            .expect("list")
            .items
            .is_empty()
    );
}

fn list_jobs_filters_by_creation_time_from_inclusive_to_exclusive(db: &TestDb) {
    let tenant = db.tenant();
    let created: Vec<(Job, DateTime<Utc>)> = (0..7).map(|_| job_later(db, &tenant.id)).collect();
    let filter = JobFilter {
        created_from: Some(created[2].1),
        created_before: Some(created[5].1),
        ..JobFilter::default()
    };
    let expected: Vec<Job> = created[2..5].iter().map(|(j, _)| j.clone()).collect();
    assert_eq!(all_pages(db, &tenant.id, &filter, 1), expected);
    assert_eq!(all_pages(db, &tenant.id, &filter, 10), expected);
    let from_only = JobFilter {
        created_from: Some(created[5].1),
        ..JobFilter::default()
    };
    assert_eq!(
        ids(&all_pages(db, &tenant.id, &from_only, 10)),
        ids(&[created[5].0.clone(), created[6].0.clone()])
    );
    let before_only = JobFilter {
        created_before: Some(created[1].1),
        ..JobFilter::default()
    };
    assert_eq!(
        all_pages(db, &tenant.id, &before_only, 10),
        vec![created[0].0.clone()]
    );
    let empty = JobFilter {
        created_from: Some(created[3].1),
        created_before: Some(created[3].1),
        ..JobFilter::default()
    };
    assert!(all_pages(db, &tenant.id, &empty, 10).is_empty());
}

fn list_jobs_combines_statuses_time_range_and_pagination(db: &TestDb) {
    let tenant = db.tenant();
    let mut created = Vec::new();
    for i in 0..12 {
        let at = db.advance(TimeDelta::seconds(1));
        let status = if i % 3 == 0 {
            JobStatus::Cancelled
        } else {
            JobStatus::Pending
        };
        created.push((db.job_in(&tenant.id, status), at));
    }
    let filter = JobFilter {
        statuses: vec![JobStatus::Pending],
        created_from: Some(created[2].1),
        created_before: Some(created[10].1),
    };
    let expected: Vec<String> = created[2..10]
        .iter()
        .filter(|(j, _)| j.status == JobStatus::Pending)
        .map(|(j, _)| j.id.to_string())
        .collect();
    assert_eq!(expected.len(), 5);
    for limit in [1, 2, 5] {
        assert_eq!(
            ids(&all_pages(db, &tenant.id, &filter, limit)),
            expected,
            "pages of {limit}"
        );
    }
}

fn list_jobs_order_does_not_change_when_jobs_change(db: &TestDb) {
    let tenant = db.tenant();
    let created: Vec<Job> = (0..4).map(|_| job_later(db, &tenant.id).0).collect();
    db.advance(TimeDelta::seconds(10));
    db.store
        .cancel_job(&tenant.id, &created[0].id, "moved to the end?")
        .expect("cancel");
    assert_eq!(
        ids(&all_pages(db, &tenant.id, &JobFilter::default(), 3)),
        ids(&created)
    );
}

fn list_jobs_leaves_out_soft_deleted_jobs(db: &TestDb) {
    let tenant = db.tenant();
    let a = job_later(db, &tenant.id).0;
    let b = db.job_in(&tenant.id, JobStatus::Cancelled);
    db.store
        .soft_delete_job(&tenant.id, &b.id)
        .expect("soft delete");
    assert_eq!(
        ids(&all_pages(db, &tenant.id, &JobFilter::default(), 1)),
        vec![a.id.to_string()]
    );
    assert!(
        all_pages(
            db,
            &tenant.id,
            &JobFilter::statuses([JobStatus::Cancelled]),
            1
        )
        .is_empty()
    );
}

fn list_jobs_refuses_bad_page_sizes_and_cursors(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    let filter = JobFilter::default();
    for limit in [0, 1001] {
        assert_matches!(
            db.store
                .list_jobs(&tenant.id, &filter, &PageRequest::first(limit)),
            Err(StorageError::Domain(DomainError::Validation {
                field: "limit",
                ..
            }))
        );
    }
    for cursor in [
        "",
        "nonsense",
        "12/",
        "/j1",
        "x/j1",
        "1/a b",
        "99999999999999999999/j1",
        "1/'; DROP TABLE jobs; --",
    ] {
        assert_matches!(
            db.store.list_jobs(
                &tenant.id,
                &filter,
                &PageRequest {
                    limit: 10,
                    after: Some(Cursor::from_text(cursor))
                }
            ),
            Err(StorageError::Domain(DomainError::Validation {
                field: "cursor",
                ..
            })),
            "cursor {cursor:?}"
        );
    }
    assert_eq!(db.counts().jobs, 1);
}

backends!(
    list_jobs_pages_through_every_job_oldest_first_without_duplicates,
    list_jobs_pages_jobs_created_at_the_same_time_by_id,
    list_jobs_keeps_microseconds_apart_jobs_in_order,
    list_jobs_filters_by_a_set_of_statuses,
    list_jobs_by_status_lists_one_status,
    list_jobs_filters_by_creation_time_from_inclusive_to_exclusive,
    list_jobs_combines_statuses_time_range_and_pagination,
    list_jobs_order_does_not_change_when_jobs_change,
    list_jobs_leaves_out_soft_deleted_jobs,
    list_jobs_refuses_bad_page_sizes_and_cursors
);
