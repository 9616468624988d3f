//! `kobe backup [verify FILE]` and `kobe restore FILE --to DIR`: archives of the home.

use std::path::PathBuf;

use super::{CommandError, Context, Done};
use crate::config::ET;

#[derive(Debug, clap::Args)]
pub struct Backup {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupAction {
    /// Read the whole archive and run PRAGMA integrity_check on each database in it.
    Verify { file: PathBuf },
}

impl Backup {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        match self.action {
            None => {
                let config = ctx.load_config()?;
                // The archive is named for the operator's market time, like DB_BACKUP's.
                let stamp = ctx
                    .wall
                    .now()
                    .with_timezone(&ET)
                    .format("%Y%m%d_%H%M%S")
                    .to_string();
                let path = crate::backup::create(ctx.home.root(), &stamp, config.backup.keep)?;
                Ok(format!("{}\n", path.display()).into())
            }
            Some(BackupAction::Verify { file }) => {
                let v = crate::backup::verify(&file)?;
                Ok(format!(
                    "{}: ok, {} files, databases intact: {}\n",
                    file.display(),
                    v.files.len(),
                    v.databases.join(", ")
                )
                .into())
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Restore {
    pub file: PathBuf,
    #[arg(long)]
    pub to: PathBuf,
}

impl Restore {
    pub fn run(self, _: Context) -> Result<Done, CommandError> {
        let v = crate::backup::restore(&self.file, &self.to)?;
        Ok(format!(
            "restored {} files into {}\n",
            v.files.len(),
            self.to.display()
        )
        .into())
    }
}
