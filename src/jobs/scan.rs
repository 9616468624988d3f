//! FIRST_SCAN and SCAN: scan the universe on the bars visible at the slot, log every signal to
//! `logs/signals.jsonl`, keep the Top 3 in `state/scans/scan_YYYYMMDD_HHMM.json`, and inside an
//! entry window hand the ranked signals to the position manager
//! (`state/scans/handoff_YYYYMMDD.json`).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use kobe_actors::jsonl::JsonlWriter;
use serde::Serialize;

use crate::app::App;
use crate::data::store::BarStore;
use crate::data::visibility::last_visible_session;
use crate::scan::window;
use crate::strategy::signals::Signal;
use crate::watchlist::write_json;

/// The session whose bar a scan at `now` on `session` uses: the latest visible session bar
/// (DESIGN §7).
pub fn as_of(session: NaiveDate, now: DateTime<Utc>) -> Option<NaiveDate> {
    last_visible_session(session, now)
}

/// A scan's ranked signals, and why the store has no bar for its date (`None`: it has).
pub type Scanned = (Vec<Signal>, Option<String>);

pub mod kept;

/// Scans `universe` on `as_of` in `store`; with a note when the store has no bar for that date.
fn scan_store(store: &BarStore, universe: &[String], as_of: NaiveDate) -> Scanned {
    store.with_series(universe, Some(window(as_of)), |series| {
        crate::scan::scan_noting_gaps(series, universe, as_of)
    })
}

/// Scans the app's universe on `as_of`; with a note when the store has no bar for that date.
pub fn scan_universe(app: &App, as_of: NaiveDate) -> Result<Arc<Scanned>, JobError> {
    let unreadable = |e: crate::data::universe::UniverseError| JobError::Recoverable(e.to_string());
    if !app.mode.is_replay() {
        let universe = app.universe().map_err(unreadable)?;
        return Ok(Arc::new(scan_store(&app.store(), &universe, as_of)));
    }
    app.last_scan.scan(
        as_of,
        || app.kept_universe().map_err(unreadable),
        || app.store(),
    )
}

pub struct Scan {
    pub app: Arc<App>,
}

#[derive(Serialize)]
struct ScanFile<'a> {
    tag: &'a str,
    session: NaiveDate,
    slot_et: String,
    as_of: NaiveDate,
    in_entry_window: bool,
    signals_found: usize,
    top3: &'a [Signal],
}

/// The ranked signals handed to the position manager by the latest in-window scan.
#[derive(Serialize)]
struct Handoff<'a> {
    tag: &'a str,
    session: NaiveDate,
    slot_et: String,
    as_of: NaiveDate,
    entries: &'a [Signal],
}

#[derive(Serialize)]
struct SignalLine<'a> {
    tag: &'a str,
    slot_et: String,
    as_of: NaiveDate,
    rank: usize,
    #[serde(flatten)]
    signal: &'a Signal,
}

impl Job for Scan {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let now = ctx.clock.now();
        let Some(as_of) = as_of(ctx.session, now) else {
            return Ok(JobOutput::skipped("no_data", "no session before this one"));
        };
        let scanned = scan_universe(app, as_of)?;
        let (signals, missing) = (&scanned.0, scanned.1.clone());
        let slot_et = ctx.slot.fixed_offset().to_rfc3339();
        log_signals(app, &ctx.tag, &slot_et, as_of, signals)?;
        let windows = app
            .config
            .trading
            .windows()
            .map_err(JobError::Recoverable)?;
        let t = ctx.slot.time();
        let in_window = windows.iter().any(|(from, to)| *from <= t && t <= *to);
        let scans = app.home.state().join("scans");
        let stamp = ctx.slot.format("%Y%m%d_%H%M");
        let top3 = &signals[..signals.len().min(3)];
        let file = ScanFile {
            tag: &ctx.tag,
            session: ctx.session,
            slot_et: slot_et.clone(),
            as_of,
            in_entry_window: in_window,
            signals_found: signals.len(),
            top3,
        };
        write_json(
            &scans.join(format!("scan_{stamp}.json")),
            &file,
            app.durability(),
        )
        .map_err(|e| io_error("state/scans", e))?;
        let mut detail = found_line(as_of, signals.len(), top3, missing);
        if in_window && !signals.is_empty() {
            let handoff = Handoff {
                tag: &ctx.tag,
                session: ctx.session,
                slot_et: slot_et.clone(),
                as_of,
                entries: signals,
            };
            write_json(
                &scans.join(format!("handoff_{}.json", ctx.session.format("%Y%m%d"))),
                &handoff,
                app.durability(),
            )
            .map_err(|e| io_error("state/scans", e))?;
            detail.push_str(&format!(
                "; handed {} to the position manager",
                signals.len()
            ));
        } else if !in_window {
            detail.push_str("; outside the entry windows: no entries handed over");
        }
        Ok(JobOutput::ok(detail))
    }
}

/// A write that failed, named by the file or folder the operator would look in.
fn io_error(what: &str, e: std::io::Error) -> JobError {
    JobError::Recoverable(format!("{what}: {e}"))
}

/// Appends every signal, ranked, to `logs/signals.jsonl`: the full record, not just the top 3.
fn log_signals(
    app: &App,
    tag: &str,
    slot_et: &str,
    as_of: NaiveDate,
    signals: &[Signal],
) -> Result<(), JobError> {
    let (mut log, _) = JsonlWriter::open(&app.home.logs().join("signals.jsonl"))
        .map_err(|e| io_error("logs/signals.jsonl", e))?;
    let lines: Vec<String> = signals
        .iter()
        .enumerate()
        .map(|(i, signal)| {
            let line = SignalLine {
                tag,
                slot_et: slot_et.to_string(),
                as_of,
                rank: i + 1,
                signal,
            };
            serde_json::to_string(&line).expect("serialises")
        })
        .collect();
    // One write for the scan's lines, not one each.
    log.append_all(lines.iter().map(String::as_str))
        .map_err(|e| io_error("logs/signals.jsonl", e))
}

/// The start of the detail line: how many signals, the top names, and why the bar of `as_of`
/// may be missing.
fn found_line(as_of: NaiveDate, found: usize, top3: &[Signal], missing: Option<String>) -> String {
    let names: Vec<&str> = top3.iter().map(|s| s.symbol.as_str()).collect();
    let mut detail = format!(
        "as of {as_of}: {found} signals, top {}",
        if names.is_empty() {
            "-".into()
        } else {
            names.join(",")
        }
    );
    if let Some(why) = missing {
        detail.push_str(&format!("; {why}"));
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kobe_actors::calendar::EXCHANGE_TZ;

    #[test]
    fn what_a_scan_sees() {
        let at = |d: u32, h, m| {
            EXCHANGE_TZ
                .with_ymd_and_hms(2024, 11, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 11, d).unwrap();
        // A 09:45 scan on Friday 29th sees Wednesday's bar (Thursday was Thanksgiving).
        assert_eq!(as_of(day(29), at(29, 9, 45)), Some(day(27)));
        // After Friday's 13:00 close it sees Friday's bar.
        assert_eq!(as_of(day(29), at(29, 13, 0)), Some(day(29)));
    }
}
