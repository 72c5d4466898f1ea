//! jobstore's conformance suite: every case runs on each enabled backend, against a database of
//! its own. Test paths read `<area>::<backend>::<case>`, so
//! `cargo test -p jobstore-conformance -- postgres::` runs one backend's cases.
//!
//! Servers come from `JOBSTORE_TEST_POSTGRES_URL` and `JOBSTORE_TEST_MYSQL_URL`; an unreachable
//! one is skipped with a `SKIPPED` line on stderr unless `JOBSTORE_REQUIRE` names it (see the
//! `jobstore_conformance` harness). One test binary, to keep link time low.
#![allow(missing_docs)]

// `#[cfg(test)]` on each area (always true in a test binary) makes the cases test code for
// clippy, so its `allow-unwrap-in-tests` and `allow-print-in-tests` settings apply to them.
#[cfg(test)]
#[path = "conformance/bad_input.rs"]
mod bad_input;
#[cfg(test)]
#[path = "conformance/downstream_mock.rs"]
mod downstream_mock;
#[cfg(test)]
#[path = "conformance/edges.rs"]
mod edges;
#[cfg(test)]
#[path = "conformance/errors.rs"]
mod errors;
#[cfg(test)]
#[path = "conformance/exactly_once.rs"]
mod exactly_once;
#[cfg(test)]
#[path = "conformance/hot_path.rs"]
mod hot_path;
#[cfg(test)]
#[path = "conformance/isolation.rs"]
mod isolation;
#[cfg(test)]
#[path = "conformance/jobs.rs"]
mod jobs;
#[cfg(test)]
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[cfg(test)]
#[path = "conformance/listing.rs"]
mod listing;
#[cfg(test)]
#[path = "conformance/races.rs"]
mod races;
#[cfg(test)]
#[path = "conformance/scheduler.rs"]
mod scheduler;
#[cfg(test)]
#[path = "conformance/schedules.rs"]
mod schedules;
#[cfg(test)]
#[path = "conformance/studies.rs"]
mod studies;
#[cfg(test)]
#[path = "conformance/study_rules.rs"]
mod study_rules;
#[cfg(test)]
#[path = "conformance/study_workers.rs"]
mod study_workers;
#[cfg(test)]
#[path = "conformance/tenants.rs"]
mod tenants;
#[cfg(test)]
#[path = "conformance/tracing.rs"]
mod tracing;
#[cfg(test)]
#[path = "conformance/transactions.rs"]
mod transactions;
#[cfg(test)]
#[path = "conformance/workers.rs"]
mod workers;
