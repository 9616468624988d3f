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
    /// The session's entry candidates, watchlist first; and what could not be read (a torn
    /// or foreign file is never taken for "no candidates" in silence: nothing is entered from
    /// it, and the cycle says so).
    pub(super) fn candidates(&self, session: NaiveDate) -> (Vec<Candidate>, Vec<String>) {
        let state = self.app.home.state();
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        let validated: Option<Validated> =
            match watchlist::read(&watchlist::dir(&state).join(watchlist::VALIDATED)) {
                Ok(v) => v,
                Err(e) => {
                    unreadable.push(e.to_string());
                    None
                }
            };
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
        match watchlist::read::<Handoff>(&handoff_path) {
            Ok(Some(h)) => {
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
            Ok(None) => {}
            Err(e) => unreadable.push(e.to_string()),
        }
        (out, unreadable)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::App;
    use crate::config::{Config, EMBEDDED_DEFAULT};
    use crate::home::Home;
    use crate::jobs::position_manager::PositionManager;
    use crate::secrets::Secrets;
    use kobe_actors::mode::RunMode;

    #[test]
    fn a_candidates_file_that_cannot_be_read_is_said_and_the_others_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::resolve(Some(dir.path()));
        let config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        let manager = PositionManager::new(Arc::new(App::new(
            RunMode::Paper,
            home,
            config,
            Secrets::default(),
        )));
        let session = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(watchlist::dir(&state)).unwrap();
        std::fs::create_dir_all(state.join("scans")).unwrap();
        std::fs::write(watchlist::dir(&state).join(watchlist::VALIDATED), "{ torn").unwrap();
        std::fs::write(
            state.join("scans/handoff_20240501.json"),
            r#"{"session":"2024-05-01","entries":[{"symbol":"AAA","strategy":"IBS_RSI","stop":9.5,"target":null}]}"#,
        )
        .unwrap();
        let (found, unreadable) = manager.candidates(session);
        let symbols: Vec<&str> = found.iter().map(|c| c.symbol.as_str()).collect();
        assert_eq!(symbols, ["AAA"]);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        assert!(
            unreadable[0].contains(watchlist::VALIDATED),
            "{unreadable:?}"
        );
        // Nothing there at all is no candidates, and nothing to say.
        std::fs::remove_file(watchlist::dir(&state).join(watchlist::VALIDATED)).unwrap();
        std::fs::remove_file(state.join("scans/handoff_20240501.json")).unwrap();
        let (found, unreadable) = manager.candidates(session);
        assert!(found.is_empty() && unreadable.is_empty());
    }
}
