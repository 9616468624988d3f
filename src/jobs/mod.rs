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

use std::sync::Arc;

use kobe_actors::job::{Job, JobContext, JobError, JobFactory, JobOutput};

use crate::app::App;

/// Every job tag the application implements (DESIGN §4).
pub const TAGS: [&str; 9] = [
    "DB_BACKUP",
    "DATA_UPDATE",
    "PRE_GAME",
    "PREGAME_BLUEPRINT",
    "FIRST_SCAN",
    "SCAN",
    "POSITION_MANAGER",
    "EOD_REPORT",
    "OVERNIGHT_WATCHLIST",
];

/// The factory for `tag`'s job body, or `None` for a tag the application does not know.
pub fn factory(tag: &str, app: Arc<App>) -> Option<JobFactory> {
    let tag: &'static str = TAGS.iter().copied().find(|t| *t == tag)?;
    Some(Arc::new(move || -> Arc<dyn Job> {
        let inner: Arc<dyn Job> = match tag {
            "DATA_UPDATE" => Arc::new(data_update::DataUpdate { app: app.clone() }),
            "DB_BACKUP" => Arc::new(db_backup::DbBackup { app: app.clone() }),
            "EOD_REPORT" => Arc::new(eod_report::EodReport { app: app.clone() }),
            "FIRST_SCAN" | "SCAN" => Arc::new(scan::Scan { app: app.clone() }),
            "OVERNIGHT_WATCHLIST" => {
                Arc::new(overnight_watchlist::OvernightWatchlist { app: app.clone() })
            }
            "PRE_GAME" => Arc::new(pre_game::PreGame { app: app.clone() }),
            "PREGAME_BLUEPRINT" => {
                Arc::new(pregame_blueprint::PregameBlueprint { app: app.clone() })
            }
            "POSITION_MANAGER" => Arc::new(position_manager::PositionManager::new(app.clone())),
            _ => Arc::new(placeholder::Placeholder { tag }),
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
        }
    }
}
