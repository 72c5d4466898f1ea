//! Durations as the seed writes them ("5m", "2h15m"), kept in whole seconds.

use std::{fmt, str::FromStr};

use chrono::TimeDelta;

use crate::{DomainError, error::invalid};

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
        // humantime reads months and years as averages (30.44 and 365.25 days): refuse them
        // rather than store a length nobody wrote.
        let calendar = text
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|unit| matches!(unit, "M" | "month" | "months" | "y" | "year" | "years"));
        if calendar {
            return Err(invalid(
                field,
                format!("{text:?}: months and years have no fixed length"),
            ));
        }
        let duration = humantime::parse_duration(text.trim())
            .map_err(|e| invalid(field, format!("{text:?} is not a duration: {e}")))?;
        if duration.subsec_nanos() != 0 {
            return Err(invalid(
                field,
                format!("{text:?} is not a whole number of seconds"),
            ));
        }
        let seconds = i64::try_from(duration.as_secs())
            .map_err(|_| invalid(field, format!("{text:?} is too long")))?;
        TimeSpan::from_seconds(field, seconds)
    }

    /// A span of `seconds` (1 to [`TimeSpan::MAX_SECONDS`]); errors name `field`.
    pub fn from_seconds(field: &'static str, seconds: i64) -> Result<TimeSpan, DomainError> {
        if !(1..=Self::MAX_SECONDS).contains(&seconds) {
            return Err(invalid(
                field,
                format!(
                    "must be 1 second to {} seconds, not {seconds}",
                    Self::MAX_SECONDS
                ),
            ));
        }
        Ok(TimeSpan { seconds })
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
        let (hours, minutes, seconds) = (
            self.seconds / 3600,
            self.seconds % 3600 / 60,
            self.seconds % 60,
        );
        for (value, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s")] {
            if value != 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        // Only a span of zero, which no constructor makes, would print nothing.
        if self.seconds == 0 {
            f.write_str("0s")?;
        }
        Ok(())
    }
}

impl FromStr for TimeSpan {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeSpan::parse("duration", s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn prints_hours_minutes_seconds_omitting_zero_parts() {
        for (seconds, text) in [
            (8100, "2h15m"),
            (172_800, "48h"),
            (30, "30s"),
            (3661, "1h1m1s"),
            (60, "1m"),
        ] {
            assert_eq!(
                TimeSpan::from_seconds("d", seconds).unwrap().to_string(),
                text
            );
        }
    }

    #[test]
    fn reads_the_seeds_forms_and_humantimes() {
        for (text, seconds) in [
            ("5m", 300),
            ("1h", 3600),
            ("2h15m", 8100),
            ("90s", 90),
            ("1d", 86_400),
            ("1h 30m", 5400),
            ("2 hours", 7200),
        ] {
            assert_eq!(
                TimeSpan::parse("d", text).unwrap().seconds(),
                seconds,
                "{text}"
            );
        }
    }

    #[test]
    fn months_years_fractions_zero_negative_and_huge_spans_are_refused() {
        for text in [
            "1M", "1month", "2 months", "1y", "2years", "1year", "500ms", "1s 500ms", "0s", "0",
            "-5m", "", "soon", "367d", "5",
        ] {
            let err = TimeSpan::parse("catch_up_window", text).unwrap_err();
            assert!(
                matches!(
                    err,
                    DomainError::Validation {
                        field: "catch_up_window",
                        ..
                    }
                ),
                "{text}: {err}"
            );
        }
        assert!(TimeSpan::parse("d", "366d").is_ok());
        assert!(TimeSpan::from_seconds("d", 0).is_err());
        assert!(TimeSpan::from_seconds("d", -1).is_err());
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_span(seconds in 1..=TimeSpan::MAX_SECONDS) {
            let span = TimeSpan::from_seconds("d", seconds).unwrap();
            prop_assert_eq!(span.to_string().parse::<TimeSpan>().unwrap(), span);
        }
    }
}
