//! jobstore's conformance suite: every case runs on each enabled backend, against a database of
//! its own. Test paths read `<area>::<backend>::<case>`, so
//! `cargo test -p jobstore-conformance -- postgres::` runs one backend's cases.
//!
//! Servers come from `JOBSTORE_TEST_POSTGRES_URL` and `JOBSTORE_TEST_MYSQL_URL`; an unreachable
//! one is skipped with a `SKIPPED` line on stderr unless `JOBSTORE_REQUIRE` names it (see the
//! `jobstore_conformance` harness). One test binary, to keep link time low.
#![allow(missing_docs)]

#[path = "conformance/bad_input.rs"]
mod bad_input;
#[path = "conformance/downstream_mock.rs"]
mod downstream_mock;
#[path = "conformance/exactly_once.rs"]
mod exactly_once;
#[path = "conformance/isolation.rs"]
mod isolation;
#[path = "conformance/jobs.rs"]
mod jobs;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
#[path = "conformance/listing.rs"]
mod listing;
#[path = "conformance/races.rs"]
mod races;
#[path = "conformance/tenants.rs"]
mod tenants;
#[path = "conformance/transactions.rs"]
mod transactions;
#[path = "conformance/workers.rs"]
mod workers;
