//! Cron expressions and time zones: parsing with `croner` and `chrono-tz`, next due times, and
//! jobstore's daylight-saving rules.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, SubsecRound, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};

use crate::{DomainError, error::invalid};

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
    cron: Cron,
}

/// The longest expression accepted (a text column every backend stores).
const MAX_CRON_CHARS: usize = 255;

impl CronExpr {
    /// Parses and checks an expression; a bad one is a validation error of the field `cron`.
    pub fn parse(text: &str) -> Result<CronExpr, DomainError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("cron", "must not be empty"));
        }
        let chars = text.chars().count();
        if chars > MAX_CRON_CHARS {
            return Err(invalid(
                "cron",
                format!("is {chars} characters, at most {MAX_CRON_CHARS} allowed"),
            ));
        }
        // croner knows every alias but `@midnight`, which is `@daily` by another name.
        let pattern = if trimmed.eq_ignore_ascii_case("@midnight") {
            "@daily"
        } else {
            trimmed
        };
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| invalid("cron", format!("{text:?} is not a cron expression: {e}")))?;
        Ok(CronExpr {
            text: text.to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first due time strictly after `after`, in `zone`, as UTC to the second; `None` when
    /// there is none (an expression naming a date that never comes).
    pub fn next_after(&self, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Due times are the local matches mapped by `instant_of`, which never goes backwards
        // as local time goes forwards: the first local match past the cursor is the answer.
        let cursor = cursor_of(zone, after)?;
        let local = self.cron.find_next_occurrence(&cursor, false).ok()?;
        instant_of(zone, local)
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
        if at <= after {
            return None;
        }
        let cursor = cursor_of(zone, at)?;
        let local = self.cron.find_previous_occurrence(&cursor, true).ok()?;
        instant_of(zone, local).filter(|t| *t > after && *t <= at)
    }
}

/// The latest local time whose due instant is at or before `at`: `at`'s own wall clock, except
/// in the second pass of a repeated hour, whose local times were all due in the first pass.
fn cursor_of(zone: Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    let at = at.trunc_subsecs(0);
    let local = at.with_timezone(&zone).naive_local();
    match zone.from_local_datetime(&local) {
        LocalResult::Ambiguous(first, _) if first.with_timezone(&Utc) < at => {
            let end = fold_end(zone, first.with_timezone(&Utc), at)?;
            end.checked_sub_signed(TimeDelta::seconds(1))
        }
        _ => Some(local),
    }
}

/// The due instant of a local time: itself when it exists; its first occurrence when repeated;
/// the first valid instant after the gap when skipped.
fn instant_of(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => gap_end(zone, local),
    }
}

/// The first instant whose wall clock is past `local`, a time skipped by a clock jumping
/// forward. Bisected over instants, as chrono-tz does not expose its transitions.
fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = local.and_utc();
    let day = TimeDelta::days(1);
    let past = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local() > local;
    // Offsets are under a day, so the wall clock a day either side is before and past `local`.
    bisect(
        guess.checked_sub_signed(day)?,
        guess.checked_add_signed(day)?,
        past,
    )
}

/// The local time just past the repeated range that `second` (an instant in its second pass)
/// lies in; `first` is the same wall clock's first occurrence.
fn fold_end(zone: Tz, first: DateTime<Utc>, second: DateTime<Utc>) -> Option<NaiveDateTime> {
    let offset = |t: DateTime<Utc>| zone.offset_from_utc_datetime(&t.naive_utc()).fix();
    let later = offset(second);
    // The instant the clock went back: the first one with the second pass's offset.
    let change = bisect(first, second, |t| offset(t) == later)?;
    let before = change.checked_sub_signed(TimeDelta::seconds(1))?;
    before
        .with_timezone(&zone)
        .naive_local()
        .checked_add_signed(TimeDelta::seconds(1))
}

/// The first whole second in (`lo`, `hi`] where `past` holds, given it fails at `lo`, holds at
/// `hi` and flips once in between.
fn bisect(
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    past: impl Fn(DateTime<Utc>) -> bool,
) -> Option<DateTime<Utc>> {
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if past(DateTime::from_timestamp(mid, 0)?) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
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
    name.parse::<Tz>()
        .map_err(|_| invalid("time_zone", format!("{name:?} is not an IANA time zone")))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ny() -> Tz {
        parse_time_zone("America/New_York").unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    /// Due times strictly after `from`, up to `n` of them, as New York wall clock with offset.
    fn walk(expr: &str, from: DateTime<Utc>, n: usize) -> Vec<String> {
        let cron = CronExpr::parse(expr).unwrap();
        let mut at = from;
        let mut out = Vec::new();
        for _ in 0..n {
            at = cron.next_after(ny(), at).unwrap();
            out.push(at.with_timezone(&ny()).format("%d %H:%M %Z").to_string());
        }
        out
    }

    #[test]
    fn parses_five_and_six_fields_extensions_and_every_alias() {
        for ok in [
            "*/5 * * * *",
            "0 */5 * * * *",
            "0 0 L * *",
            "0 0 15W * *",
            "0 0 * * 5#2",
            "0 12 * JAN-MAR MON-FRI",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            " @Midnight ",
        ] {
            assert!(CronExpr::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(CronExpr::parse("@midnight").unwrap().as_str(), "@midnight");
    }

    #[test]
    fn empty_garbage_long_and_seven_field_expressions_are_refused_as_cron() {
        for bad in [
            "",
            "   ",
            "garbage",
            "* * *",
            "61 * * * *",
            "0 0 0 * * * 2030",
            "@sometimes",
        ] {
            let err = CronExpr::parse(bad).unwrap_err();
            assert!(
                matches!(err, DomainError::Validation { field: "cron", .. }),
                "{bad}: {err}"
            );
        }
        let long = format!("0 0 * * {}", "1,".repeat(130) + "1");
        assert!(CronExpr::parse(&long).is_err());
    }

    #[test]
    fn next_after_is_strictly_after_and_whole_seconds() {
        let cron = CronExpr::parse("*/15 * * * *").unwrap();
        let at = utc(2031, 1, 1, 0, 15, 0);
        assert_eq!(
            cron.next_after(Tz::UTC, at),
            Some(utc(2031, 1, 1, 0, 30, 0))
        );
        let mid = at + TimeDelta::milliseconds(500);
        assert_eq!(
            cron.next_after(Tz::UTC, mid),
            Some(utc(2031, 1, 1, 0, 30, 0))
        );
        let secs = CronExpr::parse("*/10 * * * * *").unwrap();
        let next = secs.next_after(Tz::UTC, mid).unwrap();
        assert_eq!(next, utc(2031, 1, 1, 0, 15, 10));
    }

    #[test]
    fn due_times_are_read_in_the_zone() {
        let cron = CronExpr::parse("0 9 * * *").unwrap();
        let paris = parse_time_zone("Europe/Paris").unwrap();
        let next = cron.next_after(paris, utc(2031, 1, 1, 0, 0, 0)).unwrap();
        assert_eq!(next, utc(2031, 1, 1, 8, 0, 0));
    }

    #[test]
    fn a_date_that_never_comes_has_no_next_time() {
        let cron = CronExpr::parse("0 0 30 2 *").unwrap();
        assert_eq!(cron.next_after(Tz::UTC, utc(2031, 1, 1, 0, 0, 0)), None);
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_once_at_the_first_valid_instant() {
        // 02:30 does not exist on 2031-03-09 in New York: it runs at 03:00 EDT (07:00Z).
        assert_eq!(
            walk("30 2 * * *", utc(2031, 3, 8, 0, 0, 0), 3),
            ["08 02:30 EST", "09 03:00 EDT", "10 02:30 EDT"]
        );
    }

    #[test]
    fn an_interval_through_spring_forward_collapses_the_gap_into_one_run() {
        assert_eq!(
            walk("*/30 * * * *", utc(2031, 3, 9, 6, 0, 0), 3),
            ["09 01:30 EST", "09 03:00 EDT", "09 03:30 EDT"]
        );
    }

    #[test]
    fn a_time_repeated_by_fall_back_runs_once_at_its_first_occurrence() {
        assert_eq!(
            walk("30 1 * * *", utc(2031, 11, 1, 0, 0, 0), 3),
            ["01 01:30 EDT", "02 01:30 EDT", "03 01:30 EST"]
        );
        let cron = CronExpr::parse("30 1 * * *").unwrap();
        let first = cron.next_after(ny(), utc(2031, 11, 2, 0, 0, 0)).unwrap();
        assert_eq!(first, utc(2031, 11, 2, 5, 30, 0));
        assert_eq!(
            cron.next_after(ny(), first).unwrap(),
            utc(2031, 11, 3, 6, 30, 0)
        );
    }

    #[test]
    fn an_interval_through_fall_back_skips_the_repeated_hour() {
        assert_eq!(
            walk("*/30 * * * *", utc(2031, 11, 2, 4, 0, 0), 5),
            [
                "02 00:30 EDT",
                "02 01:00 EDT",
                "02 01:30 EDT",
                "02 02:00 EST",
                "02 02:30 EST"
            ]
        );
    }

    #[test]
    fn from_inside_the_repeated_hour_the_next_time_is_past_it() {
        // 06:10Z is 01:10 EST, the second pass: 01:30 was due at 01:30 EDT already.
        let cron = CronExpr::parse("*/30 * * * *").unwrap();
        let next = cron.next_after(ny(), utc(2031, 11, 2, 6, 10, 0)).unwrap();
        assert_eq!(next, utc(2031, 11, 2, 7, 0, 0));
        let last = cron
            .last_at_or_before(ny(), utc(2031, 11, 2, 0, 0, 0), utc(2031, 11, 2, 6, 10, 0))
            .unwrap();
        assert_eq!(last, utc(2031, 11, 2, 5, 30, 0));
    }

    #[test]
    fn last_at_or_before_agrees_with_walking_forward_across_both_changes() {
        for expr in [
            "*/30 * * * *",
            "30 2 * * *",
            "30 1 * * *",
            "0 */7 * * * *",
            "0 0 L * *",
        ] {
            let cron = CronExpr::parse(expr).unwrap();
            for (from, until) in [
                (utc(2031, 3, 8, 0, 0, 0), utc(2031, 3, 10, 12, 0, 0)),
                (utc(2031, 11, 1, 0, 0, 0), utc(2031, 11, 3, 12, 0, 0)),
            ] {
                let mut forward = Vec::new();
                let mut at = from;
                while let Some(next) = cron.next_after(ny(), at).filter(|t| *t <= until) {
                    forward.push(next);
                    at = next;
                }
                let mut probe = from;
                while probe <= until {
                    let expected = forward.iter().rev().find(|t| **t <= probe).copied();
                    assert_eq!(
                        cron.last_at_or_before(ny(), from, probe),
                        expected,
                        "{expr} at {probe}"
                    );
                    probe += TimeDelta::minutes(10);
                }
            }
        }
    }

    #[test]
    fn last_at_or_before_excludes_after_and_includes_at() {
        let cron = CronExpr::parse("0 * * * *").unwrap();
        let (t1, t2) = (utc(2031, 1, 1, 1, 0, 0), utc(2031, 1, 1, 2, 0, 0));
        assert_eq!(cron.last_at_or_before(Tz::UTC, t1, t2), Some(t2));
        assert_eq!(
            cron.last_at_or_before(Tz::UTC, t1, t2 - TimeDelta::seconds(1)),
            None
        );
        assert_eq!(cron.last_at_or_before(Tz::UTC, t2, t2), None);
    }

    #[test]
    fn unknown_time_zones_are_refused_as_time_zone() {
        assert_eq!(parse_time_zone("UTC").unwrap(), Tz::UTC);
        assert!(parse_time_zone("Europe/Paris").is_ok());
        assert!(matches!(
            parse_time_zone("Mars/Olympus"),
            Err(DomainError::Validation {
                field: "time_zone",
                ..
            })
        ));
    }
}
