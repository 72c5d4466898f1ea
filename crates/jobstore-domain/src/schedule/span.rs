//! Durations as the seed writes them ("5m", "2h15m"), kept in whole seconds.

use std::{fmt, str::FromStr};

use chrono::TimeDelta;

use crate::DomainError;

/// A length of time from the seed's text columns (catch-up window, max expected and max allowed
/// run time): parsed with `humantime` ("90s", "5m", "2h15m", "1d"), refusing months, years and
/// anything below a second; stored as whole seconds and printed back in the seed's form
/// (hours, minutes, seconds: `2h15m`, `48h`, `30s`).
///
/// ```
/// use jobstore_domain::TimeSpan;
///
/// let span: TimeSpan = "2h15m".parse()?;
/// assert_eq!(span.seconds(), 8100);
/// assert_eq!(span.to_string(), "2h15m");
/// assert!("1M".parse::<TimeSpan>().is_err()); // a month is not a fixed length
/// # Ok::<(), jobstore_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeSpan {
    seconds: i64,
}

impl TimeSpan {
    /// The longest span accepted: 366 days.
    pub const MAX_SECONDS: i64 = 366 * 24 * 3600;

    /// Parses the seed's text; errors name `field`.
    pub fn parse(field: &'static str, text: &str) -> Result<TimeSpan, DomainError> {
        todo!("{field} {text}")
    }

    /// A span of `seconds` (1 to [`TimeSpan::MAX_SECONDS`]); errors name `field`.
    pub fn from_seconds(field: &'static str, seconds: i64) -> Result<TimeSpan, DomainError> {
        todo!("{field} {seconds}")
    }

    /// Whole seconds, as stored.
    pub fn seconds(self) -> i64 {
        self.seconds
    }

    /// As a chrono delta.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(self.seconds)
    }
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}

impl FromStr for TimeSpan {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeSpan::parse("duration", s)
    }
}
