//! The repository traits: what the store can do, in domain types, mockable with the `mock` feature.

use chrono::{DateTime, TimeDelta, Utc};
use jobstore_domain::{
    Change, Job, JobFilter, JobId, JobStateTransition, JobStatus, Lease, NewJob, NewTenant, Page,
    PageRequest, Tenant, TenantId, TenantUpdate,
};

use crate::StorageError;

/// Tenants: create, read, list, update, soft delete and purge.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TenantRepository {
    /// Creates a tenant. An id or OAuth identity already in use is [`StorageError::AlreadyExists`].
    fn create_tenant(&self, tenant: NewTenant) -> Result<Tenant, StorageError>;

    /// Reads a tenant that is not soft-deleted.
    fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StorageError>;

    /// Finds the tenant linked to an OAuth identity, if any.
    fn find_tenant_by_oauth(
        &self,
        provider: &str,
        user_id: &str,
    ) -> Result<Option<Tenant>, StorageError>;

    /// Lists tenants that are not soft-deleted, ordered by id.
    fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>, StorageError>;

    /// Changes a tenant's name, e-mail address or OAuth identity.
    fn update_tenant(&self, id: &TenantId, update: TenantUpdate) -> Result<Tenant, StorageError>;

    /// Hides a tenant and its jobs from reads and claims; the rows stay until purged. Workers
    /// holding its jobs may still report on them.
    fn soft_delete_tenant(&self, id: &TenantId) -> Result<(), StorageError>;

    /// Deletes a tenant for good, with its jobs and their audit trails (soft-deleted or not).
    fn purge_tenant(&self, id: &TenantId) -> Result<(), StorageError>;
}

/// Jobs, for the service that accepts work: create, read, list, change state, delete.
///
/// Every call names the tenant; another tenant's job is [`StorageError::NotFound`].
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait JobRepository {
    /// Creates a PENDING job and its first audit record. An unknown tenant is
    /// [`StorageError::NotFound`]; a unique key in use is [`StorageError::AlreadyExists`].
    fn create_job(&self, job: NewJob) -> Result<Job, StorageError>;

    /// Creates many jobs in one transaction (one insert per table per batch): all or none.
    fn create_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<Job>, StorageError>;

    /// Creates a job unless one of its tenant's unfinished jobs has the same unique key, in
    /// which case that job is returned instead. Jobs without a unique key are always created.
    fn enqueue(&self, job: NewJob) -> Result<Enqueued, StorageError>;

    /// Reads a job that is not soft-deleted.
    fn get_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError>;

    /// Lists a tenant's jobs that are not soft-deleted, oldest first (then by id).
    fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError>;

    /// Lists a tenant's jobs in one status.
    fn list_jobs_by_status(
        &self,
        tenant: &TenantId,
        status: JobStatus,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError> {
        self.list_jobs(tenant, &JobFilter::statuses([status]), page)
    }

    /// Applies a state change under the state machine's rules and records it in the audit
    /// trail, in one transaction. A concurrent change is [`StorageError::Conflict`].
    fn transition_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        change: Change,
    ) -> Result<Job, StorageError>;

    /// RUNNING to COMPLETED.
    fn complete_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError> {
        self.transition_job(tenant, job, Change::to(JobStatus::Completed))
    }

    /// To FAILED, keeping `message` as the job's error and in the audit trail.
    fn fail_job(&self, tenant: &TenantId, job: &JobId, message: &str) -> Result<Job, StorageError> {
        self.transition_job(tenant, job, Change::to(JobStatus::Failed).reason(message))
    }

    /// To CANCELLED, recording `reason`. A worker holding the job learns it at its next report.
    fn cancel_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        reason: &str,
    ) -> Result<Job, StorageError> {
        self.transition_job(tenant, job, Change::to(JobStatus::Cancelled).reason(reason))
    }

    /// FAILED or LOST back to PENDING while retries remain, claimable at once. Any other
    /// status is [`StorageError::InvalidTransition`]; no retries left is
    /// [`StorageError::RetriesExhausted`].
    fn retry_job(&self, tenant: &TenantId, job: &JobId) -> Result<Job, StorageError>;

    /// Records the job's name in an external batch system.
    fn set_batch_job_name(
        &self,
        tenant: &TenantId,
        job: &JobId,
        name: &str,
    ) -> Result<Job, StorageError>;

    /// Hides a finished job from reads. An unfinished job must be cancelled first.
    fn soft_delete_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError>;

    /// Deletes a job for good, with its audit trail.
    fn purge_job(&self, tenant: &TenantId, job: &JobId) -> Result<(), StorageError>;

    /// The job's audit trail, oldest first.
    fn job_history(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<Vec<JobStateTransition>, StorageError>;
}

/// What [`JobRepository::enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// A new job was created.
    Created(Job),
    /// An unfinished job with the same unique key exists; this is it, unchanged.
    Duplicate(Job),
}

impl Enqueued {
    /// The job, new or existing.
    pub fn job(&self) -> &Job {
        match self {
            Enqueued::Created(job) | Enqueued::Duplicate(job) => job,
        }
    }

    /// Whether the job already existed.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Enqueued::Duplicate(_))
    }
}

/// Workers: claim jobs under a lease, keep the lease alive, report, and reap the expired.
///
/// Claims and reaping serve a queue across tenants; every report is scoped by its [`Lease`].
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WorkerRepository {
    /// Claims up to `request.limit` claimable jobs of a queue (PENDING, not-before passed),
    /// highest priority first, then oldest not-before, then id; each moves to ASSIGNED (and on
    /// to RUNNING when `request.start`) under a fresh lease, with its audit rows, in one
    /// transaction. Claimers skip each other's rows instead of waiting for them.
    fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>, StorageError>;

    /// Extends a live lease to `extend_by` from now and returns the new deadline. A stale
    /// lease is [`StorageError::StaleLease`] (with the reason: expired, not held, cancelled).
    fn heartbeat(&self, lease: &Lease, extend_by: TimeDelta)
    -> Result<DateTime<Utc>, StorageError>;

    /// ASSIGNED to RUNNING.
    fn start(&self, lease: &Lease) -> Result<Job, StorageError>;

    /// RUNNING to COMPLETED.
    fn complete(&self, lease: &Lease) -> Result<Job, StorageError>;

    /// Completes many jobs in one transaction: all or none.
    fn complete_all(&self, leases: &[Lease]) -> Result<Vec<Job>, StorageError>;

    /// Completes the jobs of `done` and claims the next work as `next` asks, in one
    /// transaction: one commit per job for a worker that streams through a queue. The reports
    /// are lease-checked as [`WorkerRepository::complete_all`]'s are, with their audit rows; a
    /// stale one fails the whole call and nothing is claimed. `done` may be empty (a worker's
    /// first claim).
    ///
    /// ```no_run
    /// use jobstore_storage::{ClaimRequest, Store, WorkerRepository};
    ///
    /// let store = Store::open_url("jobstore.db")?;
    /// let request = ClaimRequest { start: true, ..ClaimRequest::new("default", "worker-1") };
    /// let mut held = store.claim(&request)?;
    /// while !held.is_empty() {
    ///     // ... run the jobs ...
    ///     let leases: Vec<_> = held.iter().filter_map(|job| job.lease()).collect();
    ///     held = store.complete_and_claim(&leases, &request)?.claimed;
    /// }
    /// # Ok::<(), jobstore_storage::StorageError>(())
    /// ```
    fn complete_and_claim(
        &self,
        done: &[Lease],
        next: &ClaimRequest,
    ) -> Result<Handoff, StorageError>;

    /// To FAILED with `message`. When `retryable` and retries remain, the job goes on to
    /// PENDING with a not-before time from its retry policy.
    fn fail(&self, lease: &Lease, message: &str, retryable: bool) -> Result<Job, StorageError>;

    /// Gives an ASSIGNED job back unstarted: PENDING again, without using a retry.
    fn release(&self, lease: &Lease) -> Result<Job, StorageError>;

    /// Moves up to `limit` jobs whose lease expired to LOST, and retries those with retries
    /// left. Safe to run from many processes at once.
    fn reap(&self, limit: u32) -> Result<Reaped, StorageError>;
}

/// What a worker asks for when it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The queue to take jobs from.
    pub queue: String,
    /// The worker's name, recorded as the job's assigned agent and the audit actor.
    pub agent: String,
    /// At most this many jobs (1 to 1000).
    pub limit: u32,
    /// How long the lease lasts without a heartbeat.
    pub lease_for: TimeDelta,
    /// Whether to start the jobs too (ASSIGNED and RUNNING in one commit).
    pub start: bool,
}

impl ClaimRequest {
    /// One job from `queue` for `agent`, under a 30-second lease, not started.
    pub fn new(queue: impl Into<String>, agent: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            agent: agent.into(),
            limit: 1,
            lease_for: TimeDelta::seconds(30),
            start: false,
        }
    }
}

/// What [`WorkerRepository::complete_and_claim`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handoff {
    /// The jobs reported, as they are now (COMPLETED), in the order of their leases.
    pub completed: Vec<Job>,
    /// The jobs claimed next, under a fresh lease (empty when the queue had none).
    pub claimed: Vec<Job>,
}

/// What one reaper pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Jobs moved to LOST and left there (no retries left).
    pub lost: Vec<(TenantId, JobId)>,
    /// Jobs moved to LOST and then back to PENDING.
    pub retried: Vec<(TenantId, JobId)>,
}
