//! OVERNIGHT_WATCHLIST: after the session's signals are known (close − 15 min), the Top 5 for
//! the next session in `state/watchlist/next_day.json`, the first of them the Trade of the Day.
//!
//! It scans on the session's own provisional bar (DESIGN §7): in a replay the day's final bar;
//! live the store's bar if it has one, else today's bar so far from Polygon's snapshot; without
//! either it scans the previous session and says so.

use std::sync::Arc;

use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::data::market::Provisional;
use crate::jobs::scan::scan_universe;
use crate::scan::{scan, window};
use crate::watchlist::{self, NextDay, Pick};

pub struct OvernightWatchlist {
    pub app: Arc<App>,
}

impl Job for OvernightWatchlist {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let session = ctx.session;
        if !NyseCalendar.is_session(session) {
            return Ok(JobOutput::skipped(
                "no_session",
                format!("{session} is not a session"),
            ));
        }
        let universe = app
            .universe()
            .map_err(|e| JobError::Recoverable(e.to_string()))?;
        // The store's bars when it has the session's bar for some symbol (a replay's final bar,
        // or bars already updated): the scan of that date. Else the market's provisional bars
        // are added to a copy.
        let on_store = scan_universe(app, session)?;
        let on_store = on_store.1.is_none().then(|| on_store.0.clone());
        let (signals, as_of, note) = match on_store {
            Some(signals) => (signals, session, None),
            None => {
                let mut series = app
                    .store()
                    .load_window(Some(&universe), Some(window(session)))
                    .series;
                let previous = NyseCalendar.previous_session(session).date;
                let (as_of, note) = match app.market().add_provisional_bars(&mut series, session) {
                    Provisional::NotKept => (session, None),
                    Provisional::Added(added) => (
                        session,
                        Some(format!(
                            "provisional bars of {added} symbols from Polygon's snapshot"
                        )),
                    ),
                    Provisional::Unavailable(why) => (
                        previous,
                        Some(format!("no provisional bar ({why}): scanned {previous}")),
                    ),
                };
                (scan(&series, &universe, as_of), as_of, note)
            }
        };
        let top5: Vec<Pick> = signals
            .iter()
            .take(5)
            .enumerate()
            .map(|(i, s)| Pick::from_signal(i + 1, s))
            .collect();
        let next = NextDay {
            generated_at: ctx.clock.now(),
            session,
            as_of,
            for_session: NyseCalendar.next_session(session).date,
            trade_of_the_day: top5.first().cloned(),
            top5,
        };
        let path = watchlist::dir(&app.home.state()).join(watchlist::NEXT_DAY);
        watchlist::replace(&path, &next, app.durability())
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
            note.map(|n| format!("; {n}")).unwrap_or_default()
        )))
    }
}
