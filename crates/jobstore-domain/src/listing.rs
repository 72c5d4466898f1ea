//! What a listing asks for and gives back: job filters, keyset pages and their cursors.

use chrono::{DateTime, Utc};

use crate::{DomainError, JobId, JobStatus, TenantId, error::invalid};

/// Which of a tenant's jobs a listing returns.
///
/// ```
/// use jobstore_domain::{JobFilter, JobStatus};
///
/// let running_or_assigned = JobFilter::statuses([JobStatus::Running, JobStatus::Assigned]);
/// assert_eq!(running_or_assigned.statuses.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in one of these statuses; empty means any.
    pub statuses: Vec<JobStatus>,
    /// Only jobs created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_before: Option<DateTime<Utc>>,
}

impl JobFilter {
    /// Jobs in any of `statuses`.
    pub fn statuses(statuses: impl IntoIterator<Item = JobStatus>) -> Self {
        Self {
            statuses: statuses.into_iter().collect(),
            ..Self::default()
        }
    }
}

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Checks how many items one call may read or change: 1 to [`MAX_PAGE_SIZE`].
pub fn check_limit(limit: u32) -> Result<(), DomainError> {
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(())
}

/// Which page to read: at most `limit` items after `after` (from the start when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (1 to [`MAX_PAGE_SIZE`]).
    pub limit: u32,
    /// The `next` cursor of the previous page.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// Checks the limit.
    pub fn validate(&self) -> Result<(), DomainError> {
        check_limit(self.limit)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(100)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// An opaque position in a listing, to pass back in [`PageRequest::after`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// Takes a cursor back from text (as given out by [`Cursor::as_str`]).
    pub fn from_text(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor as text, to hand to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor after a tenant in the tenant listing.
    pub fn after_tenant(id: &TenantId) -> Self {
        Self(id.to_string())
    }

    /// The tenant a tenant-listing cursor points after.
    pub fn tenant(&self) -> Result<TenantId, DomainError> {
        TenantId::new(self.0.as_str()).map_err(|_| invalid("cursor", "is not a tenant cursor"))
    }

    /// The cursor after a row of a listing ordered by a time, then an id (jobs, studies,
    /// results, audit entries).
    pub fn after(at: DateTime<Utc>, id: &str) -> Self {
        Self(format!("{}/{id}", at.timestamp_micros()))
    }

    /// The time and id a cursor made by [`Cursor::after`] points after.
    pub fn position(&self) -> Result<(DateTime<Utc>, &str), DomainError> {
        let bad = || invalid("cursor", "is not a cursor this listing gave");
        let (micros, id) = self.0.split_once('/').ok_or_else(bad)?;
        let micros = micros.parse::<i64>().map_err(|_| bad())?;
        let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        // A forged time outside the stored years would reach the database otherwise.
        crate::check_time("cursor", at).map_err(|_| bad())?;
        Ok((at, id))
    }

    /// The cursor after a job in a job listing (ordered by creation time, then id).
    pub fn after_job(created_at: DateTime<Utc>, id: &JobId) -> Self {
        Self::after(created_at, id.as_str())
    }

    /// The creation time and id a job-listing cursor points after.
    pub fn job(&self) -> Result<(DateTime<Utc>, JobId), DomainError> {
        let bad = || invalid("cursor", "is not a job cursor");
        let (at, id) = self.position().map_err(|_| bad())?;
        Ok((at, JobId::new(id).map_err(|_| bad())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_cursor_round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = JobId::new("j-1").unwrap();
        assert_eq!(Cursor::after_job(at, &id).job().unwrap(), (at, id));
        assert!(Cursor::from_text("nonsense").job().is_err());
        assert!(Cursor::from_text("12/'; --").job().is_err());
        let year_10000 = 253_402_300_800_000_000_i64;
        assert!(
            Cursor::from_text(format!("{year_10000}/j-1"))
                .job()
                .is_err()
        );
        assert!(Cursor::from_text("-62135596800000000/j-1").job().is_err());
    }

    #[test]
    fn a_time_and_id_cursor_round_trips_and_rejects_garbage() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let cursor = Cursor::after(at, "7/audit-1");
        assert_eq!(cursor.position().unwrap(), (at, "7/audit-1"));
        assert!(
            Cursor::from_text("2026-11-23T00:00:00Z|s1")
                .position()
                .is_err()
        );
        assert!(
            Cursor::from_text("253402300800000000/s1")
                .position()
                .is_err()
        );
    }

    #[test]
    fn page_size_is_bounded() {
        assert!(PageRequest::first(0).validate().is_err());
        assert!(PageRequest::first(MAX_PAGE_SIZE + 1).validate().is_err());
        assert!(PageRequest::default().validate().is_ok());
    }
}
