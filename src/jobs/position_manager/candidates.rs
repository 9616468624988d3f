//! Where entries come from: the validated watchlist of the session (picks whose gap was
//! measured) and the scans' hand-offs.

use chrono::NaiveDate;
use serde::Deserialize;

use super::PositionManager;
use crate::domain::EntrySource;
use crate::strategy::signals::Strategy;
use crate::watchlist::{self, GapStatus, Validated};

/// An entry candidate, from the validated watchlist or a scan's hand-off.
pub(super) struct Candidate {
    pub symbol: String,
    pub strategy: Strategy,
    pub stop: f64,
    pub target: Option<f64>,
    pub source: EntrySource,
}

#[derive(Deserialize)]
struct Handoff {
    session: NaiveDate,
    entries: Vec<HandoffEntry>,
}

#[derive(Deserialize)]
struct HandoffEntry {
    symbol: String,
    strategy: Strategy,
    stop: f64,
    target: Option<f64>,
}

impl PositionManager {
    /// The session's entry candidates, watchlist first.
    pub(super) fn candidates(&self, session: NaiveDate) -> Vec<Candidate> {
        let state = self.app.home.state();
        let mut out = Vec::new();
        let validated: Option<Validated> =
            watchlist::read(&watchlist::dir(&state).join(watchlist::VALIDATED))
                .ok()
                .flatten();
        for e in validated
            .into_iter()
            .filter(|v| v.for_session == session)
            .flat_map(|v| v.entries)
        {
            // Unchecked picks are not entered: a gap nobody measured may be a 10 % gap.
            if matches!(
                e.status,
                GapStatus::Ok | GapStatus::Improved | GapStatus::Degraded
            ) {
                out.push(Candidate {
                    symbol: e.pick.symbol,
                    strategy: e.pick.strategy,
                    stop: e.pick.stop,
                    target: e.pick.target,
                    source: EntrySource::Watchlist,
                });
            }
        }
        let handoff_path = state
            .join("scans")
            .join(format!("handoff_{}.json", session.format("%Y%m%d")));
        if let Ok(Some(h)) = watchlist::read::<Handoff>(&handoff_path) {
            for e in h.entries.into_iter().filter(|_| h.session == session) {
                out.push(Candidate {
                    symbol: e.symbol,
                    strategy: e.strategy,
                    stop: e.stop,
                    target: e.target,
                    source: EntrySource::Scan,
                });
            }
        }
        out
    }
}
