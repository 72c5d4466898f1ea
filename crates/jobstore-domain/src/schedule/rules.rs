//! The rules a constraint applies to runs: whether a run may start, whether a running one is
//! overdue, and how long finished runs must be kept to de-duplicate due times.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Constraint, Run, SkipReason, ViolationDetails, ViolationKind};

/// Why a constraint refuses to start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRefusal {
    /// The rule broken.
    pub kind: ViolationKind,
    /// What the violation records.
    pub details: ViolationDetails,
    /// What the refused run is SKIPPED as.
    pub skip_reason: SkipReason,
}

impl Constraint {
    /// Whether a run may start while `running` runs of its schedule are RUNNING, given the
    /// latest finished run of the schedule it depends on (`previous`, when the constraint
    /// requires previous success). `None`: it may start.
    ///
    /// ```
    /// use chrono::Utc;
    /// use jobstore_domain::{NewConstraint, TenantId, ViolationKind};
    ///
    /// let constraint = NewConstraint {
    ///     max_concurrent_runs: Some(1),
    ///     ..NewConstraint::new(TenantId::new("t")?)
    /// }
    /// .into_constraint(Utc::now())?;
    /// assert!(constraint.start_refusal(0, None).is_none());
    /// let refusal = constraint.start_refusal(1, None).unwrap();
    /// assert_eq!(refusal.kind, ViolationKind::MaxConcurrentRuns);
    /// # Ok::<(), jobstore_domain::DomainError>(())
    /// ```
    pub fn start_refusal(&self, running: u64, previous: Option<&Run>) -> Option<StartRefusal> {
        let max = self.max_concurrent_runs.unwrap_or(u32::MAX);
        if running >= u64::from(max) {
            return Some(StartRefusal {
                kind: ViolationKind::MaxConcurrentRuns,
                details: ViolationDetails {
                    current_value: Some(format!("{running} running")),
                    threshold: Some(max.to_string()),
                    ..ViolationDetails::message(format!(
                        "{running} running already, at most {max} allowed"
                    ))
                },
                skip_reason: SkipReason::Overlap,
            });
        }
        let failed = previous.filter(|p| p.success != Some(true));
        if let (Some(dependency), Some(previous)) = (&self.require_previous_success, failed) {
            return Some(StartRefusal {
                kind: ViolationKind::RequirePreviousSuccess,
                details: ViolationDetails {
                    current_value: Some(previous.status.as_str().to_owned()),
                    threshold: Some("COMPLETED".to_owned()),
                    ..ViolationDetails::message(format!(
                        "the latest run of schedule {} ({}) did not succeed",
                        dependency.schedule_id, previous.run_id
                    ))
                },
                skip_reason: SkipReason::Constraint,
            });
        }
        None
    }

    /// What the overdue sweep does to `run` at `now`: time it out past the max allowed run
    /// time; record, once, that it passed the max expected run time; or nothing.
    pub fn overdue(&self, run: &Run, now: DateTime<Utc>) -> Option<Overdue> {
        let running_for = run.running_for(now)?;
        let past = |limit: Option<crate::TimeSpan>| limit.filter(|l| running_for > l.as_delta());
        if let Some(allowed) = past(self.max_allowed_run_time) {
            return Some(Overdue {
                kind: ViolationKind::MaxAllowedRunTime,
                details: overdue_details("maxAllowedRunTime", allowed, running_for),
            });
        }
        let unrecorded = run.overdue_at.is_none();
        if let Some(expected) = past(self.max_expected_run_time).filter(|_| unrecorded) {
            return Some(Overdue {
                kind: ViolationKind::MaxExpectedRunTime,
                details: overdue_details("maxExpectedRunTime", expected, running_for),
            });
        }
        None
    }
}

/// A run past one of its time limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// Which limit: [`ViolationKind::MaxAllowedRunTime`] times the run out,
    /// [`ViolationKind::MaxExpectedRunTime`] only records it.
    pub kind: ViolationKind,
    /// What the violation records (the seed's message, current value and threshold).
    pub details: ViolationDetails,
}

fn overdue_details(rule: &str, limit: crate::TimeSpan, running_for: TimeDelta) -> ViolationDetails {
    let current = crate::TimeSpan::from_seconds("running_for", running_for.num_seconds().max(1))
        .map(|s| s.to_string())
        .unwrap_or_else(|_| format!("{}s", running_for.num_seconds()));
    ViolationDetails {
        current_value: Some(current),
        threshold: Some(limit.to_string()),
        ..ViolationDetails::message(format!("Job exceeded {rule} of {limit}"))
    }
}

/// How long after its due time a finished run must be kept: a scheduler that fires late may
/// still plan that due time within the catch-up window, and a run may still be going until its
/// max allowed run time; while a run's row exists, its key keeps the due time from firing again.
pub fn dedup_horizon(constraint: Option<&Constraint>) -> TimeDelta {
    let Some(constraint) = constraint else {
        return TimeDelta::zero();
    };
    let window = match constraint.catch_up {
        Some(true) => constraint
            .catch_up_window
            .map_or(TimeDelta::zero(), |w| w.as_delta()),
        _ => TimeDelta::zero(),
    };
    window
        + constraint
            .max_allowed_run_time
            .map_or(TimeDelta::zero(), |a| a.as_delta())
}
