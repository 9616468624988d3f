//! The one-screen summary a replay prints when it reaches the end of its range.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use kobe_actors::calendar::NyseCalendar;
use kobe_actors::ledger::{SlotOutcomes, Status};

use crate::runner::plan::ReplayRange;

/// Counts read back from the run ledger, so a resumed replay reports the whole range.
pub struct ReplaySummary {
    pub range: ReplayRange,
    pub sessions: usize,
    pub by_tag: BTreeMap<String, BTreeMap<Status, usize>>,
    pub by_status: BTreeMap<Status, usize>,
    /// Skip and failure reasons with their counts.
    pub reasons: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// The paper account's results, read from the trading ledger.
    pub trading: Option<crate::trading::Performance>,
    /// The backtest report of the range (returns, ratios, the benchmark), when it was built.
    pub backtest: Option<crate::backtest::report::BacktestReport>,
}

impl ReplaySummary {
    pub fn new(range: ReplayRange, outcomes: &[SlotOutcomes], elapsed: Duration) -> Self {
        let mut by_tag: BTreeMap<String, BTreeMap<Status, usize>> = BTreeMap::new();
        let mut by_status = BTreeMap::new();
        let mut reasons = BTreeMap::new();
        for o in outcomes {
            *by_tag
                .entry(o.tag.clone())
                .or_default()
                .entry(o.status)
                .or_default() += o.count;
            *by_status.entry(o.status).or_default() += o.count;
            if let Some(reason) = &o.reason {
                *reasons
                    .entry(format!("{} {}", o.status.as_str(), reason))
                    .or_default() += o.count;
            }
        }
        Self {
            range,
            sessions: NyseCalendar.sessions(range.from, range.to).len(),
            by_tag,
            by_status,
            reasons,
            elapsed,
            trading: None,
            backtest: None,
        }
    }

    pub fn total(&self) -> usize {
        self.by_status.values().sum()
    }
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |m: &BTreeMap<Status, usize>, s| m.get(&s).copied().unwrap_or(0);
        writeln!(
            f,
            "replay {}..{}: {} sessions, {} slots in {:.2} s",
            self.range.from,
            self.range.to,
            self.sessions,
            self.total(),
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  {:<20} {:>6} {:>7} {:>7}",
            "job", "ok", "failed", "skipped"
        )?;
        for (tag, m) in &self.by_tag {
            writeln!(
                f,
                "  {:<20} {:>6} {:>7} {:>7}",
                tag,
                count(m, Status::Ok),
                count(m, Status::Failed),
                count(m, Status::Skipped)
            )?;
        }
        let m = &self.by_status;
        writeln!(
            f,
            "  {:<20} {:>6} {:>7} {:>7}",
            "all",
            count(m, Status::Ok),
            count(m, Status::Failed),
            count(m, Status::Skipped)
        )?;
        if !self.reasons.is_empty() {
            let reasons: Vec<String> = self
                .reasons
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            writeln!(f, "  reasons: {}", reasons.join(", "))?;
        }
        if let Some(t) = &self.trading {
            writeln!(f, "  {t}")?;
        }
        if let Some(b) = &self.backtest {
            writeln!(f, "  {}", b.summary_line())?;
        }
        write!(
            f,
            "  jobs log: logs/jobs.jsonl; run ledger: state/runs.sqlite"
        )
    }
}
