//! The times every backend can store: years 1000 to 9999, in UTC.

use chrono::{DateTime, Datelike, Utc};

use crate::{DomainError, error::invalid};

/// Checks that a time lies in the years every backend stores (1000 to 9999).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use jobstore_domain::check_time;
///
/// assert!(check_time("not_before", Utc.with_ymd_and_hms(2040, 1, 1, 0, 0, 0).unwrap()).is_ok());
/// assert!(check_time("not_before", Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap()).is_err());
/// ```
pub fn check_time(field: &'static str, at: DateTime<Utc>) -> Result<(), DomainError> {
    if (1000..=9999).contains(&at.year()) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{at} is outside the years 1000 to 9999"),
        ))
    }
}
