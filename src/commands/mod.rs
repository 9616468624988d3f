//! `kobe` subcommands, one file each: a clap `Args` type per subcommand, whose `run` does the
//! work and says what to print and how the process exits. The binary only parses and dispatches.

pub mod backup;
pub mod book;
pub mod calendar;
pub mod data;
pub mod kill_switch;
pub mod run_job;
pub mod scan;
pub mod schedule;
pub mod status;

use std::path::PathBuf;
use std::sync::Arc;

use kobe_actors::clock::Clock;

use crate::app::{App, RunMode};
use crate::config::{Config, ConfigError};
use crate::home::Home;
use crate::secrets::Secrets;

/// What every subcommand gets besides its own flags.
pub struct Context {
    pub home: Home,
    /// `--config` (else `<home>/config/kobe.toml`, else the embedded default).
    pub config: Option<PathBuf>,
    /// The only clock a subcommand reads.
    pub wall: Arc<dyn Clock>,
}

impl Context {
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        Config::load(self.config.as_deref(), self.home.root())
    }
}

/// What a subcommand printed and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub text: String,
    pub code: u8,
}

impl From<String> for Done {
    fn from(text: String) -> Self {
        Self { text, code: 0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A flag or a state of the home the operator can fix; the text says which.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Alpaca(#[from] crate::app::AlpacaSetupError),
    #[error(transparent)]
    Trading(#[from] crate::trading::LedgerError),
    #[error(transparent)]
    Import(#[from] crate::data::import::ImportError),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error(transparent)]
    KillSwitch(#[from] kill_switch::KillSwitchCommandError),
    #[error(transparent)]
    RunJob(#[from] run_job::RunJobError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl CommandError {
    /// 2 for what the operator can fix (flags, config, files); `run-job` and backups say
    /// which of theirs are 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::RunJob(e) => e.exit_code(),
            CommandError::Backup(e) => e.exit_code(),
            // A running replay holds the ledger: another runner has it (DESIGN §6's 3).
            CommandError::Trading(crate::trading::LedgerError::Busy { .. }) => 3,
            _ => 2,
        }
    }
}

/// A refusal unless `ok`.
fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), CommandError> {
    if ok {
        Ok(())
    } else {
        Err(CommandError::Refused(why()))
    }
}

/// The application as an operator's command runs it: paper mode, never live.
pub fn operator_app(
    home: Home,
    config: Config,
    secrets: Secrets,
    universe: Option<PathBuf>,
    cap: Option<usize>,
) -> App {
    App::new(RunMode::Paper, home, config, secrets).with_universe(universe, cap)
}
