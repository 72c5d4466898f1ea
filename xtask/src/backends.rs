//! The backends as named on the command line, their client libraries, and which build of xtask
//! has their drivers.
//!
//! xtask builds with SQLite only (compiled in from source), so it builds on a machine without any
//! database client library. A task that talks to a server in this process (`migrate` on a server
//! URL, `bench`, `restart`) runs xtask again, with the server's Cargo feature, when the server's
//! client library is installed. `test` and `ci` need no driver in this process: the suite is a
//! `cargo test` of its own, built with the features of the backends that can run.

use std::{
    ffi::OsString,
    process::{Command, ExitCode, Stdio},
};

use jobstore_storage::Backend;

/// A backend, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum BackendName {
    /// PostgreSQL (needs libpq).
    Postgres,
    /// MySQL 8 or MariaDB 10.6+ (needs the MySQL client library).
    Mysql,
    /// SQLite (compiled in).
    Sqlite,
}

impl BackendName {
    /// Every backend, in the order tables list them.
    pub(crate) const ALL: [BackendName; 3] = [
        BackendName::Sqlite,
        BackendName::Postgres,
        BackendName::Mysql,
    ];

    /// The name of jobstore's `backend`.
    pub(crate) const fn of(backend: Backend) -> BackendName {
        match backend {
            Backend::Postgres => BackendName::Postgres,
            Backend::Mysql => BackendName::Mysql,
            Backend::Sqlite => BackendName::Sqlite,
        }
    }

    /// jobstore's backend.
    pub(crate) const fn backend(self) -> Backend {
        match self {
            BackendName::Postgres => Backend::Postgres,
            BackendName::Mysql => Backend::Mysql,
            BackendName::Sqlite => Backend::Sqlite,
        }
    }

    /// The name on the command line, and of the Cargo feature of every jobstore crate
    /// (xtask's, the suite's, storage's) that builds the backend in.
    pub(crate) const fn name(self) -> &'static str {
        self.backend().name()
    }

    /// The native library the backend's driver links, if it links one (SQLite is compiled in).
    pub(crate) const fn client_library(self) -> Option<ClientLibrary> {
        match self {
            BackendName::Postgres => Some(ClientLibrary {
                pkg_config: "libpq",
                link_name: "pq",
                config_tool: "pg_config",
                config_libdir: "--libdir",
                lib_dir_var: "PQ_LIB_DIR",
                debian_package: "libpq-dev",
            }),
            BackendName::Mysql => Some(ClientLibrary {
                pkg_config: "mysqlclient",
                link_name: "mysqlclient",
                config_tool: "mysql_config",
                config_libdir: "--variable=pkglibdir",
                lib_dir_var: "MYSQLCLIENT_LIB_DIR",
                debian_package: "default-libmysqlclient-dev",
            }),
            BackendName::Sqlite => None,
        }
    }

    /// Why a driver for the backend cannot be built here, if it cannot.
    pub(crate) fn unbuildable(self) -> Option<String> {
        let library = self.client_library()?;
        (!library.is_installed()).then(|| {
            format!(
                "client library {} is not installed (Debian: apt-get install {})",
                library.pkg_config, library.debian_package
            )
        })
    }
}

impl std::fmt::Display for BackendName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A native client library, found the way its `-sys` crate's build script looks for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLibrary {
    /// Its pkg-config name.
    pkg_config: &'static str,
    /// The name the linker is given (`-l<name>`).
    link_name: &'static str,
    /// The tool that ships with its headers and says where it is.
    config_tool: &'static str,
    /// The tool's argument that prints the library's folder.
    config_libdir: &'static str,
    /// The variable that points the build script at it.
    lib_dir_var: &'static str,
    /// The Debian package that installs it for building.
    debian_package: &'static str,
}

impl ClientLibrary {
    fn is_installed(self) -> bool {
        let succeeds = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // The config tool alone is not enough: Debian's postgresql-common ships a `pg_config`
        // without libpq-dev. The linker needs `lib<name>.so` (or `.a`) in its folder.
        let linkable = || {
            Command::new(self.config_tool)
                .arg(self.config_libdir)
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .is_some_and(|dir| {
                    ["so", "a"].iter().any(|ext| {
                        std::path::Path::new(&dir)
                            .join(format!("lib{}.{ext}", self.link_name))
                            .exists()
                    })
                })
        };
        std::env::var_os(self.lib_dir_var).is_some()
            || succeeds("pkg-config", &["--exists", self.pkg_config])
            || linkable()
    }
}

/// Set in the environment of a re-run, so that a build that still lacks a driver fails instead of
/// running itself again forever.
const RERUN_VAR: &str = "JOBSTORE_XTASK_RERUN";

/// Whether this build of xtask can run a task that talks to `backends` (and, when `release`, is
/// optimised); when it cannot, runs this same command again from the build that can, and returns
/// its exit status.
pub(crate) fn rerun_unless_built_for(backends: &[BackendName], release: bool) -> Option<ExitCode> {
    let missing: Vec<BackendName> = backends
        .iter()
        .copied()
        .filter(|b| !b.backend().is_enabled())
        .collect();
    let needs_release = release && cfg!(debug_assertions);
    if missing.is_empty() && !needs_release {
        return None;
    }
    if std::env::var_os(RERUN_VAR).is_some() {
        eprintln!("error: xtask ran itself again and still lacks {missing:?}");
        return Some(ExitCode::FAILURE);
    }
    let unbuildable: Vec<String> = missing
        .iter()
        .filter_map(|b| b.unbuildable().map(|why| format!("{b}: {why}")))
        .collect();
    if !unbuildable.is_empty() {
        eprintln!(
            "error: this task needs a driver that cannot be built here: {}",
            unbuildable.join("; ")
        );
        return Some(ExitCode::FAILURE);
    }
    // The features this build has, plus the missing ones: a re-run never loses a driver.
    let features: Vec<&str> = BackendName::ALL
        .into_iter()
        .filter(|b| b.client_library().is_some())
        .filter(|b| b.backend().is_enabled() || missing.contains(b))
        .map(BackendName::name)
        .collect();
    Some(run_xtask(&features, release, std::env::args_os().skip(1)))
}

/// Runs xtask with `args`, built with `features` (and optimised when `release`).
fn run_xtask(features: &[&str], release: bool, args: impl Iterator<Item = OsString>) -> ExitCode {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["run", "--quiet", "--package", "xtask"]);
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    if release {
        cargo.arg("--release");
    }
    let status = cargo.arg("--").args(args).env(RERUN_VAR, "1").status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}
