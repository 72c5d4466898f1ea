//! Studies (seed 004): a tenant's users, studies made of jobs from a manifest, their state
//! machine, results with evidence, checkpoints, the audit log, cost records and statistics.
//!
//! Everything here is pure; storage keeps a study's state following its jobs in their own
//! transactions.

mod audit;
mod checkpoint;
mod cost;
mod definition;
mod evidence;
mod manifest;
mod state;
mod stats;
mod user;

pub use audit::*;
pub use checkpoint::*;
pub use cost::*;
pub use definition::*;
pub use evidence::*;
pub use manifest::*;
pub use state::*;
pub use stats::*;
pub use user::*;
