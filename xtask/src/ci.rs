//! `cargo xtask ci`: what CI runs, stopping at the first failure: `cargo fmt --check`, clippy with
//! `-D warnings`, the domain's dependency graph (no database crate, even through another crate),
//! the suite with all three backends required (it includes the tidy test, which checks the rules
//! of docs/ARCHITECTURE.md from the source), and last `cargo xtask restart`.

use std::process::Command;

use crate::backends::BackendName;

/// The crates that talk to a database, which the domain may not depend on.
pub(crate) const DATABASE_CRATES: [&str; 6] = [
    "diesel",
    "diesel_migrations",
    "r2d2",
    "libsqlite3-sys",
    "pq-sys",
    "mysqlclient-sys",
];

/// Runs what CI runs, stopping at the first failure.
pub(crate) fn run() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])?;
    check_domain_dependencies()?;
    crate::test::run(&BackendName::ALL)?;
    // Last: it stops the servers the suite uses.
    cargo(&["xtask", "restart"])
}

/// The domain depends on no database crate, directly or through another crate, with every
/// feature and in its tests too. (The tidy test checks what each manifest and source file names;
/// only the resolved graph shows what comes in through another crate.)
fn check_domain_dependencies() -> Result<(), String> {
    let args = [
        "tree",
        "--quiet",
        "--package",
        "jobstore-domain",
        "--all-features",
        "--edges",
        "normal,build,dev",
        "--prefix",
        "none",
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let output = Command::new(env!("CARGO"))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found: Vec<&str> = tree
        .lines()
        .filter(|line| {
            let name = line.split(' ').next().unwrap_or_default();
            DATABASE_CRATES.contains(&name)
        })
        .collect();
    if !found.is_empty() {
        return Err(format!(
            "jobstore-domain depends on database crates: {}",
            found.join(", ")
        ));
    }
    eprintln!("jobstore-domain depends on no database crate");
    Ok(())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args[0]))
    }
}
