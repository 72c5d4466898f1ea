//! The scheduler's in-memory index of upcoming runs, rebuilt from all schedules: a new index
//! replaces the old one whole, so reloading never accumulates memory (seed 002).

use chrono::{DateTime, Utc};

use crate::{Schedule, ScheduleId, TenantId};

/// One upcoming due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming {
    /// When it is due.
    pub at: DateTime<Utc>,
    /// The schedule's tenant.
    pub tenant_id: TenantId,
    /// The schedule.
    pub schedule_id: ScheduleId,
}

/// The due times of a set of schedules in a window, soonest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpcomingRuns {
    entries: Vec<Upcoming>,
}

impl UpcomingRuns {
    /// Indexes the due times of the unpaused `schedules` from `from` (exclusive) to `until`
    /// (inclusive), at most `per_schedule` each; sized exactly, so a rebuild holds what it needs.
    pub fn build(
        schedules: &[Schedule],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        per_schedule: usize,
    ) -> UpcomingRuns {
        todo!("{schedules:?} {from} {until} {per_schedule}")
    }

    /// The entries due at or before `now`.
    pub fn due(&self, now: DateTime<Utc>) -> &[Upcoming] {
        todo!("{now}")
    }

    /// Every entry, soonest first.
    pub fn entries(&self) -> &[Upcoming] {
        &self.entries
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
