//! `cargo xtask demo`: jobstore's main job on the embedded default, start to finish.
//!
//! Migrates a fresh SQLite file, creates two tenants and their jobs, moves the jobs through
//! their lives (a success, a failure retried then a success, a cancellation, a job driven by an
//! external batch system) and prints each job's audit trail. With `RUST_LOG=jobstore=debug` it
//! also shows the store's span for every call and every SQL statement, on stderr.

use chrono::TimeDelta;
use jobstore_domain::{Change, Job, JobStatus, NewJob, NewTenant, OAuthIdentity, RetryPolicy};
use jobstore_storage::{
    ClaimRequest, JobRepository, StorageError, Store, TenantRepository, WorkerRepository,
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
    Ok(())
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
