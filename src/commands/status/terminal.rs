//! The `kobe status --watch` loop: gathers a view from the home, draws it, reads keys.
//!
//! Nothing here decides what is shown (that is `watch::render`); on a pipe the view is printed
//! once and the process exits with `kobe status`'s code.

use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::{cursor, event, execute, queue, terminal};
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::heartbeat::HEARTBEAT_LOG;

use super::watch::{self, Book, BookSummary, PositionRow, WatchView};
use super::{gather_with_health, CommandError, Context, Done};
use crate::trading::TradingLedger;

const REFRESH: Duration = Duration::from_secs(1);

/// The heartbeat log's tail read each frame: a few beats' worth, never the whole file.
const BEAT_TAIL_BYTES: u64 = 16 * 1024;

pub fn run(ctx: &Context) -> Result<Done, CommandError> {
    let mut sources = Sources::default();
    if !io::stdout().is_terminal() {
        let view = sources.gather(ctx);
        let code = view.report.exit_code();
        let text = watch::render(&view).join("\n") + "\n";
        return Ok(Done { text, code });
    }
    live(ctx, &mut sources).map_err(|e| CommandError::Refused(format!("terminal: {e}")))?;
    Ok(Done {
        text: String::new(),
        code: 0,
    })
}

/// What outlives a frame: the trading ledger, opened once it exists.
#[derive(Default)]
struct Sources {
    ledger: Option<TradingLedger>,
}

impl Sources {
    fn gather(&mut self, ctx: &Context) -> WatchView {
        let now = ctx.wall.now();
        let (report, health) = gather_with_health(&ctx.home, now);
        let (jobs, jobs_source) = match &health {
            Some(h) => (watch::jobs_from_health(h), "health"),
            None => {
                let log = std::fs::read_to_string(ctx.home.logs().join("jobs.jsonl"));
                (watch::jobs_from_log(&log.unwrap_or_default()), "jobs log")
            }
        };
        let book = self.book(ctx, now);
        let beats = watch::beats_from_log(&tail(&ctx.home.logs().join(HEARTBEAT_LOG)));
        WatchView {
            report,
            jobs,
            jobs_source,
            book,
            beats,
        }
    }

    fn book(&mut self, ctx: &Context, now: DateTime<Utc>) -> Book {
        let config = match ctx.load_config() {
            Ok(c) => c,
            Err(e) => return Book::Absent(format!("config unreadable: {e}")),
        };
        let state = ctx.home.state();
        if self.ledger.is_none() {
            // Watching never creates a ledger: only one a run has made is opened.
            if !state.join("ledger.sqlite").exists() {
                return Book::Absent("no trading ledger yet".into());
            }
            let durability = kobe_actors::atomic_file::Durability::PowerLoss;
            match TradingLedger::open(&state, config.trading.starting_equity, durability) {
                Ok(l) => self.ledger = Some(l),
                Err(e) => return Book::Absent(format!("ledger unreadable: {e}")),
            }
        }
        let ledger = self.ledger.as_ref().expect("opened above");
        let session = now.with_timezone(&EXCHANGE_TZ).date_naive();
        let starting = config.trading.starting_equity;
        match crate::report::pnl(ledger, session, now, starting, |_| None) {
            Ok(r) => Book::Open(BookSummary {
                cash: r.cash,
                equity: r.equity,
                day_pnl: r.day_pnl,
                realized_today: r.realized_today,
                positions: r
                    .open_positions
                    .into_iter()
                    .map(|p| PositionRow {
                        symbol: p.symbol,
                        strategy: p.strategy.to_string(),
                        qty: p.qty,
                        entry: p.entry,
                        stop: p.stop,
                        target: p.target,
                    })
                    .collect(),
            }),
            Err(e) => {
                // Opened again next frame: a restored or replaced file is then read afresh.
                self.ledger = None;
                Book::Absent(format!("ledger unreadable: {e}"))
            }
        }
    }
}

/// The end of a file as text (empty when it cannot be read); a first partial line is dropped
/// by the parser, which passes over what is not JSON.
fn tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(BEAT_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Leaves the alternate screen and raw mode however the loop ends (an error, a panic).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

fn live(ctx: &Context, sources: &mut Sources) -> io::Result<()> {
    terminal::enable_raw_mode()?;
    let _restore = Restore;
    let mut out = io::stdout();
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
    loop {
        draw(&mut out, &watch::render(&sources.gather(ctx)))?;
        let deadline = Instant::now() + REFRESH;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if !event::poll(left)? {
                break;
            }
            match event::read()? {
                event::Event::Key(key) if watch::is_quit(&key) => return Ok(()),
                // Redrawn at once at the new size.
                event::Event::Resize(..) => break,
                _ => {}
            }
        }
    }
}

/// Overwrites the frame in place (no full clear, so it does not flicker).
fn draw(out: &mut impl Write, lines: &[String]) -> io::Result<()> {
    let (width, height) = terminal::size()?;
    queue!(out, cursor::MoveTo(0, 0))?;
    for (row, line) in lines.iter().take(usize::from(height)).enumerate() {
        queue!(out, cursor::MoveTo(0, row as u16))?;
        write!(out, "{}", watch::fit(line, usize::from(width)))?;
        queue!(out, terminal::Clear(terminal::ClearType::UntilNewLine))?;
    }
    queue!(out, terminal::Clear(terminal::ClearType::FromCursorDown))?;
    out.flush()
}
