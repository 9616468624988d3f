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
use crate::data::store::BarStore;

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

        let survey = StoreSurvey::of(&store, &universe);
        // From the symbol that lags most: one that missed a day (a crash mid-merge, a file
        // repaired later) catches up; the others just get their newest bars again.
        let cache_last = survey.last_dates.values().flatten().min().copied();
        let settings = &self.app.config.polygon;
        let mut client =
            PolygonClient::new(key, settings).map_err(|e| JobError::Recoverable(e.to_string()))?;

        let days = sessions_to_fetch(cache_last, target);
        let mut fetched = Fetched::default();
        fetched.sessions(&mut client, &days, &survey.last_dates.keys().collect());
        let from = history_start(target, settings.history_sessions);
        if fetched.failure.is_none() {
            fetched.new_histories(&mut client, &survey.new_symbols, from, target);
        }
        let bars_added = merge_fetched(&store, &fetched.bars);
        let summary = fetched.summary(&survey, days.len(), client.calls, bars_added, cache_last);
        match fetched.failure {
            None => Ok(JobOutput::ok(summary)),
            Some(e) => Err(JobError::Recoverable(format!("{e}; {summary}"))),
        }
    }
}

/// What the store holds of the universe before the update.
struct StoreSurvey {
    /// Each stored symbol's last bar date (`None` for a file with no valid bar).
    last_dates: BTreeMap<String, Option<NaiveDate>>,
    /// Symbols with no file yet: their history is fetched per ticker.
    new_symbols: Vec<String>,
    corrupt: Vec<String>,
}

impl StoreSurvey {
    fn of(store: &BarStore, universe: &[String]) -> Self {
        let mut survey = Self {
            last_dates: BTreeMap::new(),
            new_symbols: Vec::new(),
            corrupt: Vec::new(),
        };
        for symbol in universe {
            match store.load_symbol(symbol) {
                Ok(Some((bars, _))) => {
                    survey
                        .last_dates
                        .insert(symbol.clone(), bars.last().map(|b| b.date));
                }
                Ok(None) => survey.new_symbols.push(symbol.clone()),
                // A corrupt file is never overwritten: it is named and left for the operator.
                Err(e) => {
                    tracing::error!(error = %e, "symbol skipped by DATA_UPDATE");
                    survey.corrupt.push(symbol.clone());
                }
            }
        }
        survey
    }
}

/// The sessions after the store's last date up to `target`; none when it is up to date.
fn sessions_to_fetch(cache_last: Option<NaiveDate>, target: NaiveDate) -> Vec<NaiveDate> {
    match cache_last {
        Some(last) if last < target => NyseCalendar
            .sessions(last.succ_opt().unwrap_or(last), target)
            .into_iter()
            .map(|s| s.date)
            .collect(),
        _ => Vec::new(),
    }
}

/// What Polygon gave before the run finished or met its first error (which stops all
/// further calls).
#[derive(Default)]
struct Fetched {
    bars: BTreeMap<String, Vec<Bar>>,
    done_days: Vec<NaiveDate>,
    new_fetched: usize,
    failure: Option<PolygonError>,
}

impl Fetched {
    /// One grouped-daily call per session, keeping the rows of the symbols already stored.
    fn sessions(
        &mut self,
        client: &mut PolygonClient,
        days: &[NaiveDate],
        known: &BTreeSet<&String>,
    ) {
        for day in days {
            match client.grouped_daily(*day) {
                Ok(rows) => {
                    for (ticker, bar) in rows {
                        if known.contains(&ticker) {
                            self.bars.entry(ticker).or_default().push(bar);
                        }
                    }
                    self.done_days.push(*day);
                }
                Err(e) => {
                    self.failure = Some(e);
                    break;
                }
            }
        }
    }

    /// The history of each symbol new to the universe, from `from` to `target`.
    fn new_histories(
        &mut self,
        client: &mut PolygonClient,
        symbols: &[String],
        from: NaiveDate,
        target: NaiveDate,
    ) {
        for symbol in symbols {
            match client.ticker_range(symbol, from, target) {
                Ok(bars) => {
                    self.new_fetched += 1;
                    self.bars.insert(symbol.clone(), bars);
                }
                Err(e) => {
                    self.failure = Some(e);
                    break;
                }
            }
        }
    }

    /// The job's detail line (also the tail of its error when a call failed).
    fn summary(
        &self,
        survey: &StoreSurvey,
        sessions_due: usize,
        calls: u32,
        bars_added: usize,
        cache_last: Option<NaiveDate>,
    ) -> String {
        let done_days = &self.done_days;
        let corrupt = &survey.corrupt;
        format!(
            "{} of {} sessions fetched{} in {} calls: +{bars_added} bars over {} symbols; {} of {} new symbols; store through {}",
            done_days.len(),
            sessions_due,
            match (done_days.first(), done_days.last()) {
                (Some(a), Some(b)) => format!(" ({a}..{b})"),
                _ => String::new(),
            },
            calls,
            self.bars.len(),
            self.new_fetched,
            survey.new_symbols.len(),
            done_days.last().copied().or(cache_last).map_or("-".into(), |d| d.to_string()),
        ) + &if corrupt.is_empty() {
            String::new()
        } else {
            format!("; {} corrupt files left as they are: {}", corrupt.len(), corrupt.join(","))
        }
    }
}

/// Merges what was fetched, symbol by symbol; returns the number of bars added. Each file is
/// rewritten atomically, so an interruption leaves every symbol as before or fully updated.
fn merge_fetched(store: &BarStore, fetched: &BTreeMap<String, Vec<Bar>>) -> usize {
    let mut bars_added = 0;
    for (symbol, bars) in fetched {
        match store.merge_symbol(symbol, bars) {
            Ok(n) => bars_added += n,
            Err(e) => tracing::error!(error = %e, "bars not written"),
        }
    }
    bars_added
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
