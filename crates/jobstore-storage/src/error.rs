//! The storage error type, and the one place where diesel's errors are mapped to it.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use jobstore_domain::{DomainError, JobStatus, StaleLease};

use crate::Backend;

/// The kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A tenant.
    Tenant,
    /// A job.
    Job,
    /// An audit record of a job.
    Transition,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Tenant => "tenant",
            Entity::Job => "job",
            Entity::Transition => "transition",
        })
    }
}

/// Why a storage operation failed. When an operation fails, it has written nothing.
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
    /// A record with this id, or this unique value (such as an OAuth identity), already exists.
    #[error("{entity} {id} already exists")]
    AlreadyExists {
        /// What was being created.
        entity: Entity,
        /// Its id, or what collided.
        id: String,
    },
    /// A reference to a record that does not exist, such as a job for an unknown tenant.
    #[error("foreign key violation: {0}")]
    ForeignKey(String),
    /// The state machine has no edge from `from` to `to`; the job is unchanged.
    #[error("invalid transition from {from} to {to}")]
    InvalidTransition {
        /// The job's status.
        from: JobStatus,
        /// The status asked for.
        to: JobStatus,
    },
    /// A retry was asked for a job whose retries are used up.
    #[error("retries exhausted: {retry_count} of {max_retries} used")]
    RetriesExhausted {
        /// Retries made.
        retry_count: i32,
        /// Retries allowed.
        max_retries: i32,
    },
    /// A value breaks a rule; nothing was written.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Someone else changed the record first; read it again and decide anew.
    #[error("conflict: {entity} {id} was changed concurrently")]
    Conflict {
        /// What changed.
        entity: Entity,
        /// Its id.
        id: String,
    },
    /// The lease presented is not the job's current, live lease; the job was not touched.
    #[error("stale lease on job {job}: {reason}")]
    StaleLease {
        /// The job (`tenant/job`).
        job: String,
        /// Why the lease was refused.
        reason: StaleLease,
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
    #[error("cannot connect to {backend}: {reason}")]
    Connect {
        /// The backend.
        backend: Backend,
        /// The driver's message.
        reason: String,
    },
    /// No pooled connection could be had in time (the server may be down).
    #[error("connection pool: {0}")]
    Pool(String),
    /// A stored value jobstore cannot read (for example a status written by hand).
    #[error("corrupt {entity} row {id}: {reason}")]
    CorruptRow {
        /// The table's entity.
        entity: Entity,
        /// The row's id.
        id: String,
        /// What could not be read.
        reason: String,
    },
    /// Any other database error, with diesel's error kept as the source.
    #[error("database error: {0}")]
    Database(#[source] DieselError),
}

impl StorageError {
    /// Whether retrying the same call later may succeed: conflicts, pool timeouts, lost
    /// connections and serialization failures.
    pub fn is_transient(&self) -> bool {
        if self.is_connection_lost() {
            return true;
        }
        match self {
            StorageError::Conflict { .. }
            | StorageError::Pool(_)
            | StorageError::Connect { .. } => true,
            StorageError::Database(DieselError::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::ClosedConnection
            ),
            StorageError::Database(DieselError::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

impl StorageError {
    /// Whether the connection the call ran on is gone (the server closed it or went away).
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            StorageError::Database(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                _,
            ))
            | StorageError::Database(DieselError::BrokenTransactionManager) => true,
            StorageError::Database(DieselError::DatabaseError(_, info)) => {
                let message = info.message();
                [
                    "server closed the connection",
                    "no connection to the server",
                    "terminating connection",
                    "gone away",
                    "Lost connection",
                    "Can't connect",
                    "connection reset",
                ]
                .iter()
                .any(|sign| message.contains(sign))
            }
            _ => false,
        }
    }
}

impl From<DieselError> for StorageError {
    /// The one mapping of diesel's errors. Callers that know which record was involved refine
    /// `NotFound` and `AlreadyExists` (see `refine`).
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => StorageError::NotFound {
                entity: Entity::Job,
                id: String::new(),
            },
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::AlreadyExists {
                    entity: Entity::Job,
                    id: info.message().to_owned(),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                StorageError::ForeignKey(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                StorageError::Validation {
                    field: info.constraint_name().unwrap_or("row").to_owned(),
                    reason: info.message().to_owned(),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_sqlite_busy(info.message()) =>
            {
                StorageError::Conflict {
                    entity: Entity::Job,
                    id: info.message().to_owned(),
                }
            }
            other => StorageError::Database(other),
        }
    }
}

fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

impl From<r2d2::Error> for StorageError {
    fn from(error: r2d2::Error) -> Self {
        StorageError::Pool(error.to_string())
    }
}

impl From<DomainError> for StorageError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation { field, reason } => StorageError::Validation {
                field: field.to_owned(),
                reason,
            },
            DomainError::UnknownStatus(text) => StorageError::Validation {
                field: "status".to_owned(),
                reason: format!("unknown job status {text:?}"),
            },
            DomainError::InvalidTransition { from, to } => {
                StorageError::InvalidTransition { from, to }
            }
            DomainError::RetriesExhausted {
                retry_count,
                max_retries,
            } => StorageError::RetriesExhausted {
                retry_count,
                max_retries,
            },
            DomainError::StaleLease(reason) => StorageError::StaleLease {
                job: String::new(),
                reason,
            },
            other => StorageError::Validation {
                field: "value".to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

impl StorageError {
    /// Names the record a generic error is about (diesel cannot know it).
    pub(crate) fn about(self, entity: Entity, id: impl std::fmt::Display) -> Self {
        match self {
            StorageError::NotFound { .. } => StorageError::NotFound {
                entity,
                id: id.to_string(),
            },
            StorageError::AlreadyExists { .. } => StorageError::AlreadyExists {
                entity,
                id: id.to_string(),
            },
            StorageError::Conflict { .. } => StorageError::Conflict {
                entity,
                id: id.to_string(),
            },
            StorageError::StaleLease { reason, .. } => StorageError::StaleLease {
                job: id.to_string(),
                reason,
            },
            other => other,
        }
    }
}
