//! A small, documented set of rows for downstream tests, made only through jobstore's public
//! repository API, so that it is valid by construction on every backend.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use jobstore_domain::{
    Change, Job, JobId, JobStatus, LeaseGrant, NewJob, NewTenant, OAuthIdentity, Tenant, TenantId,
};
use jobstore_storage::{JobRepository, StorageError, Store, TenantRepository};

/// The agent that holds the fixture's leases.
pub const FIXTURE_AGENT: &str = "fixture-worker";

/// What [`seed_test_data`] made.
///
/// | tenant | id | what it has |
/// |--------|----|-------------|
/// | Acme Corp (`ada@acme.example`, Google identity `acme-ada`) | `tenant-acme` | one job in every [`JobStatus`], ids `acme-<status>` (`acme-pending`, `acme-assigned`, …) |
/// | Globex | `tenant-globex` | one PENDING job, `globex-pending`: another tenant's work, for isolation tests |
///
/// Every job is in queue `default` with the command `echo <job id>`. Acme's jobs reached their
/// status through legal transitions, so each has its audit trail:
///
/// | status | trail (each step's new status) |
/// |--------|-------------------------------|
/// | PENDING | PENDING |
/// | ASSIGNED | PENDING, ASSIGNED (leased to [`FIXTURE_AGENT`] for an hour) |
/// | RUNNING | PENDING, ASSIGNED, RUNNING |
/// | COMPLETED | PENDING, ASSIGNED, RUNNING, COMPLETED |
/// | FAILED | PENDING, ASSIGNED, RUNNING, FAILED (message `fixture failure`) |
/// | CANCELLED | PENDING, CANCELLED |
/// | LOST | PENDING, ASSIGNED, RUNNING, LOST |
///
/// Times come from the store's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// Acme Corp: one job in every status.
    pub acme: Tenant,
    /// Globex: one pending job.
    pub globex: Tenant,
    /// Acme's jobs, by status.
    pub jobs: BTreeMap<JobStatus, Job>,
    /// Globex's pending job.
    pub globex_job: Job,
}

impl Fixture {
    /// Acme's job in `status`.
    pub fn job(&self, status: JobStatus) -> Option<&Job> {
        self.jobs.get(&status)
    }
}

/// Fills `store` with the [`Fixture`]: two tenants, and jobs in every status with their audit
/// trails. The store should be empty (see [`reset`](crate::reset)): the ids are fixed.
///
/// ```
/// use jobstore_domain::JobStatus;
/// use jobstore_storage::JobRepository;
///
/// let store = jobstore_testkit::memory_store()?;
/// let fixture = jobstore_testkit::seed_test_data(&store)?;
/// let lost = &fixture.jobs[&JobStatus::Lost];
/// let trail = store.job_history(&fixture.acme.id, &lost.id)?;
/// assert_eq!(trail.last().map(|step| step.to), Some(JobStatus::Lost));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn seed_test_data(store: &Store) -> Result<Fixture, StorageError> {
    let acme = store.create_tenant(NewTenant {
        id: Some(TenantId::new("tenant-acme")?),
        user_email: Some("ada@acme.example".to_owned()),
        oauth: Some(OAuthIdentity {
            provider: "google".to_owned(),
            user_id: "acme-ada".to_owned(),
        }),
        ..NewTenant::named("Acme Corp")
    })?;
    let globex = store.create_tenant(NewTenant {
        id: Some(TenantId::new("tenant-globex")?),
        ..NewTenant::named("Globex")
    })?;
    let mut jobs = BTreeMap::new();
    for status in JobStatus::ALL {
        let id = format!("acme-{}", status.as_str().to_ascii_lowercase());
        let job = new_job(store, &acme.id, &id)?;
        jobs.insert(status, move_to(store, job, status)?);
    }
    let globex_job = new_job(store, &globex.id, "globex-pending")?;
    Ok(Fixture {
        acme,
        globex,
        jobs,
        globex_job,
    })
}

fn new_job(store: &Store, tenant: &TenantId, id: &str) -> Result<Job, StorageError> {
    store.create_job(NewJob {
        id: Some(JobId::new(id)?),
        commands: vec!["echo".to_owned(), id.to_owned()],
        queue: "default".to_owned(),
        ..NewJob::new(tenant.clone())
    })
}

/// The legal transitions that take a PENDING job to `status`: ASSIGNED, RUNNING and then the
/// final status for COMPLETED, FAILED and LOST; straight to CANCELLED.
///
/// ```
/// use jobstore_domain::JobStatus;
///
/// assert_eq!(jobstore_testkit::path_to(JobStatus::Running), [JobStatus::Assigned, JobStatus::Running]);
/// ```
pub fn path_to(status: JobStatus) -> &'static [JobStatus] {
    use JobStatus::*;
    match status {
        Pending => &[],
        Assigned => &[Assigned],
        Running => &[Assigned, Running],
        Completed => &[Assigned, Running, Completed],
        Failed => &[Assigned, Running, Failed],
        Lost => &[Assigned, Running, Lost],
        Cancelled => &[Cancelled],
    }
}

/// Moves a PENDING job through legal transitions to `status`.
fn move_to(store: &Store, job: Job, status: JobStatus) -> Result<Job, StorageError> {
    use JobStatus::*;
    let path = path_to(status);
    let mut job = job;
    for &to in path {
        let change = match to {
            Assigned => Change::to(Assigned).lease(LeaseGrant::new(
                FIXTURE_AGENT,
                store.now(),
                TimeDelta::hours(1),
            )),
            Failed => Change::to(Failed).reason("fixture failure"),
            other => Change::to(other),
        };
        job = store.transition_job(&job.tenant_id, &job.id, change)?;
    }
    Ok(job)
}
