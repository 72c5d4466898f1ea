//! The repository traits: what the store can do, in domain types, mockable with the `mock` feature.

use chrono::{DateTime, TimeDelta, Utc};
use jobstore_domain::{
    Action, ActionId, Change, Constraint, ConstraintId, ConstraintViolation, Job, JobFilter, JobId,
    JobStateTransition, JobStatus, Lease, NewAction, NewConstraint, NewJob, NewSchedule, NewTenant,
    NewViolation, OrchestratorStats, Page, PageRequest, Run, RunId, RunStatus, Schedule,
    ScheduleAction, ScheduleId, ScheduleUpdate, SchedulerStats, StatsPeriodId, Tenant, TenantId,
    TenantUpdate, Trigger,
};
use jobstore_domain::{
    AuditEntry, Checkpoint, CostRecord, CostTotals, Evidence, JobCounts, Manifest, NewCheckpoint,
    NewCostRecord, NewEvidence, NewResult, NewStudy, NewUser, ResultId, Role, Study, StudyId,
    StudyResult, StudyState, StudyStats, StudyTransition, StudyUpdate, User, UserId, UserUpdate,
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

/// Schedules and what governs their runs: cron definitions, constraints, actions and their
/// links to schedules by trigger (seed 002's `jobs`, `constraints`, `actions`, `job_actions`).
///
/// Every call names the tenant; another tenant's record is [`StorageError::NotFound`].
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ScheduleRepository {
    /// Creates a schedule, first due after now. An unknown constraint is
    /// [`StorageError::NotFound`].
    fn create_schedule(&self, schedule: NewSchedule) -> Result<Schedule, StorageError>;

    /// Reads a schedule.
    fn get_schedule(&self, tenant: &TenantId, id: &ScheduleId) -> Result<Schedule, StorageError>;

    /// Lists a tenant's schedules by id.
    fn list_schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, StorageError>;

    /// Every schedule of every tenant, for a scheduler's in-memory index (seed 002's
    /// `GetAllJobs`; see [`jobstore_domain::UpcomingRuns`]).
    fn all_schedules(&self) -> Result<Vec<Schedule>, StorageError>;

    /// Changes a schedule's definition; a new expression or zone is due from now on.
    fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
        update: ScheduleUpdate,
    ) -> Result<Schedule, StorageError>;

    /// Stops a schedule firing until it is resumed.
    fn pause_schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
        note: Option<String>,
    ) -> Result<Schedule, StorageError>;

    /// Lets a paused schedule fire again: the due times it missed while paused are recorded as
    /// SKIPPED runs, and it is next due after now.
    fn resume_schedule(&self, tenant: &TenantId, id: &ScheduleId)
    -> Result<Schedule, StorageError>;

    /// Deletes a schedule with its runs, their violations and its action links. Jobs its runs
    /// enqueued stay (they are the tenant's jobs).
    fn delete_schedule(&self, tenant: &TenantId, id: &ScheduleId) -> Result<(), StorageError>;

    /// Creates a constraint.
    fn create_constraint(&self, constraint: NewConstraint) -> Result<Constraint, StorageError>;

    /// Reads a constraint.
    fn get_constraint(
        &self,
        tenant: &TenantId,
        id: &ConstraintId,
    ) -> Result<Constraint, StorageError>;

    /// Replaces a constraint's rules with `constraint`'s (its tenant and id name it).
    fn update_constraint(&self, constraint: &Constraint) -> Result<Constraint, StorageError>;

    /// Deletes a constraint: schedules that named it keep running without one (the seed's ON
    /// DELETE SET NULL), and its violations and action links go with it.
    fn delete_constraint(&self, tenant: &TenantId, id: &ConstraintId) -> Result<(), StorageError>;

    /// Creates an action.
    fn create_action(&self, action: NewAction) -> Result<Action, StorageError>;

    /// Reads an action.
    fn get_action(&self, tenant: &TenantId, id: &ActionId) -> Result<Action, StorageError>;

    /// Lists a tenant's actions by id (seed 002's `GetAllActions`).
    fn list_actions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Action>, StorageError>;

    /// Deletes an action and its links to schedules.
    fn delete_action(&self, tenant: &TenantId, id: &ActionId) -> Result<(), StorageError>;

    /// Links an action to a schedule by a trigger (seed 002's `CreateJobAction`).
    fn attach_action(&self, link: ScheduleAction) -> Result<ScheduleAction, StorageError>;

    /// A schedule's action links, by action id.
    fn schedule_actions(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Vec<ScheduleAction>, StorageError>;

    /// Removes an action's link to a schedule.
    fn detach_action(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        action: &ActionId,
    ) -> Result<(), StorageError>;
}

/// Runs, violations and statistics: seed 002's `job_runs`, `constraint_violations`,
/// `scheduler_stats` and `orchestrator_stats`, for a caller that drives runs itself.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait RunRepository {
    /// The run of `schedule` due at `scheduled_at` (to the second).
    fn get_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        scheduled_at: DateTime<Utc>,
    ) -> Result<Run, StorageError>;

    /// A run by its id.
    fn get_run_by_id(&self, tenant: &TenantId, run: &RunId) -> Result<Run, StorageError>;

    /// A schedule's latest runs, newest due time first, at most `limit` (1 to 1000).
    fn list_runs(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        limit: u32,
    ) -> Result<Vec<Run>, StorageError>;

    /// Creates a PENDING run of `schedule` due at `scheduled_at`, outside the schedulers (seed
    /// 002's `CreateJobRun`), enqueueing its job when the schedule has a template. A run
    /// already due then is [`StorageError::AlreadyExists`].
    fn create_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        scheduled_at: DateTime<Utc>,
    ) -> Result<Run, StorageError>;

    /// Moves a run to `status` by the run state machine (seed 002's `UpdateJobRunStatus`).
    /// Starting it checks its constraint as [`RunRepository::start_run`] does.
    fn update_run_status(
        &self,
        tenant: &TenantId,
        run: &RunId,
        status: RunStatus,
    ) -> Result<Run, StorageError>;

    /// Starts a PENDING run, unless its constraint refuses: as many runs of the schedule
    /// RUNNING as `max_concurrent_runs` allows (counted under a lock on the schedule), or a
    /// required previous run that did not succeed. A refused run is SKIPPED, with a recorded
    /// violation and the actions its schedule's triggers name.
    fn start_run(&self, tenant: &TenantId, run: &RunId) -> Result<RunStart, StorageError>;

    /// Finishes a RUNNING run: COMPLETED when `success`, else FAILED with `error` (seed 002's
    /// `CompleteJobRun`). Returns the run and the actions linked to its outcome
    /// (`on_success` or `on_failure`).
    fn complete_run(
        &self,
        tenant: &TenantId,
        run: &RunId,
        success: bool,
        error: Option<String>,
    ) -> Result<RunOutcome, StorageError>;

    /// Records a violation (seed 002's `CreateConstraintViolation`). A second violation of the
    /// same kind by the same run is [`StorageError::AlreadyExists`].
    fn record_violation(
        &self,
        violation: NewViolation,
    ) -> Result<ConstraintViolation, StorageError>;

    /// A run's violations, oldest first.
    fn violations_for_run(
        &self,
        tenant: &TenantId,
        run: &RunId,
    ) -> Result<Vec<ConstraintViolation>, StorageError>;

    /// A constraint's latest violations, newest first, at most `limit` (1 to 1000).
    fn violations_for_constraint(
        &self,
        tenant: &TenantId,
        constraint: &ConstraintId,
        limit: u32,
    ) -> Result<Vec<ConstraintViolation>, StorageError>;

    /// Stores a scheduler's statistics for a period.
    fn record_scheduler_stats(&self, stats: &SchedulerStats) -> Result<(), StorageError>;

    /// The periods that overlap `[from, until)`, oldest first (seed 002's `GetSchedulerStats`).
    fn scheduler_stats(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SchedulerStats>, StorageError>;

    /// Stores the orchestrator's statistics for a run, in a recorded period.
    fn record_orchestrator_stats(&self, stats: &OrchestratorStats) -> Result<(), StorageError>;

    /// The orchestrator's statistics of a period, by run id.
    fn orchestrator_stats(
        &self,
        period: &StatsPeriodId,
    ) -> Result<Vec<OrchestratorStats>, StorageError>;
}

/// What a scheduler process calls: fire due times, sweep overdue runs, carry out the kill and
/// skip actions, prune. Any number of processes may call these at once, with no leader.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SchedulerRepository {
    /// Fires up to `limit` schedules whose time has come (by the store's clock): for each, the
    /// runs its catch-up policy allows, SKIPPED runs for the due times it passes over, and a job
    /// per run when it has a template, all in one transaction with its cursor moved on. A due
    /// time fires once however many processes call this: each run's key is unique, and a
    /// process counts only the runs it inserted.
    fn fire_due(&self, limit: u32) -> Result<Fired, StorageError>;

    /// Looks at up to `limit` RUNNING runs past a time limit of their constraint: past the max
    /// expected run time, one violation is recorded (never two); past the max allowed run
    /// time, the run is TIMED_OUT, its job cancelled, and a violation recorded. Returns the
    /// violations recorded and the actions their triggers name.
    fn sweep_overdue(&self, limit: u32) -> Result<Swept, StorageError>;

    /// Takes up to `limit` queued actions, oldest first: those fired where no caller could
    /// take them (a run following its job to its end, or refused at its job's start). Each is
    /// taken once, by one caller, however many take at once.
    fn take_actions(&self, limit: u32) -> Result<Vec<DueAction>, StorageError>;

    /// Carries out `skipNextInstance`: the schedule's next due time without a run gets a
    /// SKIPPED run, so no scheduler fires it.
    fn skip_next_instance(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Run, StorageError>;

    /// Carries out `killLatestInstance`: cancels the newest unfinished run, and its job.
    fn kill_latest_instance(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Option<Run>, StorageError>;

    /// Carries out `killAllInstances`: cancels every unfinished run, and their jobs.
    fn kill_all_instances(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Vec<Run>, StorageError>;

    /// Deletes up to `limit` finished runs due more than `older_than` ago, except those a
    /// scheduler still needs to recognise a due time as fired: within the schedule's catch-up
    /// window plus its max allowed run time. Returns how many were deleted.
    fn prune_runs(&self, older_than: TimeDelta, limit: u32) -> Result<u64, StorageError>;
}

/// What [`RunRepository::start_run`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStart {
    /// The run is RUNNING.
    Started(Run),
    /// The constraint refused it: the run is SKIPPED, the violation recorded.
    Refused {
        /// The run, SKIPPED.
        run: Run,
        /// The violation recorded (boxed: it is the larger variant by far).
        violation: Box<ConstraintViolation>,
        /// The actions linked to the schedule for this violation, for the caller to take.
        actions: Vec<Action>,
    },
}

/// What [`RunRepository::complete_run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run, finished.
    pub run: Run,
    /// The actions linked to the outcome, for the caller to take.
    pub actions: Vec<Action>,
}

/// What one [`SchedulerRepository::fire_due`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fired {
    /// The PENDING runs this call created (a run another process created first is not here).
    pub runs: Vec<Run>,
    /// The SKIPPED runs this call recorded.
    pub skipped: Vec<Run>,
    /// The jobs enqueued for `runs`, in their order.
    pub jobs: Vec<Job>,
    /// How many schedules were fired.
    pub schedules: usize,
    /// Whether more schedules were due than `limit`: call again.
    pub more: bool,
}

/// An action fired for a run, for the caller to take (see [`SchedulerRepository::take_actions`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DueAction {
    /// The run it was fired for, as it is now.
    pub run: Run,
    /// What fired it.
    pub trigger: Trigger,
    /// The action.
    pub action: Action,
    /// When it was fired.
    pub fired_at: DateTime<Utc>,
}

/// What one [`SchedulerRepository::sweep_overdue`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Swept {
    /// Runs TIMED_OUT by this call.
    pub timed_out: Vec<Run>,
    /// Violations this call recorded.
    pub violations: Vec<ConstraintViolation>,
    /// The actions their triggers name (`on_timeout` and `on_violation`), for the caller to take.
    pub actions: Vec<Action>,
}

/// A tenant's users (seed 004's users). Every write appends its audit entry in the same
/// transaction, naming the store's actor (see [`crate::Store::acting_as`]).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait UserRepository {
    /// Creates a user. An e-mail address the tenant already has (compared without case) is
    /// [`StorageError::AlreadyExists`].
    fn create_user(&self, user: NewUser) -> Result<User, StorageError>;

    /// Reads a user that is not soft-deleted.
    fn get_user(&self, tenant: &TenantId, id: &UserId) -> Result<User, StorageError>;

    /// Finds a live user by e-mail address, compared without case.
    fn find_user_by_email(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> Result<Option<User>, StorageError>;

    /// Lists a tenant's users by id; soft-deleted ones only when `include_deleted`.
    fn list_users(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
        include_deleted: bool,
    ) -> Result<Page<User>, StorageError>;

    /// Changes a user's e-mail address or name.
    fn update_user(
        &self,
        tenant: &TenantId,
        id: &UserId,
        update: UserUpdate,
    ) -> Result<User, StorageError>;

    /// Changes a user's role.
    fn change_role(&self, tenant: &TenantId, id: &UserId, role: Role)
    -> Result<User, StorageError>;

    /// Hides a user from reads (`list_users` shows it with `include_deleted`).
    fn soft_delete_user(&self, tenant: &TenantId, id: &UserId) -> Result<(), StorageError>;

    /// Deletes a user for good.
    fn purge_user(&self, tenant: &TenantId, id: &UserId) -> Result<(), StorageError>;
}

/// Studies (seed 004): sets of jobs made from a manifest, whose state follows their jobs.
/// Every write appends its audit entry; every state change its trail row.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait StudyRepository {
    /// Creates a DRAFT study.
    fn create_study(&self, study: NewStudy) -> Result<Study, StorageError>;

    /// Reads a study that is not soft-deleted.
    fn get_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError>;

    /// Lists a tenant's studies, oldest first; soft-deleted ones only when `include_deleted`.
    fn list_studies(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
        include_deleted: bool,
    ) -> Result<Page<Study>, StorageError>;

    /// Changes a study's name or description.
    fn update_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        update: StudyUpdate,
    ) -> Result<Study, StorageError>;

    /// Hides a study from reads; its unfinished jobs are cancelled first.
    fn soft_delete_study(&self, tenant: &TenantId, id: &StudyId) -> Result<(), StorageError>;

    /// Deletes a study for good, with its jobs, results, evidence, checkpoints and costs.
    fn purge_study(&self, tenant: &TenantId, id: &StudyId) -> Result<(), StorageError>;

    /// Creates every job of `manifest`'s matrix in one transaction (all or none) and moves the
    /// study from DRAFT to QUEUED, recording the manifest.
    fn create_from_manifest(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        manifest: &Manifest,
    ) -> Result<Study, StorageError>;

    /// Moves a study by its state machine (seed 004's `updateState`).
    fn transition_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        to: StudyState,
        reason: Option<String>,
    ) -> Result<Study, StorageError>;

    /// Pauses a study: its PENDING jobs are held (not claimable) until it is resumed.
    fn pause_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError>;

    /// Resumes a paused study: its held jobs are claimable again.
    fn resume_study(&self, tenant: &TenantId, id: &StudyId) -> Result<Study, StorageError>;

    /// Cancels a study and its unfinished jobs, each with its audit record.
    fn cancel_study(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        reason: &str,
    ) -> Result<Study, StorageError>;

    /// A study's trail of states, oldest first.
    fn study_history(
        &self,
        tenant: &TenantId,
        id: &StudyId,
    ) -> Result<Vec<StudyTransition>, StorageError>;

    /// A study's jobs counted by status, from the jobs themselves (seed 004's `getProgress`).
    fn study_progress(&self, tenant: &TenantId, id: &StudyId) -> Result<JobCounts, StorageError>;

    /// A study's jobs, in one status or all (seed 004's `findPendingJobs`, `findByStatus`).
    fn study_jobs(
        &self,
        tenant: &TenantId,
        id: &StudyId,
        status: Option<JobStatus>,
        page: &PageRequest,
    ) -> Result<Page<Job>, StorageError>;
}

/// Results, evidence, checkpoints, cost records and the audit log of seed 004.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait StudyDataRepository {
    /// Completes a worker's job and stores its result and evidence, in one transaction,
    /// lease-checked like any report (seed 004's `updateStatus(jobId, 'completed', result)`).
    fn complete_with_result(
        &self,
        lease: &Lease,
        result: NewResult,
        evidence: Vec<NewEvidence>,
    ) -> Result<Completed, StorageError>;

    /// Completes a worker's jobs with their results and evidence in one transaction, all or
    /// none, each as [`StudyDataRepository::complete_with_result`] does, in one statement per
    /// table: what a worker that claimed a batch reports.
    fn complete_with_results(
        &self,
        completions: Vec<Completion>,
    ) -> Result<Vec<Completed>, StorageError>;

    /// Stores a result of a study's job. A job has one result: a second is
    /// [`StorageError::AlreadyExists`].
    fn create_result(&self, result: NewResult) -> Result<StudyResult, StorageError>;

    /// A study's results, oldest first.
    fn list_results(
        &self,
        tenant: &TenantId,
        study: &StudyId,
        surface: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<StudyResult>, StorageError>;

    /// Attaches an artifact to a result.
    fn attach_evidence(&self, evidence: NewEvidence) -> Result<Evidence, StorageError>;

    /// A result's evidence, by capture time.
    fn list_evidence(
        &self,
        tenant: &TenantId,
        result: &ResultId,
    ) -> Result<Vec<Evidence>, StorageError>;

    /// A study's statistics, aggregated by the database.
    fn study_stats(&self, tenant: &TenantId, study: &StudyId) -> Result<StudyStats, StorageError>;

    /// Saves a checkpoint; its sequence must be above the latest's.
    fn save_checkpoint(&self, checkpoint: NewCheckpoint) -> Result<Checkpoint, StorageError>;

    /// A study's latest checkpoint.
    fn latest_checkpoint(
        &self,
        tenant: &TenantId,
        study: &StudyId,
    ) -> Result<Option<Checkpoint>, StorageError>;

    /// A study's checkpoints, oldest first.
    fn list_checkpoints(
        &self,
        tenant: &TenantId,
        study: &StudyId,
    ) -> Result<Vec<Checkpoint>, StorageError>;

    /// Deletes all but the latest `keep` checkpoints; returns how many were deleted.
    fn prune_checkpoints(
        &self,
        tenant: &TenantId,
        study: &StudyId,
        keep: u32,
    ) -> Result<u64, StorageError>;

    /// Records a cost.
    fn record_cost(&self, cost: NewCostRecord) -> Result<CostRecord, StorageError>;

    /// Records costs in one transaction, all or none, each with its audit entry.
    fn record_costs(&self, costs: Vec<NewCostRecord>) -> Result<Vec<CostRecord>, StorageError>;

    /// Sums a tenant's costs per currency, exactly, over what `filter` selects.
    fn cost_totals(
        &self,
        tenant: &TenantId,
        filter: &CostFilter,
    ) -> Result<CostTotals, StorageError>;

    /// A tenant's audit log, oldest first, over what `filter` selects.
    fn audit_log(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StorageError>;
}

/// A job to complete with its output (see [`StudyDataRepository::complete_with_results`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The worker's lease on the job.
    pub lease: Lease,
    /// The job's result.
    pub result: NewResult,
    /// The result's evidence.
    pub evidence: Vec<NewEvidence>,
}

/// What [`StudyDataRepository::complete_with_result`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// The job, COMPLETED.
    pub job: Job,
    /// Its result.
    pub result: StudyResult,
    /// The result's evidence.
    pub evidence: Vec<Evidence>,
}

/// Which cost records [`StudyDataRepository::cost_totals`] sums: all that match every field
/// given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostFilter {
    /// Of this study.
    pub study: Option<StudyId>,
    /// Of this category.
    pub category: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub until: Option<DateTime<Utc>>,
}

/// Which audit entries [`StudyDataRepository::audit_log`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Of this entity: its type and id.
    pub entity: Option<(String, String)>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}
