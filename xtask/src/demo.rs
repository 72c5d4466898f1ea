//! `cargo xtask demo`: jobstore's main job on the embedded default, start to finish.
//!
//! Migrates a fresh SQLite file, creates two tenants and their jobs, moves the jobs through
//! their lives (a success, a failure retried then a success, a cancellation, a job driven by an
//! external batch system) and prints each job's audit trail. Then a schedule: three simulated
//! hours of a quarter-hourly cron on a hand-moved clock, its runs' jobs done by a worker but
//! for one that hangs past its constraint's limits, and the runs, violations and actions that
//! came of it (those the sweep returned, and those the workers' calls queued, taken with
//! `take_actions`). Last a small study: a user creates it from a manifest, a worker completes its
//! jobs with their results and evidence, costs are recorded, and its trail, statistics, costs
//! and audit log are printed. With `RUST_LOG=jobstore=debug` it also shows the store's span for
//! every call and every SQL statement, on stderr.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jobstore_domain::{
    Action, ActionKind, Amount, Cell, Change, Currency, EvidenceKind, Hook, HookKind, Job,
    JobStatus, JobTemplate, Lease, Manifest, NewAction, NewCheckpoint, NewConstraint,
    NewCostRecord, NewEvidence, NewJob, NewResult, NewSchedule, NewStudy, NewTenant, NewUser,
    OAuthIdentity, PageRequest, ResultMetrics, RetryPolicy, Role, Schedule, ScheduleAction,
    Trigger,
};
use jobstore_storage::{
    AuditFilter, ClaimRequest, Clock, CostFilter, JobRepository, ManualClock, RunRepository,
    ScheduleRepository, SchedulerRepository, StorageError, Store, StudyDataRepository,
    StudyRepository, TenantRepository, UserRepository, WorkerRepository,
};

const DEMO_DB: &str = "target/jobstore-demo.db";

pub(crate) fn run() -> Result<(), String> {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{DEMO_DB}{suffix}"));
    }
    std::fs::create_dir_all("target").map_err(|e| e.to_string())?;
    let applied = jobstore_migrator::Migrator::new(DEMO_DB)
        .and_then(|mut m| m.run_pending())
        .map_err(|e| format!("migrate: {e}"))?;
    println!("migrated {DEMO_DB}: {} migrations applied\n", applied.len());
    let store = Store::open_url(DEMO_DB)
        .map_err(|e| e.to_string())?
        // Retry at once, so the demo needs no waiting.
        .with_default_retry_policy(RetryPolicy::IMMEDIATE);
    let jobs = lifecycle(&store).map_err(|e| e.to_string())?;
    for job in &jobs {
        print_trail(&store, job).map_err(|e| e.to_string())?;
    }
    schedule_demo().map_err(|e| e.to_string())?;
    study_demo().map_err(|e| e.to_string())
}

/// Two tenants, four jobs, each taken down a different path.
fn lifecycle(store: &Store) -> Result<Vec<Job>, StorageError> {
    let acme = store.create_tenant(NewTenant {
        user_email: Some("ops@acme.example".into()),
        oauth: Some(OAuthIdentity {
            provider: "github".into(),
            user_id: "acme-ops".into(),
        }),
        ..NewTenant::named("Acme Corp")
    })?;
    let globex = store.create_tenant(NewTenant::named("Globex"))?;
    let new_job = |tenant: &jobstore_domain::TenantId, id: &str, command: &str| NewJob {
        id: Some(id.parse().expect("demo ids are valid")),
        image_uri: Some("registry.example/tools:1.4".into()),
        commands: vec!["sh".into(), "-c".into(), command.into()],
        output_bucket: Some("results".into()),
        ..NewJob::new(tenant.clone())
    };
    let report = store.create_job(new_job(&acme.id, "render-report", "render --month 2026-10"))?;
    let import = store.create_job(new_job(&acme.id, "flaky-import", "import --source s3://in"))?;
    let backup = store.create_job(new_job(&globex.id, "nightly-backup", "backup --all"))?;
    // Run by an external batch system, so on a queue no worker here serves.
    let batch = store.create_job(NewJob {
        queue: "external".into(),
        ..new_job(&globex.id, "batch-train", "train --epochs 3")
    })?;

    let worker = |agent: &str| ClaimRequest {
        lease_for: TimeDelta::minutes(5),
        ..ClaimRequest::new("default", agent)
    };
    // The queue serves the highest priority first, then the oldest: report, import, backup.
    // Globex's backup is cancelled before any worker gets to it.
    store.cancel_job(&globex.id, &backup.id, "superseded by a snapshot")?;

    // A success: claim, start, complete.
    let claimed = store.claim(&worker("worker-1"))?;
    let lease = claimed[0].lease().expect("a claimed job has a lease");
    store.start(&lease)?;
    store.complete(&lease)?;

    // A failure that is retried, then succeeds on its second attempt.
    let claimed = store.claim(&ClaimRequest {
        start: true,
        ..worker("worker-2")
    })?;
    let lease = claimed[0].lease().expect("a claimed job has a lease");
    store.fail(&lease, "connection reset by peer", true)?;
    let claimed = store.claim(&ClaimRequest {
        start: true,
        ..worker("worker-1")
    })?;
    store.complete(&claimed[0].lease().expect("a claimed job has a lease"))?;

    // A job run by an external batch system: no worker claims it; the service records the batch
    // job's name and moves the job through its statuses as the batch system reports them.
    let service = |to| Change::to(to).actor("api-server");
    store.set_batch_job_name(
        &globex.id,
        &batch.id,
        "projects/p/locations/l/jobs/batch-train-1",
    )?;
    store.transition_job(&globex.id, &batch.id, service(JobStatus::Assigned))?;
    store.transition_job(&globex.id, &batch.id, service(JobStatus::Running))?;
    store.complete_job(&globex.id, &batch.id)?;

    [report, import, backup, batch]
        .iter()
        .map(|job| store.get_job(&job.tenant_id, &job.id))
        .collect()
}

fn print_trail(store: &Store, job: &Job) -> Result<(), StorageError> {
    let tenant = store.get_tenant(&job.tenant_id)?;
    println!(
        "{} / {}: {} after {} attempt(s), output under {}",
        tenant.name, job.id, job.status, job.attempt, job.output_prefix
    );
    let row =
        |seq: &str, at: &str, from: &str, to: &str, attempt: &str, actor: &str, reason: &str| {
            println!(
                "  {seq:>3}  {at:<26}  {from:<9} -> {to:<9}  {attempt:>7}  {actor:<10}  {reason}"
            );
        };
    row(
        "seq", "at (UTC)", "from", "to", "attempt", "actor", "reason",
    );
    for t in store.job_history(&job.tenant_id, &job.id)? {
        row(
            &t.seq.to_string(),
            &t.at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            t.from.map_or("-", |s| s.as_str()),
            t.to.as_str(),
            &t.attempt.to_string(),
            t.actor.as_deref().unwrap_or("-"),
            t.reason.as_deref().unwrap_or(""),
        );
    }
    println!();
    Ok(())
}

/// The schedule part's simulated start (UTC): a Monday morning, 08:55 in Paris.
fn demo_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 10, 7, 55, 0)
        .single()
        .expect("a valid time")
}

/// A schedule's life on a [`ManualClock`]: a quarter-hourly report in Paris time for three
/// hours, fired as the clock moves in 5-minute steps. A worker starts each run's job as it is
/// enqueued and completes it at the next step, except the job of the fourth run, which hangs:
/// past 10 minutes the sweep records it as overdue, the runs due meanwhile are refused (one at a
/// time: the claim returns their jobs CANCELLED, and their `on_violation` actions are queued),
/// and past 30 minutes the sweep times it out and cancels its job. Each step the loop takes the
/// queued actions, as a scheduler would.
fn schedule_demo() -> Result<(), StorageError> {
    let clock = ManualClock::at(demo_start());
    let store = Store::open_url(DEMO_DB)?.with_clock(clock.clone());
    let tenant = store.create_tenant(NewTenant::named("Initech"))?;
    let constraint = store.create_constraint(NewConstraint {
        max_expected_run_time: Some("10m".parse()?),
        max_allowed_run_time: Some("30m".parse()?),
        max_concurrent_runs: Some(1),
        ..NewConstraint::new(tenant.id.clone())
    })?;
    let schedule = store.create_schedule(NewSchedule {
        time_zone: Some("Europe/Paris".into()),
        template: Some(JobTemplate {
            image_uri: Some("registry.example/reports:2.0".into()),
            commands: vec!["report".into(), "--window".into(), "15m".into()],
            ..JobTemplate::new("reports")
        }),
        constraint_id: Some(constraint.id.clone()),
        ..NewSchedule::new(tenant.id.clone(), "sales report", "*/15 * * * *")
    })?;
    let webhook = |name: &str, url: &str| NewAction {
        tenant_id: tenant.id.clone(),
        id: None,
        name: name.into(),
        kind: ActionKind::Webhook(Hook {
            kind: HookKind::Webhook,
            url: url.into(),
            channel: None,
        }),
    };
    let page = store.create_action(webhook("page on-call", "https://pager.example/v1/alerts"))?;
    let notify = store.create_action(webhook("notify ops", "https://hooks.example/ops"))?;
    for (action, trigger) in [(&page, Trigger::OnTimeout), (&notify, Trigger::OnViolation)] {
        store.attach_action(ScheduleAction {
            tenant_id: tenant.id.clone(),
            schedule_id: schedule.id.clone(),
            action_id: action.id.clone(),
            trigger,
            constraint_id: None,
        })?;
    }
    let local = |at: DateTime<Utc>| at.with_timezone(&schedule.time_zone).format("%H:%M");
    println!(
        "schedule {:?} ({} in {}); constraint: expected 10m, allowed 30m, 1 run at a time",
        schedule.name,
        schedule.cron.as_str(),
        schedule.time_zone,
    );
    println!(
        "  actions: {:?} on_timeout, {:?} on_violation; clock {} to {} local, 5-minute steps\n",
        page.name,
        notify.name,
        local(demo_start()),
        local(demo_start() + TimeDelta::hours(3))
    );

    let request = ClaimRequest {
        start: true,
        limit: 10,
        lease_for: TimeDelta::hours(2),
        ..ClaimRequest::new("reports", "worker-1")
    };
    let mut held: Vec<Lease> = Vec::new();
    let mut hung: Option<Lease> = None;
    let mut started = 0;
    let mut actions: Vec<Taken> = Vec::new();
    for _ in 0..36 {
        clock.advance(TimeDelta::minutes(5));
        let now = clock.now();
        // The sweep returns its actions: this loop is their caller.
        let swept = store.sweep_overdue(100)?;
        let mut swept_runs = Vec::new();
        for violation in &swept.violations {
            let run = store.get_run_by_id(&violation.tenant_id, &violation.run_id)?;
            if !swept_runs.contains(&run.scheduled_at) {
                swept_runs.push(run.scheduled_at);
            }
        }
        for action in swept.actions {
            actions.push(Taken {
                at: now,
                queued: false,
                // Which trigger fired it, from the links made above.
                trigger: if action.id == page.id {
                    Trigger::OnTimeout
                } else {
                    Trigger::OnViolation
                },
                runs: swept_runs.clone(),
                action,
            });
        }
        store.fire_due(100)?;
        // Last step's jobs are done.
        for lease in held.drain(..) {
            store.complete(&lease)?;
        }
        for job in store.claim(&request)? {
            // A job whose run its constraint refused comes back CANCELLED, not started.
            if job.status != JobStatus::Running {
                continue;
            }
            let lease = job.lease().expect("a started job has a lease");
            started += 1;
            if started == 4 {
                hung = Some(lease);
            } else {
                held.push(lease);
            }
        }
        // What the workers' calls fired (a refused start above, a run completed with its job)
        // has no caller: it waits in the queue for a scheduler to take it.
        for due in store.take_actions(100)? {
            actions.push(Taken {
                at: now,
                queued: true,
                trigger: due.trigger,
                runs: vec![due.run.scheduled_at],
                action: due.action,
            });
        }
    }
    for lease in held.drain(..) {
        store.complete(&lease)?;
    }
    print_runs(&store, &schedule)?;
    print_violations(&store, &schedule, &constraint.id)?;
    println!("actions for the caller to take (jobstore calls no hook itself):");
    println!(
        "  (returned: by the sweep; queued: fired in a worker's call, taken with take_actions)"
    );
    let row = |at: &str, how: &str, trigger: &str, due: &str, action: &str, config: &str| {
        println!("  {at:<5}  {how:<8}  {trigger:<12}  {due:<7}  {action:<26}  {config}");
    };
    row("at", "how", "trigger", "run due", "action", "config");
    for taken in &actions {
        let due: Vec<String> = taken.runs.iter().map(|at| local(*at).to_string()).collect();
        row(
            &local(taken.at).to_string(),
            if taken.queued { "queued" } else { "returned" },
            taken.trigger.as_str(),
            &due.join(","),
            &format!("{} ({})", taken.action.name, taken.action.kind.type_name()),
            &taken.action.kind.config_json().unwrap_or_default(),
        );
    }
    if let Some(lease) = hung {
        match store.complete(&lease) {
            Ok(job) => println!("\nthe hung job's late completion was taken: {}", job.status),
            Err(e) => println!("\nthe hung job's worker reports it done at last: refused ({e})"),
        }
    }
    Ok(())
}

/// An action the demo's scheduler loop took: returned by the sweep, or queued and taken with
/// `take_actions`.
struct Taken {
    at: DateTime<Utc>,
    queued: bool,
    trigger: Trigger,
    /// The due times of the runs it was fired for.
    runs: Vec<DateTime<Utc>>,
    action: Action,
}

fn print_runs(store: &Store, schedule: &Schedule) -> Result<(), StorageError> {
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&schedule.time_zone)
            .format("%H:%M")
            .to_string()
    };
    println!("runs:");
    let row = |due: &str, status: &str, ran: &str, job: &str, note: &str| {
        println!("  {due:<5}  {status:<9}  {ran:<14}  {job:<9}  {note}");
    };
    row("due", "status", "ran", "job", "note");
    let mut runs = store.list_runs(&schedule.tenant_id, &schedule.id, 100)?;
    runs.reverse();
    for run in runs {
        let job = match &run.job_id {
            Some(id) => store.get_job(&run.tenant_id, id)?.status.to_string(),
            None => "-".into(),
        };
        let ran = match (run.started_at, run.completed_at) {
            (Some(s), Some(c)) => format!("{} to {}", local(s), local(c)),
            (Some(s), None) => format!("{} to ...", local(s)),
            _ => String::new(),
        };
        let note = match (&run.skip_reason, &run.error) {
            (Some(reason), _) => format!("skipped: {}", reason.as_str()),
            (None, Some(error)) => error.clone(),
            (None, None) => String::new(),
        };
        row(
            &local(run.scheduled_at),
            run.status.as_str(),
            &ran,
            &job,
            &note,
        );
    }
    println!();
    Ok(())
}

fn print_violations(
    store: &Store,
    schedule: &Schedule,
    constraint: &jobstore_domain::ConstraintId,
) -> Result<(), StorageError> {
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&schedule.time_zone)
            .format("%H:%M")
            .to_string()
    };
    println!("violations:");
    let row = |at: &str, due: &str, kind: &str, taken: &str, message: &str| {
        println!("  {at:<5}  {due:<7}  {kind:<21}  {taken:<15}  {message}");
    };
    row("at", "run due", "kind", "actions", "message");
    let mut violations = store
        .violations_for_constraint(&schedule.tenant_id, constraint, 100)?
        .into_iter()
        .map(|v| Ok((store.get_run_by_id(&v.tenant_id, &v.run_id)?, v)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    // Oldest first; those found at the same time (the list leaves their order open) by due time.
    violations.sort_by_key(|(run, v)| (v.violation_time, run.scheduled_at));
    for (run, v) in violations {
        row(
            &local(v.violation_time),
            &local(run.scheduled_at),
            v.kind.as_str(),
            v.action_taken.as_deref().unwrap_or("-"),
            &v.details.message,
        );
    }
    println!();
    Ok(())
}

/// A small study: a user creates it from a manifest of 3 queries × 2 surfaces, a worker claims
/// and starts each job and completes it with its result (metrics and a screenshot) in one call,
/// a billing service records what each job cost in EUR; then the study's trail, its statistics
/// and costs (aggregated by the database), and its audit log.
fn study_demo() -> Result<(), StorageError> {
    let store = Store::open_url(DEMO_DB)?;
    let tenant = store.create_tenant(NewTenant::named("Umbrella Research"))?;
    // Audited writes name the actor of the handle they are made through ("system" by default).
    let admin = store.acting_as("admin@umbrella.example");
    let ann = admin.create_user(NewUser::new(
        tenant.id.clone(),
        "Ann.Lee@umbrella.example",
        "Ann Lee",
        Role::Member,
    ))?;
    let as_ann = store.acting_as(ann.email.clone());
    let study = as_ann.create_study(NewStudy {
        description: Some("How three questions are answered on two assistants".into()),
        created_by: Some(ann.id.clone()),
        ..NewStudy::new(tenant.id.clone(), "brand visibility")
    })?;
    let manifest = Manifest::parse(
        r#"{"template": {"queue": "study", "imageUri": "registry.example/asker:3", "maxRetries": 1},
            "queries": ["best running shoes", "waterproof hiking boots", "trail shoes for wide feet"],
            "surfaces": ["chatgpt", "perplexity"]}"#,
    )?;
    let study = as_ann.create_from_manifest(&tenant.id, &study.id, &manifest)?;
    println!(
        "\nstudy {:?} of {} ({} by {}): {} jobs, {}",
        study.name,
        tenant.name,
        study.id,
        ann.name,
        manifest.cell_count(),
        study.state
    );

    let worker = store.acting_as("worker-7");
    let request = ClaimRequest {
        start: true,
        lease_for: TimeDelta::minutes(5),
        ..ClaimRequest::new("study", "worker-7")
    };
    let eur = Currency::parse("EUR")?;
    let mut done = 0_i64;
    while let Some(job) = worker.claim(&request)?.pop() {
        let lease = job.lease().expect("a started job has a lease");
        let cell = Cell::from_spec_json(job.spec.as_deref().unwrap_or_default())?;
        // One answer in six is a refusal: the job still completes, its result says it failed.
        let success = done != 4;
        let result = NewResult {
            tenant_id: tenant.id.clone(),
            id: None,
            study_id: study.id.clone(),
            job_id: job.id.clone(),
            surface: cell.surface.clone(),
            query: cell.query.clone(),
            success,
            response_text: Some(if success {
                format!("Top picks for {}: ...", cell.query)
            } else {
                "I can't help with that.".into()
            }),
            data: Some(format!(r#"{{"brandsMentioned": {}}}"#, 2 + done % 3)),
            metrics: ResultMetrics {
                latency_ms: Some(640 + 170 * done),
                tokens_in: Some(12 + done),
                tokens_out: Some(if success { 180 + 25 * done } else { 9 }),
            },
        };
        let screenshot = |result_id| NewEvidence {
            tenant_id: tenant.id.clone(),
            id: None,
            result_id,
            kind: EvidenceKind::Screenshot,
            uri: format!("s3://umbrella-evidence/{}/{}.png", study.id, job.id),
            // A made-up digest: the demo takes no screenshot.
            sha256: format!("{:064x}", 0x5eed_0000 + done),
            size_bytes: 48_213 + 1_000 * done,
            content_type: "image/png".into(),
            captured_at: None,
        };
        let result_id = jobstore_domain::ResultId::generate();
        worker.complete_with_result(
            &lease,
            NewResult {
                id: Some(result_id.clone()),
                ..result
            },
            vec![screenshot(result_id)],
        )?;
        // Recorded by a billing service with no actor of its own: "system".
        store.record_cost(NewCostRecord {
            tenant_id: tenant.id.clone(),
            id: None,
            study_id: Some(study.id.clone()),
            job_id: Some(job.id.clone()),
            category: "llm".into(),
            provider: if cell.surface == "chatgpt" {
                "openai"
            } else {
                "perplexity"
            }
            .into(),
            quantity: (192 + 26 * done).to_string(),
            unit: "tokens".into(),
            amount: Amount::parse_decimal(&format!("0.{:02}", 7 + 3 * done), eur)?,
        })?;
        done += 1;
        if done == 3 {
            as_ann.save_checkpoint(NewCheckpoint {
                tenant_id: tenant.id.clone(),
                study_id: study.id.clone(),
                sequence: 1,
                state: r#"{"jobsDone": 3}"#.into(),
            })?;
        }
    }

    println!("its trail (the study followed its jobs in their own transactions):");
    let row = |seq: &str, from: &str, to: &str, actor: &str, reason: &str| {
        println!("  {seq:>3}  {from:<9} -> {to:<9}  {actor:<24}  {reason}");
    };
    row("seq", "from", "to", "actor", "reason");
    for t in store.study_history(&tenant.id, &study.id)? {
        row(
            &t.seq.to_string(),
            t.from_state.map_or("-", |s| s.as_str()),
            t.to_state.as_str(),
            t.actor.as_deref().unwrap_or("-"),
            t.reason.as_deref().unwrap_or(""),
        );
    }

    let stats = store.study_stats(&tenant.id, &study.id)?;
    let (finished, total) = stats.progress();
    println!(
        "\nstudy_stats: {finished} of {total} jobs finished ({} COMPLETED), {} results, {} \
         evidence",
        stats.jobs.completed, stats.results, stats.evidence
    );
    let percent = |successes: u64, results: u64| {
        if results == 0 {
            "-".to_owned()
        } else {
            format!("{:.0} %", 100.0 * successes as f64 / results as f64)
        }
    };
    let row = |surface: &str, results: &str, successes: &str, rate: &str| {
        println!("  {surface:<12}  {results:>7}  {successes:>9}  {rate:>7}");
    };
    row("surface", "results", "successes", "success");
    for s in &stats.per_surface {
        row(
            &s.surface,
            &s.results.to_string(),
            &s.successes.to_string(),
            &percent(s.successes, s.results),
        );
    }
    row(
        "all",
        &stats.results.to_string(),
        &stats.successes.to_string(),
        &percent(stats.successes, stats.results),
    );

    println!("\ncost_totals (summed by the database, exact, per currency):");
    let row = |filter: &str, totals: &str| println!("  {filter:<22}  {totals}");
    row("filter", "total");
    let totals = |filter: CostFilter| -> Result<String, StorageError> {
        let totals = store.cost_totals(&tenant.id, &filter)?;
        Ok(totals
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "))
    };
    row(
        "this study",
        &totals(CostFilter {
            study: Some(study.id.clone()),
            ..CostFilter::default()
        })?,
    );
    row(
        "category llm",
        &totals(CostFilter {
            category: Some("llm".into()),
            ..CostFilter::default()
        })?,
    );

    let log = store.audit_log(
        &tenant.id,
        &AuditFilter::default(),
        &PageRequest::first(100),
    )?;
    println!("\naudit log ({} entries; a few):", log.items.len());
    let row = |actor: &str, action: &str, entity: &str, details: &str| {
        println!("  {actor:<24}  {action:<20}  {entity:<11}  {details}");
    };
    row("actor", "action", "entity", "details");
    let mut costs_shown = 0;
    for entry in &log.items {
        // One cost record stands for all of them.
        if entry.action == "cost_record.created" {
            costs_shown += 1;
            if costs_shown > 1 {
                continue;
            }
        }
        row(
            &entry.actor,
            &entry.action,
            &entry.entity_type,
            &entry.details,
        );
    }
    if costs_shown > 1 {
        println!("  ... and {} more cost_record.created", costs_shown - 1);
    }
    let health = store.health()?;
    println!(
        "\nhealth: {} answered in {:.2} ms; pool {} connections, {} idle; schema {} ({})",
        health.backend.name(),
        health.latency.as_secs_f64() * 1000.0,
        health.connections,
        health.idle_connections,
        health.schema_version.as_deref().unwrap_or("none"),
        if health.schema_up_to_date {
            "up to date"
        } else {
            "NOT up to date"
        }
    );
    Ok(())
}
