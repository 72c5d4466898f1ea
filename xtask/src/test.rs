//! `cargo xtask test`: the whole suite on every reachable backend, with a table of what ran.

use crate::{address::ServerAddress, backends::BackendName, servers};
use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{TcpStream, ToSocketAddrs},
    process::{Command, Stdio},
    time::Duration,
};

/// A backend the conformance suite can run on, and how this machine stands with it.
struct Target {
    backend: BackendName,
    /// Why it cannot run here, if it cannot.
    unavailable: Option<String>,
}

impl Target {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
}

/// The backends, probed: SQLite is compiled in; a server backend needs its client library (to
/// build the driver) and a server that answers.
fn probe() -> Vec<Target> {
    BackendName::ALL
        .into_iter()
        .map(|backend| {
            let unavailable = if backend == BackendName::Sqlite {
                None
            } else if let Some(why) = backend.unbuildable() {
                Some(why)
            } else {
                let url = servers::server_url(backend.backend());
                reachable(&url).err().map(|e| {
                    let var = servers::url_var(backend.backend());
                    let url = crate::migrate::redact(&url);
                    format!("server unreachable at {url}: {e} (point {var} elsewhere)")
                })
            };
            Target {
                backend,
                unavailable,
            }
        })
        .collect()
}

/// Whether a server answers on the URL's host and port.
fn reachable(url: &str) -> Result<(), String> {
    let address = ServerAddress::parse(url)?;
    // A URL without a host means a Unix socket, which only the driver can try.
    let Some(host) = address.host else {
        return Ok(());
    };
    let socket = (host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    TcpStream::connect_timeout(&socket, Duration::from_secs(2))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Runs the suite; fails when a test fails or a `required` backend cannot run.
pub(crate) fn run(required: &[BackendName]) -> Result<(), String> {
    let targets = probe();
    let running: Vec<&Target> = targets.iter().filter(|t| t.unavailable.is_none()).collect();
    for target in &targets {
        match &target.unavailable {
            None => eprintln!("backend {:<8} runs", target.name()),
            Some(why) => eprintln!("backend {:<8} SKIPPED: {why}", target.name()),
        }
    }
    let missing: Vec<&str> = targets
        .iter()
        .filter(|t| t.unavailable.is_some() && required.contains(&t.backend))
        .map(Target::name)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "required backends cannot run: {}",
            missing.join(", ")
        ));
    }

    let features: Vec<String> = running
        .iter()
        .map(|t| format!("jobstore-conformance/{}", t.name()))
        .collect();
    let names: Vec<&str> = running.iter().map(|t| t.name()).collect();
    let mut child = Command::new(env!("CARGO"))
        // Every test binary runs, so the table counts them all even when one fails.
        .args(["test", "--workspace", "--no-fail-fast", "--features"])
        .arg(features.join(","))
        // A backend chosen here must run: its tests fail instead of skipping.
        .env("JOBSTORE_REQUIRE", names.join(","))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let mut per_backend: BTreeMap<&str, (u32, u32)> = names.iter().map(|n| (*n, (0, 0))).collect();
    let (mut passed, mut failed) = (0_u32, 0_u32);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(name) = line.strip_prefix("test ") {
                let ok = name.ends_with(" ... ok");
                let bad = name.ends_with(" ... FAILED");
                if !(ok || bad) {
                    continue;
                }
                let backend = names.iter().find(|b| {
                    name.starts_with(&format!("{b}::")) || name.contains(&format!("::{b}::"))
                });
                let entry = per_backend
                    .entry(backend.copied().unwrap_or("common"))
                    .or_default();
                entry.0 += 1;
                if ok {
                    entry.1 += 1;
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;

    println!();
    println!("{:<10} {:>10} {:>8}", "backend", "tests run", "passed");
    for (backend, (run, ok)) in &per_backend {
        println!("{backend:<10} {run:>10} {ok:>8}");
    }
    for target in targets.iter().filter(|t| t.unavailable.is_some()) {
        println!("{:<10} {:>10} {:>8}   skipped", target.name(), 0, 0);
    }
    println!("total: {passed} passed, {failed} failed");
    if !status.success() || failed > 0 {
        return Err("tests failed".to_owned());
    }
    if passed == 0 {
        return Err("no test ran".to_owned());
    }
    Ok(())
}
