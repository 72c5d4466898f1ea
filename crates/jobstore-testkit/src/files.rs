//! SQLite's side of test databases: files in the temporary folder named after the process that
//! owns them, the migrated template file, and sweeping the files of processes that are gone.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Once,
    time::{Duration, SystemTime},
};

use diesel::connection::SimpleConnection;
use jobstore_storage::DbConnection;

use crate::{
    KitError, TestBackend,
    server::{CONNECT_TIMEOUT, KEPT_PREFIX, SCRATCH_PREFIX, TEMPLATE_PREFIX},
    template::migrate,
};

/// What SQLite keeps beside a database file.
const SIBLINGS: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Where test files go.
pub(crate) fn folder() -> PathBuf {
    std::env::temp_dir()
}

/// The file of a new scratch database: `jobstore_t_<pid>_<n>.db` (or `jobstore_keep_…` when
/// kept), after sweeping the files of processes that are gone on first use.
pub(crate) fn scratch_path(number: u64, keep: bool) -> PathBuf {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(|| sweep(&folder()));
    let prefix = if keep { KEPT_PREFIX } else { SCRATCH_PREFIX };
    folder().join(format!("{prefix}{}_{number}.db", std::process::id()))
}

/// Removes a database file and its siblings.
pub(crate) fn remove(path: &Path) {
    for suffix in SIBLINGS {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = fs::remove_file(file);
    }
}

/// The bytes of the migrated template file `<name>.db`, made unless it exists.
///
/// Racing processes need no lock: each migrates a file of its own and renames it into place,
/// which is atomic, and reads the template once; so a file is never seen half made, and sweeping
/// a stale template harms no process that already read it.
pub(crate) fn template(name: &str) -> Result<Vec<u8>, KitError> {
    let folder = folder();
    let path = folder.join(format!("{name}.db"));
    if !path.exists() {
        let building = folder.join(format!("{name}.{}.tmp", std::process::id()));
        remove(&building);
        let made = make_template(&building, &path);
        remove(&building);
        made?;
    }
    // Templates of other migrations are left alone: another checkout's run may be reading one.
    fs::read(&path).map_err(|source| KitError::File {
        doing: "reading",
        path: path.display().to_string(),
        source,
    })
}

fn make_template(building: &Path, path: &Path) -> Result<(), KitError> {
    let backend = TestBackend::Sqlite;
    let url = building.to_string_lossy().into_owned();
    migrate(backend, &url)?;
    // Everything into the main file, so that its bytes alone are the database.
    let sql = "PRAGMA wal_checkpoint(TRUNCATE)";
    DbConnection::open(&url, CONNECT_TIMEOUT)
        .map_err(KitError::storage(backend, format!("opening {url}")))?
        .batch_execute(sql)
        .map_err(KitError::diesel(backend, sql))?;
    fs::rename(building, path).map_err(|source| KitError::File {
        doing: "renaming into place",
        path: path.display().to_string(),
        source,
    })
}

/// The names of the files in `folder`.
fn entries(folder: &Path) -> Vec<String> {
    fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the scratch and half-made template files whose process is gone.
pub(crate) fn sweep(folder: &Path) {
    for name in entries(folder) {
        if let Some(pid) = owner_pid(&name) {
            let path = folder.join(&name);
            if process_is_gone(pid, &path) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// The process id in `jobstore_t_<pid>_<n>.db…` or `jobstore_tpl_<fingerprint>.<pid>.tmp…`.
fn owner_pid(name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(SCRATCH_PREFIX) {
        let (pid, rest) = rest.split_once('_')?;
        let (number, suffix) = rest.split_once(".db")?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        return (digits(number) && SIBLINGS.contains(&suffix))
            .then(|| pid.parse().ok())
            .flatten();
    }
    let rest = name.strip_prefix(TEMPLATE_PREFIX)?;
    let (_, rest) = rest.split_once('.')?;
    let (pid, suffix) = rest.split_once(".tmp")?;
    SIBLINGS
        .contains(&suffix)
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether process `pid` has ended: where `/proc` lists processes, by its entry there;
/// elsewhere, when `file` has not changed for a day.
fn process_is_gone(pid: u32, file: &Path) -> bool {
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return !proc.join(pid.to_string()).exists();
    }
    fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > Duration::from_secs(24 * 60 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kits_files_have_an_owner() {
        assert_eq!(owner_pid("jobstore_t_4242_7.db"), Some(4242));
        assert_eq!(owner_pid("jobstore_t_4242_7.db-wal"), Some(4242));
        assert_eq!(
            owner_pid("jobstore_tpl_0123456789abcdef.4242.tmp-shm"),
            Some(4242)
        );
        assert_eq!(owner_pid("jobstore_tpl_0123456789abcdef.db"), None);
        assert_eq!(owner_pid("jobstore_keep_4242_7.db"), None);
        assert_eq!(owner_pid("jobstore-t-0a1b2c.db"), None);
        assert_eq!(owner_pid("jobstore_t_4242_7.dbx"), None);
    }

    #[test]
    fn a_process_that_runs_is_not_gone() {
        assert!(!process_is_gone(
            std::process::id(),
            Path::new("/nonexistent")
        ));
    }
}
