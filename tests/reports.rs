//! The end-of-day report of a replayed session against the trading ledger's own numbers, the
//! equity chart, and the replay's final report.

mod common;

use common::{json, TempHome};
use serde_json::Value;

#[test]
fn the_eod_report_of_a_replayed_session_shows_the_ledgers_numbers() {
    let home = TempHome::with_sample();
    home.replay("2016-01-04..2016-03-31", &[]);
    let ledger = {
        let out = home.kobe().args(["ledger", "export"]).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let trades = ledger["trades"].as_array().unwrap();
    let equity = ledger["equity"].as_array().unwrap();
    let mut checked = 0;
    // Every session's report (written at 15:30, before that day's close tick).
    for day in equity
        .iter()
        .map(|e| e["session"].as_str().unwrap().to_string())
        .skip(1)
    {
        let report = json(
            &home
                .path()
                .join(format!("reports/pnl_{}.json", day.replace('-', ""))),
        );
        let before: Vec<&Value> = trades
            .iter()
            .filter(|t| t["exit_session"].as_str().unwrap() < day.as_str())
            .collect();
        assert_eq!(
            report["trades_total"].as_u64().unwrap() as usize,
            before.len(),
            "{day}"
        );
        let realized: f64 = before.iter().map(|t| t["pnl"].as_f64().unwrap()).sum();
        assert!(
            (report["realized_total"].as_f64().unwrap() - realized).abs() < 1e-6,
            "{day}"
        );
        let prev = equity
            .iter()
            .rfind(|e| e["session"].as_str().unwrap() < day.as_str())
            .unwrap();
        assert_eq!(report["prev_close_equity"], prev["equity"], "{day}");
        // Open at 15:30: entered by then, not yet exited (exits come at the close tick).
        let mut open: Vec<&str> = trades
            .iter()
            .filter(|t| {
                t["entry_session"].as_str().unwrap() <= day.as_str()
                    && t["exit_session"].as_str().unwrap() >= day.as_str()
            })
            .map(|t| t["symbol"].as_str().unwrap())
            .collect();
        open.extend(
            ledger["positions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["entry_session"].as_str().unwrap() <= day.as_str())
                .map(|p| p["symbol"].as_str().unwrap()),
        );
        open.sort();
        let mut reported: Vec<&str> = report["open_positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["symbol"].as_str().unwrap())
            .collect();
        reported.sort();
        assert_eq!(reported, open, "{day}");
        // Cash = start + realized − what the open positions cost.
        let cost: f64 = report["open_positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["qty"].as_f64().unwrap() * p["entry"].as_f64().unwrap())
            .sum();
        assert!(
            (report["cash"].as_f64().unwrap() - (100_000.0 + realized - cost)).abs() < 1e-6,
            "{day}"
        );
        checked += 1;
    }
    assert!(checked > 50);
    let md = std::fs::read_to_string(home.path().join("reports/pnl_20160331.md")).unwrap();
    assert!(
        md.starts_with("# P&L — 2016-03-31")
            && md.contains("![equity curve, drawdowns shaded](equity.svg)")
    );
    let svg = std::fs::read_to_string(home.path().join("reports/equity.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polygon") && svg.contains("<polyline"),
        "{}",
        &svg[..200]
    );
    let summary =
        std::fs::read_to_string(home.path().join("reports/replay_20160104_20160331.md")).unwrap();
    assert!(summary.contains("trading:") && summary.contains("2016-01-04..2016-03-31"));
}
