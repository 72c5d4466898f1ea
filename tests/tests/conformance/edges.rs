//! The edges a new user found by trying the API: the last day every backend stores, forged
//! cursors, NUL bytes, clocks finer than a microsecond, retry policies at their limits, and an
//! audit trail numbered without gaps. Each behaves the same on every backend.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    Cursor, DomainError, JobFilter, JobStatus, NewJob, NewTenant, OAuthIdentity, PageRequest,
    RetryPolicy,
};
use jobstore_storage::{
    ClaimRequest, Clock, JobRepository, StorageError, TenantRepository, WorkerRepository,
};

fn a_lease_ending_on_the_last_stored_day_can_still_be_reported_on(db: &TestDb) {
    let tenant = db.tenant();
    let job = db.job(&tenant.id);
    db.clock.set(
        Utc.with_ymd_and_hms(9999, 12, 31, 6, 0, 0)
            .single()
            .expect("a time"),
    );
    let claimed = db
        .store
        .claim(&ClaimRequest {
            lease_for: TimeDelta::hours(12),
            ..ClaimRequest::new("default", "w1")
        })
        .expect("claim");
    assert_eq!(claimed[0].id, job.id);
    let lease = claimed[0].lease().expect("leased");
    db.store
        .heartbeat(&lease, TimeDelta::hours(17))
        .expect("heartbeat to 23:00");
    db.store.start(&lease).expect("start");
    let done = db.store.complete(&lease).expect("complete");
    assert_eq!(done.status, JobStatus::Completed);
}

fn a_forged_cursor_with_an_impossible_time_is_a_validation_error(db: &TestDb) {
    let tenant = db.tenant();
    db.job(&tenant.id);
    for forged in [
        "253402300800000000/j-1",  // year 10000
        "-62135596800000000/j-1",  // year 1
        "9223372036854775807/j-1", // the largest i64
    ] {
        let page = PageRequest {
            limit: 10,
            after: Some(Cursor::from_text(forged)),
        };
        assert_matches!(
            db.store.list_jobs(&tenant.id, &JobFilter::default(), &page),
            Err(StorageError::Domain(DomainError::Validation {
                field: "cursor",
                ..
            })),
            "{forged}"
        );
    }
}

fn an_oauth_lookup_with_a_nul_byte_finds_nothing(db: &TestDb) {
    db.store
        .create_tenant(NewTenant {
            oauth: Some(OAuthIdentity {
                provider: "google".into(),
                user_id: "123".into(),
            }),
            ..NewTenant::named("Acme")
        })
        .expect("create");
    for (provider, user) in [("google\0", "123"), ("google", "12\u{0}3"), ("\0", "\0")] {
        assert_eq!(
            db.store
                .find_tenant_by_oauth(provider, user)
                .expect("a lookup, not an error"),
            None
        );
    }
}

/// A clock that reads a fixed time with nanoseconds, as a custom clock may.
#[derive(Debug)]
struct NanosecondClock(DateTime<Utc>);

impl Clock for NanosecondClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn times_are_microseconds_whatever_the_clock_says(db: &TestDb) {
    let tenant = db.tenant();
    // A manual clock moved by nanoseconds.
    db.clock.advance(TimeDelta::nanoseconds(1_234_567));
    let created = db
        .store
        .create_job(NewJob::new(tenant.id.clone()))
        .expect("create");
    assert_eq!(
        db.store.get_job(&tenant.id, &created.id).expect("get"),
        created
    );
    // A custom clock with nanoseconds.
    let precise = db.now() + TimeDelta::nanoseconds(987_654_321);
    let store = db.open_store().with_clock(NanosecondClock(precise));
    let created = store
        .create_job(NewJob::new(tenant.id.clone()))
        .expect("create");
    assert_eq!(created.created_at.timestamp_subsec_nanos() % 1000, 0);
    assert_eq!(store.now(), created.created_at);
    assert_eq!(
        store.get_job(&tenant.id, &created.id).expect("get"),
        created
    );
    let cancelled = store
        .cancel_job(&tenant.id, &created.id, "changed our mind")
        .expect("cancel");
    assert_eq!(
        store.get_job(&tenant.id, &created.id).expect("get"),
        cancelled
    );
}

fn a_retry_policy_is_stored_exactly_or_refused(db: &TestDb) {
    let tenant = db.tenant();
    let exact = RetryPolicy {
        base: TimeDelta::milliseconds(1_500),
        max_delay: TimeDelta::days(3660),
        jitter: 0.123_457,
    };
    let job = db
        .store
        .create_job(NewJob {
            retry_policy: Some(exact),
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    assert_eq!(
        db.store
            .get_job(&tenant.id, &job.id)
            .expect("get")
            .retry_policy,
        Some(exact)
    );
    let before = db.counts();
    for inexact in [
        RetryPolicy {
            jitter: 1e-300,
            ..exact
        },
        RetryPolicy {
            base: TimeDelta::microseconds(1_500),
            ..exact
        },
    ] {
        assert_matches!(
            db.store.create_job(NewJob {
                retry_policy: Some(inexact),
                ..NewJob::new(tenant.id.clone())
            }),
            Err(StorageError::Domain(DomainError::Validation {
                field: "retry_policy",
                ..
            }))
        );
    }
    assert_eq!(db.counts(), before, "nothing written");
}

fn the_audit_trail_is_numbered_one_to_n_without_gaps(db: &TestDb) {
    let tenant = db.tenant();
    let job = db
        .store
        .create_job(NewJob {
            max_retries: 1,
            retry_policy: Some(RetryPolicy::IMMEDIATE),
            ..NewJob::new(tenant.id.clone())
        })
        .expect("create");
    db.store
        .set_batch_job_name(&tenant.id, &job.id, "train-1")
        .expect("name");
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new("default", "w1")
    };
    let lease = db.store.claim(&request).expect("claim")[0]
        .lease()
        .expect("leased");
    db.store
        .fail(&lease, "exit 1", true)
        .expect("fail and retry");
    let lease = db.store.claim(&request).expect("claim again")[0]
        .lease()
        .expect("leased");
    db.store.complete(&lease).expect("complete");
    let trail = db.store.job_history(&tenant.id, &job.id).expect("history");
    let seqs: Vec<i64> = trail.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    db.store
        .soft_delete_job(&tenant.id, &job.id)
        .expect("delete");
    let seqs = db.count_where("job_state_transitions", &format!("job_id = '{}'", job.id));
    // created, named, assigned, running, failed, pending, assigned, running, completed, deleted
    assert_eq!(seqs, 10);
    assert_eq!(
        db.count_where(
            "job_state_transitions",
            &format!("job_id = '{}' AND seq BETWEEN 1 AND 10", job.id)
        ),
        10
    );
    assert_eq!(
        db.count_where("jobs", &format!("job_id = '{}' AND version = 10", job.id)),
        1
    );
}

backends!(
    a_lease_ending_on_the_last_stored_day_can_still_be_reported_on,
    a_forged_cursor_with_an_impossible_time_is_a_validation_error,
    an_oauth_lookup_with_a_nul_byte_finds_nothing,
    times_are_microseconds_whatever_the_clock_says,
    a_retry_policy_is_stored_exactly_or_refused,
    the_audit_trail_is_numbered_one_to_n_without_gaps,
);
