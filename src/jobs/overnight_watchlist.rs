//! OVERNIGHT_WATCHLIST: after the session's signals are known (close − 15 min), the Top 5 for
//! the next session in `state/watchlist/next_day.json`, the first of them the Trade of the Day.

use std::sync::Arc;

use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use super::scan::{as_of, scan_universe};
use crate::app::App;
use crate::watchlist::{self, NextDay, Pick};

pub struct OvernightWatchlist {
    pub app: Arc<App>,
}

impl Job for OvernightWatchlist {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        // The session's own bar is provisional here: in a replay the day's final bar, live
        // the latest the store holds for it.
        let Some(as_of) = as_of(ctx.session, ctx.clock.now(), true) else {
            return Ok(JobOutput::skipped("no_data", "no session to scan"));
        };
        let signals = scan_universe(app, as_of)?;
        let top5: Vec<Pick> = signals
            .iter()
            .take(5)
            .enumerate()
            .map(|(i, s)| Pick::from_signal(i + 1, s))
            .collect();
        let next = NextDay {
            generated_at: ctx.clock.now(),
            session: ctx.session,
            as_of,
            for_session: NyseCalendar.next_session(ctx.session).date,
            trade_of_the_day: top5.first().cloned(),
            top5,
        };
        let path = watchlist::dir(&app.home.state()).join(watchlist::NEXT_DAY);
        watchlist::write_json(&path, &next)
            .map_err(|e| JobError::Recoverable(format!("{}: {e}", path.display())))?;
        let names: Vec<&str> = next.top5.iter().map(|p| p.symbol.as_str()).collect();
        Ok(JobOutput::ok(format!(
            "for {}: {} (from {} signals as of {as_of}){}",
            next.for_session,
            if names.is_empty() {
                "no picks".into()
            } else {
                names.join(",")
            },
            signals.len(),
            if as_of == ctx.session {
                ""
            } else {
                "; the session's own bar was not in the store yet"
            }
        )))
    }
}
