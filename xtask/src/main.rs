//! `cargo xtask`: jobstore's chores, one module per subcommand, dispatched from here.
//!
//! To add a subcommand: a module with an `Args` (clap `Args`) and a `run(Args) -> TaskResult`,
//! and a variant of [`Task`] that calls it.

// A command-line tool talks to people on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{error::Error, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::backends::BackendName;

mod address;
mod backends;
mod bench;
mod ci;
mod demo;
mod migrate;
mod restart;
mod servers;
mod test;
#[cfg(test)]
mod tidy;

/// jobstore's build tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Task {
    /// Apply pending migrations, or list, revert or redo them.
    Migrate(migrate::Args),
    /// Migrate a fresh SQLite file, run jobs through their lives and print their audit trails.
    Demo,
    /// Run the whole suite on every backend that can run here, and say which could not and why.
    Test {
        /// Fail unless these backends run.
        #[arg(long, value_enum, value_delimiter = ',')]
        require: Vec<BackendName>,
    },
    /// What CI runs: fmt --check, clippy -D warnings, the layering check, the suite on all three
    /// backends, then `restart`.
    Ci,
    /// Enqueue and burn-down throughput, claim and wake-up latency per backend, against
    /// pgbench -N on PostgreSQL (`--json` for scripts).
    Bench(bench::BenchArgs),
    /// Stop and start the database servers in the middle of a run (runs alone).
    Restart(restart::RestartArgs),
}

impl Task {
    /// The backends the task talks to from this process (the suite runs in a process of its
    /// own, built with the features of the backends it runs on).
    fn backends(&self) -> Vec<BackendName> {
        match self {
            Task::Migrate(args) => args.backend().into_iter().collect(),
            Task::Bench(args) => args.backends(),
            Task::Restart(args) => args.backends(),
            Task::Demo => vec![BackendName::Sqlite],
            Task::Test { .. } | Task::Ci => Vec::new(),
        }
    }
}

/// What a subcommand returns; an error is printed with its causes, and the exit status is 1.
type TaskResult = Result<(), Box<dyn Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Measurements of a debug build would measure the debug build.
    let release = matches!(cli.task, Task::Bench(_));
    if let Some(status) = backends::rerun_unless_built_for(&cli.task.backends(), release) {
        return status;
    }
    let result = match cli.task {
        Task::Migrate(args) => migrate::run(args),
        Task::Demo => demo::run().map_err(Into::into),
        Task::Test { require } => test::run(&require).map_err(Into::into),
        Task::Ci => ci::run().map_err(Into::into),
        Task::Bench(args) => bench::run(&args).map_err(Into::into),
        Task::Restart(args) => restart::run(&args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&*error));
            ExitCode::FAILURE
        }
    }
}

/// An error followed by its causes, each said once (many errors repeat their source's message).
fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string().trim_end().to_owned();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        let message = message.trim_end();
        if !text.contains(message) {
            text.push_str(": ");
            text.push_str(message);
        }
        source = cause.source();
    }
    text
}
