//! Checkpoints (seed 004's `checkpoints`): a study's numbered recovery points, each strictly after
//! the one before.

use chrono::{DateTime, Utc};

use crate::{DomainError, StudyId, TenantId, error::invalid, text};

/// A study's recovery point: the JSON state to resume from, numbered by `sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The study it belongs to.
    pub study_id: StudyId,
    /// Its number within the study, from 1, strictly increasing; with the tenant and study,
    /// its key.
    pub sequence: i64,
    /// The state to resume from, as JSON (at most [`crate::MAX_TEXT_BYTES`] bytes).
    pub state: String,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// What it takes to save a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckpoint {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The study it belongs to.
    pub study_id: StudyId,
    /// Its number, at least 1 and greater than the study's latest checkpoint's.
    pub sequence: i64,
    /// The state to resume from, as JSON.
    pub state: String,
}

impl NewCheckpoint {
    /// Checks every field: `sequence` at least 1, `state` JSON of at most
    /// [`crate::MAX_TEXT_BYTES`] bytes.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.sequence < 1 {
            return Err(invalid(
                "sequence",
                format!("is {}, checkpoints are numbered from 1", self.sequence),
            ));
        }
        text::long("state", &self.state)?;
        serde_json::from_str::<serde::de::IgnoredAny>(&self.state)
            .map(|_| ())
            .map_err(|error| invalid("state", format!("is not JSON: {error}")))
    }

    /// The checkpoint this saves, at `now`. Whether it follows the study's latest one is
    /// [`Checkpoint::follows`].
    pub fn into_checkpoint(self, now: DateTime<Utc>) -> Result<Checkpoint, DomainError> {
        self.validate()?;
        Ok(Checkpoint {
            tenant_id: self.tenant_id,
            study_id: self.study_id,
            sequence: self.sequence,
            state: self.state,
            created_at: now,
        })
    }
}

impl Checkpoint {
    /// Whether this checkpoint may be saved after `previous`, the study's latest (`None` when
    /// it has none): its sequence must be strictly greater. Refused with field `sequence`.
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{NewCheckpoint, StudyId, TenantId};
    ///
    /// let save = |sequence| NewCheckpoint {
    ///     tenant_id: TenantId::new("t1").unwrap(),
    ///     study_id: StudyId::new("s1").unwrap(),
    ///     sequence,
    ///     state: r#"{"done":10}"#.into(),
    /// }
    /// .into_checkpoint(Utc::now());
    /// let first = save(1)?;
    /// assert!(first.follows(None).is_ok());
    /// assert!(save(2)?.follows(Some(&first)).is_ok());
    /// assert!(save(1)?.follows(Some(&first)).is_err());
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn follows(&self, previous: Option<&Checkpoint>) -> Result<(), DomainError> {
        match previous {
            Some(previous) if self.sequence <= previous.sequence => Err(invalid(
                "sequence",
                format!(
                    "is {}, not after the latest checkpoint's {}",
                    self.sequence, previous.sequence
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    fn new(sequence: i64, state: &str) -> NewCheckpoint {
        NewCheckpoint {
            tenant_id: TenantId::new("t1").unwrap(),
            study_id: StudyId::new("s1").unwrap(),
            sequence,
            state: state.into(),
        }
    }

    fn saved(sequence: i64) -> Checkpoint {
        new(sequence, "{}").into_checkpoint(at(sequence)).unwrap()
    }

    fn refused_field(result: Result<Checkpoint, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_checkpoint_keeps_its_state_and_time() {
        let checkpoint = new(3, r#"{"cursor":"abc"}"#)
            .into_checkpoint(at(5))
            .unwrap();
        assert_eq!(
            (
                checkpoint.sequence,
                checkpoint.state.as_str(),
                checkpoint.created_at
            ),
            (3, r#"{"cursor":"abc"}"#, at(5))
        );
    }

    #[test]
    fn sequences_start_at_one() {
        assert_eq!(
            refused_field(new(0, "{}").into_checkpoint(at(0))),
            "sequence"
        );
        assert_eq!(
            refused_field(new(-1, "{}").into_checkpoint(at(0))),
            "sequence"
        );
    }

    #[test]
    fn the_state_is_json_within_the_text_limit() {
        assert_eq!(
            refused_field(new(1, "not json").into_checkpoint(at(0))),
            "state"
        );
        let huge = format!("\"{}\"", "x".repeat(crate::MAX_TEXT_BYTES));
        assert_eq!(refused_field(new(1, &huge).into_checkpoint(at(0))), "state");
    }

    #[test]
    fn checkpoints_are_strictly_increasing() {
        assert!(saved(1).follows(None).is_ok());
        assert!(saved(2).follows(Some(&saved(1))).is_ok());
        assert!(saved(10).follows(Some(&saved(2))).is_ok());
        for (next, previous) in [(2, 2), (1, 2)] {
            assert!(
                matches!(
                    saved(next).follows(Some(&saved(previous))),
                    Err(DomainError::Validation {
                        field: "sequence",
                        ..
                    })
                ),
                "{next} after {previous}"
            );
        }
    }
}
