//! When a schedule is due, and which of its due times run or are skipped under its catch-up
//! policy. Work is bounded by the caps, never by how long no scheduler ran.

use chrono::{DateTime, TimeDelta, Utc};

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
    let mut times = Vec::new();
    let mut cursor = after;
    while times.len() < limit {
        match schedule.next_due_after(cursor).filter(|t| *t <= until) {
            Some(at) => {
                times.push(at);
                cursor = at;
            }
            None => break,
        }
    }
    times
}

/// The most runs one firing catches up, whatever a hand-made policy asks (a constraint allows
/// no more), so that a firing's work stays bounded.
const MAX_RUNS_PER_FIRING: u32 = 10_000;

/// The due times of `schedule` in [`from`, `now`], most recent first, at most `limit`: found
/// walking back from `now`, so the work is bounded by `limit`, not by how far back `from` is.
fn recent_due_times(
    schedule: &Schedule,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    // `from` itself is due, so the exclusive bound sits just before it.
    let mut times = Vec::new();
    let Some(after) = from.checked_sub_signed(TimeDelta::nanoseconds(1)) else {
        return times;
    };
    let mut cursor = now;
    while times.len() < limit {
        match schedule
            .cron
            .last_at_or_before(schedule.time_zone, after, cursor)
        {
            Some(at) => {
                times.push(at);
                // Due times are whole seconds: the one before lies at least a second earlier.
                match at.checked_sub_signed(TimeDelta::seconds(1)) {
                    Some(before) => cursor = before,
                    None => break,
                }
            }
            None => break,
        }
    }
    times
}

/// A firing that changes nothing.
fn not_due(schedule: &Schedule) -> Firing {
    Firing {
        next_due_at: schedule.next_due_at,
        ..Firing::default()
    }
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
    let Some(first) = schedule.next_due_at.filter(|at| *at <= now) else {
        return not_due(schedule);
    };
    if schedule.paused {
        return not_due(schedule);
    }
    let max_runs = if policy.catch_up {
        usize::try_from(policy.max_runs.clamp(1, MAX_RUNS_PER_FIRING)).unwrap_or(1)
    } else {
        1
    };
    let recent = recent_due_times(schedule, first, now, max_runs + MAX_SKIPS_RECORDED);
    let Some(&latest) = recent.first() else {
        // `next_due_at` was not a due time of the expression: nothing to fire, move on.
        return Firing {
            next_due_at: schedule.next_due_after(now),
            ..Firing::default()
        };
    };
    let oldest_runnable = match (policy.catch_up, policy.window) {
        (true, Some(window)) => now
            .checked_sub_signed(window.as_delta())
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        // Off, the latest runs whatever its age; on without a window, any age runs.
        _ => DateTime::<Utc>::MIN_UTC,
    };
    // `recent` is newest first: the runs are a prefix, the recorded skips what follows.
    let runs = recent
        .iter()
        .take(max_runs)
        .take_while(|at| **at >= oldest_runnable)
        .count();
    let mut run: Vec<_> = recent.iter().take(runs).copied().collect();
    let mut skip: Vec<_> = recent
        .iter()
        .skip(runs)
        .take(MAX_SKIPS_RECORDED)
        .map(|at| (*at, SkipReason::Missed))
        .collect();
    run.reverse();
    skip.reverse();
    Firing {
        run,
        skip,
        last_scheduled_at: Some(latest),
        next_due_at: schedule.next_due_after(now),
    }
}

/// What resuming a paused schedule at `now` does: its due times from `next_due_at` up to `now`
/// are skipped as [`SkipReason::Paused`] (the most recent [`MAX_SKIPS_RECORDED`] recorded),
/// and it is next due after `now`.
pub fn plan_resume(schedule: &Schedule, now: DateTime<Utc>) -> Firing {
    let mut skip: Vec<_> = match schedule.next_due_at {
        Some(first) if first <= now => recent_due_times(schedule, first, now, MAX_SKIPS_RECORDED),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|at| (at, SkipReason::Paused))
    .collect();
    let last_scheduled_at = skip.first().map(|(at, _)| *at);
    skip.reverse();
    Firing {
        run: Vec::new(),
        skip,
        last_scheduled_at,
        next_due_at: schedule.next_due_after(now),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::{NewSchedule, TenantId, TimeSpan};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, 1, h, m, 0).unwrap()
    }

    /// A schedule every `cron`, created at 00:00 (first due after it).
    fn every(cron: &str) -> Schedule {
        NewSchedule::new(TenantId::new("t1").unwrap(), "s", cron)
            .into_schedule(at(0, 0))
            .unwrap()
    }

    fn on(window: Option<&str>, max_runs: u32) -> CatchUpPolicy {
        CatchUpPolicy {
            catch_up: true,
            window: window.map(|w| w.parse::<TimeSpan>().unwrap()),
            max_runs,
        }
    }

    fn missed(times: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, SkipReason)> {
        times.iter().map(|t| (*t, SkipReason::Missed)).collect()
    }

    #[test]
    fn due_times_are_oldest_first_after_after_up_to_until_and_limit() {
        let s = every("0 * * * *");
        assert_eq!(
            due_times(&s, at(1, 0), at(4, 0), 10),
            [at(2, 0), at(3, 0), at(4, 0)]
        );
        assert_eq!(due_times(&s, at(1, 0), at(4, 0), 2), [at(2, 0), at(3, 0)]);
        assert!(due_times(&s, at(1, 0), at(1, 30), 10).is_empty());
    }

    #[test]
    fn a_schedule_not_due_or_paused_fires_nothing() {
        let s = every("0 * * * *");
        let early = plan_firing(&s, &CatchUpPolicy::default(), at(0, 59));
        assert!(early.is_empty());
        assert_eq!(early.next_due_at, Some(at(1, 0)));
        let paused = Schedule { paused: true, ..s };
        assert!(plan_firing(&paused, &CatchUpPolicy::default(), at(5, 0)).is_empty());
    }

    #[test]
    fn a_schedule_due_now_runs_its_due_time_inclusive() {
        let f = plan_firing(&every("0 * * * *"), &CatchUpPolicy::default(), at(1, 0));
        assert_eq!(
            (f.run, f.skip, f.last_scheduled_at, f.next_due_at),
            (vec![at(1, 0)], vec![], Some(at(1, 0)), Some(at(2, 0)))
        );
    }

    #[test]
    fn with_catch_up_off_only_the_latest_missed_time_runs() {
        let f = plan_firing(&every("0 * * * *"), &CatchUpPolicy::default(), at(4, 30));
        assert_eq!(f.run, [at(4, 0)]);
        assert_eq!(f.skip, missed(&[at(1, 0), at(2, 0), at(3, 0)]));
        assert_eq!(
            (f.last_scheduled_at, f.next_due_at),
            (Some(at(4, 0)), Some(at(5, 0)))
        );
    }

    #[test]
    fn with_catch_up_on_the_most_recent_within_the_window_and_cap_run() {
        let s = every("0 * * * *");
        let f = plan_firing(&s, &on(None, 100), at(4, 30));
        assert_eq!(
            (f.run, f.skip),
            (vec![at(1, 0), at(2, 0), at(3, 0), at(4, 0)], vec![])
        );
        let f = plan_firing(&s, &on(None, 2), at(4, 30));
        assert_eq!(
            (f.run, f.skip),
            (vec![at(3, 0), at(4, 0)], missed(&[at(1, 0), at(2, 0)]))
        );
        let f = plan_firing(&s, &on(Some("2h"), 100), at(4, 30));
        assert_eq!(
            (f.run, f.skip),
            (vec![at(3, 0), at(4, 0)], missed(&[at(1, 0), at(2, 0)]))
        );
        let f = plan_firing(&s, &on(Some("10m"), 100), at(4, 30));
        assert_eq!((f.run, f.last_scheduled_at), (vec![], Some(at(4, 0))));
        assert_eq!(f.skip.len(), 4);
        let f = plan_firing(&s, &on(None, 0), at(4, 30));
        assert_eq!(f.run, [at(4, 0)]);
    }

    #[test]
    fn a_year_of_missed_seconds_plans_in_bounded_work() {
        let s = every("* * * * * *");
        let now = Utc.with_ymd_and_hms(2032, 1, 1, 0, 0, 0).unwrap();
        let started = std::time::Instant::now();
        let f = plan_firing(&s, &on(None, 10_000), now);
        assert_eq!(f.run.len(), 10_000);
        assert_eq!(f.skip.len(), MAX_SKIPS_RECORDED);
        assert_eq!(f.run.last(), Some(&now));
        let off = plan_firing(&s, &CatchUpPolicy::default(), now);
        assert_eq!((off.run.len(), off.skip.len()), (1, MAX_SKIPS_RECORDED));
        assert_eq!(
            off.skip.last().map(|s| s.0),
            Some(now - TimeDelta::seconds(1))
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn resuming_skips_the_paused_due_times_as_paused() {
        let s = Schedule {
            paused: true,
            ..every("0 * * * *")
        };
        let f = plan_resume(&s, at(3, 30));
        assert!(f.run.is_empty());
        assert_eq!(
            f.skip,
            [at(1, 0), at(2, 0), at(3, 0)].map(|t| (t, SkipReason::Paused))
        );
        assert_eq!(
            (f.last_scheduled_at, f.next_due_at),
            (Some(at(3, 0)), Some(at(4, 0)))
        );
        let quick = plan_resume(&s, at(0, 30));
        assert_eq!(
            (quick.skip.len(), quick.last_scheduled_at, quick.next_due_at),
            (0, None, Some(at(1, 0)))
        );
        let long = plan_resume(
            &Schedule {
                paused: true,
                ..every("* * * * *")
            },
            at(23, 0),
        );
        assert_eq!(long.skip.len(), MAX_SKIPS_RECORDED);
        assert_eq!(long.last_scheduled_at, Some(at(23, 0)));
    }

    #[test]
    fn firing_across_spring_forward_runs_the_collapsed_time_once() {
        let s = NewSchedule {
            time_zone: Some("America/New_York".into()),
            ..NewSchedule::new(TenantId::new("t1").unwrap(), "s", "*/30 * * * *")
        }
        .into_schedule(Utc.with_ymd_and_hms(2031, 3, 9, 6, 0, 0).unwrap())
        .unwrap();
        let now = Utc.with_ymd_and_hms(2031, 3, 9, 7, 45, 0).unwrap();
        let f = plan_firing(&s, &on(None, 100), now);
        let expected: Vec<_> = [(6, 30), (7, 0), (7, 30)]
            .map(|(h, m)| Utc.with_ymd_and_hms(2031, 3, 9, h, m, 0).unwrap())
            .into();
        assert_eq!(f.run, expected);
    }

    proptest! {
        #[test]
        fn plan_firing_keeps_its_caps_and_never_repeats_a_time(
            minutes in 0i64..5000,
            catch_up: bool,
            max_runs in 0u32..300,
            window in proptest::option::of(1i64..400_000),
            cron in prop::sample::select(vec!["* * * * *", "*/7 * * * *", "0 * * * *", "*/20 * * * * *"]),
        ) {
            let s = every(cron);
            let now = at(0, 0) + TimeDelta::minutes(minutes);
            let policy = CatchUpPolicy {
                catch_up,
                window: window.map(|w| TimeSpan::from_seconds("w", w).unwrap()),
                max_runs,
            };
            let f = plan_firing(&s, &policy, now);
            let cap = if catch_up { max_runs.max(1) as usize } else { 1 };
            prop_assert!(f.run.len() <= cap);
            prop_assert!(f.skip.len() <= MAX_SKIPS_RECORDED);
            let mut all: Vec<_> = f.run.iter().copied().chain(f.skip.iter().map(|s| s.0)).collect();
            prop_assert!(f.run.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(f.skip.windows(2).all(|w| w[0].0 < w[1].0));
            let n = all.len();
            all.sort();
            all.dedup();
            prop_assert_eq!(all.len(), n);
            prop_assert!(all.iter().all(|t| Some(*t) >= s.next_due_at && *t <= now));
            prop_assert!(f.next_due_at.is_some_and(|t| t > now));
            if !f.is_empty() {
                prop_assert_eq!(f.last_scheduled_at, all.last().copied());
            }
        }
    }
}
