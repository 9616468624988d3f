//! What `kobe status --watch` shows, decided by pure functions: a [`WatchView`] in, lines out.
//!
//! The terminal loop only gathers a view, draws these lines and reads keys, so everything the
//! operator sees is tested here without a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use kobe_actors::ledger::{RunRecord, Status};
use serde_json::Value;

use super::StatusReport;

/// How many heartbeat log lines the view keeps.
pub const BEATS_SHOWN: usize = 5;

/// Everything one frame shows.
#[derive(Debug, Clone)]
pub struct WatchView {
    pub report: StatusReport,
    /// The jobs, or why the jobs log could not be read.
    pub jobs: Result<Vec<JobRow>, String>,
    /// `health` when the runner answered, else `jobs log`.
    pub jobs_source: &'static str,
    pub book: Book,
    pub beats: Vec<BeatLine>,
}

/// One tag of the jobs table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRow {
    pub tag: String,
    pub last_slot: Option<String>,
    pub last_status: Option<String>,
    pub next_slot: Option<String>,
    pub failures: u64,
}

/// The trading ledger as the watch shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Book {
    /// Why there is nothing to show (no ledger yet, or it could not be read).
    Absent(String),
    Open(BookSummary),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookSummary {
    pub cash: f64,
    pub equity: f64,
    pub day_pnl: f64,
    pub realized_today: f64,
    pub positions: Vec<PositionRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PositionRow {
    pub symbol: String,
    pub strategy: String,
    pub qty: i64,
    pub entry: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
}

/// One line of `logs/heartbeat.jsonl`, compactly.
#[derive(Debug, Clone, PartialEq)]
pub struct BeatLine {
    pub ts_et: String,
    pub status: String,
    pub seq: u64,
}

/// The frame, one string per terminal line.
pub fn render(view: &WatchView) -> Vec<String> {
    let mut out = vec![
        "kobe status --watch (q or Ctrl-C quits)".to_string(),
        String::new(),
    ];
    out.extend(view.report.render().lines().map(String::from));
    out.push(String::new());
    out.extend(jobs_lines(&view.jobs, view.jobs_source));
    out.push(String::new());
    out.extend(book_lines(&view.book));
    out.push(String::new());
    out.push(format!("heartbeat log (last {BEATS_SHOWN})"));
    if view.beats.is_empty() {
        out.push("  none yet".into());
    }
    for b in &view.beats {
        out.push(format!("  {}  {:<9} #{}", b.ts_et, b.status, b.seq));
    }
    out
}

fn jobs_lines(jobs: &Result<Vec<JobRow>, String>, source: &str) -> Vec<String> {
    let mut out = vec![format!("jobs (from {source})")];
    let jobs = match jobs {
        Ok(jobs) => jobs,
        Err(why) => {
            out.push(format!("  unreadable: {why}"));
            return out;
        }
    };
    if jobs.is_empty() {
        out.push("  none known".into());
        return out;
    }
    // As wide as the longest tag, so that every row's columns line up.
    let w = jobs.iter().map(|j| j.tag.len()).max().unwrap_or(0).max(3);
    out.push(format!(
        "  {:<w$} {:<17} {:<8} {:<17} {:>8}",
        "tag", "last slot", "status", "next slot", "failures"
    ));
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for j in jobs {
        out.push(format!(
            "  {:<w$} {:<17} {:<8} {:<17} {:>8}",
            j.tag,
            dash(&j.last_slot),
            dash(&j.last_status),
            dash(&j.next_slot),
            j.failures
        ));
    }
    out
}

fn book_lines(book: &Book) -> Vec<String> {
    let b = match book {
        Book::Absent(why) => return vec![format!("book: {why}")],
        Book::Open(b) => b,
    };
    let mut head = format!(
        "book: {} open, cash {:.2}, equity {:.2}, today {:+.2} (realized {:+.2})",
        b.positions.len(),
        b.cash,
        b.equity,
        b.day_pnl,
        b.realized_today
    );
    if !b.positions.is_empty() {
        // No market data is loaded here: the day's P&L counts open positions at their entry.
        head.push_str(", open marked at entry");
    }
    let mut out = vec![head];
    if b.positions.is_empty() {
        return out;
    }
    out.push(format!(
        "  {:<7} {:<11} {:>6} {:>9} {:>9} {:>9}",
        "symbol", "strategy", "qty", "entry", "stop", "target"
    ));
    let price = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}"));
    for p in &b.positions {
        let mut line = String::new();
        let _ = write!(
            line,
            "  {:<7} {:<11} {:>6} {:>9.2} {:>9} {:>9}",
            p.symbol,
            p.strategy,
            p.qty,
            p.entry,
            price(p.stop),
            price(p.target)
        );
        out.push(line);
    }
    out
}

/// A slot instant as `YYYY-MM-DD HH:MM` in its own (ET) offset; anything else as it came.
fn short_slot(text: &str) -> String {
    DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_string(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// The jobs table from `/health`'s `jobs` map.
pub fn jobs_from_health(health: &Value) -> Vec<JobRow> {
    let Some(jobs) = health["jobs"].as_object() else {
        return Vec::new();
    };
    jobs.iter()
        .map(|(tag, j)| JobRow {
            tag: tag.clone(),
            last_slot: j["last_slot"].as_str().map(short_slot),
            last_status: j["last_status"].as_str().map(String::from),
            next_slot: j["next_slot"].as_str().map(short_slot),
            failures: j["failures"].as_u64().unwrap_or(0),
        })
        .collect()
}

/// The jobs table from `logs/jobs.jsonl` when no runner answers: each tag's last record, and
/// its failed runs since its last ok one; unreadable lines are passed over. Fed the log's
/// complete lines in order: a watch feeds it only what was appended since its last frame.
#[derive(Debug, Default)]
pub struct JobsTable {
    rows: BTreeMap<String, JobRow>,
}

impl JobsTable {
    pub fn feed(&mut self, lines: &str) {
        for record in lines
            .lines()
            .filter_map(|l| serde_json::from_str::<RunRecord>(l).ok())
        {
            let row = self.rows.entry(record.tag.clone()).or_default();
            row.tag = record.tag;
            row.last_slot = Some(fmt_slot(record.slot_et));
            row.last_status = Some(record.status.as_str().to_string());
            match record.status {
                Status::Failed => row.failures += 1,
                Status::Ok => row.failures = 0,
                Status::Skipped => {}
            }
        }
    }

    pub fn rows(&self) -> Vec<JobRow> {
        self.rows.values().cloned().collect()
    }
}

fn fmt_slot(t: DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The heartbeat log's last lines (at most [`BEATS_SHOWN`]), oldest first.
pub fn beats_from_log(text: &str) -> Vec<BeatLine> {
    let beats: Vec<BeatLine> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| BeatLine {
            ts_et: v["ts_et"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map_or("?".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            status: v["status"].as_str().unwrap_or("?").to_string(),
            seq: v["seq"].as_u64().unwrap_or(0),
        })
        .collect();
    beats[beats.len().saturating_sub(BEATS_SHOWN)..].to_vec()
}

/// `q`, `Q`, Esc or Ctrl-C (raw mode delivers it as a key, not a signal).
pub fn is_quit(key: &KeyEvent) -> bool {
    if key.kind == KeyEventKind::Release {
        return false;
    }
    match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// A line cut to the terminal's width, so that no line wraps and shifts the frame.
pub fn fit(line: &str, width: usize) -> String {
    line.chars().take(width).collect()
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
