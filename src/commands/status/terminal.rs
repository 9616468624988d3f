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

/// What outlives a frame: the trading ledger and the starting equity it was opened with (from
/// the config), once it exists, and how far the jobs log has been read.
#[derive(Default)]
struct Sources {
    ledger: Option<(TradingLedger, f64)>,
    jobs_log: LogFollower,
}

/// The jobs log read as it grows: each frame reads what was appended since the last one (a
/// log of months is read once, not every second). A log replaced, cut shorter, or rewritten
/// under what was read is read again from its start.
#[derive(Debug, Default)]
struct LogFollower {
    /// The file read (its inode) and the end of its last whole line read; a line still being
    /// written is read again next frame.
    read: Option<(u64, u64)>,
    /// The last bytes read (up to `SEEN_BYTES`): still there, unchanged, before reading on.
    seen: Vec<u8>,
    table: watch::JobsTable,
}

/// How much of what was read is compared again each frame.
const SEEN_BYTES: usize = 256;

impl LogFollower {
    /// The jobs table; no log yet is none, and a log that cannot be read is said.
    fn rows(&mut self, path: &Path) -> Result<Vec<watch::JobRow>, String> {
        use std::os::unix::fs::MetadataExt as _;
        let unreadable = |e: io::Error| format!("{}: {e}", path.display());
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *self = Self::default();
                return Ok(Vec::new());
            }
            Err(e) => return Err(unreadable(e)),
        };
        let meta = file.metadata().map_err(unreadable)?;
        let from = match self.read {
            Some((inode, offset))
                if inode == meta.ino()
                    && offset <= meta.len()
                    && still_there(&mut file, offset, &self.seen) =>
            {
                offset
            }
            _ => {
                *self = Self::default();
                0
            }
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(from)).map_err(unreadable)?;
        file.read_to_end(&mut bytes).map_err(unreadable)?;
        bytes.truncate(bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1));
        self.table.feed(&String::from_utf8_lossy(&bytes));
        // Only the last bytes are kept: a first frame reads the whole log.
        self.seen
            .extend_from_slice(&bytes[bytes.len().saturating_sub(SEEN_BYTES)..]);
        self.seen = self
            .seen
            .split_off(self.seen.len().saturating_sub(SEEN_BYTES));
        self.read = Some((meta.ino(), from + bytes.len() as u64));
        Ok(self.table.rows())
    }
}

/// Whether the bytes of `file` just before `offset` are still `seen`.
fn still_there(file: &mut std::fs::File, offset: u64, seen: &[u8]) -> bool {
    let mut now = vec![0u8; seen.len()];
    file.seek(SeekFrom::Start(offset - seen.len() as u64))
        .is_ok()
        && file.read_exact(&mut now).is_ok()
        && now == seen
}

impl Sources {
    fn gather(&mut self, ctx: &Context) -> WatchView {
        let now = ctx.wall.now();
        let (report, health) = gather_with_health(&ctx.home, now);
        let (jobs, jobs_source) = match &health {
            Some(h) => (Ok(watch::jobs_from_health(h)), "health"),
            None => (
                self.jobs_log.rows(&ctx.home.logs().join("jobs.jsonl")),
                "jobs log",
            ),
        };
        // A replay holds its ledger until it ends: not waited for every frame.
        let simulated = kobe_actors::clock::ClockKind::Simulated.as_str();
        let replay_running =
            report.state == "running" && report.clock.as_deref() == Some(simulated);
        let book = self.book(ctx, now, replay_running);
        let beats = watch::beats_from_log(&tail(&ctx.home.logs().join(HEARTBEAT_LOG)));
        WatchView {
            report,
            jobs,
            jobs_source,
            book,
            beats,
        }
    }

    fn book(&mut self, ctx: &Context, now: DateTime<Utc>, replay_running: bool) -> Book {
        let state = ctx.home.state();
        if self.ledger.is_none() {
            // Watching never creates a ledger: only one a run has made is opened.
            if !state.join("ledger.sqlite").exists() {
                return Book::Absent("no trading ledger yet".into());
            }
            if replay_running {
                return Book::Absent(
                    "trading ledger held by the running replay until it ends".into(),
                );
            }
            // Read with the ledger, and again whenever it is opened again.
            let config = match ctx.load_config() {
                Ok(c) => c,
                Err(e) => return Book::Absent(format!("config unreadable: {e}")),
            };
            let durability = kobe_actors::atomic_file::Durability::PowerLoss;
            let starting = config.trading.starting_equity;
            match TradingLedger::open(&state, starting, durability) {
                Ok(l) => self.ledger = Some((l, starting)),
                Err(e @ crate::trading::LedgerError::Busy { .. }) => {
                    return Book::Absent(format!("ledger in use: {e}"))
                }
                Err(e) => return Book::Absent(format!("ledger unreadable: {e}")),
            }
        }
        let (ledger, starting) = self
            .ledger
            .as_ref()
            .map(|(l, s)| (l, *s))
            .expect("opened above");
        let session = now.with_timezone(&EXCHANGE_TZ).date_naive();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tag: &str, minute: u32, status: &str) -> String {
        let slot = format!("2024-05-01T09:{minute:02}:00-04:00");
        format!(
            "{{\"tag\":\"{tag}\",\"session\":\"2024-05-01\",\"slot_et\":\"{slot}\",\"started\":\"2024-05-01T13:00:00Z\",\"finished\":\"2024-05-01T13:00:01Z\",\"duration_ms\":5,\"status\":\"{status}\",\"reason\":null,\"detail\":\"\"}}\n"
        )
    }

    /// What the follower shows, beside the table of the whole file read at once.
    fn both(follower: &mut LogFollower, path: &Path) -> (Vec<String>, Vec<String>) {
        let show = |rows: Vec<watch::JobRow>| -> Vec<String> {
            rows.iter()
                .map(|r| format!("{} {:?} {}", r.tag, r.last_status, r.failures))
                .collect()
        };
        let mut whole = watch::JobsTable::default();
        whole.feed(&std::fs::read_to_string(path).unwrap_or_default());
        (show(follower.rows(path).unwrap()), show(whole.rows()))
    }

    #[test]
    fn the_jobs_log_is_followed_as_it_grows_and_read_again_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.jsonl");
        let mut follower = LogFollower::default();
        assert_eq!(both(&mut follower, &path), (vec![], vec![]));
        std::fs::write(&path, line("A", 0, "ok") + &line("B", 1, "ok")).unwrap();
        let (seen, whole) = both(&mut follower, &path);
        assert_eq!((seen.len(), &seen), (2, &whole));
        // A line still being written is not read yet; then it is, once, with what follows.
        let third = line("A", 2, "failed");
        let (head, rest) = third.split_at(40);
        let append = |text: &str| {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append(head);
        let (seen, _) = both(&mut follower, &path);
        assert_eq!(seen[0], "A Some(\"ok\") 0");
        append(&(rest.to_string() + &line("A", 3, "failed")));
        let (seen, whole) = both(&mut follower, &path);
        assert_eq!(seen, whole);
        assert_eq!(seen[0], "A Some(\"failed\") 2");
        // Replaced (a new file at the path) or cut shorter: read again from the start.
        let replacement = dir.path().join("new.jsonl");
        std::fs::write(&replacement, line("C", 4, "ok")).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        let (seen, whole) = both(&mut follower, &path);
        assert_eq!(
            (seen.clone(), seen),
            (whole, vec!["C Some(\"ok\") 0".to_string()])
        );
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&line("D", 5, "ok"));
        let (seen, whole) = both(&mut follower, &path);
        assert_eq!(seen, whole);
        assert_eq!(seen, ["D Some(\"ok\") 0"]);
        // Something there that cannot be read is said, not shown as no jobs.
        let odd = dir.path().join("odd.jsonl");
        std::fs::create_dir(&odd).unwrap();
        let why = LogFollower::default().rows(&odd).unwrap_err();
        assert!(why.contains("odd.jsonl"), "{why}");
    }
}
