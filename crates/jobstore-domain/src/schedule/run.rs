//! Runs (seed 002's `job_runs`): one per due time of a schedule, with their own state machine.

use std::{fmt, str::FromStr};

use chrono::{DateTime, TimeDelta, Utc};

use crate::{DomainError, Job, JobId, RunId, Schedule, ScheduleId, TenantId};

/// Where a run is in its life. Stored upper-case; the seed's lower-case spellings parse.
///
/// ```text
/// PENDING --start--> RUNNING --> COMPLETED | FAILED | TIMED_OUT
///    |                  +------> CANCELLED
///    +--> CANCELLED | SKIPPED
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunStatus {
    /// Due, not started.
    Pending,
    /// Started.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled (by a kill action or a caller).
    Cancelled,
    /// Stopped for running past its max allowed run time.
    TimedOut,
    /// A due time that does not run (see [`SkipReason`]).
    Skipped,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
        RunStatus::Skipped,
    ];

    /// The canonical spelling, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::TimedOut => "TIMED_OUT",
            RunStatus::Skipped => "SKIPPED",
        }
    }

    /// Whether the state machine has an edge from `self` to `to`.
    pub const fn can_transition_to(self, to: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, to),
            (Pending, Running | Cancelled | Skipped)
                | (Running, Completed | Failed | Cancelled | TimedOut)
        )
    }

    /// Whether no change leaves this status (all but PENDING and RUNNING).
    pub const fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Pending | RunStatus::Running)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = DomainError;

    /// The canonical spellings and the seed's (`pending`, `running`, `completed`, `failed`,
    /// `cancelled`), in any case; also `canceled`, `timed_out`, `skipped`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        todo!("{s}")
    }
}

/// Why a due time did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The schedule had as many runs RUNNING as its constraint allows.
    Overlap,
    /// Missed while no scheduler ran, and not caught up (catch-up off, outside the window, or
    /// over the cap).
    Missed,
    /// Skipped by a `skipNextInstance` action.
    Action,
    /// Due while the schedule was paused.
    Paused,
    /// The run's constraint refused it at start (a required previous run did not succeed).
    Constraint,
}

impl SkipReason {
    /// As stored: `overlap`, `missed`, `action`, `paused`, `constraint`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Missed => "missed",
            SkipReason::Action => "action",
            SkipReason::Paused => "paused",
            SkipReason::Constraint => "constraint",
        }
    }
}

impl FromStr for SkipReason {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        todo!("{s}")
    }
}

/// One due time of a schedule, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The run's own id, unique.
    pub run_id: RunId,
    /// The nominal due time, UTC, to the second: with the tenant and schedule, the run's key.
    pub scheduled_at: DateTime<Utc>,
    /// Where it is.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether it succeeded, once finished (the seed's `success`).
    pub success: Option<bool>,
    /// Why it failed, timed out or was cancelled.
    pub error: Option<String>,
    /// Why it was skipped.
    pub skip_reason: Option<SkipReason>,
    /// The job it enqueued, when its schedule has a job template.
    pub job_id: Option<JobId>,
    /// When the overrun of its max expected run time was recorded (at most once).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Moves on every write; updates are guarded by it.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A decided change of a stored run: the run as it becomes, guarded by the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUpdate {
    /// The version the run must still have.
    pub expected_version: i64,
    /// The run after the change (its version moved on).
    pub run: Run,
}

impl Run {
    /// A PENDING run of `schedule` due at `scheduled_at` (truncated to the second), with a job id
    /// for its job when the schedule has a template.
    pub fn pending(schedule: &Schedule, scheduled_at: DateTime<Utc>, now: DateTime<Utc>) -> Run {
        todo!("{schedule:?} {scheduled_at} {now}")
    }

    /// A SKIPPED run of `schedule` due at `scheduled_at`, for `reason`.
    pub fn skipped(
        schedule: &Schedule,
        scheduled_at: DateTime<Utc>,
        reason: SkipReason,
        now: DateTime<Utc>,
    ) -> Run {
        todo!("{schedule:?} {scheduled_at} {reason:?} {now}")
    }

    /// A status change by the state machine's rules (the seed's `UpdateJobRunStatus`): RUNNING
    /// sets `started_at`; a finished status sets `completed_at` and `success` (true only for
    /// COMPLETED). An illegal edge is [`DomainError::InvalidRunTransition`].
    pub fn change(&self, to: RunStatus, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        todo!("{to} {now}")
    }

    /// RUNNING to COMPLETED (`success`) or FAILED with `error` (the seed's `CompleteJobRun`).
    pub fn complete(
        &self,
        success: bool,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RunUpdate, DomainError> {
        todo!("{success} {error:?} {now}")
    }

    /// PENDING or RUNNING to CANCELLED, with `reason` as its error.
    pub fn cancel(&self, reason: &str, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        todo!("{reason} {now}")
    }

    /// PENDING to SKIPPED for `reason`.
    pub fn skip(&self, reason: SkipReason, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        todo!("{reason:?} {now}")
    }

    /// RUNNING to TIMED_OUT, `error` saying which limit it passed.
    pub fn time_out(&self, error: &str, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        todo!("{error} {now}")
    }

    /// Records that the run went past its max expected run time: sets `overdue_at`, status
    /// unchanged. A run already marked, or not RUNNING, is refused.
    pub fn mark_overdue(&self, now: DateTime<Utc>) -> Result<RunUpdate, DomainError> {
        todo!("{now}")
    }

    /// How the run follows its job, which is now `job`: RUNNING when the job runs; COMPLETED
    /// when it completed; FAILED (with the job's error) when it failed or was lost with no
    /// retries left; CANCELLED when it was cancelled. `None` when nothing changes (a retried
    /// job, a run already finished). Steps the state machine allows in one go (PENDING to
    /// RUNNING to FAILED for a job lost before it started).
    pub fn follow(&self, job: &Job, now: DateTime<Utc>) -> Option<RunUpdate> {
        todo!("{job:?} {now}")
    }

    /// How long it has been RUNNING at `now`.
    pub fn running_for(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        todo!("{now}")
    }
}
