//! Validated identifiers: short, printable, and safe to show anywhere.

use std::{fmt, str::FromStr};

use crate::{DomainError, error::invalid};

/// The longest id the schema stores (a UUID's 36 characters, as in the schemas of the systems jobstore replaces).
pub const MAX_ID_LEN: usize = 36;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// An id is 1 to 36 ASCII letters, digits, `-`, `_`, `.` or `:`; [`Self::generate`] makes a UUID.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks a caller-chosen id.
            pub fn new(value: impl Into<String>) -> Result<Self, DomainError> {
                let value = value.into();
                validate_id($field, &value)?;
                Ok(Self(value))
            }

            /// A fresh random id (a UUID v4).
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Identifies a tenant.
    TenantId,
    "tenant_id"
);
id_type!(
    /// Identifies a job within its tenant.
    JobId,
    "job_id"
);
id_type!(
    /// Identifies one row of a job's audit trail.
    TransitionId,
    "transition_id"
);
id_type!(
    /// Identifies one grant of a job to a worker; a new claim gets a new lease id.
    LeaseId,
    "lease_id"
);

id_type!(
    /// Identifies a schedule (a cron definition) within its tenant.
    ScheduleId,
    "schedule_id"
);
id_type!(
    /// Identifies one run of a schedule; unique across tenants, as in seed 002.
    RunId,
    "run_id"
);
id_type!(
    /// Identifies a constraint within its tenant.
    ConstraintId,
    "constraint_id"
);
id_type!(
    /// Identifies an action within its tenant.
    ActionId,
    "action_id"
);
id_type!(
    /// Identifies a recorded constraint violation.
    ViolationId,
    "violation_id"
);
id_type!(
    /// Identifies one period of a scheduler's statistics.
    StatsPeriodId,
    "stats_period_id"
);

id_type!(
    /// Identifies a study within its tenant.
    StudyId,
    "study_id"
);
id_type!(
    /// Identifies a user within its tenant.
    UserId,
    "user_id"
);
id_type!(
    /// Identifies a study's result (a job's output).
    ResultId,
    "result_id"
);
id_type!(
    /// Identifies a result's evidence artifact.
    EvidenceId,
    "evidence_id"
);
id_type!(
    /// Identifies a cost record.
    CostRecordId,
    "cost_record_id"
);
id_type!(
    /// Identifies an audit-log entry.
    AuditId,
    "audit_id"
);

fn validate_id(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(invalid(
            field,
            format!(
                "is {} characters, at most {MAX_ID_LEN} allowed",
                value.len()
            ),
        ));
    }
    check_name_chars(field, value)
}

/// Checks that a name (an id or a queue) holds only ASCII letters, digits, `-`, `_`, `.` or `:`.
pub(crate) fn check_name_chars(field: &'static str, value: &str) -> Result<(), DomainError> {
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        Some(bad) => Err(invalid(field, format!("contains {bad:?}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_seed_style_ids() {
        assert!(TenantId::new("tenant-123").is_ok());
        assert!(JobId::new("2f1d0c1e-7a4b-4c55-9d0e-0a1b2c3d4e5f").is_ok());
        assert_eq!(JobId::generate().as_str().len(), 36);
    }

    #[test]
    fn rejects_empty_long_and_unsafe_ids() {
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("x".repeat(37)).is_err());
        assert!(JobId::new("a'; DROP TABLE jobs; --").is_err());
        assert!(JobId::new("a b").is_err());
        assert!(JobId::new("é").is_err());
    }
}
