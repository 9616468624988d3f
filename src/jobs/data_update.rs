//! DATA_UPDATE: fills the bar store from its last date to the last completed session, through
//! Polygon's grouped-daily endpoint (one call per session for the whole market), and fetches
//! the history of symbols new to the universe per ticker.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::data::bars::Bar;
use crate::data::polygon::{PolygonClient, PolygonError};

/// The first session of the last `n` sessions up to `target` (for a new symbol's history).
pub fn history_start(target: NaiveDate, n: usize) -> NaiveDate {
    let lookback = chrono::TimeDelta::days(n as i64 * 3 / 2 + 30);
    let sessions = NyseCalendar.sessions(target - lookback, target);
    sessions
        .get(sessions.len().saturating_sub(n.max(1)))
        .map_or(target, |s| s.date)
}

pub struct DataUpdate {
    pub app: Arc<App>,
}

/// The latest session whose close is at or before `now` (DESIGN §7).
pub fn last_completed_session(now: chrono::DateTime<Utc>) -> NaiveDate {
    crate::data::visibility::last_completed_session(now)
}

impl Job for DataUpdate {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        if self.app.mode.is_replay() {
            return Ok(JobOutput::ok(
                "replay: bars are revealed by the visibility rule, not fetched",
            ));
        }
        let Some(key) = self.app.secrets.get("POLYGON_API_KEY") else {
            return Ok(JobOutput::skipped(
                "no_api_key",
                "POLYGON_API_KEY is not set: bars not updated",
            ));
        };
        let universe = self
            .app
            .universe()
            .map_err(|e| JobError::Recoverable(e.to_string()))?;
        let store = self.app.store();
        let target = last_completed_session(ctx.clock.now());

        let mut last_dates = BTreeMap::new();
        let mut new_symbols = Vec::new();
        let mut corrupt = Vec::new();
        for symbol in &universe {
            match store.load_symbol(symbol) {
                Ok(Some((bars, _))) => {
                    last_dates.insert(symbol.clone(), bars.last().map(|b| b.date));
                }
                Ok(None) => new_symbols.push(symbol.clone()),
                // A corrupt file is never overwritten: it is named and left for the operator.
                Err(e) => {
                    tracing::error!(error = %e, "symbol skipped by DATA_UPDATE");
                    corrupt.push(symbol.clone());
                }
            }
        }
        // From the symbol that lags most: one that missed a day (a crash mid-merge, a file
        // repaired later) catches up; the others just get their newest bars again.
        let cache_last = last_dates.values().flatten().min().copied();
        let settings = &self.app.config.polygon;
        let mut client =
            PolygonClient::new(key, settings).map_err(|e| JobError::Recoverable(e.to_string()))?;

        let days: Vec<NaiveDate> = match cache_last {
            Some(last) if last < target => NyseCalendar
                .sessions(last.succ_opt().unwrap_or(last), target)
                .into_iter()
                .map(|s| s.date)
                .collect(),
            _ => Vec::new(),
        };
        let known: BTreeSet<&String> = last_dates.keys().collect();
        let mut fetched: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
        let mut done_days = Vec::new();
        let mut failure: Option<PolygonError> = None;
        for day in &days {
            match client.grouped_daily(*day) {
                Ok(rows) => {
                    for (ticker, bar) in rows {
                        if known.contains(&ticker) {
                            fetched.entry(ticker).or_default().push(bar);
                        }
                    }
                    done_days.push(*day);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let from = history_start(target, settings.history_sessions);
        let mut new_fetched = 0;
        if failure.is_none() {
            for symbol in &new_symbols {
                match client.ticker_range(symbol, from, target) {
                    Ok(bars) => {
                        new_fetched += 1;
                        fetched.insert(symbol.clone(), bars);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        // Keep what was fetched completely: each file is rewritten atomically, so an
        // interruption leaves every symbol as before or fully updated.
        let mut bars_added = 0;
        for (symbol, bars) in &fetched {
            match store.merge_symbol(symbol, bars) {
                Ok(n) => bars_added += n,
                Err(e) => tracing::error!(error = %e, "bars not written"),
            }
        }
        let summary = format!(
            "{} of {} sessions fetched{} in {} calls: +{bars_added} bars over {} symbols; {new_fetched} of {} new symbols; store through {}",
            done_days.len(),
            days.len(),
            match (done_days.first(), done_days.last()) {
                (Some(a), Some(b)) => format!(" ({a}..{b})"),
                _ => String::new(),
            },
            client.calls,
            fetched.len(),
            new_symbols.len(),
            done_days.last().copied().or(cache_last).map_or("-".into(), |d| d.to_string()),
        ) + &if corrupt.is_empty() {
            String::new()
        } else {
            format!("; {} corrupt files left as they are: {}", corrupt.len(), corrupt.join(","))
        };
        match failure {
            None => Ok(JobOutput::ok(summary)),
            Some(e) => Err(JobError::Recoverable(format!("{e}; {summary}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kobe_actors::calendar::EXCHANGE_TZ;

    #[test]
    fn a_new_symbol_gets_its_full_history() {
        for (target, n) in [
            ("2018-02-07", 300),
            ("2024-12-31", 300),
            ("2016-06-01", 1),
            ("2020-01-02", 600),
        ] {
            let target: NaiveDate = target.parse().unwrap();
            let from = history_start(target, n);
            assert_eq!(NyseCalendar.sessions(from, target).len(), n, "{target} {n}");
        }
    }

    #[test]
    fn the_last_completed_session() {
        let at = |y, m, d, h, min| {
            EXCHANGE_TZ
                .with_ymd_and_hms(y, m, d, h, min, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let cases = [
            (at(2018, 2, 8, 6, 0), "2018-02-07"),
            (at(2018, 2, 8, 16, 0), "2018-02-08"),
            (at(2018, 2, 8, 15, 59), "2018-02-07"),
            (at(2018, 2, 10, 12, 0), "2018-02-09"), // Saturday
            (at(2024, 11, 29, 13, 0), "2024-11-29"), // early close
            (at(2024, 11, 28, 17, 0), "2024-11-27"), // Thanksgiving
        ];
        for (now, want) in cases {
            assert_eq!(last_completed_session(now).to_string(), want, "{now}");
        }
    }
}
