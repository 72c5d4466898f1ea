//! `cargo xtask migrate`: applies pending migrations, or lists, reverts or redoes them, on the
//! database given by `--database-url` or else configured by the environment.

use std::time::Duration;

use jobstore_migrator::{MigrateError, MigrationId, Migrator, Status};
use jobstore_storage::StoreConfig;

use crate::{TaskResult, backends::BackendName};

/// `cargo xtask migrate [run|status|revert [--all]|redo] [--database-url URL]`
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// The database: postgres://…, mysql://…, sqlite://…, or a file path. Default: DATABASE_URL,
    /// else the DB_TYPE / MYSQL_* / SQLITE_PATH variables (from the environment or .env), else
    /// jobstore.db in the current folder.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// How long to wait for another migrator to finish, in seconds.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 300)]
    lock_timeout: u64,
}

/// What to do (apply pending migrations when none is given).
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Apply every pending migration (the default).
    Run,
    /// List the migrations, applied and pending.
    Status,
    /// Revert the newest applied migration.
    Revert {
        /// Revert every applied migration, newest first.
        #[arg(long)]
        all: bool,
    },
    /// Revert the newest applied migration and apply it again.
    Redo,
}

impl Args {
    /// The database to migrate: `--database-url`, else the environment's.
    pub(crate) fn config(&self) -> Result<StoreConfig, jobstore_storage::StorageError> {
        match &self.database_url {
            Some(url) => Ok(StoreConfig::new(url.as_str())),
            None => StoreConfig::from_env(),
        }
    }

    /// The backend of the database to migrate, when the configuration names one.
    pub(crate) fn backend(&self) -> Option<BackendName> {
        let backend = self.config().ok()?.backend().ok()?;
        Some(BackendName::of(backend))
    }
}

pub(crate) fn run(args: Args) -> TaskResult {
    let config = args.config()?;
    let mut migrator =
        Migrator::from_config(&config)?.lock_timeout(Duration::from_secs(args.lock_timeout));
    println!("{} database {}", migrator.backend(), redact(&config.url));

    match args.action.unwrap_or(Action::Run) {
        Action::Run => {
            let applied = migrator.run_pending()?;
            for id in &applied {
                println!("  applied   {id}");
            }
            match applied.len() {
                0 => println!("nothing to apply: the database is up to date"),
                1 => println!("1 migration applied"),
                n => println!("{n} migrations applied"),
            }
        }
        Action::Status => print_status(&migrator.status()?),
        Action::Revert { all: true } => {
            let reverted = migrator.revert_all()?;
            for id in &reverted {
                println!("  reverted  {id}");
            }
            match reverted.len() {
                0 => println!("nothing to revert: no migration is applied"),
                1 => println!("1 migration reverted"),
                n => println!("{n} migrations reverted"),
            }
        }
        Action::Revert { all: false } => match migrator.revert_last() {
            Ok(id) => println!("  reverted  {id}"),
            Err(MigrateError::NothingToRevert) => {
                println!("nothing to revert: no migration is applied");
            }
            Err(e) => return Err(e.into()),
        },
        Action::Redo => match migrator.redo() {
            Ok(id) => {
                println!("  reverted  {id}");
                println!("  applied   {id}");
            }
            Err(MigrateError::NothingToRevert) => {
                println!("nothing to redo: no migration is applied");
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

/// The migrations as a table, in version order, then a summary line.
fn print_status(status: &Status) {
    let mut rows: Vec<(&MigrationId, &str)> = status
        .applied
        .iter()
        .map(|id| {
            let state = if id.is_known() {
                "applied"
            } else {
                "applied (not in this build)"
            };
            (id, state)
        })
        .chain(status.pending.iter().map(|id| (id, "pending")))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let width = rows
        .iter()
        .map(|(id, _)| id.to_string().len())
        .chain(["MIGRATION".len()])
        .max()
        .unwrap_or_default();
    println!("  {:<width$}  STATE", "MIGRATION");
    for (id, state) in &rows {
        println!("  {:<width$}  {state}", id.to_string());
    }
    let summary = format!(
        "{} applied, {} pending",
        status.applied.len(),
        status.pending.len()
    );
    if status.is_up_to_date() {
        println!("{summary}: the database is up to date");
    } else {
        println!("{summary}: run `cargo xtask migrate` to apply");
    }
}

/// The URL with its password hidden, fit to print.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("mysql://root:secret@127.0.0.1:3306/db?x=1"),
            "mysql://root:***@127.0.0.1:3306/db?x=1"
        );
        assert_eq!(
            redact("postgres://postgres@h/db"),
            "postgres://postgres@h/db"
        );
        assert_eq!(redact("jobstore.db"), "jobstore.db");
    }
}
