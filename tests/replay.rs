//! The whole runner on a simulated clock, through the built binary: DST, holidays and early
//! closes, determinism, and resuming after SIGKILL.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{without_wall_clock, TempHome};
use serde_json::Value;

/// The seed schedule's fixed slots (ET wall time) on a regular session.
const FIXED: &[(&str, &str)] = &[
    ("05:30", "DB_BACKUP"),
    ("06:00", "DATA_UPDATE"),
    ("08:00", "PRE_GAME"),
    ("08:15", "PREGAME_BLUEPRINT"),
    ("09:45", "FIRST_SCAN"),
    ("15:30", "EOD_REPORT"),
    ("15:45", "OVERNIGHT_WATCHLIST"),
];

/// Sessions around the 2024 DST changes and the UTC offset each must carry.
const DST_TABLE: &[(&str, &str)] = &[
    ("2024-03-07", "-05:00"),
    ("2024-03-08", "-05:00"),
    ("2024-03-11", "-04:00"),
    ("2024-03-12", "-04:00"),
    ("2024-10-31", "-04:00"),
    ("2024-11-01", "-04:00"),
    ("2024-11-04", "-05:00"),
    ("2024-11-05", "-05:00"),
];

fn expected_slots(date: &str, offset: &str) -> Vec<String> {
    let mut slots: Vec<String> = FIXED
        .iter()
        .map(|(t, tag)| format!("{tag} {date}T{t}:00{offset}"))
        .collect();
    for minutes in (10 * 60..=16 * 60).step_by(15) {
        let t = format!("{:02}:{:02}", minutes / 60, minutes % 60);
        slots.push(format!("POSITION_MANAGER {date}T{t}:00{offset}"));
    }
    slots
}

fn slot_key(r: &Value) -> String {
    format!(
        "{} {}",
        r["tag"].as_str().unwrap(),
        r["slot_et"].as_str().unwrap()
    )
}

#[test]
fn dst_every_slot_at_its_et_wall_time_with_the_right_offset_exactly_once() {
    for range in ["2024-03-07..2024-03-12", "2024-10-31..2024-11-05"] {
        let home = TempHome::with_sample();
        let records = home.replay(range, &[]);
        let (from, to) = range.split_once("..").unwrap();
        let mut want: Vec<String> = DST_TABLE
            .iter()
            .filter(|(d, _)| *d >= from && *d <= to)
            .flat_map(|(d, off)| expected_slots(d, off))
            .collect();
        let mut got: Vec<String> = records.iter().map(slot_key).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{range}");
        for r in &records {
            assert_ne!(r["status"], "failed", "{r}");
            // On the simulated clock a slot starts at its instant: the UTC conversion is right.
            let slot = DateTime::parse_from_rfc3339(r["slot_et"].as_str().unwrap()).unwrap();
            let started: DateTime<Utc> = r["started"].as_str().unwrap().parse().unwrap();
            assert_eq!(slot.with_timezone(&Utc), started, "{r}");
        }
    }
}

#[test]
fn thanksgiving_and_the_early_close() {
    let home = TempHome::with_sample();
    let records = home.replay("2024-11-27..2024-11-29", &["--scan-times", "09:35,15:55"]);
    assert!(
        records.iter().all(|r| r["session"] != "2024-11-28"),
        "no slot on Thanksgiving"
    );
    let friday: Vec<&Value> = records
        .iter()
        .filter(|r| r["session"] == "2024-11-29")
        .collect();
    let find = |tag: &str| -> Vec<String> {
        friday
            .iter()
            .filter(|r| r["tag"] == tag)
            .map(|r| r["slot_et"].as_str().unwrap()[11..16].to_string())
            .collect()
    };
    assert_eq!(find("EOD_REPORT"), ["12:30"]);
    assert_eq!(find("OVERNIGHT_WATCHLIST"), ["12:45"]);
    let pm = find("POSITION_MANAGER");
    assert_eq!(pm.first().map(String::as_str), Some("10:00"));
    assert_eq!(pm.last().map(String::as_str), Some("13:00"));
    assert_eq!(pm.len(), 13);
    let scans: Vec<(&str, &str, &str)> = friday
        .iter()
        .filter(|r| r["tag"] == "SCAN")
        .map(|r| {
            (
                &r["slot_et"].as_str().unwrap()[11..16],
                r["status"].as_str().unwrap(),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        scans,
        [("09:35", "ok", ""), ("15:55", "skipped", "after_close")]
    );
    // Nothing runs after the 13:00 close.
    for r in &friday {
        let time = &r["slot_et"].as_str().unwrap()[11..16];
        if time > "13:00" {
            assert_eq!(r["status"], "skipped", "{r}");
        }
    }
    // Wednesday is a regular day: EOD at 15:30.
    let wednesday_eod: Vec<_> = records
        .iter()
        .filter(|r| r["session"] == "2024-11-27" && r["tag"] == "EOD_REPORT")
        .map(slot_key)
        .collect();
    assert_eq!(wednesday_eod, ["EOD_REPORT 2024-11-27T15:30:00-05:00"]);
}

#[test]
fn two_replays_of_a_range_give_the_same_jobs_log() {
    let (a, b) = (TempHome::with_sample(), TempHome::with_sample());
    let range = "2024-06-17..2024-07-05";
    let args = ["--scan-times", "09:35,10:30,15:55"];
    let first = a.replay(range, &args);
    let second = b.replay(range, &args);
    assert!(first.len() > 300);
    assert_eq!(without_wall_clock(&first), without_wall_clock(&second));
    // Juneteenth and Independence Day have no slots; July 3 closes at 13:00.
    assert!(first
        .iter()
        .all(|r| r["session"] != "2024-06-19" && r["session"] != "2024-07-04"));
    assert!(first
        .iter()
        .any(|r| slot_key(r) == "EOD_REPORT 2024-07-03T12:30:00-04:00"));
}

#[test]
fn a_replay_killed_with_sigkill_resumes_to_the_same_jobs_log() {
    let range = "2016-01-01..2016-12-31";
    let reference = TempHome::with_sample();
    let whole = reference.replay(range, &[]);

    let home = TempHome::with_sample();
    let binary = assert_cmd::cargo::cargo_bin("runner");
    let lines = || {
        std::fs::read_to_string(home.jobs_log_path())
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let mut interrupted = 0;
    // Killed once the jobs log has passed a fifth, two fifths, three fifths of the year, so
    // each kill lands mid-replay however fast this machine replays (several of them inside a
    // run ledger batch not yet committed).
    for fifth in 1..=3 {
        let target = whole.len() * fifth / 5;
        let mut child = std::process::Command::new(&binary)
            .args(["--home"])
            .arg(home.path())
            .args(["--mode", "paper", "--replay", range])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while lines() < target && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL (a no-op if it has ended)
        let status = child.wait().unwrap();
        let done = lines();
        if !status.success() && done > 0 && done < whole.len() {
            interrupted += 1;
            // A crash mid-write leaves a torn line: the resume must cut it, not keep it.
            let mut log = std::fs::OpenOptions::new()
                .append(true)
                .open(home.jobs_log_path())
                .unwrap();
            std::io::Write::write_all(&mut log, b"{\"tag\":\"POSITION_MAN").unwrap();
        }
    }
    assert!(interrupted >= 1, "no kill landed mid-replay");
    let resumed = home.replay(range, &[]);
    assert_eq!(without_wall_clock(&resumed), without_wall_clock(&whole));
}

#[test]
fn an_interrupted_replay_says_where_it_stopped_and_exits_non_zero() {
    let range = "2016-01-01..2016-12-31";
    let home = TempHome::with_sample();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
        .args(["--home"])
        .arg(home.path())
        .args(["--mode", "paper", "--replay", range])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once it has recorded its first slots (a year takes far longer than that).
    let started = std::time::Instant::now();
    while std::fs::read_to_string(home.jobs_log_path()).map_or(0, |t| t.lines().count()) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "a summary for half a replay");
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("replay interrupted")
            && last.contains("2016-01-")
            && last.contains("run the same command to resume"),
        "{err}"
    );
    // And the same command does resume, to the end.
    let resumed = home
        .runner()
        .args(["--mode", "paper", "--replay", range])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", common::stderr(&resumed));
}

#[test]
fn a_reader_that_has_gone_is_no_failure() {
    // `runner ... | head -1`: the summary's reader closes the pipe before it is written.
    let home = TempHome::with_sample();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
        .args(["--home"])
        .arg(home.path())
        .args(["--mode", "paper", "--replay", "2017-11-20..2017-11-21"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The replay itself was done and recorded.
    assert!(home.jobs_log().iter().any(|r| r["session"] == "2017-11-21"));
}

#[test]
fn a_replay_the_store_does_not_cover_says_so_at_start_and_still_runs() {
    let home = TempHome::with_sample();
    let run = |range: &str| {
        home.runner()
            .args(["--mode", "paper", "--replay", range])
            .output()
            .unwrap()
    };
    // The shipped sample ends in 2018: Thanksgiving week 2024 has no bars at all.
    let out = run("2024-11-25..2024-11-29");
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    let note = err
        .lines()
        .find(|l| l.starts_with("runner: note: the bar store holds"))
        .unwrap_or_else(|| panic!("no coverage note: {err}"));
    assert!(
        note.contains("..2018-02-07:")
            && note.contains("4 of the 4 sessions of 2024-11-25..2024-11-29 have no bars"),
        "{note}"
    );
    // Partly covered: only the sessions past the store's end are named.
    let out = run("2018-02-05..2018-02-09");
    let err = common::stderr(&out);
    assert!(
        err.contains(
            "2 of the 5 sessions of 2018-02-05..2018-02-09 have no bars (2018-02-08..2018-02-09)"
        ),
        "{err}"
    );
    // Covered: no note.
    let out = run("2016-06-24..2016-06-28");
    assert!(
        !common::stderr(&out).contains("runner: note"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn bad_scan_times_exit_2_with_one_line_and_write_nothing() {
    let cases = [
        ("25:00", "\"25:00\""),
        ("9:5", "\"9:5\""),
        ("10:60", "\"10:60\""),
        ("09:35,,10:30", "empty"),
        ("09:35,", "empty"),
        ("09:35,09:35", "twice"),
        ("ten:30", "\"ten:30\""),
        ("09:3x", "\"09:3x\""),
    ];
    for (value, named) in cases {
        let home = TempHome::new();
        let out = home
            .runner()
            .args(["--mode", "paper", "--scan-times", value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "{value}: {err}");
        assert!(
            err.contains("--scan-times") && err.contains(named),
            "{value}: {err}"
        );
        assert!(home.files().is_empty(), "{value}: wrote {:?}", home.files());
    }
}

#[test]
fn refusals_before_anything_starts() {
    let cases: &[(&[&str], &str)] = &[
        (&["--mode", "live"], "--approve-live"),
        (
            &["--mode", "paper", "--replay", "2024-03-12..2024-03-07"],
            "--replay",
        ),
        (
            &[
                "--mode",
                "paper",
                "--replay",
                "2024-03-07..2024-03-12",
                "--speed",
                "0",
            ],
            "--speed",
        ),
    ];
    for (args, named) in cases {
        let home = TempHome::new();
        let out = home.runner().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(named), "{err}");
        assert!(home.files().is_empty());
    }
}

#[test]
fn a_bad_config_file_is_named_with_its_line() {
    let home = TempHome::new();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let path = home.path().join("config/kobe.toml");
    std::fs::write(&path, "[jobs.SCAN]\nat = \"09:35\"\ncatchup = true\n").unwrap();
    let out = home.runner().args(["--mode", "paper"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("kobe.toml line 3: unknown field `catchup`"),
        "{err}"
    );
    assert_eq!(home.files(), ["config/kobe.toml"]);
}

#[test]
fn an_empty_or_partial_config_means_the_defaults_and_bad_numbers_are_refused() {
    let home = TempHome::new();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let path = home.path().join("config/kobe.toml");
    let first_lines: String = kobe::config::EMBEDDED_DEFAULT
        .lines()
        .take(12)
        .map(|l| format!("{l}\n"))
        .collect();
    for text in ["", first_lines.as_str()] {
        std::fs::write(&path, text).unwrap();
        let out = home
            .kobe()
            .args(["schedule", "--session", "2024-11-27"])
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", common::stderr(&out));
        for tag in ["DB_BACKUP", "FIRST_SCAN", "POSITION_MANAGER", "EOD_REPORT"] {
            assert!(
                shown.contains(tag),
                "{tag} not scheduled by {text:?}:\n{shown}"
            );
        }
    }
    for (line, key) in [
        ("starting_equity = nan", "trading.starting_equity"),
        ("risk_per_trade = -5.0", "trading.risk_per_trade"),
        ("daily_loss_limit = -1.0", "trading.daily_loss_limit"),
    ] {
        std::fs::write(&path, format!("[trading]\n{line}\n")).unwrap();
        let out = home.runner().args(["--mode", "paper"]).output().unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(key) && err.lines().count() == 1, "{err}");
        assert_eq!(home.files(), ["config/kobe.toml"], "something was written");
    }
}

#[test]
fn kobe_schedule_shows_the_early_close_day() {
    let home = TempHome::new();
    let out = home
        .kobe()
        .args([
            "schedule",
            "--session",
            "2024-11-29",
            "--scan-times",
            "15:55",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("2024-11-29 Fri: NYSE session 09:30-13:00 ET (early close)"),
        "{text}"
    );
    let lines: BTreeMap<&str, usize> = text.lines().fold(BTreeMap::new(), |mut m, l| {
        if let Some(tag) = l.split_whitespace().nth(4) {
            *m.entry(tag).or_default() += 1;
        }
        m
    });
    assert_eq!(lines.get("POSITION_MANAGER"), Some(&13));
    assert!(text.contains("12:30 -05:00") && text.contains("skipped: after_close"));
    let out = home
        .kobe()
        .args(["schedule", "--session", "2024-11-28"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("no session (Thanksgiving)") && text.contains("no slots"),
        "{text}"
    );
}
