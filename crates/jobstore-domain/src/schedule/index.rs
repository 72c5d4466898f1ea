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
        let per_schedule: Vec<_> = schedules
            .iter()
            .filter(|s| !s.paused)
            .map(|s| (s, crate::due_times(s, from, until, per_schedule)))
            .collect();
        let mut entries =
            Vec::with_capacity(per_schedule.iter().map(|(_, times)| times.len()).sum());
        for (schedule, times) in per_schedule {
            entries.extend(times.into_iter().map(|at| Upcoming {
                at,
                tenant_id: schedule.tenant_id.clone(),
                schedule_id: schedule.id.clone(),
            }));
        }
        entries.sort_by(|a, b| {
            (a.at, &a.tenant_id, &a.schedule_id).cmp(&(b.at, &b.tenant_id, &b.schedule_id))
        });
        // Exactly what it holds, so that swapping in a rebuild never keeps slack around.
        entries.shrink_to_fit();
        UpcomingRuns { entries }
    }

    /// The entries due at or before `now`.
    pub fn due(&self, now: DateTime<Utc>) -> &[Upcoming] {
        let end = self.entries.partition_point(|e| e.at <= now);
        self.entries.get(..end).unwrap_or_default()
    }

    /// The capacity of the index's storage (equal to its length: a rebuild holds no slack).
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::NewSchedule;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, 1, h, m, 0).unwrap()
    }

    fn schedule(tenant: &str, id: &str, cron: &str, paused: bool) -> Schedule {
        NewSchedule {
            id: Some(ScheduleId::new(id).unwrap()),
            paused,
            ..NewSchedule::new(TenantId::new(tenant).unwrap(), id, cron)
        }
        .into_schedule(at(0, 0))
        .unwrap()
    }

    #[test]
    fn the_index_holds_unpaused_due_times_sorted_and_sized_exactly() {
        let schedules = [
            schedule("t2", "b", "0 * * * *", false),
            schedule("t1", "a", "*/30 * * * *", false),
            schedule("t1", "z", "* * * * *", true),
            schedule("t1", "c", "0 * * * *", false),
        ];
        let index = UpcomingRuns::build(&schedules, at(0, 0), at(2, 0), 3);
        let got: Vec<_> = index
            .entries()
            .iter()
            .map(|e| (e.at, e.tenant_id.as_str(), e.schedule_id.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (at(0, 30), "t1", "a"),
                (at(1, 0), "t1", "a"),
                (at(1, 0), "t1", "c"),
                (at(1, 0), "t2", "b"),
                (at(1, 30), "t1", "a"),
                (at(2, 0), "t1", "c"),
                (at(2, 0), "t2", "b"),
            ]
        );
        assert_eq!((index.len(), index.capacity()), (7, 7));
        assert!(!index.is_empty());
    }

    #[test]
    fn due_is_the_prefix_at_or_before_now() {
        let index = UpcomingRuns::build(
            &[schedule("t1", "a", "*/30 * * * *", false)],
            at(0, 0),
            at(3, 0),
            100,
        );
        assert_eq!(index.due(at(0, 29)).len(), 0);
        assert_eq!(index.due(at(1, 0)).len(), 2);
        assert_eq!(index.due(at(9, 0)).len(), 6);
        assert!(UpcomingRuns::default().due(at(9, 0)).is_empty());
    }

    #[test]
    fn a_rebuild_replaces_the_index_without_keeping_the_old_capacity() {
        let many: Vec<_> = (0..50)
            .map(|i| schedule("t1", &format!("s{i}"), "* * * * *", false))
            .collect();
        let mut index = UpcomingRuns::build(&many, at(0, 0), at(1, 0), 60);
        assert_eq!(index.capacity(), 3000);
        index = UpcomingRuns::build(&many[..1], at(0, 0), at(1, 0), 60);
        assert_eq!((index.len(), index.capacity()), (60, 60));
    }
}
