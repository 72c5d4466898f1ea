//! The study states and the edges of the study state machine between them.

use std::{fmt, str::FromStr};

use crate::{DomainError, error::invalid};

/// Where a study is in its life. Stored as the upper-case text of [`StudyState::as_str`]; the
/// seed's lower-case spellings parse.
///
/// ```text
/// DRAFT   --jobs created------> QUEUED                     | CANCELLED
/// QUEUED  --first job started-> RUNNING | PAUSED            | CANCELLED
/// RUNNING --last job finished-> COMPLETED | FAILED | PAUSED | CANCELLED
/// PAUSED  --resumed-----------> RUNNING | QUEUED            | CANCELLED
/// ```
///
/// ```
/// use jobstore_domain::StudyState;
///
/// assert!(StudyState::Draft.can_transition_to(StudyState::Queued));
/// assert!(StudyState::Running.can_transition_to(StudyState::Paused));
/// assert!(StudyState::Paused.can_transition_to(StudyState::Running));
/// assert!(!StudyState::Draft.can_transition_to(StudyState::Running));
/// assert!(!StudyState::Completed.can_transition_to(StudyState::Running));
/// assert_eq!("canceled".parse::<StudyState>().unwrap(), StudyState::Cancelled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StudyState {
    /// Being prepared: no jobs yet.
    Draft,
    /// Its jobs are created and wait for workers.
    Queued,
    /// At least one of its jobs has started.
    Running,
    /// Paused by a caller: its pending jobs are not claimed until it is resumed.
    Paused,
    /// Every job finished and at least one completed; final.
    Completed,
    /// Every job finished and none completed; final.
    Failed,
    /// Cancelled by a caller, with its unfinished jobs; final.
    Cancelled,
}

impl StudyState {
    /// Every state, in the order of the state machine.
    pub const ALL: [StudyState; 7] = [
        StudyState::Draft,
        StudyState::Queued,
        StudyState::Running,
        StudyState::Paused,
        StudyState::Completed,
        StudyState::Failed,
        StudyState::Cancelled,
    ];

    /// The states no change ever leaves: COMPLETED, FAILED and CANCELLED.
    pub const FINAL: [StudyState; 3] = [
        StudyState::Completed,
        StudyState::Failed,
        StudyState::Cancelled,
    ];

    /// The canonical spelling, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            StudyState::Draft => "DRAFT",
            StudyState::Queued => "QUEUED",
            StudyState::Running => "RUNNING",
            StudyState::Paused => "PAUSED",
            StudyState::Completed => "COMPLETED",
            StudyState::Failed => "FAILED",
            StudyState::Cancelled => "CANCELLED",
        }
    }

    /// Whether the state machine has an edge from `self` to `to`.
    ///
    /// PAUSED goes back to RUNNING when its jobs had started, or to QUEUED when none had.
    pub const fn can_transition_to(self, to: StudyState) -> bool {
        use StudyState::*;
        matches!(
            (self, to),
            (Draft, Queued | Cancelled)
                | (Queued, Running | Paused | Cancelled)
                | (Running, Paused | Completed | Failed | Cancelled)
                | (Paused, Running | Queued | Cancelled)
        )
    }

    /// Whether no change can ever leave this state (one of [`StudyState::FINAL`]).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            StudyState::Completed | StudyState::Failed | StudyState::Cancelled
        )
    }
}

impl fmt::Display for StudyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StudyState {
    type Err = DomainError;

    /// The canonical spellings and the seed's lower-case ones (`draft`, `queued`, `running`,
    /// `paused`, `completed`, `failed`, `cancelled`), in any case; also `canceled`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("CANCELED") {
            return Ok(StudyState::Cancelled);
        }
        StudyState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| invalid("state", format!("{s:?} is not a study state")))
    }
}

#[cfg(test)]
mod tests {
    use super::StudyState::{self, *};
    use crate::DomainError;

    /// The edges of the study state machine, as issue 9 draws it.
    const EDGES: [(StudyState, StudyState); 12] = [
        (Draft, Queued),
        (Draft, Cancelled),
        (Queued, Running),
        (Queued, Paused),
        (Queued, Cancelled),
        (Running, Paused),
        (Running, Completed),
        (Running, Failed),
        (Running, Cancelled),
        (Paused, Running),
        (Paused, Queued),
        (Paused, Cancelled),
    ];

    #[test]
    fn every_ordered_pair_of_states_follows_the_edge_table() {
        for from in StudyState::ALL {
            for to in StudyState::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    EDGES.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn final_states_are_exactly_those_with_no_way_out() {
        for state in StudyState::ALL {
            let leaves = StudyState::ALL
                .iter()
                .any(|to| state.can_transition_to(*to));
            assert_eq!(state.is_final(), !leaves, "{state}");
            assert_eq!(StudyState::FINAL.contains(&state), state.is_final());
        }
    }

    #[test]
    fn canonical_and_seed_spellings_parse() {
        for state in StudyState::ALL {
            assert_eq!(state.as_str().parse::<StudyState>(), Ok(state));
            assert_eq!(
                state.as_str().to_lowercase().parse::<StudyState>(),
                Ok(state)
            );
            assert_eq!(state.to_string(), state.as_str());
        }
        assert_eq!("canceled".parse::<StudyState>(), Ok(Cancelled));
        assert_eq!("Paused".parse::<StudyState>(), Ok(Paused));
    }

    #[test]
    fn unknown_states_are_refused_naming_the_field() {
        for text in ["", "executing", "done", "DRAFT "] {
            assert!(
                matches!(
                    text.parse::<StudyState>(),
                    Err(DomainError::Validation { field: "state", .. })
                ),
                "{text:?}"
            );
        }
    }
}
