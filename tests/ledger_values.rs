//! A trading ledger holding a value kobe does not know (a hand-edited side, strategy, status or
//! reason, or a text where a number belongs) is refused by every command that reads it, and by
//! the runner before anything starts — exit 2, the table, the row and the value named, the file
//! untouched — never read as a default.

mod common;

use common::TempHome;
use rusqlite::{params, Connection};

/// A home whose ledger has orders, decisions, fills and trades (a month of the sample).
fn traded_home() -> TempHome {
    let home = TempHome::with_sample();
    let out = home
        .runner()
        .args(["--mode", "paper", "--replay", "2016-01-04..2016-02-29"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    home
}

#[test]
fn an_unknown_side_strategy_status_or_reason_in_the_ledger_is_named_and_refused() {
    let home = traded_home();
    let ledger = home.path().join("state/ledger.sqlite");
    let pristine = std::fs::read(&ledger).unwrap();
    // (table, key column, column, bad value)
    let cases = [
        ("orders", "client_order_id", "status", "open"),
        ("orders", "client_order_id", "side", "BUY"),
        ("decisions", "client_order_id", "strategy", "MOMENTUM"),
        ("decisions", "client_order_id", "reason", "gut feeling"),
        ("trades", "entry_order", "reason", "stopped_out"),
        // A number column holding something else: refused as well, never summed as 0.
        ("trades", "entry_order", "pnl", "lost"),
        ("fills", "client_order_id", "price", "n/a"),
    ];
    for (table, key, column, value) in cases {
        std::fs::write(&ledger, &pristine).unwrap();
        let row: String = {
            let conn = Connection::open(&ledger).unwrap();
            let row: String = conn
                .query_row(
                    &format!("SELECT {key} FROM {table} ORDER BY {key} LIMIT 1"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            conn.execute(
                &format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2"),
                params![value, row],
            )
            .unwrap();
            row
        };
        let edited = std::fs::read(&ledger).unwrap();
        for command in [&["ledger", "export"][..], &["positions"], &["trades"]] {
            let out = home.kobe().args(command).output().unwrap();
            let err = common::stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{command:?} {table}.{column}: {err}"
            );
            assert!(out.stdout.is_empty(), "{command:?} printed a book: {err}");
            for needle in [table, &row, value] {
                assert!(err.contains(needle), "{command:?}: {needle:?} not in {err}");
            }
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
        // The runner refuses it before anything starts: no slot runs, no line is written.
        let jobs_log = home.path().join("logs/jobs.jsonl");
        let logged = std::fs::read(&jobs_log).unwrap();
        let out = home
            .runner()
            .args(["--mode", "paper", "--replay", "2016-03-01..2016-03-04"])
            .output()
            .unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "runner {table}.{column}: {err}");
        for needle in [table, &row, value] {
            assert!(err.contains(needle), "runner: {needle:?} not in {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "runner, one line: {err}");
        assert_eq!(std::fs::read(&jobs_log).unwrap(), logged, "a slot ran");
        assert_eq!(
            std::fs::read(&ledger).unwrap(),
            edited,
            "the ledger was changed"
        );
    }
}

#[test]
fn a_ledger_that_has_traded_and_lost_its_account_row_is_refused_never_refunded() {
    let home = traded_home();
    let ledger = home.path().join("state/ledger.sqlite");
    Connection::open(&ledger)
        .unwrap()
        .execute("DELETE FROM account", [])
        .unwrap();
    let edited = std::fs::read(&ledger).unwrap();
    let jobs_log = home.path().join("logs/jobs.jsonl");
    let logged = std::fs::read(&jobs_log).unwrap();
    let said = |out: &std::process::Output, who: &str| {
        let err = common::stderr(out);
        assert_eq!(out.status.code(), Some(2), "{who}: {err}");
        assert!(out.stdout.is_empty(), "{who} printed: {err}");
        for needle in ["ledger.sqlite", "account row", "has traded before"] {
            assert!(err.contains(needle), "{who}: {needle:?} not in {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "{who}, one line: {err}");
    };
    // Before, every one of these made the row again from the starting equity: cash 100000.
    for command in [&["ledger", "export"][..], &["positions"], &["trades"]] {
        said(&home.kobe().args(command).output().unwrap(), command[0]);
    }
    let runner = home
        .runner()
        .args(["--mode", "paper", "--replay", "2016-03-01..2016-03-04"])
        .output()
        .unwrap();
    said(&runner, "runner");
    assert_eq!(std::fs::read(&jobs_log).unwrap(), logged, "a slot ran");
    assert_eq!(
        std::fs::read(&ledger).unwrap(),
        edited,
        "the ledger was changed"
    );
}
