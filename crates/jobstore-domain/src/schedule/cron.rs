//! Cron expressions and time zones: parsing with `croner` and `chrono-tz`, next due times, and
//! jobstore's daylight-saving rules.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::DomainError;

/// A validated cron expression: 5 fields (minute to weekday), or 6 with seconds first; `L`,
/// `W`, `#`, ranges, steps, names, and the aliases `@yearly`, `@annually`, `@monthly`,
/// `@weekly`, `@daily`, `@midnight`, `@hourly`.
///
/// Due times are computed in the schedule's time zone and returned in UTC, to the second.
/// Daylight saving:
/// - a local time skipped by spring-forward (02:30 on the day clocks jump from 02:00 to 03:00)
///   is due once, at the first valid instant after the gap (03:00 local);
/// - a local time repeated by fall-back (01:30 when clocks go from 02:00 back to 01:00) is due
///   once, at its first occurrence.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use jobstore_domain::{CronExpr, parse_time_zone};
///
/// let cron = CronExpr::parse("30 2 * * *")?;
/// let new_york = parse_time_zone("America/New_York")?;
/// // 2031-03-09: clocks jump from 02:00 to 03:00 in New York; 02:30 runs at 03:00 EDT.
/// let after = Utc.with_ymd_and_hms(2031, 3, 9, 5, 0, 0).unwrap();
/// let next = cron.next_after(new_york, after).unwrap();
/// assert_eq!(next, Utc.with_ymd_and_hms(2031, 3, 9, 7, 0, 0).unwrap());
/// # Ok::<(), jobstore_domain::DomainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CronExpr {
    text: String,
}

impl CronExpr {
    /// Parses and checks an expression; a bad one is a validation error of the field `cron`.
    pub fn parse(text: &str) -> Result<CronExpr, DomainError> {
        todo!("{text}")
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first due time strictly after `after`, in `zone`, as UTC to the second; `None` when
    /// there is none (an expression naming a date that never comes).
    pub fn next_after(&self, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        todo!("{zone} {after}")
    }

    /// The last due time at or before `at` (and strictly after `after`), in `zone`; `None`
    /// when there is none in between. Used to find the latest missed time without walking
    /// every one before it.
    pub fn last_at_or_before(
        &self,
        zone: Tz,
        after: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        todo!("{zone} {after} {at}")
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronExpr {}

/// Parses an IANA time-zone name (`UTC`, `Europe/Paris`); an unknown one is a validation error
/// of the field `time_zone`.
pub fn parse_time_zone(name: &str) -> Result<Tz, DomainError> {
    todo!("{name}")
}
