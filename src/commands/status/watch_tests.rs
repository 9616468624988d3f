//! Unit tests of the watch view: fixed views in, the exact lines an operator sees out.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::*;

fn report(kill_switch: Value) -> StatusReport {
    StatusReport {
        state: "running",
        status: Some("halted".into()),
        pid: Some(42),
        mode: Some("paper".into()),
        clock: Some("live".into()),
        uptime_s: Some(75),
        kill_switch,
        last_job: Value::Null,
        next_job: json!({"tag": "EOD_REPORT", "at_et": "2024-05-01T16:15:00-04:00"}),
        heartbeat_seq: Some(7),
        heartbeat_age_s: Some(1),
        source: "health",
        note: None,
    }
}

fn view(book: Book) -> WatchView {
    WatchView {
        report: report(json!({"active": true, "since": "2024-05-01T13:00:00Z", "reason": "fomc"})),
        jobs: Ok(vec![JobRow {
            tag: "EOD_REPORT".into(),
            last_slot: Some("2024-04-30 16:15".into()),
            last_status: Some("failed".into()),
            next_slot: Some("2024-05-01 16:15".into()),
            failures: 2,
        }]),
        jobs_source: "health",
        book,
        beats: vec![BeatLine {
            ts_et: "2024-05-01 09:30:00".into(),
            status: "halted".into(),
            seq: 7,
        }],
    }
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l == want)
}

#[test]
fn shows_status_kill_switch_jobs_and_heartbeats() {
    let lines = render(&view(Book::Absent("no trading ledger yet".into())));
    assert!(has(
        &lines,
        "runner: halted (pid 42, mode paper, clock live, up 1m 15s)"
    ));
    assert!(has(
        &lines,
        "kill switch: ON since 2024-05-01T13:00:00Z (fomc)"
    ));
    assert!(has(
        &lines,
        "next job: EOD_REPORT at 2024-05-01T16:15:00-04:00"
    ));
    assert!(has(&lines, "jobs (from health)"));
    assert!(has(
        &lines,
        "  EOD_REPORT 2024-04-30 16:15  failed   2024-05-01 16:15         2"
    ));
    assert!(has(&lines, "book: no trading ledger yet"));
    assert!(has(&lines, "  2024-05-01 09:30:00  halted    #7"));
}

#[test]
fn a_jobs_log_that_cannot_be_read_is_said() {
    let mut v = view(Book::Absent("x".into()));
    v.jobs = Err("logs/jobs.jsonl: Is a directory".into());
    let lines = render(&v);
    assert!(has(&lines, "  unreadable: logs/jobs.jsonl: Is a directory"));
    assert!(!has(&lines, "  none known"));
}

#[test]
fn kill_switch_off_and_no_jobs_or_beats() {
    let mut v = view(Book::Absent("x".into()));
    v.report = report(json!({"active": false}));
    v.jobs = Ok(Vec::new());
    v.beats.clear();
    let lines = render(&v);
    assert!(has(&lines, "kill switch: off"));
    assert!(has(&lines, "  none known"));
    assert!(has(&lines, "  none yet"));
}

#[test]
fn shows_positions_and_todays_pnl() {
    let book = Book::Open(BookSummary {
        cash: 9_000.0,
        equity: 10_050.5,
        day_pnl: 50.5,
        realized_today: -12.25,
        positions: vec![PositionRow {
            symbol: "AAPL".into(),
            strategy: "ibs_rsi".into(),
            qty: 10,
            entry: 105.05,
            stop: Some(100.0),
            target: None,
        }],
    });
    let lines = render(&view(book));
    assert!(has(
        &lines,
        "book: 1 open, cash 9000.00, equity 10050.50, today +50.50 (realized -12.25), \
         open marked at entry"
    ));
    assert!(has(
        &lines,
        "  AAPL    ibs_rsi         10    105.05    100.00         -"
    ));
}

#[test]
fn jobs_from_health_reads_the_jobs_map() {
    let health = json!({"jobs": {"DATA_UPDATE": {
        "last_slot": "2024-05-01T06:00:00-04:00", "last_status": "ok",
        "next_slot": null, "failures": 0, "restarts": 0, "gave_up": false}}});
    let rows = jobs_from_health(&health);
    assert_eq!(
        rows,
        vec![JobRow {
            tag: "DATA_UPDATE".into(),
            last_slot: Some("2024-05-01 06:00".into()),
            last_status: Some("ok".into()),
            next_slot: None,
            failures: 0,
        }]
    );
}

fn record(tag: &str, slot: &str, status: &str) -> String {
    json!({"tag": tag, "session": "2024-05-01", "slot_et": slot,
        "started": "2024-05-01T10:00:00Z", "finished": "2024-05-01T10:00:01Z",
        "duration_ms": 5, "status": status, "reason": null, "detail": ""})
    .to_string()
}

#[test]
fn jobs_table_keeps_each_tags_last_record_and_failures_since_ok() {
    let log = [
        record("A", "2024-05-01T09:00:00-04:00", "failed"),
        record("A", "2024-05-01T09:05:00-04:00", "ok"),
        record("B", "2024-05-01T09:10:00-04:00", "failed"),
        "{torn".into(),
        record("B", "2024-05-01T09:15:00-04:00", "failed"),
    ]
    .join("\n");
    let mut table = JobsTable::default();
    table.feed(&log);
    let rows = table.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].last_status.as_deref(), Some("ok"));
    assert_eq!(rows[0].failures, 0);
    assert_eq!(rows[1].last_slot.as_deref(), Some("2024-05-01 09:15"));
    assert_eq!(rows[1].failures, 2);
}

#[test]
fn beats_keep_the_last_five_and_pass_over_a_torn_first_line() {
    let mut log = String::from("\"status\":\"ok\"}\n");
    for seq in 1..=7 {
        log += &json!({"ts_et": format!("2024-05-01T09:30:0{seq}-04:00"), "status": "ok",
            "seq": seq})
        .to_string();
        log.push('\n');
    }
    let beats = beats_from_log(&log);
    assert_eq!(beats.len(), BEATS_SHOWN);
    assert_eq!(beats[0].seq, 3);
    assert_eq!(beats[4].ts_et, "2024-05-01 09:30:07");
}

#[test]
fn quits_on_q_esc_and_ctrl_c_only() {
    let key = |code, mods| KeyEvent::new(code, mods);
    assert!(is_quit(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
    assert!(is_quit(&key(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(is_quit(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(!is_quit(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
    assert!(!is_quit(&key(KeyCode::Enter, KeyModifiers::NONE)));
}

#[test]
fn fit_cuts_to_the_width() {
    assert_eq!(fit("abcdef", 3), "abc");
    assert_eq!(fit("ab", 3), "ab");
}
