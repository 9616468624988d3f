//! A database in doubt stops kobe before it writes anything: an emptied, missing, damaged or
//! foreign trading ledger, or a damaged run ledger, is refused by the runner and by every
//! command that reads it — exit 2, one line naming the file — and the file is left as it is.

mod common;

use common::TempHome;

const FIRST: &str = "2016-01-04..2016-02-29";
const NEXT: &str = "2016-03-01..2016-03-31";

/// A home that has traded: two months of the sample replayed.
fn traded_home() -> TempHome {
    let home = TempHome::with_sample();
    let out = home
        .runner()
        .args(["--mode", "paper", "--replay", FIRST])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    home
}

/// Runs `command` and expects a refusal: exit 2, one line on stderr holding every `needle`.
fn refused(mut command: assert_cmd::Command, needles: &[&str]) {
    let out = command.output().unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

/// The runner's next replay and `kobe positions` both refuse; the file stays byte for byte.
fn both_refuse(home: &TempHome, file: &str, needles: &[&str]) {
    let path = home.path().join(file);
    let before = std::fs::read(&path).ok();
    let jobs_before = std::fs::read(home.jobs_log_path()).unwrap();
    let mut runner = home.runner();
    runner.args(["--mode", "paper", "--replay", NEXT]);
    refused(runner, needles);
    let mut positions = home.kobe();
    positions.arg("positions");
    refused(positions, needles);
    assert_eq!(std::fs::read(&path).ok(), before, "{file} was changed");
    assert_eq!(
        std::fs::read(home.jobs_log_path()).unwrap(),
        jobs_before,
        "a slot ran"
    );
}

#[test]
fn an_emptied_or_deleted_trading_ledger_is_never_replaced_by_a_fresh_account() {
    let home = traded_home();
    let ledger = home.path().join("state/ledger.sqlite");
    std::fs::write(&ledger, b"").unwrap();
    both_refuse(
        &home,
        "state/ledger.sqlite",
        &["ledger.sqlite", "empty", "has traded", "kobe restore"],
    );
    std::fs::remove_file(&ledger).unwrap();
    both_refuse(
        &home,
        "state/ledger.sqlite",
        &[
            "ledger.sqlite",
            "missing",
            "runs.sqlite records POSITION_MANAGER",
        ],
    );
    assert!(!ledger.exists(), "a new ledger was created");
}

#[test]
fn a_backup_holding_a_ledger_is_evidence_of_trading_too() {
    let home = traded_home();
    let out = home.kobe().arg("backup").output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    // Everything but the backups gone: the run ledger and its log too.
    for file in [
        "state/ledger.sqlite",
        "state/runs.sqlite",
        "logs/jobs.jsonl",
    ] {
        std::fs::remove_file(home.path().join(file)).unwrap();
    }
    let mut positions = home.kobe();
    positions.arg("positions");
    refused(
        positions,
        &["ledger.sqlite", "missing", "holds a trading ledger"],
    );
    assert!(!home.path().join("state/ledger.sqlite").exists());
}

#[test]
fn a_damaged_or_foreign_trading_ledger_is_refused_by_name() {
    let home = traded_home();
    let ledger = home.path().join("state/ledger.sqlite");
    // WAL content is folded into the file first, so the damage below lands in real pages.
    common::checkpoint(&ledger);
    let pristine = std::fs::read(&ledger).unwrap();

    let mut header = pristine.clone();
    header[..16].copy_from_slice(b"NotSQLite at all");
    std::fs::write(&ledger, &header).unwrap();
    both_refuse(
        &home,
        "state/ledger.sqlite",
        &["ledger.sqlite", "not an SQLite database"],
    );

    std::fs::write(&ledger, &pristine).unwrap();
    common::damage(&ledger, 3 * 4096, false);
    both_refuse(&home, "state/ledger.sqlite", &["ledger.sqlite"]);

    std::fs::remove_file(&ledger).unwrap();
    let foreign = rusqlite::Connection::open(&ledger).unwrap();
    foreign
        .execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');")
        .unwrap();
    drop(foreign);
    both_refuse(
        &home,
        "state/ledger.sqlite",
        &["ledger.sqlite", "some other program"],
    );
}

#[test]
fn a_damaged_run_ledger_is_refused_by_name() {
    let home = traded_home();
    let runs = home.path().join("state/runs.sqlite");
    common::checkpoint(&runs);
    common::damage(&runs, 4 * 4096, true);
    let before = std::fs::read(&runs).unwrap();
    let mut runner = home.runner();
    runner.args(["--mode", "paper", "--replay", NEXT]);
    refused(runner, &["runs.sqlite"]);
    assert_eq!(
        std::fs::read(&runs).unwrap(),
        before,
        "runs.sqlite was written to"
    );
}
