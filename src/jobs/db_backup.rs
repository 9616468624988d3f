//! DB_BACKUP: a backup archive of the home (see `backup`), the newest `[backup] keep` kept.

use std::sync::Arc;

use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;

pub struct DbBackup {
    pub app: Arc<App>,
}

impl Job for DbBackup {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        if self.app.mode.is_replay() {
            // A replay would archive its own growing logs every simulated morning: minutes of
            // gzip for nothing a person needs. Back the home up by hand after it.
            return Ok(JobOutput::skipped(
                "replay",
                "no backup during a replay: run `kobe backup` after it",
            ));
        }
        let stamp = ctx
            .clock
            .now()
            .with_timezone(&EXCHANGE_TZ)
            .format("%Y%m%d_%H%M%S")
            .to_string();
        let path = crate::backup::create(self.app.home.root(), &stamp, self.app.config.backup.keep)
            .map_err(|e| JobError::Recoverable(e.to_string()))?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        tracing::info!(path = %path.display(), bytes = size, "backup written");
        // The detail names the archive only: its size depends on logs that differ run to run.
        Ok(JobOutput::ok(
            path.strip_prefix(self.app.home.root())
                .unwrap_or(&path)
                .display()
                .to_string(),
        ))
    }
}
