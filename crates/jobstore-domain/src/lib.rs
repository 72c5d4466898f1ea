//! jobstore's domain: tenants, jobs, their audit trail and the job state machine, and schedules
//! (cron definitions, constraints, actions, runs), with no database, no I/O and no clock (every
//! time is passed in).
//!
//! Storage crates persist these types; anything that wants to reason about jobs without a
//! database (a scheduler, a UI, a test) can depend on this crate alone.
//!
//! ```
//! use chrono::{TimeDelta, Utc};
//! use jobstore_domain::{Change, JobStatus, LeaseGrant, NewJob, TenantId};
//!
//! let now = Utc::now();
//! let job = NewJob {
//!     image_uri: Some("gcr.io/project/image:latest".into()),
//!     ..NewJob::new(TenantId::new("tenant-123")?)
//! }
//! .into_job(now)?;
//!
//! // A worker claims it, runs it, and it fails: one retry of three is used.
//! let lease = LeaseGrant::new("worker-1", now, TimeDelta::seconds(30));
//! let job = job.apply(&Change::to(JobStatus::Assigned).lease(lease), now)?.job;
//! let job = job.apply(&Change::to(JobStatus::Running), now)?.job;
//! let job = job.apply(&Change::to(JobStatus::Failed).reason("exit 1"), now)?.job;
//! assert!(job.can_retry());
//! let job = job.apply(&Change::retry(), now)?.job;
//! assert_eq!((job.attempt, job.output_prefix.as_str()), (2, format!("jobs/{}/2/", job.id).as_str()));
//! # Ok::<(), jobstore_domain::DomainError>(())
//! ```

mod error;
mod ids;
mod job;
mod lifecycle;
mod listing;
mod retry;
mod schedule;
mod status;
mod study;
mod tenant;
mod text;
mod time;
mod transition;
mod update;

pub use error::{DomainError, StaleLease};
pub use ids::{
    ActionId, AuditId, ConstraintId, CostRecordId, EvidenceId, JobId, LeaseId, MAX_ID_LEN,
    ResultId, RunId, ScheduleId, StatsPeriodId, StudyId, TenantId, TransitionId, UserId,
    ViolationId,
};
pub use job::{
    DEFAULT_MAX_RETRIES, DEFAULT_QUEUE, Job, NewJob, check_output, decode_commands,
    encode_commands, output_prefix, validate_agent, validate_batch_job_name, validate_queue,
};
pub use lifecycle::{Applied, Change, Lease, LeaseGrant};
pub use listing::{Cursor, JobFilter, MAX_PAGE_SIZE, Page, PageRequest, check_limit};
pub use retry::RetryPolicy;
pub use schedule::*;
pub use status::JobStatus;
pub use study::*;
pub use tenant::{NewTenant, OAuthIdentity, Tenant, TenantUpdate};
pub use text::MAX_TEXT_BYTES;
pub use time::check_time;
pub use transition::JobStateTransition;
pub use update::{
    JobChanges, JobUpdate, REAPER, check_lease_length, extended_deadline, held_until,
};
