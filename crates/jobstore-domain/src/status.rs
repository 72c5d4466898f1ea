//! The job statuses and the edges of the state machine between them.

use std::{fmt, str::FromStr};

use crate::DomainError;

/// Where a job is in its life. Stored as the upper-case text of [`JobStatus::as_str`].
///
/// ```
/// use jobstore_domain::JobStatus;
///
/// assert!(JobStatus::Pending.can_transition_to(JobStatus::Assigned));
/// assert!(!JobStatus::Completed.can_transition_to(JobStatus::Pending));
/// // The spellings of the systems jobstore replaces parse to the canonical statuses.
/// assert_eq!("SUCCEEDED".parse::<JobStatus>().unwrap(), JobStatus::Completed);
/// assert_eq!("executing".parse::<JobStatus>().unwrap(), JobStatus::Running);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting to be claimed (from its not-before time on).
    Pending,
    /// Given to a worker (claimed); SCHEDULED elsewhere.
    Assigned,
    /// The worker has started it; `executing` in seed 004.
    Running,
    /// Finished successfully; final. SUCCEEDED elsewhere.
    Completed,
    /// Finished with an error; final once its retries are used up.
    Failed,
    /// Cancelled by a user or the system; final. CANCELED elsewhere.
    Cancelled,
    /// Its lease expired without a report; final once its retries are used up.
    Lost,
}

impl JobStatus {
    /// Every status, in the order of the state machine.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Pending,
        JobStatus::Assigned,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Lost,
    ];

    /// The statuses in which a worker holds the job under a lease: ASSIGNED and RUNNING.
    pub const LEASED: [JobStatus; 2] = [JobStatus::Assigned, JobStatus::Running];

    /// The statuses of a job whose work is not over: PENDING, ASSIGNED and RUNNING. A unique
    /// key is unique among the jobs in these statuses.
    pub const UNFINISHED: [JobStatus; 3] =
        [JobStatus::Pending, JobStatus::Assigned, JobStatus::Running];

    /// The statuses that end an attempt: COMPLETED, FAILED, CANCELLED and LOST.
    pub const FINISHED: [JobStatus; 4] = [
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Lost,
    ];

    /// The statuses no job ever leaves: COMPLETED and CANCELLED. (FAILED and LOST are final
    /// only once the job's retries are used up, see [`crate::Job::can_retry`].)
    pub const FINAL: [JobStatus; 2] = [JobStatus::Completed, JobStatus::Cancelled];

    /// The canonical spelling, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Assigned => "ASSIGNED",
            JobStatus::Running => "RUNNING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::Lost => "LOST",
        }
    }

    /// Whether the state machine has an edge from `self` to `to`.
    ///
    /// Retries (FAILED or LOST to PENDING) are further limited by the job's retry count, see
    /// [`crate::Job::apply`]. ASSIGNED to PENDING is a worker's release of a job it has not started.
    pub const fn can_transition_to(self, to: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, to),
            (Pending, Assigned | Cancelled)
                | (Assigned, Running | Failed | Lost | Cancelled | Pending)
                | (Running, Completed | Failed | Lost | Cancelled)
                | (Failed | Lost, Pending)
        )
    }

    /// Whether a worker holds the job under a lease in this status.
    pub const fn is_leased(self) -> bool {
        matches!(self, JobStatus::Assigned | JobStatus::Running)
    }

    /// Whether the job's work is not over (one of [`JobStatus::UNFINISHED`]).
    pub const fn is_unfinished(self) -> bool {
        !self.is_finished()
    }

    /// Whether no change can ever leave this status (one of [`JobStatus::FINAL`]).
    pub const fn is_final(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Cancelled)
    }

    /// Whether the job has finished its current attempt: COMPLETED, FAILED, CANCELLED or LOST.
    ///
    /// COMPLETED and CANCELLED are final; FAILED and LOST may still be retried.
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Lost
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = DomainError;

    /// Parses the canonical spellings and those of the systems jobstore replaces (SCHEDULED,
    /// EXECUTING, SUCCEEDED, CANCELED), in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SPELLINGS: [(&str, JobStatus); 11] = [
            ("PENDING", JobStatus::Pending),
            ("ASSIGNED", JobStatus::Assigned),
            ("SCHEDULED", JobStatus::Assigned),
            ("RUNNING", JobStatus::Running),
            ("EXECUTING", JobStatus::Running),
            ("COMPLETED", JobStatus::Completed),
            ("SUCCEEDED", JobStatus::Completed),
            ("FAILED", JobStatus::Failed),
            ("CANCELLED", JobStatus::Cancelled),
            ("CANCELED", JobStatus::Cancelled),
            ("LOST", JobStatus::Lost),
        ];
        SPELLINGS
            .iter()
            .find(|(text, _)| text.eq_ignore_ascii_case(s))
            .map(|(_, status)| *status)
            .ok_or_else(|| DomainError::UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus::{self, *};

    /// The edges of the state machine (docs/state-machine.md), a worker's release (ASSIGNED -> PENDING) among them.
    const EDGES: [(JobStatus, JobStatus); 13] = [
        (Pending, Assigned),
        (Pending, Cancelled),
        (Assigned, Running),
        (Assigned, Failed),
        (Assigned, Lost),
        (Assigned, Cancelled),
        (Assigned, Pending),
        (Running, Completed),
        (Running, Failed),
        (Running, Lost),
        (Running, Cancelled),
        (Failed, Pending),
        (Lost, Pending),
    ];

    #[test]
    fn every_ordered_pair_follows_the_diagram() {
        for from in JobStatus::ALL {
            for to in JobStatus::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    EDGES.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn status_sets_agree_with_the_predicates() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::LEASED.contains(&status), status.is_leased());
            assert_eq!(
                JobStatus::UNFINISHED.contains(&status),
                status.is_unfinished()
            );
            assert_eq!(JobStatus::FINISHED.contains(&status), status.is_finished());
            assert_eq!(JobStatus::FINAL.contains(&status), status.is_final());
            let leaves = JobStatus::ALL
                .iter()
                .any(|to| status.can_transition_to(*to));
            assert_eq!(status.is_final(), !leaves, "{status}");
        }
    }

    #[test]
    fn completed_and_cancelled_have_no_way_out() {
        for to in JobStatus::ALL {
            assert!(!Completed.can_transition_to(to));
            assert!(!Cancelled.can_transition_to(to));
        }
    }

    #[test]
    fn canonical_spellings_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
    }

    #[test]
    fn seed_spellings_parse_to_canonical_statuses() {
        assert_eq!("SCHEDULED".parse(), Ok(Assigned));
        assert_eq!("succeeded".parse(), Ok(Completed));
        assert_eq!("Canceled".parse(), Ok(Cancelled));
        assert_eq!("executing".parse(), Ok(Running));
        assert_eq!("EXECUTING".parse(), Ok(Running));
        assert!("DONE".parse::<JobStatus>().is_err());
        assert!("".parse::<JobStatus>().is_err());
    }
}
