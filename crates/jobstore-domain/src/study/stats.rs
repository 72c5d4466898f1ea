//! A study's statistics (seed 004's `getStudyStats`): its jobs by status, results, evidence and
//! costs, as storage aggregates them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::JobCounts;

/// The results of one surface of a study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurfaceStats {
    /// The surface, as the manifest names it.
    pub surface: String,
    /// Its results.
    pub results: u64,
    /// Its successful results.
    pub successes: u64,
}

/// What a study has done so far, computed from its jobs, results, evidence and costs.
///
/// ```
/// use jobstore_domain::{JobCounts, StudyStats};
///
/// let stats = StudyStats {
///     jobs: JobCounts { completed: 3, failed: 1, pending: 4, ..JobCounts::default() },
///     results: 4,
///     successes: 3,
///     ..StudyStats::default()
/// };
/// assert_eq!(stats.progress(), (4, 8));
/// assert_eq!(stats.success_rate(), Some(0.75));
/// assert_eq!(StudyStats::default().success_rate(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyStats {
    /// Its jobs by status.
    pub jobs: JobCounts,
    /// Its results.
    pub results: u64,
    /// Its successful results.
    pub successes: u64,
    /// Its results by surface, ordered by surface.
    pub per_surface: Vec<SurfaceStats>,
    /// The evidence attached to its results.
    pub evidence: u64,
    /// Its total cost per ISO 4217 currency code, in that currency's minor units, exact.
    pub cost: BTreeMap<String, i64>,
    /// When its first result was created.
    pub first_result_at: Option<DateTime<Utc>>,
    /// When its last result was created.
    pub last_result_at: Option<DateTime<Utc>>,
}

impl StudyStats {
    /// Its progress: (finished jobs, all jobs).
    pub const fn progress(&self) -> (u64, u64) {
        (self.jobs.finished(), self.jobs.total())
    }

    /// The share of its results that succeeded, from 0 to 1; `None` when it has no results.
    /// A ratio for display, never used for money.
    pub fn success_rate(&self) -> Option<f64> {
        if self.results == 0 {
            return None;
        }
        // u64 to f64 loses precision only past 2^53 results, far beyond any study.
        Some(self.successes as f64 / self.results as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_finished_jobs_of_all_jobs() {
        let stats = StudyStats {
            jobs: JobCounts {
                pending: 1,
                assigned: 1,
                running: 1,
                completed: 2,
                failed: 1,
                cancelled: 1,
                lost: 1,
            },
            ..StudyStats::default()
        };
        assert_eq!(stats.progress(), (5, 8));
        assert_eq!(StudyStats::default().progress(), (0, 0));
    }

    #[test]
    fn the_success_rate_is_none_without_results() {
        assert_eq!(StudyStats::default().success_rate(), None);
    }

    #[test]
    fn the_success_rate_is_successes_over_results() {
        let stats = |results, successes| StudyStats {
            results,
            successes,
            ..StudyStats::default()
        };
        assert_eq!(stats(4, 1).success_rate(), Some(0.25));
        assert_eq!(stats(3, 3).success_rate(), Some(1.0));
        assert_eq!(stats(2, 0).success_rate(), Some(0.0));
    }
}
