//! Progress bars on a terminal: a replay's sessions and an import's bytes, drawn on stderr only
//! when stderr is a terminal (a pipe or a file gets the summary alone, byte for byte as ever),
//! and cleared before the summary prints.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::ledger::{RecordObserver, RunRecord};

use crate::data::import::ImportStep;
use crate::jobs::JobTag;

/// Whether bars are drawn at all: only where a person is watching.
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// The bar on screen, if any: log lines are written with it lifted.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The logs' stderr (see `logging`): a line written while a bar is drawn would land in the
/// middle of it, so each is written with the bar lifted and redrawn below it.
pub fn log_writer() -> LogWriter {
    LogWriter
}

pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let shown = SHOWN.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // Whole, so a bar redrawn between two partial writes never splits a line.
        let write = || io::stderr().lock().write_all(buf);
        match shown {
            Some(bar) => bar.suspend(write)?,
            None => write()?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// A bar on stderr, registered for the logs, cleared when dropped — however the run ends (its
/// end, a signal, an error), the line it used is left empty.
struct Shown(ProgressBar);

impl Shown {
    /// A bar first drawn at `position` with `message`: a resumed replay never shows 0 done.
    fn new(len: u64, style: ProgressStyle, position: u64, message: String) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_finish(ProgressFinish::AndClear)
            .with_message(message)
            .with_position(position);
        // The ETA follows the steps made from here on: the first draw records the position it
        // starts at, and the reset forgets that step, or what was done before would count as
        // done in the first instant.
        bar.tick();
        bar.reset_eta();
        // Redrawn on its own so elapsed and ETA move while a slow slot holds the next update.
        bar.enable_steady_tick(Duration::from_millis(250));
        *SHOWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        Self(bar)
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        SHOWN.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.0.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants of this file, checked by the tests.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

// Each template starts with an empty row the bar owns. indicatif pads every row to the
// terminal's width, so the "^C" a terminal echoes for Ctrl-C wraps onto a new row and the
// clearing that follows starts one row low: what it then misses is that empty row, not the bar.
// Two rows of text, so that everything shows on an 80-column terminal beside a bar.
const REPLAY_TEMPLATE: &str =
    "\nreplay [{wide_bar}] {pos}/{len} sessions\n  {msg}, {elapsed} elapsed, ETA {eta}";

/// What a replay has done so far, from its run-ledger records: sessions done, trades closed
/// and the latest equity. Fed every record, including those a resumed replay finds already
/// recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayTally {
    /// The range's NYSE sessions, in order.
    sessions: Vec<NaiveDate>,
    /// How many leading sessions are over because a later session's record was seen.
    passed: usize,
    done: BTreeSet<NaiveDate>,
    pub trades: usize,
    /// The equity recorded at the latest close seen.
    pub equity: Option<f64>,
    /// What the bar says after the sessions (e.g. the report being written).
    note: Option<&'static str>,
}

impl ReplayTally {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            sessions: NyseCalendar
                .sessions(from, to)
                .into_iter()
                .map(|s| s.date)
                .collect(),
            passed: 0,
            done: BTreeSet::new(),
            trades: 0,
            equity: None,
            note: None,
        }
    }

    pub fn total(&self) -> usize {
        self.sessions.len()
    }

    pub fn done(&self) -> usize {
        self.done.len()
    }

    /// A session is done at its EOD_REPORT or its close tick (the last slot), and in any case
    /// once a later session has a record — a config that turns either job off still counts.
    /// Trades and equity come from the close tick's detail, which lists the day's exits and
    /// the equity it recorded: EOD_REPORT runs before the close, when the day's strategy exits
    /// have not happened yet.
    pub fn observe(&mut self, record: &RunRecord) {
        let before = self.sessions.partition_point(|s| *s < record.session);
        if before > self.passed {
            self.done.extend(&self.sessions[self.passed..before]);
            self.passed = before;
        }
        if self.sessions.get(before) != Some(&record.session) {
            return;
        }
        if record.tag == JobTag::EodReport.as_str() {
            self.done.insert(record.session);
        } else if record.tag == JobTag::PositionManager.as_str() {
            if let Some(close) = DayClose::parse(&record.detail) {
                self.done.insert(record.session);
                self.trades += close.exits;
                self.equity = Some(close.equity);
            }
        }
    }

    /// The text after the sessions count.
    pub fn message(&self) -> String {
        let equity = self
            .equity
            .map_or_else(|| "-".to_string(), |e| format!("{e:.2}"));
        let mut text = format!("{} trades, equity {equity}", self.trades);
        if let Some(note) = self.note {
            text.push_str(", ");
            text.push_str(note);
        }
        text
    }
}

/// What a POSITION_MANAGER close tick's detail says: "close: exits today A stop @ 1.00,
/// B target @ 2.00; equity 99628.28" (other notes may stand before or after it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayClose {
    pub exits: usize,
    pub equity: f64,
}

impl DayClose {
    pub fn parse(detail: &str) -> Option<Self> {
        const CLOSE: &str = "close: exits today ";
        const EQUITY: &str = "; equity ";
        let at = detail.find(CLOSE)?;
        // Only at the start of the detail or of a note: "…; close: …".
        if at != 0 && !detail[..at].ends_with("; ") {
            return None;
        }
        let rest = &detail[at + CLOSE.len()..];
        let (exits, rest) = rest.split_once(EQUITY)?;
        let equity = rest.split(';').next()?.trim().parse().ok()?;
        let exits = match exits {
            "none" => 0,
            // Each exit is "SYMBOL reason @ price": symbols and reasons hold no comma.
            list => list.split(", ").count(),
        };
        Some(Self { exits, equity })
    }
}

/// A replay's bar: sessions done of the range's, trades so far and equity, elapsed and ETA.
pub struct ReplayProgress {
    shared: Arc<ReplayShared>,
}

struct ReplayShared {
    /// `None` once cleared: a record stored after that (a job still finishing after a signal)
    /// must not draw the bar again.
    state: Mutex<Option<(Shown, ReplayTally)>>,
}

impl ReplayProgress {
    /// The bar for `from..=to` when stderr is a terminal, started at what `recorded` (the
    /// range's records already in the run ledger: a resumed replay) shows done.
    pub fn on_terminal(from: NaiveDate, to: NaiveDate, recorded: &[RunRecord]) -> Option<Self> {
        stderr_is_terminal().then(|| Self::start(from, to, recorded))
    }

    fn start(from: NaiveDate, to: NaiveDate, recorded: &[RunRecord]) -> Self {
        let mut tally = ReplayTally::new(from, to);
        for record in recorded {
            tally.observe(record);
        }
        let shown = Shown::new(
            tally.total() as u64,
            style(REPLAY_TEMPLATE),
            tally.done() as u64,
            tally.message(),
        );
        Self {
            shared: Arc::new(ReplayShared {
                state: Mutex::new(Some((shown, tally))),
            }),
        }
    }

    /// The run ledger's observer that moves the bar.
    pub fn observer(&self) -> RecordObserver {
        let shared = self.shared.clone();
        Box::new(move |record| shared.observe(record))
    }

    /// Says what the run is doing after its last session (the bar stays until dropped).
    pub fn note(&self, what: &'static str) {
        let mut state = self.shared.lock();
        if let Some((shown, tally)) = state.as_mut() {
            tally.note = Some(what);
            shown.0.set_message(tally.message());
        }
    }
}

impl ReplayShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Shown, ReplayTally)>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn observe(&self, record: &RunRecord) {
        let mut state = self.lock();
        let Some((shown, tally)) = state.as_mut() else {
            return;
        };
        let (done, trades, equity) = (tally.done(), tally.trades, tally.equity);
        tally.observe(record);
        if (tally.trades, tally.equity) != (trades, equity) {
            shown.0.set_message(tally.message());
        }
        if tally.done() != done {
            shown.0.set_position(tally.done() as u64);
        }
    }
}

impl Drop for ReplayProgress {
    fn drop(&mut self) {
        // Cleared here, under the lock the observer takes, not when the ledger lets go of it.
        self.shared.lock().take();
    }
}

const IMPORT_READING: &str =
    "\nimport [{wide_bar}] {bytes}/{total_bytes} read\n  {msg}, {elapsed} elapsed, ETA {eta}";
const IMPORT_STORING: &str = "\nimport [{wide_bar}] {msg}\n  {elapsed} elapsed, ETA {eta}";

/// `kobe data import`'s bar: bytes read of the files' size with rows and symbols so far, then
/// the symbols checked and written into the store.
pub struct ImportProgress {
    shown: Shown,
    storing: bool,
}

impl ImportProgress {
    pub fn on_terminal() -> Option<Self> {
        stderr_is_terminal().then(|| Self {
            shown: Shown::new(0, style(IMPORT_READING), 0, String::new()),
            storing: false,
        })
    }

    pub fn show(&mut self, step: ImportStep) {
        let bar = &self.shown.0;
        match step {
            ImportStep::Reading {
                bytes, total_bytes, ..
            } => {
                bar.set_length(total_bytes);
                bar.set_position(bytes);
            }
            ImportStep::Storing {
                checked,
                written,
                symbols,
            } => {
                if !self.storing {
                    // A new unit from here: symbols, not bytes; elapsed goes on.
                    self.storing = true;
                    bar.set_style(style(IMPORT_STORING));
                    bar.set_position(0);
                    bar.set_length(2 * symbols as u64);
                    bar.reset_eta();
                }
                bar.set_position((checked + written) as u64);
            }
        }
        bar.set_message(import_message(&step));
    }
}

/// The text beside an import's bar.
pub fn import_message(step: &ImportStep) -> String {
    match *step {
        ImportStep::Reading { rows, symbols, .. } => format!("{rows} rows, {symbols} symbols"),
        ImportStep::Storing {
            checked, symbols, ..
        } if checked < symbols => format!("{checked}/{symbols} symbols checked in the store"),
        ImportStep::Storing {
            written, symbols, ..
        } => format!("{written}/{symbols} symbols written"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use kobe_actors::ledger::Status;

    fn record(tag: &str, session: &str, detail: &str) -> RunRecord {
        let at: DateTime<Utc> = "2017-11-20T20:00:00Z".parse().unwrap();
        RunRecord {
            tag: tag.into(),
            session: session.parse().unwrap(),
            slot_et: at.fixed_offset(),
            started: at,
            finished: at,
            duration_ms: 0,
            status: Status::Ok,
            reason: None,
            detail: detail.into(),
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_close_tick_detail_gives_exits_and_equity() {
        let parse = DayClose::parse;
        assert_eq!(
            parse("close: exits today none; equity 100000.00"),
            Some(DayClose {
                exits: 0,
                equity: 100000.0
            })
        );
        assert_eq!(
            parse("close: exits today AMP strategy_exit @ 138.51, AME target @ 63.27; equity 99628.28"),
            Some(DayClose { exits: 2, equity: 99628.28 })
        );
        // Notes before and after it.
        assert_eq!(
            parse("X-1: not sent yet (timeout); close: exits today BRK.B stop @ 1.00; equity 95000.50; daily loss limit reached: kill switch on; refused: none"),
            Some(DayClose { exits: 1, equity: 95000.5 })
        );
        for other in [
            "entries today: none; 2 open",
            "exits today AMP strategy_exit @ 138.51",
            "outside the entry windows: managing only",
            "close: exits today none; equity NaN-ish",
            "disclose: exits today none; equity 1.00",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    /// The parser reads the text the position manager writes: rendered here from its own
    /// types, so a change to that line fails this test rather than silently zeroing the bar.
    #[test]
    fn the_position_managers_close_line_is_understood() {
        use crate::domain::{DecisionReason, ExitReason};
        use crate::jobs::position_manager::outcome::{CycleOutcome, ExitLine, Note};
        let exit = |symbol: &str, reason| ExitLine {
            symbol: symbol.into(),
            reason: DecisionReason::Exit(reason),
            price: 12.5,
        };
        let outcome = CycleOutcome {
            notes: vec![
                Note::StopRearmed {
                    symbol: "A".into(),
                    stop: 1.0,
                },
                Note::DayClosed {
                    exits: vec![
                        exit("AAPL", ExitReason::Stop),
                        exit("MSFT", ExitReason::TimeStop),
                        exit("T", ExitReason::StrategyExit),
                    ],
                    equity: 101234.567,
                },
                Note::DailyLossLimit,
            ],
            refusals: vec![],
        };
        assert_eq!(
            DayClose::parse(&outcome.to_string()),
            Some(DayClose {
                exits: 3,
                equity: 101234.57
            })
        );
        let none = CycleOutcome {
            notes: vec![Note::DayClosed {
                exits: vec![],
                equity: 100000.0,
            }],
            refusals: vec![],
        };
        assert_eq!(DayClose::parse(&none.to_string()).map(|c| c.exits), Some(0));
    }

    #[test]
    fn the_total_is_the_ranges_nyse_sessions() {
        // Thanksgiving week 2017: Thursday shut, Friday an early close.
        assert_eq!(
            ReplayTally::new(date("2017-11-20"), date("2017-11-24")).total(),
            4
        );
        // A weekend alone has none.
        assert_eq!(
            ReplayTally::new(date("2017-11-25"), date("2017-11-26")).total(),
            0
        );
        assert_eq!(
            ReplayTally::new(date("2017-01-01"), date("2017-12-31")).total(),
            251
        );
    }

    #[test]
    fn sessions_are_done_at_their_close_or_when_a_later_one_starts() {
        let mut tally = ReplayTally::new(date("2017-11-20"), date("2017-11-24"));
        assert_eq!(tally.message(), "0 trades, equity -");
        tally.observe(&record("DATA_UPDATE", "2017-11-20", "no key"));
        assert_eq!(tally.done(), 0);
        tally.observe(&record(
            "EOD_REPORT",
            "2017-11-20",
            "equity 100000.00 (+0.00 today), 0 open, 0 closed today",
        ));
        assert_eq!((tally.done(), tally.trades), (1, 0));
        tally.observe(&record(
            "POSITION_MANAGER",
            "2017-11-20",
            "close: exits today A stop @ 1.00; equity 99950.25",
        ));
        assert_eq!((tally.done(), tally.trades), (1, 1));
        // Tuesday's close tick with EOD_REPORT turned off.
        tally.observe(&record(
            "POSITION_MANAGER",
            "2017-11-21",
            "close: exits today B target @ 2.00, C stop @ 3.00; equity 100100.00",
        ));
        assert_eq!((tally.done(), tally.trades), (2, 3));
        assert_eq!(tally.message(), "3 trades, equity 100100.00");
        // Wednesday recorded nothing that marks its end; Friday's first slot does.
        tally.observe(&record("POSITION_MANAGER", "2017-11-22", "2 open"));
        assert_eq!(tally.done(), 2);
        tally.observe(&record("DATA_UPDATE", "2017-11-24", ""));
        assert_eq!(tally.done(), 3);
        // A record past the range ends it all.
        tally.observe(&record("DB_BACKUP", "2017-11-27", ""));
        assert_eq!((tally.done(), tally.total()), (4, 4));
        assert_eq!(tally.trades, 3);
    }

    #[test]
    fn the_import_message_follows_its_steps() {
        let reading = ImportStep::Reading {
            bytes: 10,
            total_bytes: 100,
            rows: 4096,
            symbols: 12,
        };
        assert_eq!(import_message(&reading), "4096 rows, 12 symbols");
        let checking = ImportStep::Storing {
            checked: 3,
            written: 0,
            symbols: 505,
        };
        assert_eq!(
            import_message(&checking),
            "3/505 symbols checked in the store"
        );
        let writing = ImportStep::Storing {
            checked: 505,
            written: 200,
            symbols: 505,
        };
        assert_eq!(import_message(&writing), "200/505 symbols written");
    }

    #[test]
    fn the_templates_parse() {
        for t in [REPLAY_TEMPLATE, IMPORT_READING, IMPORT_STORING] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
