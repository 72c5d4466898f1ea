//! What the store tells `tracing`: a span per repository call and an event per SQL statement.
//! The library installs no subscriber and prints nothing; an application that wants to see
//! them installs one (for example `tracing-subscriber` with `RUST_LOG=jobstore=debug`).
//!
//! - Span `jobstore` (target `jobstore`, level DEBUG) per call, with fields `op` (the method),
//!   `backend`, `tenant` and `job` where the call names them, `rows` (rows written), `outcome`
//!   (`ok` or `error`) and `error_kind` (see [`crate::ErrorKind`]).
//! - Event per statement (target `jobstore::sql`, level DEBUG): its SQL (not the bound values,
//!   which may be personal data), how long it took in microseconds, and its error if it failed.

use std::{cell::Cell, time::Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use jobstore_domain::{JobId, TenantId};
use tracing::field::Empty;

use crate::{Backend, StorageError};

/// What a repository call is about, for its span.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    op: &'static str,
    tenant: Option<&'a TenantId>,
    job: Option<&'a JobId>,
}

impl<'a> Call<'a> {
    /// A call of the repository method `op`.
    pub(crate) fn new(op: &'static str) -> Self {
        Self {
            op,
            tenant: None,
            job: None,
        }
    }

    /// The tenant the call names.
    pub(crate) fn tenant(self, tenant: &'a TenantId) -> Self {
        Self {
            tenant: Some(tenant),
            ..self
        }
    }

    /// The job the call names.
    pub(crate) fn job(self, tenant: &'a TenantId, job: &'a JobId) -> Self {
        Self {
            tenant: Some(tenant),
            job: Some(job),
            ..self
        }
    }

    /// Runs `f` inside the call's span, and records how it ended.
    pub(crate) fn traced<T>(
        self,
        backend: Backend,
        f: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let span = tracing::debug_span!(
            target: "jobstore",
            "jobstore",
            op = self.op,
            backend = backend.name(),
            tenant = self.tenant.map(TenantId::as_str),
            job = self.job.map(JobId::as_str),
            rows = Empty,
            outcome = Empty,
            error_kind = Empty,
        );
        // Rows written by this call; a call made inside it (in a transaction) adds to its own
        // and then to this one's.
        let outer = ROWS.replace(0);
        let result = span.in_scope(f);
        let rows = ROWS.replace(0);
        ROWS.set(outer + rows);
        span.record("rows", rows);
        match &result {
            Ok(_) => span.record("outcome", "ok"),
            Err(e) => span
                .record("outcome", "error")
                .record("error_kind", tracing::field::debug(e.kind())),
        };
        result
    }
}

thread_local! {
    /// The rows the current call has written so far.
    static ROWS: Cell<usize> = const { Cell::new(0) };
}

/// Adds `rows` to the rows the current call wrote.
pub(crate) fn wrote(rows: usize) {
    ROWS.set(ROWS.get() + rows);
}

/// Logs every statement a connection runs, with its time.
#[derive(Debug, Default)]
pub(crate) struct StatementLog {
    started: Option<Instant>,
}

impl Instrumentation for StatementLog {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let micros = self
                    .started
                    .take()
                    .map_or(0, |started| started.elapsed().as_micros());
                if !tracing::enabled!(target: "jobstore::sql", tracing::Level::DEBUG) {
                    return;
                }
                // The SQL only: bound values may be personal data (e-mail addresses, ...).
                let text = query.to_string();
                let sql = text.split(" -- binds: ").next().unwrap_or_default();
                match error {
                    None => tracing::debug!(target: "jobstore::sql", micros, "{sql}"),
                    Some(error) => {
                        tracing::debug!(target: "jobstore::sql", micros, %error, "{sql}")
                    }
                }
            }
            _ => {}
        }
    }
}
