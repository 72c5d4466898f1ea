//! The audit record of one state change of a job.

use chrono::{DateTime, Utc};

use crate::{JobId, JobStatus, TenantId, TransitionId};

/// One row of a job's audit trail: what changed, when, why and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStateTransition {
    /// The job's tenant.
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// This record's id.
    pub id: TransitionId,
    /// The job's version after the change: orders a job's transitions.
    pub seq: i64,
    /// The status before; `None` when the job was created.
    pub from: Option<JobStatus>,
    /// The status after.
    pub to: JobStatus,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Why: an error message, a cancellation reason, ...
    pub reason: Option<String>,
    /// Who: a user, a worker, the reaper, ...
    pub actor: Option<String>,
    /// The job's attempt after the change.
    pub attempt: i32,
}
