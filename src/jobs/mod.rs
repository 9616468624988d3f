//! The application's jobs, one file per job, and the table that maps a tag to its body.

pub mod data_update;
pub mod db_backup;
pub mod eod_report;
pub mod overnight_watchlist;
pub mod placeholder;
pub mod position_manager;
pub mod pre_game;
pub mod pregame_blueprint;
pub mod scan;
pub mod tag;

pub use tag::{tag_names, JobTag};

use std::sync::Arc;

use kobe_actors::job::{Job, JobContext, JobError, JobFactory, JobOutput};

use crate::app::App;

/// The factory for `tag`'s job body, or `None` for a tag the application does not know.
pub fn factory(tag: &str, app: Arc<App>) -> Option<JobFactory> {
    let tag: JobTag = tag.parse().ok()?;
    Some(Arc::new(move || -> Arc<dyn Job> {
        let inner: Arc<dyn Job> = match tag {
            JobTag::DataUpdate => Arc::new(data_update::DataUpdate { app: app.clone() }),
            JobTag::DbBackup => Arc::new(db_backup::DbBackup { app: app.clone() }),
            JobTag::EodReport => Arc::new(eod_report::EodReport::new(app.clone())),
            JobTag::FirstScan | JobTag::Scan => Arc::new(scan::Scan { app: app.clone() }),
            JobTag::OvernightWatchlist => {
                Arc::new(overnight_watchlist::OvernightWatchlist { app: app.clone() })
            }
            JobTag::PreGame => Arc::new(pre_game::PreGame { app: app.clone() }),
            JobTag::PregameBlueprint => {
                Arc::new(pregame_blueprint::PregameBlueprint { app: app.clone() })
            }
            JobTag::PositionManager => {
                Arc::new(position_manager::PositionManager::new(app.clone()))
            }
        };
        Arc::new(Redacted {
            inner,
            app: app.clone(),
        })
    }))
}

/// Every job's detail and error text pass through here before they are recorded anywhere
/// (jobs log, ledger, health, events): a secret a body quoted by mistake becomes `***`.
struct Redacted {
    inner: Arc<dyn Job>,
    app: Arc<App>,
}

impl Job for Redacted {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let redact = |t: String| self.app.secrets.redact(&t);
        match self.inner.run(ctx) {
            Ok(out) => Ok(JobOutput {
                skipped_reason: out.skipped_reason,
                detail: redact(out.detail),
            }),
            Err(JobError::Recoverable(m)) => Err(JobError::Recoverable(redact(m))),
            Err(JobError::Unrecoverable(m)) => Err(JobError::Unrecoverable(redact(m))),
            Err(JobError::Storage(m)) => Err(JobError::Storage(redact(m))),
            Err(JobError::Attention(m)) => Err(JobError::Attention(redact(m))),
        }
    }
}
