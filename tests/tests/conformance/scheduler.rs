//! Schedulers: due times fire exactly once however many processes fire them, restarts resume
//! under each catch-up policy, daylight-saving days keep their rules, runs follow their jobs,
//! constraints hold under races, and the overdue sweep, the kill and skip actions and pruning
//! do what they say.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jobstore_conformance::{
    TestDb, backends,
    race::{at_once, retrying},
};
use jobstore_domain::{
    ActionKind, ConstraintId, Hook, HookKind, JobStatus, JobTemplate, NewAction, NewConstraint,
    NewSchedule, Run, RunStatus, Schedule, ScheduleAction, SkipReason, TenantId, TimeSpan, Trigger,
    ViolationKind,
};
use jobstore_storage::{
    ClaimRequest, JobRepository, RunRepository, RunStart, ScheduleRepository, SchedulerRepository,
    StorageError, Store, WorkerRepository,
};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("a valid time")
}

fn span(text: &str) -> TimeSpan {
    text.parse().expect("a valid span")
}

fn template() -> JobTemplate {
    JobTemplate {
        commands: vec!["report".into()],
        ..JobTemplate::new("cron")
    }
}

fn schedule(db: &TestDb, tenant: &TenantId, cron: &str, with_job: bool) -> Schedule {
    db.store
        .create_schedule(NewSchedule {
            template: with_job.then(template),
            ..NewSchedule::new(tenant.clone(), "report", cron)
        })
        .expect("create schedule")
}

fn constrained(db: &TestDb, tenant: &TenantId, constraint: NewConstraint, cron: &str) -> Schedule {
    let constraint = db.store.create_constraint(constraint).expect("constraint");
    db.store
        .create_schedule(NewSchedule {
            constraint_id: Some(constraint.id),
            ..NewSchedule::new(tenant.clone(), "guarded", cron)
        })
        .expect("create schedule")
}

/// Fires until nothing is due, retrying a call the database asks to retry.
fn fire_all(store: &Store) -> (usize, usize) {
    let (mut runs, mut jobs) = (0, 0);
    loop {
        match store.fire_due(25) {
            Ok(fired) => {
                runs += fired.runs.len();
                jobs += fired.jobs.len();
                if !fired.more && fired.schedules == 0 {
                    return (runs, jobs);
                }
            }
            Err(e) if e.is_transient() => continue,
            Err(e) => panic!("fire_due: {e}"),
        }
    }
}

fn runs_of(db: &TestDb, s: &Schedule) -> Vec<Run> {
    let mut runs = db.store.list_runs(&s.tenant_id, &s.id, 1000).expect("runs");
    runs.reverse();
    runs
}

/// 8 schedulers fire the same 100 schedules for 50 simulated minutes: every due time has
/// exactly one run and one job, and the runs the schedulers report add up to them.
fn eight_schedulers_fire_each_due_time_exactly_once(db: &TestDb) {
    const SCHEDULERS: usize = 8;
    let tenants: Vec<TenantId> = (0..4).map(|_| db.tenant().id).collect();
    for i in 0..100 {
        schedule(db, &tenants[i % tenants.len()], "* * * * *", true);
    }
    let stores: Vec<Store> = (0..SCHEDULERS).map(|_| db.open_store()).collect();
    let mut reported = 0;
    for _minute in 0..50 {
        db.advance(TimeDelta::minutes(1));
        for (runs, jobs) in at_once(&stores, |store, _| fire_all(store)) {
            assert_eq!(runs, jobs, "one job per run");
            reported += runs;
        }
    }
    assert_eq!(db.count("schedule_runs"), 5000, "one run per due time");
    assert_eq!(reported, 5000, "the runs reported");
    assert_eq!(db.count("jobs"), 5000, "one job per run");
    assert_eq!(
        db.count_where("schedule_runs", "job_id IS NULL OR status <> 'PENDING'"),
        0
    );
    assert_eq!(
        db.count_where(
            "jobs",
            "run_id IS NULL OR run_id NOT IN (SELECT run_id FROM schedule_runs)"
        ),
        0,
        "every job names its run"
    );
    assert_eq!(
        db.count_where(
            "schedule_runs",
            "job_id NOT IN (SELECT job_id FROM jobs WHERE jobs.run_id = schedule_runs.run_id)"
        ),
        0,
        "every run's job names it back"
    );
}

/// Processes racing to insert the same due time: exactly one creates it (learning so from its
/// token, not from a row count), the others are told it exists; one job is enqueued.
fn racing_inserts_of_one_due_time_create_exactly_one_run(db: &TestDb) {
    const RACERS: usize = 8;
    let tenant = db.tenant().id;
    let s = schedule(db, &tenant, "0 * * * *", true);
    let at = utc(2030, 1, 2, 5, 0);
    let stores: Vec<Store> = (0..RACERS).map(|_| db.open_store()).collect();
    let outcomes = at_once(&stores, |store, _| {
        retrying(|| store.create_run(&tenant, &s.id, at))
    });
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(_) | Err(StorageError::AlreadyExists { .. })))
    );
    assert_eq!(db.count("schedule_runs"), 1);
    assert_eq!(db.count("jobs"), 1);
}

/// A soft-deleted tenant's schedules stop firing and its unfinished runs are cancelled, while
/// other tenants' go on; a purge removes them with their constraints.
fn deleting_a_tenant_stops_its_schedules(db: &TestDb) {
    let gone = db.tenant().id;
    let kept = db.tenant().id;
    let doomed = constrained(
        db,
        &gone,
        NewConstraint {
            max_concurrent_runs: Some(3),
            ..NewConstraint::new(gone.clone())
        },
        "* * * * *",
    );
    let running = db
        .store
        .create_run(&gone, &doomed.id, db.now())
        .expect("run");
    db.store.start_run(&gone, &running.run_id).expect("start");
    let alive = schedule(db, &kept, "* * * * *", true);
    jobstore_storage::TenantRepository::soft_delete_tenant(&db.store, &gone).expect("delete");
    let run = db.store.get_run_by_id(&gone, &running.run_id).expect("run");
    assert_eq!(run.status, RunStatus::Cancelled);
    let resumed = db.store.resume_schedule(&gone, &doomed.id);
    assert!(
        matches!(resumed, Err(StorageError::NotFound { .. })),
        "{resumed:?}"
    );
    db.advance(TimeDelta::minutes(1));
    assert_eq!(
        fire_all(&db.store),
        (1, 1),
        "only the live tenant's schedule fires"
    );
    assert_eq!(runs_of(db, &alive).len(), 1);
    jobstore_storage::TenantRepository::purge_tenant(&db.store, &gone).expect("purge");
    assert_eq!(db.count("schedules"), 1);
    assert_eq!(db.count("constraints"), 0);
    assert_eq!(db.count_where("schedule_runs", "status = 'CANCELLED'"), 0);
}

/// Two hours without a scheduler, under each catch-up policy, then a new process resumes.
fn a_restart_after_two_hours_resumes_under_each_catch_up_policy(db: &TestDb) {
    let tenant = db.tenant().id;
    let off = schedule(db, &tenant, "*/10 * * * *", true);
    let windowed = constrained(
        db,
        &tenant,
        NewConstraint {
            catch_up: Some(true),
            catch_up_window: Some(span("1h")),
            ..NewConstraint::new(tenant.clone())
        },
        "*/10 * * * *",
    );
    let capped = constrained(
        db,
        &tenant,
        NewConstraint {
            catch_up: Some(true),
            max_catch_up_runs: Some(3),
            ..NewConstraint::new(tenant.clone())
        },
        "*/10 * * * *",
    );
    // Created at 03:04:05: first due 03:10, fired at 03:14.
    db.advance(TimeDelta::minutes(10));
    fire_all(&db.store);
    // Down from 03:14:05 to 05:14:05: 03:20 to 05:10 were missed (12 due times).
    db.advance(TimeDelta::hours(2));
    let restarted = db.open_store();
    fire_all(&restarted);
    let statuses = |s: &Schedule| -> (usize, usize) {
        let runs = runs_of(db, s);
        assert_eq!(runs.len(), 13, "one run per due time");
        let pending = runs
            .iter()
            .filter(|r| r.status == RunStatus::Pending)
            .count();
        let skipped = runs
            .iter()
            .filter(|r| r.skip_reason == Some(SkipReason::Missed))
            .count();
        (pending, skipped)
    };
    assert_eq!(
        statuses(&off),
        (2, 11),
        "catch-up off: only the latest runs"
    );
    assert_eq!(statuses(&windowed), (7, 6), "the hour's six, and 03:10");
    assert_eq!(
        statuses(&capped),
        (4, 9),
        "the three most recent, and 03:10"
    );
    let latest = runs_of(db, &off).pop().expect("a run");
    assert_eq!(latest.scheduled_at, utc(2030, 1, 2, 5, 10));
    let resumed = restarted.get_schedule(&tenant, &off.id).expect("schedule");
    assert_eq!(resumed.last_scheduled_at, Some(utc(2030, 1, 2, 5, 10)));
    assert_eq!(resumed.next_due_at, Some(utc(2030, 1, 2, 5, 20)));
    assert_eq!(fire_all(&restarted), (0, 0), "nothing is due twice");
}

/// Fires a New York schedule across a day, an hour at a time, and returns its due times.
fn new_york_due_times(
    db: &TestDb,
    cron: &str,
    from: DateTime<Utc>,
    hours: i64,
) -> Vec<DateTime<Utc>> {
    db.clock.set(from);
    let tenant = db.tenant().id;
    let s = db
        .store
        .create_schedule(NewSchedule {
            time_zone: Some("America/New_York".into()),
            ..NewSchedule::new(tenant, "ny", cron)
        })
        .expect("create schedule");
    for _ in 0..hours * 4 {
        db.advance(TimeDelta::minutes(15));
        fire_all(&db.store);
    }
    runs_of(db, &s).iter().map(|r| r.scheduled_at).collect()
}

/// Spring forward (2031-03-09, 02:00 EST to 03:00 EDT): 02:30 runs once, at 03:00 EDT.
fn a_time_skipped_by_spring_forward_runs_once_at_the_first_valid_instant(db: &TestDb) {
    let due = new_york_due_times(db, "30 2 * * *", utc(2031, 3, 8, 0, 0), 72);
    assert_eq!(
        due,
        vec![
            utc(2031, 3, 8, 7, 30),  // 02:30 EST
            utc(2031, 3, 9, 7, 0),   // 03:00 EDT: 02:30 does not exist
            utc(2031, 3, 10, 6, 30), // 02:30 EDT
        ]
    );
}

/// Fall back (2031-11-02, 02:00 EDT to 01:00 EST): 01:30 runs once, and a half-hourly
/// schedule does not run the repeated hour twice.
fn a_time_repeated_by_fall_back_runs_once(db: &TestDb) {
    let daily = new_york_due_times(db, "30 1 * * *", utc(2031, 11, 1, 12, 0), 48);
    assert_eq!(
        daily,
        vec![utc(2031, 11, 2, 5, 30), utc(2031, 11, 3, 6, 30)],
        "01:30 EDT, then 01:30 EST the next day"
    );
    let half_hourly = new_york_due_times(db, "*/30 * * * *", utc(2031, 11, 2, 4, 0), 3);
    assert_eq!(
        half_hourly,
        vec![
            utc(2031, 11, 2, 4, 30), // 00:30 EDT
            utc(2031, 11, 2, 5, 0),  // 01:00 EDT
            utc(2031, 11, 2, 5, 30), // 01:30 EDT
            utc(2031, 11, 2, 7, 0),  // 02:00 EST: 01:00 and 01:30 EST are not due again
        ]
    );
}

/// Starters race on one schedule allowing 2 runs at once: exactly 2 start, the others are
/// SKIPPED with a violation each.
fn max_concurrent_runs_hold_under_a_race_of_starters(db: &TestDb) {
    const STARTERS: usize = 8;
    let tenant = db.tenant().id;
    let s = constrained(
        db,
        &tenant,
        NewConstraint {
            max_concurrent_runs: Some(2),
            ..NewConstraint::new(tenant.clone())
        },
        "0 * * * *",
    );
    let runs: Vec<Run> = (0..STARTERS)
        .map(|i| {
            let at = db.now() + TimeDelta::hours(i as i64 + 1);
            db.store.create_run(&tenant, &s.id, at).expect("run")
        })
        .collect();
    let stores: Vec<Store> = (0..STARTERS).map(|_| db.open_store()).collect();
    let outcomes = at_once(&stores, |store, i| {
        retrying(|| store.start_run(&tenant, &runs[i].run_id)).expect("start_run")
    });
    let started = outcomes
        .iter()
        .filter(|o| matches!(o, RunStart::Started(_)))
        .count();
    assert_eq!(started, 2);
    assert_eq!(db.count_where("schedule_runs", "status = 'RUNNING'"), 2);
    assert_eq!(db.count_where("schedule_runs", "status = 'SKIPPED'"), 6);
    assert_eq!(
        db.count_where("constraint_violations", "kind = 'max_concurrent_runs'"),
        6
    );
}

/// A run needs its dependency's latest finished run to have succeeded.
fn a_failed_previous_run_refuses_a_run_that_requires_success(db: &TestDb) {
    let tenant = db.tenant().id;
    let parent = schedule(db, &tenant, "0 * * * *", false);
    let child = constrained(
        db,
        &tenant,
        NewConstraint {
            require_previous_success: Some(jobstore_domain::Dependency {
                schedule_id: parent.id.clone(),
                args: vec![],
            }),
            ..NewConstraint::new(tenant.clone())
        },
        "30 * * * *",
    );
    let first = db
        .store
        .create_run(&tenant, &child.id, db.now())
        .expect("run");
    assert!(
        matches!(
            db.store.start_run(&tenant, &first.run_id),
            Ok(RunStart::Started(_))
        ),
        "no previous run yet"
    );
    let parent_run = db
        .store
        .create_run(&tenant, &parent.id, db.now())
        .expect("run");
    db.store
        .start_run(&tenant, &parent_run.run_id)
        .expect("start");
    db.store
        .complete_run(&tenant, &parent_run.run_id, false, Some("exit 1".into()))
        .expect("fail");
    let second = db
        .store
        .create_run(&tenant, &child.id, db.now() + TimeDelta::hours(1))
        .expect("run");
    let RunStart::Refused { run, violation, .. } =
        db.store.start_run(&tenant, &second.run_id).expect("start")
    else {
        panic!("the run should be refused");
    };
    assert_eq!(run.status, RunStatus::Skipped);
    assert_eq!(run.skip_reason, Some(SkipReason::Constraint));
    assert_eq!(violation.kind, ViolationKind::RequirePreviousSuccess);
}

/// Two sweepers at once: a run past its max expected run time gets one violation, never two;
/// past its max allowed run time it is TIMED_OUT once, and the on_timeout actions come back.
fn the_overdue_sweep_from_two_processes_records_each_violation_once(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = constrained(
        db,
        &tenant,
        NewConstraint {
            max_expected_run_time: Some(span("10m")),
            max_allowed_run_time: Some(span("30m")),
            ..NewConstraint::new(tenant.clone())
        },
        "* * * * *",
    );
    let alert = db
        .store
        .create_action(NewAction {
            tenant_id: tenant.clone(),
            id: None,
            name: "page".into(),
            kind: ActionKind::Webhook(Hook {
                kind: HookKind::Slack,
                url: "https://hooks.slack.com/services/T/B/X".into(),
                channel: Some("#alerts".into()),
            }),
        })
        .expect("action");
    db.store
        .attach_action(ScheduleAction {
            tenant_id: tenant.clone(),
            schedule_id: s.id.clone(),
            action_id: alert.id.clone(),
            trigger: Trigger::OnTimeout,
            constraint_id: None,
        })
        .expect("link");
    for i in 0..20 {
        let run = db
            .store
            .create_run(&tenant, &s.id, db.now() + TimeDelta::minutes(i))
            .expect("run");
        db.store.start_run(&tenant, &run.run_id).expect("start");
    }
    let sweep_twice = |db: &TestDb| {
        let stores = [db.open_store(), db.open_store()];
        at_once(&stores, |store, _| {
            let mut all = jobstore_storage::Swept::default();
            loop {
                let swept = retrying(|| store.sweep_overdue(7)).expect("sweep");
                if swept.violations.is_empty() {
                    return all;
                }
                all.violations.extend(swept.violations);
                all.timed_out.extend(swept.timed_out);
                all.actions.extend(swept.actions);
            }
        })
    };
    db.advance(TimeDelta::minutes(15));
    let first = sweep_twice(db);
    let recorded: usize = first.iter().map(|s| s.violations.len()).sum();
    assert_eq!(recorded, 20, "one violation per run");
    assert_eq!(
        db.count_where("constraint_violations", "kind = 'max_expected_run_time'"),
        20
    );
    assert_eq!(
        sweep_twice(db)
            .iter()
            .map(|s| s.violations.len())
            .sum::<usize>(),
        0,
        "never two"
    );
    db.advance(TimeDelta::minutes(30));
    let second = sweep_twice(db);
    let timed_out: usize = second.iter().map(|s| s.timed_out.len()).sum();
    assert_eq!(timed_out, 20);
    assert_eq!(db.count_where("schedule_runs", "status = 'TIMED_OUT'"), 20);
    assert_eq!(
        db.count_where("constraint_violations", "kind = 'max_allowed_run_time'"),
        20
    );
    assert!(
        second
            .iter()
            .flat_map(|s| &s.actions)
            .any(|a| a.id == alert.id),
        "the on_timeout action is returned"
    );
}

/// A run follows its job: RUNNING when the job starts, COMPLETED when it completes, FAILED
/// when it fails for good, CANCELLED when it is cancelled; a retry leaves it RUNNING.
fn a_run_follows_its_job(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = schedule(db, &tenant, "* * * * *", true);
    db.advance(TimeDelta::minutes(3));
    fire_all(&db.store);
    let runs: Vec<Run> = runs_of(db, &s)
        .into_iter()
        .filter(|r| r.status == RunStatus::Pending)
        .collect();
    assert_eq!(runs.len(), 1, "catch-up off: the latest of three runs");
    let run = &runs[0];
    let job_id = run.job_id.clone().expect("a job");
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new("cron", "worker-1")
    };
    let claimed = db.store.claim(&request).expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run_id.as_ref(), Some(&run.run_id));
    let read = |db: &TestDb| db.store.get_run_by_id(&tenant, &run.run_id).expect("run");
    assert_eq!(read(db).status, RunStatus::Running);
    let lease = claimed[0].lease().expect("a lease");
    db.store.complete(&lease).expect("complete");
    let done = read(db);
    assert_eq!(
        (done.status, done.success),
        (RunStatus::Completed, Some(true))
    );

    db.advance(TimeDelta::minutes(1));
    fire_all(&db.store);
    let next = runs_of(db, &s).pop().expect("a run");
    let job = db
        .store
        .get_job(&tenant, next.job_id.as_ref().expect("job"))
        .expect("job");
    db.store
        .cancel_job(&tenant, &job.id, "not today")
        .expect("cancel");
    let cancelled = db.store.get_run_by_id(&tenant, &next.run_id).expect("run");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let _ = job_id;
}

/// A worker starting the job of a run its constraint refuses gets the job back CANCELLED, and
/// the run is SKIPPED with a violation: at most one run of the schedule runs at once.
fn a_job_whose_run_is_refused_at_start_comes_back_cancelled(db: &TestDb) {
    let tenant = db.tenant().id;
    let constraint = db
        .store
        .create_constraint(NewConstraint {
            max_concurrent_runs: Some(1),
            catch_up: Some(true),
            ..NewConstraint::new(tenant.clone())
        })
        .expect("constraint");
    let s = db
        .store
        .create_schedule(NewSchedule {
            template: Some(template()),
            constraint_id: Some(constraint.id),
            ..NewSchedule::new(tenant.clone(), "single", "* * * * *")
        })
        .expect("schedule");
    db.advance(TimeDelta::minutes(2));
    assert_eq!(
        fire_all(&db.store),
        (2, 2),
        "catch-up on: both due times run"
    );
    let request = ClaimRequest {
        start: true,
        limit: 2,
        ..ClaimRequest::new("cron", "worker-1")
    };
    let claimed = db.store.claim(&request).expect("claim");
    let mut statuses: Vec<JobStatus> = claimed.iter().map(|j| j.status).collect();
    statuses.sort();
    assert_eq!(statuses, vec![JobStatus::Running, JobStatus::Cancelled]);
    let mut runs: Vec<RunStatus> = runs_of(db, &s).iter().map(|r| r.status).collect();
    runs.sort();
    assert_eq!(runs, vec![RunStatus::Running, RunStatus::Skipped]);
    assert_eq!(
        db.count_where("constraint_violations", "kind = 'max_concurrent_runs'"),
        1
    );
}

fn link(db: &TestDb, s: &Schedule, name: &str, trigger: Trigger) -> jobstore_domain::Action {
    let action = db
        .store
        .create_action(NewAction {
            tenant_id: s.tenant_id.clone(),
            id: None,
            name: name.into(),
            kind: ActionKind::Webhook(Hook {
                kind: HookKind::Webhook,
                url: format!("https://hooks.example/{name}"),
                channel: None,
            }),
        })
        .expect("action");
    db.store
        .attach_action(ScheduleAction {
            tenant_id: s.tenant_id.clone(),
            schedule_id: s.id.clone(),
            action_id: action.id.clone(),
            trigger,
            constraint_id: None,
        })
        .expect("link");
    action
}

/// Actions fired where no caller can take them (a run following its job) are queued, and
/// taken once however many schedulers take at once.
fn actions_fired_on_the_job_path_are_queued_and_taken_once(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = db
        .store
        .create_schedule(NewSchedule {
            template: Some(JobTemplate {
                max_retries: 0,
                ..template()
            }),
            ..NewSchedule::new(tenant.clone(), "once", "* * * * *")
        })
        .expect("schedule");
    let success = link(db, &s, "succeeded", Trigger::OnSuccess);
    let failure = link(db, &s, "failed", Trigger::OnFailure);
    db.advance(TimeDelta::minutes(1));
    fire_all(&db.store);
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new("cron", "worker-1")
    };
    let job = db.store.claim(&request).expect("claim").remove(0);
    db.store
        .complete(&job.lease().expect("lease"))
        .expect("complete");
    db.advance(TimeDelta::minutes(1));
    fire_all(&db.store);
    let job = db.store.claim(&request).expect("claim").remove(0);
    db.store
        .fail(&job.lease().expect("lease"), "exit 1", false)
        .expect("fail");
    let stores = [db.open_store(), db.open_store()];
    let taken: Vec<jobstore_storage::DueAction> = at_once(&stores, |store, _| {
        retrying(|| store.take_actions(10)).expect("take")
    })
    .into_iter()
    .flatten()
    .collect();
    let mut fired: Vec<(Trigger, jobstore_domain::ActionId)> = taken
        .iter()
        .map(|d| (d.trigger, d.action.id.clone()))
        .collect();
    fired.sort_by_key(|(t, _)| t.as_str());
    assert_eq!(
        fired,
        vec![
            (Trigger::OnFailure, failure.id),
            (Trigger::OnSuccess, success.id)
        ]
    );
    assert!(
        db.store.take_actions(10).expect("take").is_empty(),
        "taken once"
    );
}

/// skipNextInstance writes a SKIPPED run at the next due time, which then never fires;
/// killAllInstances cancels the unfinished runs and their jobs.
fn skip_and_kill_actions_are_carried_out(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = schedule(db, &tenant, "*/5 * * * *", true);
    let skipped = db.store.skip_next_instance(&tenant, &s.id).expect("skip");
    assert_eq!(skipped.scheduled_at, utc(2030, 1, 2, 3, 5));
    assert_eq!(skipped.skip_reason, Some(SkipReason::Action));
    let again = db.store.skip_next_instance(&tenant, &s.id).expect("skip");
    assert_eq!(again.scheduled_at, utc(2030, 1, 2, 3, 10), "the one after");
    db.advance(TimeDelta::minutes(2));
    assert_eq!(fire_all(&db.store), (0, 0), "03:05 was skipped");
    db.advance(TimeDelta::minutes(5));
    assert_eq!(fire_all(&db.store), (0, 0), "03:10 was skipped");
    db.advance(TimeDelta::minutes(5));
    assert_eq!(fire_all(&db.store), (1, 1), "03:15 fires");
    db.advance(TimeDelta::minutes(5));
    assert_eq!(fire_all(&db.store), (1, 1), "03:20 fires");
    let latest = db
        .store
        .kill_latest_instance(&tenant, &s.id)
        .expect("kill")
        .expect("a run to kill");
    assert_eq!(latest.scheduled_at, utc(2030, 1, 2, 3, 20));
    let killed = db
        .store
        .kill_all_instances(&tenant, &s.id)
        .expect("kill all");
    assert_eq!(killed.len(), 1, "03:15 was still pending");
    assert_eq!(db.count_where("jobs", "status = 'CANCELLED'"), 2);
    assert_eq!(db.count_where("schedule_runs", "status = 'CANCELLED'"), 2);
}

/// Pruning deletes old finished runs that the schedule's cursor has passed, but keeps those
/// within the catch-up window plus the max allowed run time, and never a live run.
fn pruning_keeps_the_de_duplication_records(db: &TestDb) {
    let tenant = db.tenant().id;
    let plain = schedule(db, &tenant, "0 * * * *", false);
    let guarded = constrained(
        db,
        &tenant,
        NewConstraint {
            catch_up: Some(true),
            catch_up_window: Some(span("6h")),
            max_allowed_run_time: Some(span("1h")),
            ..NewConstraint::new(tenant.clone())
        },
        "0 * * * *",
    );
    // Runs off the hour at 04:04:05 to 07:04:05, the first three finished.
    for s in [&plain, &guarded] {
        for hour in 1..=4 {
            let at = db.now() + TimeDelta::hours(hour);
            let run = db.store.create_run(&tenant, &s.id, at).expect("run");
            if hour < 4 {
                db.store.start_run(&tenant, &run.run_id).expect("start");
                db.store
                    .complete_run(&tenant, &run.run_id, true, None)
                    .expect("complete");
            }
        }
    }
    // At 10:34:05 the schedulers fire 04:00 to 10:00: the plain schedule runs 10:00 and skips
    // the six before; the guarded one runs the six within its window and skips 04:00.
    db.advance(TimeDelta::minutes(7 * 60 + 30));
    fire_all(&db.store);
    assert_eq!(
        (runs_of(db, &plain).len(), runs_of(db, &guarded).len()),
        (11, 11)
    );
    // Before 08:34:05: the plain schedule's three finished runs and five skipped ones go; the
    // guarded schedule keeps all of its runs for 6h + 1h after their due times.
    let deleted = db
        .store
        .prune_runs(TimeDelta::hours(2), 100)
        .expect("prune");
    assert_eq!(deleted, 8);
    assert_eq!(runs_of(db, &guarded).len(), 11);
    let kept: Vec<RunStatus> = runs_of(db, &plain).iter().map(|r| r.status).collect();
    assert_eq!(
        kept,
        vec![RunStatus::Pending, RunStatus::Skipped, RunStatus::Pending],
        "07:04:05 is live, 09:00 is recent, 10:00 is live"
    );
    // At 18:34:05: the plain schedule's 09:00, and the guarded schedule's four finished runs
    // older than 11:34:05.
    db.advance(TimeDelta::hours(8));
    assert_eq!(
        db.store
            .prune_runs(TimeDelta::hours(2), 100)
            .expect("prune"),
        5
    );
    assert_eq!(runs_of(db, &guarded).len(), 7, "its live runs stay");
}

/// Paused schedules do not fire; on resume their due times meanwhile are SKIPPED as paused.
fn a_paused_schedule_skips_its_due_times_on_resume(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = schedule(db, &tenant, "*/10 * * * *", true);
    db.store
        .pause_schedule(&tenant, &s.id, Some("maintenance".into()))
        .expect("pause");
    db.advance(TimeDelta::minutes(35));
    assert_eq!(fire_all(&db.store), (0, 0));
    let resumed = db.store.resume_schedule(&tenant, &s.id).expect("resume");
    assert!(!resumed.paused);
    let runs = runs_of(db, &s);
    assert_eq!(runs.len(), 3, "03:10, 03:20, 03:30");
    assert!(
        runs.iter()
            .all(|r| r.skip_reason == Some(SkipReason::Paused))
    );
    assert_eq!(resumed.next_due_at, Some(utc(2030, 1, 2, 3, 40)));
    assert_eq!(db.count("jobs"), 0);
}

/// A run of a job lost for good ends FAILED; a job failed with retries left keeps its run going.
fn a_run_fails_only_when_its_job_fails_for_good(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = db
        .store
        .create_schedule(NewSchedule {
            template: Some(JobTemplate {
                max_retries: 1,
                ..template()
            }),
            ..NewSchedule::new(tenant.clone(), "flaky", "* * * * *")
        })
        .expect("schedule");
    db.advance(TimeDelta::minutes(1));
    fire_all(&db.store);
    let request = ClaimRequest {
        start: true,
        ..ClaimRequest::new("cron", "worker-1")
    };
    let job = db.store.claim(&request).expect("claim").remove(0);
    db.store
        .fail(&job.lease().expect("lease"), "exit 1", true)
        .expect("fail");
    let run = runs_of(db, &s).pop().expect("run");
    assert_eq!(run.status, RunStatus::Running, "the job is retried");
    db.advance(TimeDelta::minutes(10));
    let job = db.store.claim(&request).expect("claim").remove(0);
    db.advance(TimeDelta::minutes(10));
    let reaped = db.store.reap(10).expect("reap");
    assert_eq!(reaped.lost.len(), 1, "no retries left");
    let run = db.store.get_run_by_id(&tenant, &run.run_id).expect("run");
    assert_eq!((run.status, run.success), (RunStatus::Failed, Some(false)));
    assert_eq!(
        db.store.get_job(&tenant, &job.id).expect("job").status,
        JobStatus::Lost
    );
}

/// Deleting a constraint leaves its schedules running without one (the seed's SET NULL).
fn deleting_a_constraint_clears_it_from_its_schedules(db: &TestDb) {
    let tenant = db.tenant().id;
    let s = constrained(
        db,
        &tenant,
        NewConstraint {
            max_concurrent_runs: Some(1),
            ..NewConstraint::new(tenant.clone())
        },
        "* * * * *",
    );
    let constraint: ConstraintId = s.constraint_id.clone().expect("constraint");
    db.store
        .delete_constraint(&tenant, &constraint)
        .expect("delete");
    let after = db.store.get_schedule(&tenant, &s.id).expect("schedule");
    assert_eq!(after.constraint_id, None);
    assert!(matches!(
        db.store.get_constraint(&tenant, &constraint),
        Err(StorageError::NotFound { .. })
    ));
}

backends!(
    eight_schedulers_fire_each_due_time_exactly_once,
    racing_inserts_of_one_due_time_create_exactly_one_run,
    deleting_a_tenant_stops_its_schedules,
    a_restart_after_two_hours_resumes_under_each_catch_up_policy,
    a_time_skipped_by_spring_forward_runs_once_at_the_first_valid_instant,
    a_time_repeated_by_fall_back_runs_once,
    max_concurrent_runs_hold_under_a_race_of_starters,
    a_failed_previous_run_refuses_a_run_that_requires_success,
    the_overdue_sweep_from_two_processes_records_each_violation_once,
    a_run_follows_its_job,
    a_job_whose_run_is_refused_at_start_comes_back_cancelled,
    actions_fired_on_the_job_path_are_queued_and_taken_once,
    skip_and_kill_actions_are_carried_out,
    pruning_keeps_the_de_duplication_records,
    a_paused_schedule_skips_its_due_times_on_resume,
    a_run_fails_only_when_its_job_fails_for_good,
    deleting_a_constraint_clears_it_from_its_schedules
);
