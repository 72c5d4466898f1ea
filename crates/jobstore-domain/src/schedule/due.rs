//! When a schedule is due, and which of its due times run or are skipped under its catch-up
//! policy. Work is bounded by the caps, never by how long no scheduler ran.

use chrono::{DateTime, Utc};

use crate::{CatchUpPolicy, Schedule, SkipReason};

/// The cap on runs caught up in one go when a constraint names none.
pub const DEFAULT_MAX_CATCH_UP_RUNS: u32 = 100;

/// At most this many skipped due times are recorded as SKIPPED runs per firing (the most
/// recent); older ones are passed over by the schedule's cursor without a row.
pub const MAX_SKIPS_RECORDED: usize = 100;

/// The due times of `schedule` strictly after `after` and at or before `until`, oldest first,
/// at most `limit` of them.
pub fn due_times(
    schedule: &Schedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    todo!("{schedule:?} {after} {until} {limit}")
}

/// What a firing of one schedule does at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firing {
    /// Due times to run, oldest first.
    pub run: Vec<DateTime<Utc>>,
    /// Due times to record as SKIPPED, oldest first, with why.
    pub skip: Vec<(DateTime<Utc>, SkipReason)>,
    /// The latest due time this firing covers (run, skipped or passed over).
    pub last_scheduled_at: Option<DateTime<Utc>>,
    /// The schedule's first due time after this firing.
    pub next_due_at: Option<DateTime<Utc>>,
}

impl Firing {
    /// Whether the firing changes nothing (the schedule is not due).
    pub fn is_empty(&self) -> bool {
        self.last_scheduled_at.is_none()
    }
}

/// Which due times of `schedule` from its `next_due_at` up to `now` run and which are skipped:
/// - catch-up off: only the latest runs; the others are skipped as [`SkipReason::Missed`];
/// - catch-up on: those within the window run, at most `policy.max_runs` (the most recent),
///   the others are skipped as missed.
///
/// Never more than `policy.max_runs` runs (at least one is allowed), never more than
/// [`MAX_SKIPS_RECORDED`] skips; `next_due_at` is the first due time after `now`. A schedule
/// not due yet (or paused) gives an empty firing.
pub fn plan_firing(schedule: &Schedule, policy: &CatchUpPolicy, now: DateTime<Utc>) -> Firing {
    todo!("{schedule:?} {policy:?} {now}")
}

/// What resuming a paused schedule at `now` does: its due times from `next_due_at` up to `now`
/// are skipped as [`SkipReason::Paused`] (the most recent [`MAX_SKIPS_RECORDED`] recorded),
/// and it is next due after `now`.
pub fn plan_resume(schedule: &Schedule, now: DateTime<Utc>) -> Firing {
    todo!("{schedule:?} {now}")
}
