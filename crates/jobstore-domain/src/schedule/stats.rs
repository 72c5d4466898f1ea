//! Constraint violations and the scheduler's statistics, with every field of seed 002.

use chrono::{DateTime, Utc};

use crate::{ConstraintId, DomainError, RunId, StatsPeriodId, TenantId, ViolationId};

/// Which rule a run broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// It would have run with as many runs RUNNING as allowed.
    MaxConcurrentRuns,
    /// The schedule it depends on did not succeed last.
    RequirePreviousSuccess,
    /// It ran longer than expected (recorded once, the run goes on).
    MaxExpectedRunTime,
    /// It ran longer than allowed and was TIMED_OUT.
    MaxAllowedRunTime,
}

impl ViolationKind {
    /// As stored: `max_concurrent_runs`, `require_previous_success`, `max_expected_run_time`,
    /// `max_allowed_run_time`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ViolationKind::MaxConcurrentRuns => "max_concurrent_runs",
            ViolationKind::RequirePreviousSuccess => "require_previous_success",
            ViolationKind::MaxExpectedRunTime => "max_expected_run_time",
            ViolationKind::MaxAllowedRunTime => "max_allowed_run_time",
        }
    }
}

impl std::str::FromStr for ViolationKind {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        todo!("{s}")
    }
}

/// A run's breach of its schedule's constraint (seed 002's `constraint_violations`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintViolation {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The violation's id.
    pub id: ViolationId,
    /// The run.
    pub run_id: RunId,
    /// The constraint broken.
    pub constraint_id: ConstraintId,
    /// Which of its rules.
    pub kind: ViolationKind,
    /// When it was found.
    pub violation_time: DateTime<Utc>,
    /// What was done about it (the seed's `action_taken`: action types, comma-separated).
    pub action_taken: Option<String>,
    /// The seed's details document.
    pub details: ViolationDetails,
}

/// A violation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewViolation {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The run.
    pub run_id: RunId,
    /// The constraint broken.
    pub constraint_id: ConstraintId,
    /// Which rule.
    pub kind: ViolationKind,
    /// What was done about it.
    pub action_taken: Option<String>,
    /// The details.
    pub details: ViolationDetails,
}

impl NewViolation {
    /// The violation this records at `now`, validated.
    pub fn into_violation(self, now: DateTime<Utc>) -> Result<ConstraintViolation, DomainError> {
        todo!("{now}")
    }
}

/// The seed's details JSON: `{"message", "currentValue", "threshold", "webhookResponse"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationDetails {
    /// What happened, for people.
    pub message: String,
    /// The value that broke the rule (`2h15m`, `3 running`).
    pub current_value: Option<String>,
    /// The rule's limit (`2h`).
    pub threshold: Option<String>,
    /// What a webhook called about it answered (filled in by the caller).
    pub webhook_response: Option<WebhookResponse>,
}

impl ViolationDetails {
    /// Details with only a message.
    pub fn message(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            current_value: None,
            threshold: None,
            webhook_response: None,
        }
    }

    /// The seed's JSON form.
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Reads the seed's JSON form; errors name the field `details`.
    pub fn from_json(json: &str) -> Result<ViolationDetails, DomainError> {
        todo!("{json}")
    }
}

/// A webhook's answer, kept in a violation's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body (truncated by the caller as it sees fit).
    pub body: String,
}

/// What one scheduler did over a period (seed 002's `scheduler_stats`). Not tenant-owned: a
/// scheduler serves every tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStats {
    /// The period's id.
    pub stats_period_id: StatsPeriodId,
    /// When the period began.
    pub start_time: DateTime<Utc>,
    /// When it ended (not before `start_time`).
    pub end_time: DateTime<Utc>,
    /// Loop iterations.
    pub iterations: i64,
    /// Runs started.
    pub run_jobs: i64,
    /// Runs started late.
    pub late_jobs: i64,
    /// Time past the run time, summed (milliseconds).
    pub time_passed_run_time: i64,
    /// Runs missed.
    pub missed_jobs: i64,
    /// Time past the grace period, summed (milliseconds).
    pub time_passed_grace_period: i64,
    /// Runs cancelled.
    pub jobs_cancelled: i64,
    /// Shortest inbox.
    pub min_inbox_length: Option<i64>,
    /// Longest inbox.
    pub max_inbox_length: Option<i64>,
    /// Mean inbox length.
    pub avg_inbox_length: Option<f64>,
    /// Time the inbox was empty (milliseconds).
    pub empty_inbox_time: Option<i64>,
    /// Mean time a message waited in the inbox (milliseconds).
    pub avg_time_in_inbox: Option<f64>,
    /// Shortest wait (milliseconds).
    pub min_time_in_inbox: Option<i64>,
    /// Longest wait (milliseconds).
    pub max_time_in_inbox: Option<i64>,
}

impl SchedulerStats {
    /// Empty statistics for a period.
    pub fn new(stats_period_id: StatsPeriodId, start_time: DateTime<Utc>, end_time: DateTime<Utc>) -> Self {
        Self {
            stats_period_id,
            start_time,
            end_time,
            iterations: 0,
            run_jobs: 0,
            late_jobs: 0,
            time_passed_run_time: 0,
            missed_jobs: 0,
            time_passed_grace_period: 0,
            jobs_cancelled: 0,
            min_inbox_length: None,
            max_inbox_length: None,
            avg_inbox_length: None,
            empty_inbox_time: None,
            avg_time_in_inbox: None,
            min_time_in_inbox: None,
            max_time_in_inbox: None,
        }
    }

    /// Checks the period (end not before start, times storable), counts not negative, min not
    /// above max, averages finite.
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }
}

/// What the orchestrator did for one run (seed 002's `orchestrator_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrchestratorStats {
    /// The run.
    pub run_id: RunId,
    /// The scheduler period it belongs to.
    pub stats_period_id: StatsPeriodId,
    /// How long the orchestrator spent on it (milliseconds).
    pub runtime: i64,
    /// Constraints checked.
    pub constraints_checked: i64,
    /// Actions taken.
    pub actions_taken: i64,
}

impl OrchestratorStats {
    /// Checks that the counts are not negative.
    pub fn validate(&self) -> Result<(), DomainError> {
        todo!()
    }
}
