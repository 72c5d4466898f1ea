//! The storage error type, its portable classification, and the one place where diesel's
//! errors are mapped to it.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use jobstore_domain::{DomainError, JobId, StaleLease, TenantId};

use crate::{Backend, dialect};

/// The kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entity {
    /// A tenant.
    Tenant,
    /// A job.
    Job,
    /// An audit record of a job.
    Transition,
    /// A schedule (a cron definition).
    Schedule,
    /// A schedule's constraint.
    Constraint,
    /// An action.
    Action,
    /// An action's link to a schedule.
    ScheduleAction,
    /// A run of a schedule.
    Run,
    /// A recorded constraint violation.
    Violation,
    /// A period of scheduler statistics, or a run's orchestrator statistics.
    Stats,
    /// A tenant's user.
    User,
    /// A study.
    Study,
    /// A study's result.
    Result,
    /// A result's evidence.
    Evidence,
    /// A study's checkpoint.
    Checkpoint,
    /// An audit-log entry.
    Audit,
    /// A cost record.
    Cost,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Tenant => "tenant",
            Entity::Job => "job",
            Entity::Transition => "transition",
            Entity::Schedule => "schedule",
            Entity::Constraint => "constraint",
            Entity::Action => "action",
            Entity::ScheduleAction => "schedule action",
            Entity::Run => "run",
            Entity::Violation => "violation",
            Entity::Stats => "stats",
            Entity::User => "user",
            Entity::Study => "study",
            Entity::Result => "result",
            Entity::Evidence => "evidence",
            Entity::Checkpoint => "checkpoint",
            Entity::Audit => "audit entry",
            Entity::Cost => "cost record",
        })
    }
}

/// Why a storage operation failed. When an operation fails, it has written nothing.
///
/// Match on [`StorageError::kind`] to handle errors the same way on every backend, and use
/// [`StorageError::is_transient`] to decide whether to retry.
///
/// ```
/// use jobstore_storage::{ErrorKind, StorageError};
///
/// /// What an API server answers for a failed call.
/// fn status_code(error: &StorageError) -> u16 {
///     match error.kind() {
///         ErrorKind::NotFound => 404,
///         ErrorKind::AlreadyExists | ErrorKind::Conflict | ErrorKind::StaleLease => 409,
///         ErrorKind::InvalidInput | ErrorKind::ForeignKey => 422,
///         _ if error.is_transient() => 503,
///         _ => 500,
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No such record, or it belongs to another tenant, or it was soft-deleted.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: Entity,
        /// Its id (`tenant/job` for jobs).
        id: String,
    },
    /// A record with this id, or this unique value (an OAuth identity, a job's unique key),
    /// already exists.
    #[error("{entity}{} already exists", id.as_deref().map(|id| format!(" {id}")).unwrap_or_default())]
    AlreadyExists {
        /// What was being written.
        entity: Entity,
        /// What collided: the record's id, or the unique value; `None` when a batch does not
        /// say which of its rows.
        id: Option<String>,
        /// The database's refusal, when the database found it.
        #[source]
        source: Option<DieselError>,
    },
    /// A reference to a record that does not exist.
    #[error("foreign key violation")]
    ForeignKey {
        /// The database's refusal.
        #[source]
        source: DieselError,
    },
    /// A rule of jobstore's domain refused the call (invalid input, an invalid transition,
    /// retries used up, ...), as [`jobstore_domain`] said it; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Someone else changed the record first; read it again and decide anew.
    #[error("conflict: {entity}{} was changed concurrently", id.as_deref().map(|id| format!(" {id}")).unwrap_or_default())]
    Conflict {
        /// What changed.
        entity: Entity,
        /// Which record, when one record was written (a batch does not say which of its rows).
        id: Option<String>,
    },
    /// The lease presented is not the job's current, live lease; the job was not touched.
    #[error("stale lease on job {tenant}/{job}: {reason}")]
    StaleLease {
        /// The job's tenant.
        tenant: TenantId,
        /// The job.
        job: JobId,
        /// Why the lease was refused.
        reason: StaleLease,
    },
    /// The database is busy (locked by another writer, a lock wait timed out, a deadlock):
    /// the same call may succeed later.
    #[error("the database is busy")]
    Busy {
        /// The database's error.
        #[source]
        source: DieselError,
    },
    /// The connection to the database was lost in the middle of the call.
    #[error("the connection to the database was lost")]
    ConnectionLost {
        /// The driver's error.
        #[source]
        source: DieselError,
    },
    /// A database URL names a scheme jobstore does not know.
    #[error(
        "unsupported database URL scheme {scheme:?} (use postgres://, mysql://, sqlite:// or a file path)"
    )]
    UnsupportedUrl {
        /// The scheme found.
        scheme: String,
    },
    /// The URL names a backend this build leaves out.
    #[error("the {backend} backend is not built in: enable jobstore-storage's `{}` feature", backend.feature())]
    BackendDisabled {
        /// The backend asked for.
        backend: Backend,
    },
    /// The configuration (environment or `.env`) is incomplete or malformed.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to {backend}")]
    Connect {
        /// The backend.
        backend: Backend,
        /// The driver's error.
        #[source]
        source: diesel::ConnectionError,
    },
    /// A new connection's session could not be set up.
    #[error("cannot set up a {backend} session")]
    Session {
        /// The backend.
        backend: Backend,
        /// The database's error.
        #[source]
        source: DieselError,
    },
    /// No pooled connection could be had in time (the server may be down).
    #[error("no database connection could be had in time")]
    Pool {
        /// The pool's error (which carries the last connection error).
        #[source]
        source: r2d2::Error,
    },
    /// A stored value jobstore cannot read (for example a status written by hand).
    #[error("corrupt {entity} row {id}")]
    CorruptRow {
        /// The table's entity.
        entity: Entity,
        /// The row's id.
        id: String,
        /// What could not be read.
        #[source]
        source: DomainError,
    },
    /// Any other database error, with diesel's error kept as the source.
    #[error("database error")]
    Database(#[source] DieselError),
}

/// What an error means, the same on every backend: match on this rather than on the variants
/// when the cause does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The record does not exist (or is another tenant's, or soft-deleted).
    NotFound,
    /// The record, or a unique value, exists already.
    AlreadyExists,
    /// A reference to a record that does not exist.
    ForeignKey,
    /// Someone else changed the record first.
    Conflict,
    /// A worker's lease is not the job's current, live lease.
    StaleLease,
    /// The input breaks a rule: a bad value, an invalid transition, retries used up, a bad
    /// URL or configuration.
    InvalidInput,
    /// The database is busy with other work for now.
    Busy,
    /// The database cannot be reached, or the connection was lost.
    Unavailable,
    /// A stored row cannot be read back.
    Corrupt,
    /// Anything else.
    Other,
}

impl StorageError {
    /// What the error means, portably.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::NotFound { .. } | StorageError::Database(DieselError::NotFound) => {
                ErrorKind::NotFound
            }
            StorageError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            StorageError::ForeignKey { .. } => ErrorKind::ForeignKey,
            StorageError::Conflict { .. } => ErrorKind::Conflict,
            StorageError::StaleLease { .. } | StorageError::Domain(DomainError::StaleLease(_)) => {
                ErrorKind::StaleLease
            }
            StorageError::Domain(_)
            | StorageError::UnsupportedUrl { .. }
            | StorageError::BackendDisabled { .. }
            | StorageError::Config { .. } => ErrorKind::InvalidInput,
            StorageError::Busy { .. } => ErrorKind::Busy,
            StorageError::ConnectionLost { .. }
            | StorageError::Connect { .. }
            | StorageError::Session { .. }
            | StorageError::Pool { .. } => ErrorKind::Unavailable,
            StorageError::CorruptRow { .. }
            | StorageError::Database(DieselError::DeserializationError(_)) => ErrorKind::Corrupt,
            StorageError::Database(DieselError::DatabaseError(kind, _)) => match kind {
                DatabaseErrorKind::UniqueViolation => ErrorKind::AlreadyExists,
                DatabaseErrorKind::ForeignKeyViolation => ErrorKind::ForeignKey,
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    ErrorKind::InvalidInput
                }
                _ => ErrorKind::Other,
            },
            StorageError::Database(_) => ErrorKind::Other,
        }
    }

    /// Whether retrying the same call later may succeed: conflicts, a busy database, and a
    /// database that is unavailable for now.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Conflict | ErrorKind::Busy | ErrorKind::Unavailable
        )
    }

    /// A stale lease on `tenant`'s `job`, or `error` itself when it is another refusal.
    pub(crate) fn on_lease(error: DomainError, tenant: &TenantId, job: &JobId) -> StorageError {
        match error {
            DomainError::StaleLease(reason) => StorageError::StaleLease {
                tenant: tenant.clone(),
                job: job.clone(),
                reason,
            },
            other => StorageError::Domain(other),
        }
    }

    /// Names what a unique index refused: `entity`, and `id` when the caller knows which
    /// record collided.
    pub(crate) fn already_exists(self, entity: Entity, id: Option<String>) -> Self {
        match self {
            StorageError::Database(
                source @ DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _),
            ) => StorageError::AlreadyExists {
                entity,
                id,
                source: Some(source),
            },
            other => other,
        }
    }
}

impl From<DieselError> for StorageError {
    /// The one mapping of diesel's errors. It adds no context it does not know: a unique
    /// violation stays a [`StorageError::Database`] (of kind [`ErrorKind::AlreadyExists`])
    /// until the caller names the record (see `already_exists`).
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                StorageError::ForeignKey { source: error }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => {
                StorageError::ConnectionLost { source: error }
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                StorageError::Busy { source: error }
            }
            DieselError::DatabaseError(_, ref info) if dialect::is_busy(info.message()) => {
                StorageError::Busy { source: error }
            }
            other => StorageError::Database(other),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(source: r2d2::Error) -> Self {
        StorageError::Pool { source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_is_carried_through() {
        let refusal = DomainError::InvalidTransition {
            from: jobstore_domain::JobStatus::Completed,
            to: jobstore_domain::JobStatus::Pending,
        };
        let error = StorageError::from(refusal.clone());
        assert!(matches!(&error, StorageError::Domain(e) if *e == refusal));
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(!error.is_transient());
    }

    #[test]
    fn unique_violations_are_named_only_by_callers() {
        let unique = || {
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                Box::new("duplicate key".to_owned()),
            )
        };
        let bare = StorageError::from(unique());
        assert!(matches!(bare, StorageError::Database(_)));
        assert_eq!(bare.kind(), ErrorKind::AlreadyExists);
        let named = StorageError::from(unique()).already_exists(Entity::Tenant, Some("t1".into()));
        assert!(
            matches!(named, StorageError::AlreadyExists { entity: Entity::Tenant, id: Some(ref id), source: Some(_) } if id == "t1")
        );
    }

    #[test]
    fn a_locked_database_is_busy_and_transient() {
        let locked = StorageError::from(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database is locked".to_owned()),
        ));
        assert_eq!(locked.kind(), ErrorKind::Busy);
        assert!(locked.is_transient());
        assert!(std::error::Error::source(&locked).is_some());
    }
}
