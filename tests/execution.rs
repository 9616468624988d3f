//! The position manager on the paper broker through whole replays: crash-safety (a replay killed
//! at many points between decision, order and fill ends with exactly the ledger of an
//! uninterrupted one), and no order at all while the kill switch is on.

mod common;

use common::TempHome;
use serde_json::Value;

const RANGE: &str = "2016-01-04..2016-03-31";

fn replay(home: &TempHome, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = home.runner();
    cmd.args([
        "--mode",
        "paper",
        "--replay",
        RANGE,
        "--scan-times",
        "10:30",
    ]);
    match failpoint {
        Some(f) => cmd.env("KOBE_FAILPOINT", f),
        None => cmd.env_remove("KOBE_FAILPOINT"),
    };
    cmd.output().unwrap()
}

fn export(home: &TempHome) -> Value {
    let out = home.kobe().args(["ledger", "export"]).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_replay_killed_between_decision_order_and_fill_ends_with_the_same_ledger() {
    let whole = TempHome::with_sample();
    let out = replay(&whole, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let reference = export(&whole);
    let orders = reference["orders"].as_array().unwrap();
    assert!(
        orders.len() >= 10,
        "the range trades: {} orders",
        orders.len()
    );
    assert!(reference["trades"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["pnl"].is_number()));
    assert!(orders.iter().all(|o| o["client_order_id"].is_string()));

    let home = TempHome::with_sample();
    // Each run is killed at the next pass of a crash point, cycling through the three gaps;
    // every restart resumes with the same command.
    let points = ["after_decision", "after_order", "after_fill"];
    let mut kills = 0;
    for i in 0..24 {
        let out = replay(&home, Some(&format!("{}:1", points[i % 3])));
        if out.status.success() {
            break; // no crash point left in the range
        }
        kills += 1;
    }
    assert!(
        kills >= 20,
        "only {kills} runs were killed at a crash point"
    );
    let out = replay(&home, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let resumed = export(&home);
    assert_eq!(
        resumed, reference,
        "the resumed ledger differs from the uninterrupted one"
    );
    // And the jobs log: every slot recorded once, with the same outcome and detail.
    assert_eq!(
        common::without_wall_clock(&home.jobs_log()),
        common::without_wall_clock(&whole.jobs_log())
    );
    // (No separate duplicate-id check: the ledger keys orders and fills by client order id,
    // so an order sent twice can only show as an export that differs from the reference.)
    // The summary reads the ledger.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "trading: {} trades",
            resumed["trades"].as_array().unwrap().len()
        )),
        "{text}"
    );
}

#[test]
fn with_the_kill_switch_on_throughout_no_order_is_sent() {
    let home = TempHome::with_sample();
    let on = home
        .kobe()
        .args(["kill-switch", "on", "--reason", "replay test"])
        .output()
        .unwrap();
    assert!(on.status.success());
    let out = replay(&home, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let ledger = export(&home);
    assert_eq!(ledger["orders"].as_array().unwrap().len(), 0);
    assert_eq!(ledger["fills"].as_array().unwrap().len(), 0);
    // The position manager still ran every slot, managing only.
    let pm: Vec<Value> = home
        .jobs_log()
        .into_iter()
        .filter(|r| r["tag"] == "POSITION_MANAGER")
        .collect();
    assert!(pm.iter().any(|r| r["detail"]
        .as_str()
        .unwrap()
        .contains("kill switch on: no entries")));
}

#[test]
fn no_ledger_yet_is_a_clear_refusal() {
    let home = TempHome::new();
    let out = home.kobe().args(["ledger", "export"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("no trading ledger"));
}
