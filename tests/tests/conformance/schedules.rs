//! Schedules' queries (seed 002's query interface under jobstore's names): definitions,
//! constraints, actions and their links, runs, violations and statistics; bad input refused
//! with nothing written; no tenant sees or changes another's.

use chrono::{TimeDelta, TimeZone, Utc};
use jobstore_conformance::{TestDb, assert_matches, backends};
use jobstore_domain::{
    ActionKind, DomainError, Hook, HookKind, JobTemplate, NewAction, NewConstraint, NewSchedule,
    NewViolation, OrchestratorStats, PageRequest, RunStatus, ScheduleAction, ScheduleUpdate,
    SchedulerStats, StatsPeriodId, TimeSpan, Trigger, ViolationDetails, ViolationKind,
};
use jobstore_storage::{
    Entity, RunRepository, RunStart, ScheduleRepository, SchedulerRepository, StorageError,
};

fn span(text: &str) -> TimeSpan {
    text.parse().expect("a valid span")
}

fn webhook(url: &str) -> ActionKind {
    ActionKind::Webhook(Hook {
        kind: HookKind::Webhook,
        url: url.into(),
        channel: None,
    })
}

fn action(
    db: &TestDb,
    tenant: &jobstore_domain::TenantId,
    kind: ActionKind,
) -> jobstore_domain::Action {
    db.store
        .create_action(NewAction {
            tenant_id: tenant.clone(),
            id: None,
            name: kind.type_name().into(),
            kind,
        })
        .expect("create action")
}

/// Rows of every schedule table, to show that a refused call wrote nothing.
fn schedule_rows(db: &TestDb) -> Vec<i64> {
    [
        "constraints",
        "schedules",
        "actions",
        "schedule_actions",
        "schedule_runs",
        "constraint_violations",
        "scheduler_stats",
        "orchestrator_stats",
        "jobs",
    ]
    .iter()
    .map(|table| db.count(table))
    .collect()
}

fn constraints_are_created_read_updated_and_deleted(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let created = db.store.create_constraint(NewConstraint {
        max_concurrent_runs: Some(2),
        catch_up: Some(true),
        catch_up_window: Some(span("5m")),
        max_expected_run_time: Some(span("1h")),
        max_allowed_run_time: Some(span("2h15m")),
        pre_run_hook: Some(Hook {
            kind: HookKind::Slack,
            url: "https://hooks.slack.com/services/T/B/X".into(),
            channel: Some("#notifications".into()),
        }),
        ..NewConstraint::new(tenant.clone())
    })?;
    let read = db.store.get_constraint(&tenant, &created.id)?;
    assert_eq!(read, created);
    assert_eq!(
        read.max_allowed_run_time.map(|s| s.to_string()).as_deref(),
        Some("2h15m")
    );
    assert_eq!(
        db.count_where("constraints", "max_allowed_run_seconds = 8100"),
        1,
        "durations are stored as seconds"
    );
    db.advance(TimeDelta::seconds(1));
    let changed = db.store.update_constraint(&jobstore_domain::Constraint {
        max_concurrent_runs: Some(5),
        ..read.clone()
    })?;
    assert_eq!(changed.max_concurrent_runs, Some(5));
    assert_eq!(changed.created_at, read.created_at);
    assert_eq!(db.store.get_constraint(&tenant, &created.id)?, changed);
    assert_matches!(
        db.store.update_constraint(&read),
        Err(StorageError::Conflict {
            entity: Entity::Constraint,
            ..
        }),
        "a stale copy does not overwrite"
    );
    db.store.delete_constraint(&tenant, &created.id)?;
    assert_matches!(
        db.store.get_constraint(&tenant, &created.id),
        Err(StorageError::NotFound {
            entity: Entity::Constraint,
            ..
        })
    );
    Ok(())
}

fn schedules_are_created_read_listed_updated_and_deleted(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let created = db.store.create_schedule(NewSchedule {
        time_zone: Some("Europe/Paris".into()),
        template: Some(JobTemplate::new("reports")),
        pod_spec: Some(r#"{"image": "report-generator:latest"}"#.into()),
        ..NewSchedule::new(tenant.clone(), "Daily Report", "0 0 * * *")
    })?;
    assert_eq!(db.store.get_schedule(&tenant, &created.id)?, created);
    // 2030-01-02 03:04:05 UTC is 04:04 in Paris: next due at midnight Paris, 23:00 UTC.
    assert_eq!(
        created.next_due_at,
        Utc.with_ymd_and_hms(2030, 1, 2, 23, 0, 0).single()
    );
    for i in 0..4 {
        db.store
            .create_schedule(NewSchedule::new(tenant.clone(), format!("s{i}"), "@hourly"))?;
    }
    let first = db.store.list_schedules(&tenant, &PageRequest::first(3))?;
    assert_eq!(first.items.len(), 3);
    let rest = db.store.list_schedules(
        &tenant,
        &PageRequest {
            limit: 3,
            after: first.next.clone(),
        },
    )?;
    assert_eq!((rest.items.len(), rest.next), (2, None));
    assert_eq!(db.store.all_schedules()?.len(), 5);
    db.advance(TimeDelta::minutes(1));
    let updated = db.store.update_schedule(
        &tenant,
        &created.id,
        ScheduleUpdate {
            cron: Some("*/5 * * * *".into()),
            ..ScheduleUpdate::default()
        },
    )?;
    assert_eq!(updated.cron.as_str(), "*/5 * * * *");
    assert_eq!(
        updated.next_due_at,
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 10, 0).single(),
        "due from now on"
    );
    db.store.create_run(&tenant, &created.id, db.now())?;
    db.store.delete_schedule(&tenant, &created.id)?;
    assert_matches!(
        db.store.get_schedule(&tenant, &created.id),
        Err(StorageError::NotFound {
            entity: Entity::Schedule,
            ..
        })
    );
    assert_eq!(db.count("schedule_runs"), 0, "its runs go with it");
    assert_eq!(db.count("jobs"), 1, "its runs' jobs stay");
    Ok(())
}

fn actions_and_their_links_are_kept_by_trigger(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let kinds = [
        ActionKind::Retry {
            max_attempts: 3,
            delay: Some(span("5m")),
        },
        ActionKind::KickOffJob {
            schedule_id: jobstore_domain::ScheduleId::new("cleanup-job").expect("id"),
            args: vec!["--force".into()],
        },
        webhook("https://example.com/hook"),
        ActionKind::KillAllInstances,
        ActionKind::KillLatestInstance,
        ActionKind::SkipNextInstance,
    ];
    let created: Vec<_> = kinds.into_iter().map(|k| action(db, &tenant, k)).collect();
    for a in &created {
        assert_eq!(&db.store.get_action(&tenant, &a.id)?, a);
    }
    assert_eq!(
        db.store
            .list_actions(&tenant, &PageRequest::first(10))?
            .items
            .len(),
        6
    );
    let constraint = db.store.create_constraint(NewConstraint {
        max_concurrent_runs: Some(1),
        ..NewConstraint::new(tenant.clone())
    })?;
    let schedule = db
        .store
        .create_schedule(NewSchedule::new(tenant.clone(), "s", "* * * * *"))?;
    let links = [
        (0, Trigger::OnFailure, None),
        (2, Trigger::OnViolation, Some(constraint.id.clone())),
        (3, Trigger::OnTimeout, None),
    ];
    for (i, trigger, constraint_id) in links {
        db.store.attach_action(ScheduleAction {
            tenant_id: tenant.clone(),
            schedule_id: schedule.id.clone(),
            action_id: created[i].id.clone(),
            trigger,
            constraint_id,
        })?;
    }
    assert_eq!(db.store.schedule_actions(&tenant, &schedule.id)?.len(), 3);
    db.store
        .detach_action(&tenant, &schedule.id, &created[0].id)?;
    assert_eq!(db.store.schedule_actions(&tenant, &schedule.id)?.len(), 2);
    db.store.delete_action(&tenant, &created[3].id)?;
    assert_eq!(
        db.store.schedule_actions(&tenant, &schedule.id)?.len(),
        1,
        "its links go too"
    );
    assert_matches!(
        db.store.attach_action(ScheduleAction {
            tenant_id: tenant.clone(),
            schedule_id: schedule.id.clone(),
            action_id: created[1].id.clone(),
            trigger: Trigger::OnFailure,
            constraint_id: Some(constraint.id.clone()),
        }),
        Err(StorageError::Domain(DomainError::Validation { .. }))
    );
    Ok(())
}

fn runs_are_created_read_listed_and_finished(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let schedule = db
        .store
        .create_schedule(NewSchedule::new(tenant.clone(), "s", "0 * * * *"))?;
    let failure = action(db, &tenant, webhook("https://example.com/failed"));
    db.store.attach_action(ScheduleAction {
        tenant_id: tenant.clone(),
        schedule_id: schedule.id.clone(),
        action_id: failure.id.clone(),
        trigger: Trigger::OnFailure,
        constraint_id: None,
    })?;
    let at = |h: i64| db.now() + TimeDelta::hours(h);
    let runs: Vec<_> = (1..=3)
        .map(|h| db.store.create_run(&tenant, &schedule.id, at(h)))
        .collect::<Result<_, _>>()?;
    assert_matches!(
        db.store.create_run(&tenant, &schedule.id, at(1)),
        Err(StorageError::AlreadyExists {
            entity: Entity::Run,
            ..
        })
    );
    // The key is the due time to the second: a sub-second time finds the same run.
    let by_time = db.store.get_run(&tenant, &schedule.id, at(1))?;
    assert_eq!(by_time, runs[0]);
    assert_eq!(db.store.get_run_by_id(&tenant, &runs[1].run_id)?, runs[1]);
    let newest = db.store.list_runs(&tenant, &schedule.id, 2)?;
    assert_eq!(
        newest.iter().map(|r| &r.run_id).collect::<Vec<_>>(),
        vec![&runs[2].run_id, &runs[1].run_id]
    );
    let started = db
        .store
        .update_run_status(&tenant, &runs[0].run_id, RunStatus::Running)?;
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.started_at, Some(db.now()));
    let outcome = db
        .store
        .complete_run(&tenant, &runs[0].run_id, false, Some("exit 2".into()))?;
    assert_eq!(outcome.run.status, RunStatus::Failed);
    assert_eq!(outcome.run.error.as_deref(), Some("exit 2"));
    assert_eq!(outcome.actions, vec![failure]);
    assert_matches!(
        db.store.start_run(&tenant, &runs[1].run_id)?,
        RunStart::Started(_)
    );
    let ok = db
        .store
        .complete_run(&tenant, &runs[1].run_id, true, None)?;
    assert_eq!(
        (ok.run.status, ok.run.success),
        (RunStatus::Completed, Some(true))
    );
    assert!(ok.actions.is_empty());
    assert_matches!(
        db.store
            .update_run_status(&tenant, &runs[1].run_id, RunStatus::Running),
        Err(StorageError::Domain(
            DomainError::InvalidRunTransition { .. }
        ))
    );
    let cancelled = db
        .store
        .update_run_status(&tenant, &runs[2].run_id, RunStatus::Cancelled)?;
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    Ok(())
}

fn violations_are_recorded_once_and_listed(db: &TestDb) -> Result<(), StorageError> {
    let tenant = db.tenant().id;
    let constraint = db.store.create_constraint(NewConstraint {
        max_expected_run_time: Some(span("1h")),
        ..NewConstraint::new(tenant.clone())
    })?;
    let schedule = db.store.create_schedule(NewSchedule {
        constraint_id: Some(constraint.id.clone()),
        ..NewSchedule::new(tenant.clone(), "s", "0 * * * *")
    })?;
    let mut recorded = Vec::new();
    for h in 1..=3 {
        let run = db
            .store
            .create_run(&tenant, &schedule.id, db.now() + TimeDelta::hours(h))?;
        db.advance(TimeDelta::seconds(1));
        let violation = NewViolation {
            tenant_id: tenant.clone(),
            run_id: run.run_id.clone(),
            constraint_id: constraint.id.clone(),
            kind: ViolationKind::MaxExpectedRunTime,
            action_taken: Some("webhook".into()),
            details: ViolationDetails {
                current_value: Some("2h15m".into()),
                threshold: Some("1h".into()),
                webhook_response: Some(jobstore_domain::WebhookResponse {
                    status: 200,
                    body: "ok".into(),
                }),
                ..ViolationDetails::message("Job exceeded maxExpectedRunTime of 1h")
            },
        };
        recorded.push(db.store.record_violation(violation.clone())?);
        if h == 1 {
            assert_matches!(
                db.store.record_violation(violation),
                Err(StorageError::AlreadyExists {
                    entity: Entity::Violation,
                    ..
                })
            );
        }
    }
    assert_eq!(
        db.store.violations_for_run(&tenant, &recorded[0].run_id)?,
        vec![recorded[0].clone()]
    );
    let latest = db
        .store
        .violations_for_constraint(&tenant, &constraint.id, 2)?;
    assert_eq!(latest, vec![recorded[2].clone(), recorded[1].clone()]);
    Ok(())
}

fn scheduler_and_orchestrator_stats_are_kept_by_period(db: &TestDb) -> Result<(), StorageError> {
    let start = db.now();
    let mut periods = Vec::new();
    for i in 0..3 {
        let stats = SchedulerStats {
            iterations: 60,
            run_jobs: 10 + i,
            late_jobs: 1,
            min_inbox_length: Some(0),
            max_inbox_length: Some(7),
            avg_inbox_length: Some(2.5),
            avg_time_in_inbox: Some(12.25),
            ..SchedulerStats::new(
                StatsPeriodId::new(format!("period-{i}")).expect("id"),
                start + TimeDelta::minutes(10 * i),
                start + TimeDelta::minutes(10 * i + 10),
            )
        };
        db.store.record_scheduler_stats(&stats)?;
        periods.push(stats);
    }
    let middle = db.store.scheduler_stats(
        start + TimeDelta::minutes(12),
        start + TimeDelta::minutes(18),
    )?;
    assert_eq!(middle, vec![periods[1].clone()]);
    assert_eq!(
        db.store
            .scheduler_stats(start, start + TimeDelta::minutes(30))?
            .len(),
        3
    );
    let run = OrchestratorStats {
        run_id: jobstore_domain::RunId::generate(),
        stats_period_id: periods[0].stats_period_id.clone(),
        runtime: 1500,
        constraints_checked: 3,
        actions_taken: 1,
    };
    db.store.record_orchestrator_stats(&run)?;
    assert_eq!(
        db.store.orchestrator_stats(&periods[0].stats_period_id)?,
        vec![run.clone()]
    );
    assert_matches!(
        db.store.record_orchestrator_stats(&OrchestratorStats {
            stats_period_id: StatsPeriodId::new("unknown").expect("id"),
            run_id: jobstore_domain::RunId::generate(),
            ..run
        }),
        Err(StorageError::NotFound {
            entity: Entity::Stats,
            ..
        })
    );
    Ok(())
}

/// Every bad input is a typed error naming its field, with nothing written.
fn bad_schedule_input_is_refused_with_nothing_written(db: &TestDb) {
    let tenant = db.tenant().id;
    let before = schedule_rows(db);
    let refused = |result: Result<(), StorageError>, field: &str| match result {
        Err(StorageError::Domain(DomainError::Validation { field: f, .. })) => {
            assert_eq!(f, field)
        }
        other => panic!("expected a validation error of {field}, got {other:?}"),
    };
    refused(
        db.store
            .create_schedule(NewSchedule::new(tenant.clone(), "s", "61 * * * *"))
            .map(drop),
        "cron",
    );
    refused(
        db.store
            .create_schedule(NewSchedule {
                time_zone: Some("Mars/Olympus_Mons".into()),
                ..NewSchedule::new(tenant.clone(), "s", "* * * * *")
            })
            .map(drop),
        "time_zone",
    );
    assert_matches!(
        TimeSpan::parse("max_allowed_run_time", "1M"),
        Err(DomainError::Validation {
            field: "max_allowed_run_time",
            ..
        })
    );
    refused(
        db.store
            .create_action(NewAction {
                tenant_id: tenant.clone(),
                id: None,
                name: "hook".into(),
                kind: webhook("not a url"),
            })
            .map(drop),
        "config",
    );
    assert_matches!(
        ActionKind::from_parts("webhook", Some(r#"{"type": "slack", "url": 5}"#)),
        Err(DomainError::Validation {
            field: "config",
            ..
        })
    );
    refused(
        db.store
            .create_constraint(NewConstraint {
                max_concurrent_runs: Some(0),
                ..NewConstraint::new(tenant.clone())
            })
            .map(drop),
        "max_concurrent_runs",
    );
    assert_eq!(schedule_rows(db), before, "nothing written");
}

/// Another tenant's schedules, constraints, actions and runs are not found and not changed.
fn no_tenant_reads_or_changes_another_tenants_schedules(db: &TestDb) -> Result<(), StorageError> {
    let owner = db.tenant().id;
    let other = db.tenant().id;
    let constraint = db
        .store
        .create_constraint(NewConstraint::new(owner.clone()))?;
    let schedule = db
        .store
        .create_schedule(NewSchedule::new(owner.clone(), "s", "0 * * * *"))?;
    let act = action(db, &owner, ActionKind::KillAllInstances);
    let run = db
        .store
        .create_run(&owner, &schedule.id, db.now() + TimeDelta::hours(1))?;
    let not_found = |r: Result<(), StorageError>| {
        assert_matches!(r, Err(StorageError::NotFound { .. }));
    };
    not_found(db.store.get_schedule(&other, &schedule.id).map(drop));
    not_found(db.store.get_constraint(&other, &constraint.id).map(drop));
    not_found(db.store.get_action(&other, &act.id).map(drop));
    not_found(db.store.get_run_by_id(&other, &run.run_id).map(drop));
    not_found(db.store.delete_schedule(&other, &schedule.id));
    not_found(db.store.delete_constraint(&other, &constraint.id));
    not_found(db.store.delete_action(&other, &act.id));
    not_found(
        db.store
            .update_schedule(&other, &schedule.id, ScheduleUpdate::default())
            .map(drop),
    );
    not_found(db.store.start_run(&other, &run.run_id).map(drop));
    not_found(db.store.kill_all_instances(&other, &schedule.id).map(drop));
    not_found(db.store.skip_next_instance(&other, &schedule.id).map(drop));
    assert!(
        db.store
            .list_schedules(&other, &PageRequest::first(10))?
            .items
            .is_empty()
    );
    assert!(
        db.store
            .list_actions(&other, &PageRequest::first(10))?
            .items
            .is_empty()
    );
    assert_eq!(
        db.store.get_run_by_id(&owner, &run.run_id)?,
        run,
        "unchanged"
    );
    assert_eq!(db.store.get_schedule(&owner, &schedule.id)?, schedule);
    Ok(())
}

backends!(
    constraints_are_created_read_updated_and_deleted,
    schedules_are_created_read_listed_updated_and_deleted,
    actions_and_their_links_are_kept_by_trigger,
    runs_are_created_read_listed_and_finished,
    violations_are_recorded_once_and_listed,
    scheduler_and_orchestrator_stats_are_kept_by_period,
    bad_schedule_input_is_refused_with_nothing_written,
    no_tenant_reads_or_changes_another_tenants_schedules
);
