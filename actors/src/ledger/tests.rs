//! The run ledger's tests: records once, adoption after a kill, batches, reads.

use super::*;
use chrono::TimeZone;

fn record(tag: &str, hour: u32) -> RunRecord {
    let slot = FixedOffset::west_opt(5 * 3600)
        .unwrap()
        .with_ymd_and_hms(2024, 11, 29, hour, 0, 0)
        .unwrap();
    RunRecord {
        tag: tag.into(),
        session: NaiveDate::from_ymd_opt(2024, 11, 29).unwrap(),
        slot_et: slot,
        started: slot.with_timezone(&Utc),
        finished: slot.with_timezone(&Utc),
        duration_ms: 0,
        status: Status::Ok,
        reason: None,
        detail: "x".into(),
    }
}

fn open(dir: &Path) -> RunLedger {
    RunLedger::open(
        &dir.join("state"),
        &dir.join("logs"),
        Durability::ProcessCrash,
    )
    .unwrap()
}

/// Records of `tag` on the hours 1 to `hours` of one day.
fn hourly(tag: &str, hours: u32) -> Vec<RunRecord> {
    (1..=hours).map(|h| record(tag, h)).collect()
}

/// A replay's ledger in `dir`, with its state and logs folders.
fn open_batched(dir: &Path) -> (RunLedger, std::path::PathBuf, std::path::PathBuf) {
    let (state, logs) = (dir.join("state"), dir.join("logs"));
    let ledger = RunLedger::open_batched(&state, &logs, Durability::ProcessCrash).unwrap();
    (ledger, state, logs)
}

/// A kill: the writer's connection goes without committing (SQLite rolls the open batch
/// back), and only the jobs log's lines are left.
fn kill(batched: RunLedger) {
    match batched.inner.into_inner().unwrap().rows {
        Rows::Batched { writer, .. } => writer.abandon(),
        Rows::Direct(_) => panic!("a replay's ledger writes its rows in batches"),
    }
}

#[test]
fn a_slot_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let r = record("SCAN", 10);
    assert!(!ledger
        .is_done("SCAN", r.slot_et.with_timezone(&Utc))
        .unwrap());
    ledger.record(&r).unwrap();
    assert!(ledger
        .is_done("SCAN", r.slot_et.with_timezone(&Utc))
        .unwrap());
    assert!(matches!(
        ledger.record(&r),
        Err(LedgerError::AlreadyRecorded { .. })
    ));
    drop(ledger);
    let ledger = open(dir.path());
    assert!(ledger
        .is_done("SCAN", r.slot_et.with_timezone(&Utc))
        .unwrap());
    let log = std::fs::read_to_string(dir.path().join("logs/jobs.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
}

#[test]
fn a_record_logged_but_not_inserted_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let r = record("EOD_REPORT", 12);
    let line = serde_json::to_string(&r).unwrap();
    let log = dir.path().join("logs/jobs.jsonl");
    std::fs::write(&log, format!("{line}\n{{\"tag\":\"SC")).unwrap();
    let ledger = open(dir.path());
    assert!(ledger
        .is_done("EOD_REPORT", r.slot_et.with_timezone(&Utc))
        .unwrap());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), format!("{line}\n"));
}

#[test]
fn a_batch_killed_before_its_commit_is_adopted_whole_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, state, _) = open_batched(dir.path());
    let records = hourly("POSITION_MANAGER", 12);
    for r in &records {
        batched.record(r).unwrap();
        // Answered from memory, and the row is there for this connection.
        assert!(batched
            .is_done(&r.tag, r.slot_et.with_timezone(&Utc))
            .unwrap());
    }
    kill(batched);
    let db = Connection::open(state.join("runs.sqlite")).unwrap();
    let rows: i64 = db
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "the batch was rolled back");
    drop(db);
    let reopened = open(dir.path());
    for r in &records {
        assert!(reopened
            .is_done(&r.tag, r.slot_et.with_timezone(&Utc))
            .unwrap());
    }
    let from = records[0].slot_et.with_timezone(&Utc);
    let to = from + chrono::TimeDelta::days(1);
    assert_eq!(reopened.records_between(from, to).unwrap().len(), 12);
}

#[test]
fn a_batched_ledger_commits_on_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, _, logs) = open_batched(dir.path());
    let r = record("EOD_REPORT", 15);
    batched.record(&r).unwrap();
    assert!(matches!(
        batched.record(&r),
        Err(LedgerError::AlreadyRecorded { .. })
    ));
    drop(batched);
    // Read without adopting anything: the row is in the database itself.
    std::fs::write(logs.join("jobs.jsonl"), "").unwrap();
    let reopened = open(dir.path());
    assert!(reopened
        .is_done("EOD_REPORT", r.slot_et.with_timezone(&Utc))
        .unwrap());
}

#[test]
fn a_corrupt_database_is_named_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let garbage = b"this is not sqlite, it is a text file that is long enough........".repeat(10);
    std::fs::write(state.join("runs.sqlite"), &garbage).unwrap();
    let err = RunLedger::open(&state, &dir.path().join("logs"), Durability::ProcessCrash)
        .err()
        .unwrap();
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("runs.sqlite"));
    assert_eq!(std::fs::read(state.join("runs.sqlite")).unwrap(), garbage);
}

#[test]
fn records_come_back_in_slot_order() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    for (tag, hour) in [("B", 11), ("A", 11), ("C", 9)] {
        ledger.record(&record(tag, hour)).unwrap();
    }
    let from = Utc.with_ymd_and_hms(2024, 11, 29, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2024, 11, 30, 0, 0, 0).unwrap();
    let tags: Vec<_> = ledger
        .records_between(from, to)
        .unwrap()
        .into_iter()
        .map(|r| r.tag)
        .collect();
    assert_eq!(tags, ["C", "A", "B"]);
}

#[test]
fn outcomes_are_counted_by_job_status_and_reason_in_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let with = |tag: &str, hour, status, reason: Option<&str>| RunRecord {
        status,
        reason: reason.map(String::from),
        ..record(tag, hour)
    };
    for r in [
        with("SCAN", 9, Status::Ok, None),
        with("SCAN", 10, Status::Ok, None),
        with("SCAN", 11, Status::Skipped, Some("no_data")),
        with("PM", 9, Status::Skipped, Some("no_data")),
        with("PM", 10, Status::Failed, Some("timeout")),
        with("PM", 23, Status::Ok, None),
    ] {
        ledger.record(&r).unwrap();
    }
    let from = Utc.with_ymd_and_hms(2024, 11, 29, 0, 0, 0).unwrap();
    // 23:00 ET is 04:00 UTC the next day: outside.
    let to = Utc.with_ymd_and_hms(2024, 11, 30, 0, 0, 0).unwrap();
    let counted: Vec<(String, Status, Option<String>, usize)> = ledger
        .outcomes_between(from, to)
        .unwrap()
        .into_iter()
        .map(|o| (o.tag, o.status, o.reason, o.count))
        .collect();
    let no_data = Some("no_data".to_string());
    assert_eq!(
        counted,
        [
            ("PM".into(), Status::Failed, Some("timeout".into()), 1),
            ("PM".into(), Status::Skipped, no_data.clone(), 1),
            ("SCAN".into(), Status::Ok, None, 2),
            ("SCAN".into(), Status::Skipped, no_data, 1),
        ]
    );
}

#[test]
fn a_batched_ledger_reads_every_record_sent_before_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, _, _) = open_batched(dir.path());
    let records = hourly("POSITION_MANAGER", 20);
    for r in &records {
        batched.record(r).unwrap();
    }
    // Not one batch committed yet: the writer's connection answers from its open transaction.
    let from = records[0].slot_et.with_timezone(&Utc);
    let to = from + chrono::TimeDelta::days(1);
    assert_eq!(batched.records_between(from, to).unwrap(), records);
    assert_eq!(
        batched.get("POSITION_MANAGER", from).unwrap().as_ref(),
        Some(&records[0])
    );
    assert_eq!(
        batched.last_slot().unwrap(),
        Some(records[19].slot_et.with_timezone(&Utc))
    );
}

#[test]
fn a_batch_of_many_records_killed_is_adopted_whole() {
    // More lines than one batch holds: some rows are committed, the rest are in the log's
    // tail, and none is lost.
    let dir = tempfile::tempdir().unwrap();
    let (batched, _, _) = open_batched(dir.path());
    let long = "d".repeat(300);
    let records: Vec<RunRecord> = (0..600)
        .map(|i| RunRecord {
            detail: long.clone(),
            ..record(&format!("JOB_{i:03}"), 10)
        })
        .collect();
    for r in &records {
        batched.record(r).unwrap();
    }
    kill(batched);
    let reopened = open(dir.path());
    for r in &records {
        assert!(
            reopened
                .is_done(&r.tag, r.slot_et.with_timezone(&Utc))
                .unwrap(),
            "{} lost",
            r.tag
        );
    }
}

#[test]
fn a_writer_that_failed_fails_the_next_read_flush_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, state, logs) = open_batched(dir.path());
    // Another connection makes every insert fail; reads still work.
    Connection::open(state.join("runs.sqlite"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'refused by a test'); END;",
        )
        .unwrap();
    batched.record(&record("SCAN", 9)).unwrap();
    // The read hands the row over; its answer lacks the row, so it is no answer.
    let err = batched.last_slot().unwrap_err();
    assert!(matches!(err, LedgerError::WriterFailed(_)), "{err}");
    assert!(err.to_string().contains("refused by a test"), "{err}");
    assert!(matches!(batched.flush(), Err(LedgerError::WriterFailed(_))));
    let err = batched.record(&record("SCAN", 10)).unwrap_err();
    assert!(matches!(err, LedgerError::WriterFailed(_)), "{err}");
    // The failed row's line is in the jobs log, for the next open to adopt; the refused one is
    // not there.
    let log = std::fs::read_to_string(logs.join("jobs.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
}

#[test]
fn a_flush_commits_every_record_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, state, _) = open_batched(dir.path());
    batched.record(&record("SCAN", 9)).unwrap();
    batched.flush().unwrap();
    let rows: i64 = Connection::open(state.join("runs.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "committed, seen by another connection");
}

#[test]
fn a_writer_behind_holds_the_next_record_before_its_line_passes_the_adopted_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (state, logs) = (dir.path().join("state"), dir.path().join("logs"));
    let batched = std::sync::Arc::new(
        RunLedger::open_batched(&state, &logs, Durability::ProcessCrash).unwrap(),
    );
    let release = match &mut batched.inner.lock().unwrap().rows {
        Rows::Batched { writer, .. } => writer.hold(),
        Rows::Direct(_) => panic!("a replay's ledger writes its rows in batches"),
    };
    let (done, finished) = std::sync::mpsc::channel();
    let recorder = std::thread::spawn({
        let batched = batched.clone();
        move || {
            let long = "d".repeat(300);
            for i in 0..400 {
                let r = RunRecord {
                    detail: long.clone(),
                    ..record(&format!("JOB_{i:03}"), 10)
                };
                batched.record(&r).unwrap();
            }
            done.send(()).unwrap();
        }
    });
    // 400 lines are about 170 KB: with the writer held, the recorder must stop before the
    // uncommitted lines pass what the next open reads back. Waited for until the log is within
    // a line or two of that limit (however slow the machine), or the recorder has finished.
    let logged = || std::fs::metadata(logs.join("jobs.jsonl")).map_or(0, |m| m.len() as usize);
    let mut early = Err(std::sync::mpsc::RecvTimeoutError::Timeout);
    let started = std::time::Instant::now();
    while logged() + 1024 < batch::BATCH_BYTES && started.elapsed().as_secs() < 60 {
        early = finished.recv_timeout(std::time::Duration::from_millis(5));
        if early.is_ok() {
            break;
        }
    }
    if early.is_err() {
        early = finished
            .try_recv()
            .map_err(|_| std::sync::mpsc::RecvTimeoutError::Timeout);
    }
    let logged = logged();
    drop(release);
    recorder.join().unwrap();
    assert!(
        early.is_err(),
        "every record was taken while nothing was committed"
    );
    assert!(logged <= batch::BATCH_BYTES, "{logged} bytes uncommitted");
    // Not a wait that ran out: the recorder got to the limit and was held there.
    assert!(
        logged + 1024 >= batch::BATCH_BYTES,
        "only {logged} bytes logged in 60 s"
    );
}

#[test]
fn a_replays_ledger_records_a_slot_once_even_when_asked_to_record_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (batched, _, logs) = open_batched(dir.path());
    let r = record("SCAN", 10);
    batched.record(&r).unwrap();
    let logged = std::fs::read(logs.join("jobs.jsonl")).unwrap();
    // A forced re-run (`kobe run-job --force`) replaces a row only in a ledger that writes its
    // own rows: a replay's refuses, and writes no second line.
    assert!(matches!(
        batched.record_again(&r),
        Err(LedgerError::AlreadyRecorded { .. })
    ));
    assert_eq!(std::fs::read(logs.join("jobs.jsonl")).unwrap(), logged);
    // A slot not recorded yet is recorded as any other.
    batched.record_again(&record("SCAN", 11)).unwrap();
    batched.flush().unwrap();
}

#[test]
fn a_live_run_ledger_syncs_every_commit_and_a_replays_hands_them_to_the_system() {
    let dir = tempfile::tempdir().unwrap();
    let live = RunLedger::open(
        &dir.path().join("live/state"),
        &dir.path().join("live/logs"),
        Durability::PowerLoss,
    )
    .unwrap();
    let synchronous = |ledger: &RunLedger| -> i64 {
        ledger
            .lock()
            .read(|db| Ok(db.pragma_query_value(None, "synchronous", |r| r.get(0))?))
            .unwrap()
    };
    assert_eq!(synchronous(&live), 2, "FULL");
    let (replay, _, _) = open_batched(&dir.path().join("replay"));
    assert_eq!(synchronous(&replay), 0, "OFF");
}

#[test]
fn a_stored_record_that_does_not_parse_is_damage_not_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let r = record("SCAN", 9);
    ledger.record(&r).unwrap();
    Connection::open(dir.path().join("state/runs.sqlite"))
        .unwrap()
        .execute("UPDATE runs SET record = '{\"torn'", [])
        .unwrap();
    let slot = r.slot_et.with_timezone(&Utc);
    assert!(matches!(
        ledger.get("SCAN", slot),
        Err(LedgerError::Corrupt { .. })
    ));
    assert!(matches!(
        ledger.records_between(slot, slot + chrono::TimeDelta::hours(1)),
        Err(LedgerError::Corrupt { .. })
    ));
    assert!(ledger
        .get("SCAN", slot + chrono::TimeDelta::hours(1))
        .unwrap()
        .is_none());
}
