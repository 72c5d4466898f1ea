//! `cargo xtask`: jobstore's chores, one module per subcommand, dispatched from here.
//!
//! To add a subcommand: a module with an `Args` (clap `Args`) and a `run(Args) -> TaskResult`,
//! and a variant of [`Task`] that calls it.

// A command-line tool talks to people on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{error::Error, process::ExitCode};

use clap::{Parser, Subcommand};

mod bench;
mod ci;
mod demo;
mod migrate;
mod restart;
mod servers;
mod test;

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
    /// Run the whole suite on every reachable backend and print what ran.
    Test {
        /// Fail unless these backends run (postgres, mysql, sqlite).
        #[arg(long, value_delimiter = ',')]
        require: Vec<String>,
    },
    /// What CI runs: fmt --check, clippy -D warnings, and the suite on all three backends.
    Ci,
    /// Burn-down throughput and claim latency per backend, against pgbench -N on PostgreSQL.
    Bench(bench::BenchArgs),
    /// Stop and start the local database servers in the middle of a run (runs alone).
    Restart(restart::RestartArgs),
}

impl Task {
    /// Whether the task talks to MySQL in this process (xtask builds without the MySQL driver,
    /// so that it builds where the client library is not installed).
    fn needs_mysql(&self) -> bool {
        match self {
            Task::Migrate(args) => args.config().is_ok_and(|c| {
                c.backend()
                    .is_ok_and(|b| b == jobstore_storage::Backend::Mysql)
            }),
            Task::Bench(args) => args.wants("mysql"),
            Task::Restart(args) => args.wants("mysql"),
            Task::Demo | Task::Test { .. } | Task::Ci => false,
        }
    }
}

/// What a subcommand returns; an error is printed with its causes, and the exit status is 1.
type TaskResult = Result<(), Box<dyn Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let needs_mysql = cli.task.needs_mysql() && !jobstore_storage::Backend::Mysql.is_enabled();
    // Measurements of a debug build would measure the debug build.
    let needs_release = matches!(cli.task, Task::Bench(_)) && cfg!(debug_assertions);
    if needs_mysql || needs_release {
        return rerun(
            needs_mysql || jobstore_storage::Backend::Mysql.is_enabled(),
            needs_release,
        );
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

/// Runs this same command again from another build of xtask: with its `mysql` feature, or
/// optimised (`--release`), or both.
fn rerun(mysql: bool, release: bool) -> ExitCode {
    if mysql && !test::has_library("mysqlclient") {
        eprintln!(
            "error: MySQL needs the MySQL client library: install it (Debian: apt-get install default-libmysqlclient-dev)"
        );
        return ExitCode::FAILURE;
    }
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo.args(["run", "--quiet", "--package", "xtask"]);
    if mysql {
        cargo.args(["--features", "mysql"]);
    }
    if release {
        cargo.arg("--release");
    }
    let status = cargo.arg("--").args(std::env::args_os().skip(1)).status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
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
