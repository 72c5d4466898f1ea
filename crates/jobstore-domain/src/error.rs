//! The domain's one error type: what a rule or a validation refuses.

use crate::JobStatus;

/// Why a value or a change was refused by jobstore's rules.
///
/// Nothing has been written when this error is returned: every check runs before any change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// A field's value breaks a rule (too long, empty, malformed JSON, ...).
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field, named as in the models.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Text that names no job status, in any of the accepted spellings.
    #[error("unknown job status {0:?}")]
    UnknownStatus(String),
    /// The state machine has no edge from `from` to `to`.
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition {
        /// The job's status when the change was asked for.
        from: JobStatus,
        /// The status asked for.
        to: JobStatus,
    },
    /// The run state machine has no edge from `from` to `to`.
    #[error("invalid run transition from {from} to {to}")]
    InvalidRunTransition {
        /// The run's status when the change was asked for.
        from: crate::RunStatus,
        /// The status asked for.
        to: crate::RunStatus,
    },
    /// The study state machine has no edge from `from` to `to`.
    #[error("invalid study transition from {from} to {to}")]
    InvalidStudyTransition {
        /// The study's state when the change was asked for.
        from: crate::StudyState,
        /// The state asked for.
        to: crate::StudyState,
    },
    /// A retry was asked for a job that has used all its retries.
    #[error("retries exhausted: {retry_count} of {max_retries} used")]
    RetriesExhausted {
        /// Retries already made.
        retry_count: i32,
        /// Retries allowed.
        max_retries: i32,
    },
    /// The lease presented is not the job's current, live lease; the job was not touched.
    #[error("stale lease: {0}")]
    StaleLease(StaleLease),
}

/// Why a lease was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaleLease {
    /// The lease's deadline has passed (the reaper may not have seen it yet).
    #[error("the lease expired")]
    Expired,
    /// The job is held under another lease, or under none (reaped, released or finished).
    #[error("the job is not held under this lease")]
    NotHeld,
    /// The job was cancelled while the worker held it.
    #[error("the job was cancelled")]
    Cancelled,
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::Validation {
        field,
        reason: reason.into(),
    }
}
