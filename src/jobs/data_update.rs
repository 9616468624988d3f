//! DATA_UPDATE: fills the bar store session by session, oldest first, up to the last completed
//! session, through Polygon's grouped-daily endpoint (one call per session for the whole
//! market) and within a budget of calls per run; fetches the history of symbols new to the
//! universe per ticker. What was fetched is kept in `data/fetched_sessions.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use kobe_actors::schedule::{parse_duration, DEFAULT_TIMEOUT};

use crate::app::App;
use crate::config::Config;
use crate::data::bars::Bar;
use crate::data::fetch_progress::{Change, FetchProgress, Span, INACTIVE_AFTER};
use crate::data::polygon::{PolygonClient, PolygonError};
use crate::data::store::BarStore;
use crate::jobs::JobTag;

/// Calls a minute assumed for the budget when `calls_per_minute` is 0 (no limit): about a
/// second a call. A constant rather than a config key: the limit and the timeout are the knobs.
const UNPACED_CALLS_PER_MINUTE: u64 = 60;

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
        // From the start of the run: the deadline is half the job's timeout from here.
        let budget = Budget::of(&self.app.config);
        let failed = |e: &dyn std::fmt::Display| JobError::Recoverable(e.to_string());
        let universe = self.app.universe().map_err(|e| failed(&e))?;
        let (store, home) = (self.app.store(), self.app.home.root());
        let target = last_completed_session(ctx.clock.now());
        let mut progress = FetchProgress::load(home)
            .map_err(|e| failed(&e))?
            .unwrap_or_default();
        let before = progress.clone();

        let survey = StoreSurvey::of(&store, &universe);
        let days = sessions_to_fetch(progress.anchor(&survey.spans), target);
        let settings = &self.app.config.polygon;
        let mut client = PolygonClient::new(key, settings).map_err(|e| failed(&e))?;
        let mut fetched = Fetched::new(&survey, budget);
        fetched.sessions(&mut client, &days, target, &mut progress);
        if fetched.failure.is_none() {
            let from = history_start(target, settings.history_sessions);
            fetched.new_histories(&mut client, &survey.new_symbols, from, target);
        }
        let merged = merge_fetched(&store, &fetched.bars);
        let summary = fetched.summary(&survey, days.len(), client.calls, merged.added, &progress);
        // Progress is recorded only once its bars are on disk: a crash in between fetches the
        // same sessions again, which merging makes harmless.
        if merged.errors.is_empty() && progress != before {
            progress
                .save(home)
                .map_err(|e| failed(&format!("{e}; {summary}")))?;
        }
        match (fetched.failure, merged.errors.first()) {
            (None, None) => Ok(JobOutput::ok(summary)),
            (Some(e), _) => Err(failed(&format!("{e}; {summary}"))),
            (None, Some(e)) => Err(failed(&format!(
                "bars not written ({e}): these sessions are fetched again next run; {summary}"
            ))),
        }
    }
}

/// Calls one run may make: half the job's timeout at the configured pace, so that the other
/// half absorbs retries and backoff and the run ends well inside its timeout. The deadline
/// covers calls slower than their pace.
#[derive(Debug, Clone, Copy)]
struct Budget {
    calls: u32,
    until: Instant,
}

impl Budget {
    fn of(config: &Config) -> Self {
        let timeout = config
            .jobs
            .get(JobTag::DataUpdate.as_str())
            .and_then(|spec| spec.timeout.as_deref())
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_TIMEOUT);
        Self::within(timeout, config.polygon.calls_per_minute)
    }

    fn within(timeout: Duration, calls_per_minute: u32) -> Self {
        let per_minute = match calls_per_minute {
            0 => UNPACED_CALLS_PER_MINUTE,
            n => u64::from(n),
        };
        let calls = (timeout.as_secs() * per_minute / 60 / 2).clamp(1, u64::from(u32::MAX));
        Self {
            calls: calls as u32,
            until: Instant::now() + timeout / 2,
        }
    }

    fn allows(&self, calls_made: u32) -> bool {
        calls_made < self.calls && Instant::now() < self.until
    }
}

/// What the store holds of the universe before the update.
struct StoreSurvey {
    /// Each stored symbol's first and last bar (`None` for a file with no valid bar).
    spans: BTreeMap<String, Span>,
    /// Symbols with no file yet: their history is fetched per ticker.
    new_symbols: Vec<String>,
    corrupt: Vec<String>,
}

impl StoreSurvey {
    fn of(store: &BarStore, universe: &[String]) -> Self {
        let mut survey = Self {
            spans: BTreeMap::new(),
            new_symbols: Vec::new(),
            corrupt: Vec::new(),
        };
        for symbol in universe {
            match store.load_symbol(symbol) {
                Ok(Some((bars, _))) => {
                    let span = Span {
                        first: bars.first().map(|b| b.date),
                        last: bars.last().map(|b| b.date),
                    };
                    survey.spans.insert(symbol.clone(), span);
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

/// The sessions after `anchor` up to `target`; none when it is up to date.
fn sessions_to_fetch(anchor: Option<NaiveDate>, target: NaiveDate) -> Vec<NaiveDate> {
    match anchor {
        Some(last) if last < target => NyseCalendar
            .sessions(last.succ_opt().unwrap_or(last), target)
            .into_iter()
            .map(|s| s.date)
            .collect(),
        _ => Vec::new(),
    }
}

/// What Polygon gave before the run finished, spent its budget or met its first error (which
/// stops all further calls).
struct Fetched {
    bars: BTreeMap<String, Vec<Bar>>,
    /// The stored symbols, followed through the answers.
    spans: BTreeMap<String, Span>,
    budget: Budget,
    budget_spent: bool,
    /// Sessions recorded as fetched in this run, empty days included.
    recorded: Vec<NaiveDate>,
    empty_days: Vec<NaiveDate>,
    /// The newest session, answered without bars: not recorded, asked again next run.
    no_data_yet: Option<NaiveDate>,
    changes: Vec<Change>,
    new_fetched: usize,
    failure: Option<PolygonError>,
}

impl Fetched {
    fn new(survey: &StoreSurvey, budget: Budget) -> Self {
        Self {
            bars: BTreeMap::new(),
            spans: survey.spans.clone(),
            budget,
            budget_spent: false,
            recorded: Vec::new(),
            empty_days: Vec::new(),
            no_data_yet: None,
            changes: Vec::new(),
            new_fetched: 0,
            failure: None,
        }
    }

    /// Whether another call fits in the budget; once it does not, no call is made any more.
    fn may_call(&mut self, client: &PolygonClient) -> bool {
        self.budget_spent = self.budget_spent || !self.budget.allows(client.calls);
        !self.budget_spent
    }

    /// One grouped-daily call per session, oldest first, each recorded as it is answered.
    fn sessions(
        &mut self,
        client: &mut PolygonClient,
        days: &[NaiveDate],
        target: NaiveDate,
        progress: &mut FetchProgress,
    ) {
        for day in days {
            if !self.may_call(client) {
                break;
            }
            match client.grouped_daily(*day) {
                Ok(rows) => self.take_answer(*day, rows, target, progress),
                Err(e) => {
                    self.failure = Some(e);
                    break;
                }
            }
        }
    }

    /// Keeps the rows of the stored symbols and counts who the answer left out.
    fn take_answer(
        &mut self,
        day: NaiveDate,
        rows: Vec<(String, Bar)>,
        target: NaiveDate,
        progress: &mut FetchProgress,
    ) {
        if rows.is_empty() {
            // Polygon answers a day without bars with no `results`. The newest session may
            // not be published yet, so it is asked again; an older one is a day without bars.
            // Neither says anything about who traded.
            if day == target {
                self.no_data_yet = Some(day);
                return;
            }
            self.empty_days.push(day);
        } else {
            let listed: BTreeSet<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
            let changes = progress.observe(day, &listed, &mut self.spans);
            for change in &changes {
                log_change(change);
            }
            self.changes.extend(changes);
            for (ticker, bar) in rows {
                if self.spans.contains_key(&ticker) {
                    self.bars.entry(ticker).or_default().push(bar);
                }
            }
        }
        progress.record(day);
        self.recorded.push(day);
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
            if !self.may_call(client) {
                break;
            }
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
        progress: &FetchProgress,
    ) -> String {
        let recorded = &self.recorded;
        let mut parts = vec![format!(
            "fetched {} of {sessions_due} sessions, {} left{} in {calls} calls: +{bars_added} bars over {} symbols; {} of {} new symbols; fetched through {}",
            recorded.len(),
            sessions_due.saturating_sub(recorded.len()),
            match (recorded.first(), recorded.last()) {
                (Some(a), Some(b)) => format!(" ({a}..{b})"),
                _ => String::new(),
            },
            self.bars.len(),
            self.new_fetched,
            survey.new_symbols.len(),
            progress
                .fetched_through
                .map_or("-".into(), |d| d.to_string()),
        )];
        parts.extend(self.notes());
        if !survey.corrupt.is_empty() {
            parts.push(format!(
                "{} corrupt files left as they are: {}",
                survey.corrupt.len(),
                survey.corrupt.join(",")
            ));
        }
        parts.join("; ")
    }

    /// What the operator should know beyond the counts, each said in the run it happened.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.budget_spent {
            notes.push(format!(
                "budget of {} calls spent: the next run goes on",
                self.budget.calls
            ));
        }
        if !self.empty_days.is_empty() {
            let shown: Vec<String> = self
                .empty_days
                .iter()
                .take(5)
                .map(|d| d.to_string())
                .collect();
            let more = match self.empty_days.len() {
                n if n > 5 => format!(", ... ({n} in all)"),
                _ => String::new(),
            };
            notes.push(format!("days without bars: {}{more}", shown.join(", ")));
        }
        if let Some(day) = self.no_data_yet {
            notes.push(format!("no data yet for {day}: asked again next run"));
        }
        let (mut gone, mut back) = (Vec::new(), Vec::new());
        for change in &self.changes {
            match change {
                Change::Inactive(symbol, i) => gone.push(format!(
                    "{symbol} (last bar {})",
                    i.last_bar.map_or("-".into(), |d| d.to_string())
                )),
                Change::ActiveAgain(symbol) => back.push(symbol.as_str()),
            }
        }
        if !gone.is_empty() {
            notes.push(format!(
                "inactive, missing from {INACTIVE_AFTER} grouped answers in a row: {}",
                gone.join(", ")
            ));
        }
        if !back.is_empty() {
            notes.push(format!("listed again: {}", back.join(", ")));
        }
        notes
    }
}

/// Said once, in the run that notices it.
fn log_change(change: &Change) {
    match change {
        Change::Inactive(symbol, i) => tracing::warn!(
            symbol = %symbol,
            last_bar = ?i.last_bar,
            since = %i.since,
            "symbol inactive: missing from {INACTIVE_AFTER} grouped answers in a row (delisted or renamed?); it no longer holds DATA_UPDATE back"
        ),
        Change::ActiveAgain(symbol) => {
            tracing::info!(symbol = %symbol, "inactive symbol listed again")
        }
    }
}

/// What merging wrote.
struct Merged {
    added: usize,
    errors: Vec<String>,
}

/// Merges what was fetched, symbol by symbol. Each file is rewritten atomically, so an
/// interruption leaves every symbol as before or fully updated.
fn merge_fetched(store: &BarStore, fetched: &BTreeMap<String, Vec<Bar>>) -> Merged {
    let mut merged = Merged {
        added: 0,
        errors: Vec::new(),
    };
    for (symbol, bars) in fetched {
        match store.merge_symbol(symbol, bars) {
            Ok(n) => merged.added += n,
            Err(e) => {
                tracing::error!(error = %e, "bars not written");
                merged.errors.push(e.to_string());
            }
        }
    }
    merged
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
    fn the_budget_is_half_the_timeout_at_the_configured_pace() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        // Polygon's free tier over the default 30 minutes: 75 calls, some 15 minutes.
        assert_eq!(Budget::within(minutes(30), 5).calls, 75);
        assert_eq!(Budget::within(minutes(30), 0).calls, 900);
        assert_eq!(Budget::within(Duration::from_secs(20), 0).calls, 10);
        assert_eq!(Budget::within(Duration::from_secs(1), 1).calls, 1);
        let budget = Budget::within(minutes(1), 10);
        assert!(budget.allows(4) && !budget.allows(5));
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
