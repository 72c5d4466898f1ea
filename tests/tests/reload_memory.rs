//! Seed 002's memory rule: a scheduler reloads every schedule and rebuilds its index of
//! upcoming runs again and again, and that must never accumulate memory. A counting global
//! allocator measures the bytes still allocated after 200 reloads and rebuilds over 10,000
//! schedules: what one rebuild holds, within a small slack.
//!
//! A test binary of its own, so that the allocator counts this case alone. It runs on SQLite:
//! what is measured is the scheduler's side (the rows read, the schedules and the index built
//! from them), which is the same code on every backend, and 200 reloads of 10,000 rows take
//! half a minute on each.
#![allow(missing_docs)]

#[cfg(test)]
mod reload {
    use std::alloc::System;

    use cap::Cap;
    use chrono::TimeDelta;
    use jobstore_conformance::{TestBackend, TestDb};
    use jobstore_domain::{NewSchedule, UpcomingRuns};
    use jobstore_storage::{ScheduleRepository, StorageError};

    /// The system allocator, counting the bytes allocated and not yet freed.
    #[global_allocator]
    static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

    fn live() -> isize {
        ALLOCATOR.allocated() as isize
    }

    const SCHEDULES: usize = 10_000;
    const RELOADS: usize = 200;
    /// What the allocator may hold beyond one rebuild: buffers the connection and the pool
    /// keep warm, which do not grow with the number of reloads.
    const SLACK: isize = 256 * 1024;

    fn reloading_schedules_never_accumulates_memory(db: &TestDb) -> Result<(), StorageError> {
        let tenants: Vec<_> = (0..10).map(|_| db.tenant().id).collect();
        db.store.transaction(|tx| {
            for i in 0..SCHEDULES {
                tx.create_schedule(NewSchedule::new(
                    tenants[i % tenants.len()].clone(),
                    format!("schedule {i}"),
                    ["* * * * *", "*/5 * * * *", "0 9 * * MON-FRI", "@hourly"][i % 4],
                ))?;
            }
            Ok(())
        })?;
        let now = db.now();
        let rebuild = || -> Result<UpcomingRuns, StorageError> {
            let schedules = db.store.all_schedules()?;
            Ok(UpcomingRuns::build(
                &schedules,
                now,
                now + TimeDelta::minutes(10),
                2,
            ))
        };
        // The scheduler holds one index at a time and swaps in each new one whole.
        let mut index = rebuild()?;
        let entries = index.len();
        index = rebuild()?;
        let after_one = live();
        for _ in 0..RELOADS {
            index = rebuild()?;
        }
        let after_all = live();
        assert_eq!(index.len(), entries, "every rebuild indexes the same runs");
        assert!(
            (after_all - after_one).abs() <= SLACK,
            "{} bytes more held after {RELOADS} reloads than after one",
            after_all - after_one
        );
        Ok(())
    }

    #[test]
    fn sqlite_reloading_schedules_never_accumulates_memory() {
        jobstore_conformance::run(
            TestBackend::Sqlite,
            reloading_schedules_never_accumulates_memory,
        );
    }
}
