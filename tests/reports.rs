//! The end-of-day report of a replayed session against the trading ledger's own numbers, the
//! equity chart, and the replay's backtest report (`reports/replay_FROM_TO.{md,json,svg}`).

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
    let backtest =
        std::fs::read_to_string(home.path().join("reports/replay_20160104_20160331.md")).unwrap();
    assert!(backtest.starts_with("# Backtest — replay 2016-01-04..2016-03-31"));
}

/// Every field of `reports/replay_FROM_TO.json`, nested ones by path.
const REPORT_FIELDS: &[&str] = &[
    "from",
    "to",
    "sessions",
    "start_equity",
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown/depth",
    "max_drawdown/peak",
    "max_drawdown/trough",
    "max_drawdown/recovered",
    "max_drawdown/duration_sessions",
    "exposure",
    "trades",
    "wins",
    "win_rate",
    "profit_factor",
    "pnl",
    "avg_r",
    "trades_without_r",
    "open_positions",
    "by_strategy/0/strategy",
    "by_strategy/0/trades",
    "by_strategy/0/win_rate",
    "by_strategy/0/pnl",
    "by_strategy/0/avg_r",
    "by_strategy/1/strategy",
    "monthly_returns/0/year",
    "monthly_returns/0/months/11",
    "monthly_returns/0/total",
    "benchmark/method",
    "benchmark/symbols_bought",
    "benchmark/not_bought",
    "benchmark/unreadable",
    "benchmark/final_equity",
    "benchmark/total_return",
    "benchmark/cagr",
    "benchmark/sharpe",
    "benchmark/sortino",
    "benchmark/max_drawdown/depth",
    "curve/0/session",
    "curve/0/equity",
    "curve/0/benchmark",
    "method/sharpe",
    "method/benchmark",
];

const RANGE: &str = "2016-01-04..2016-03-31";
const STEM: &str = "reports/replay_20160104_20160331";

fn replay_output(home: &TempHome, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = home.runner();
    cmd.args(["--mode", "paper", "--replay", RANGE]);
    match failpoint {
        Some(f) => cmd.env("KOBE_FAILPOINT", f),
        None => cmd.env_remove("KOBE_FAILPOINT"),
    };
    cmd.output().unwrap()
}

fn report_files(home: &TempHome) -> Vec<Vec<u8>> {
    ["md", "json", "svg"]
        .iter()
        .map(|ext| {
            let path = home.path().join(format!("{STEM}.{ext}"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

#[test]
fn a_finished_replay_writes_a_backtest_report_that_agrees_with_the_ledger() {
    let home = TempHome::with_sample();
    let out = replay_output(&home, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report = json(&home.path().join(format!("{STEM}.json")));
    for field in REPORT_FIELDS {
        assert!(
            report.pointer(&format!("/{field}")).is_some(),
            "{field} missing: {report}"
        );
    }
    let ledger = {
        let out = home.kobe().args(["ledger", "export"]).output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let trades = ledger["trades"].as_array().unwrap();
    let equity = ledger["equity"].as_array().unwrap();
    assert!(trades.len() >= 5, "the range trades: {}", trades.len());
    assert_eq!(report["trades"].as_u64().unwrap() as usize, trades.len());
    assert_eq!(report["final_equity"], equity.last().unwrap()["equity"]);
    assert_eq!(report["start_equity"], 100_000.0);
    assert_eq!(report["sessions"].as_u64().unwrap() as usize, equity.len());
    assert_eq!(report["sessions"], 61);
    let final_equity = report["final_equity"].as_f64().unwrap();
    let total = report["total_return"].as_f64().unwrap();
    assert!((total - (final_equity / 100_000.0 - 1.0)).abs() < 1e-12);
    // The trades' figures, whole and per strategy.
    let pnl = |ts: &[&Value]| ts.iter().map(|t| t["pnl"].as_f64().unwrap()).sum::<f64>();
    let all: Vec<&Value> = trades.iter().collect();
    assert!((report["pnl"].as_f64().unwrap() - pnl(&all)).abs() < 1e-6);
    let wins = trades
        .iter()
        .filter(|t| t["pnl"].as_f64().unwrap() > 0.0)
        .count();
    assert_eq!(report["wins"].as_u64().unwrap() as usize, wins);
    for (i, strategy) in ["IBS_RSI", "TURTLE_SOUP"].iter().enumerate() {
        let row = &report["by_strategy"][i];
        assert_eq!(row["strategy"], *strategy);
        let mine: Vec<&Value> = trades
            .iter()
            .filter(|t| t["strategy"] == *strategy)
            .collect();
        assert_eq!(row["trades"].as_u64().unwrap() as usize, mine.len());
        assert!((row["pnl"].as_f64().unwrap() - pnl(&mine)).abs() < 1e-6);
    }
    // The paper broker never moves a stop, so each trade's R against its initial stop is the
    // ledger's own `r` (against the stop it closed with).
    let r: Vec<f64> = trades.iter().map(|t| t["r"].as_f64().unwrap()).collect();
    let avg_r = r.iter().sum::<f64>() / r.len() as f64;
    assert!((report["avg_r"].as_f64().unwrap() - avg_r).abs() < 1e-9);
    // The curve: the start, then the ledger's closes.
    let curve = report["curve"].as_array().unwrap();
    assert_eq!(curve.len(), equity.len() + 1);
    assert_eq!(curve[0]["session"], "2015-12-31");
    for (c, e) in curve[1..].iter().zip(equity) {
        assert_eq!((&c["session"], &c["equity"]), (&e["session"], &e["equity"]));
    }
    let months = &report["monthly_returns"][0];
    assert_eq!(months["year"], 2016);
    assert!(months["months"][2].is_number() && months["months"][3].is_null());
    assert!((months["total"].as_f64().unwrap() - total).abs() < 1e-12);
    assert_eq!(report["benchmark"]["symbols_bought"], 50);
    assert_eq!(curve[0]["benchmark"], 100_000.0);
    // The summary carries CAGR, Sharpe and the benchmark, as the report has them.
    let pct = |v: &Value| format!("{:+.2}%", v.as_f64().unwrap() * 100.0);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("  returns: "))
        .unwrap_or_else(|| panic!("no returns line: {stdout}"));
    assert_eq!(
        line,
        format!(
            "  returns: total {}, CAGR {}, Sharpe {:.2}; buy-and-hold total {} (50 symbols); report {STEM}.md",
            pct(&report["total_return"]),
            pct(&report["cagr"]),
            report["sharpe"].as_f64().unwrap(),
            pct(&report["benchmark"]["total_return"]),
        )
    );
    assert!(stdout.contains(&format!("trading: {} trades", trades.len())));
    let md = String::from_utf8(report_files(&home)[0].clone()).unwrap();
    for part in [
        "# Backtest — replay 2016-01-04..2016-03-31",
        "(replay_20160104_20160331.svg)",
        "| CAGR |",
        "| Sharpe |",
        "| Sortino |",
        "| exposure |",
        "| IBS_RSI |",
        "| TURTLE_SOUP |",
        "| 2016 |",
        "marked at its last close",
        "never bought",
    ] {
        assert!(md.contains(part), "{part} not in {md}");
    }
    let svg = std::fs::read_to_string(home.path().join(format!("{STEM}.svg"))).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polygon") && svg.contains("buy-and-hold"));
}

#[test]
fn a_killed_and_resumed_replay_writes_the_same_report_and_a_report_not_written_fails() {
    let whole = TempHome::with_sample();
    let out = replay_output(&whole, None);
    assert!(out.status.success(), "{}", common::stderr(&out));

    let home = TempHome::with_sample();
    let killed = replay_output(&home, Some("after_fill:9"));
    assert!(
        !killed.status.success(),
        "the crash point was never reached"
    );
    assert!(
        !home.path().join(format!("{STEM}.json")).exists(),
        "a report for half a replay"
    );
    let resumed = replay_output(&home, None);
    assert!(resumed.status.success(), "{}", common::stderr(&resumed));
    assert!(
        report_files(&home) == report_files(&whole),
        "the resumed report differs"
    );

    // A report that cannot be written: the summary is still printed, then one line names the
    // file, exit 1.
    let json_path = home.path().join(format!("{STEM}.json"));
    std::fs::remove_file(&json_path).unwrap();
    std::fs::create_dir(&json_path).unwrap();
    let out = replay_output(&home, None);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("trading: "));
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("runner: error:") && last.contains("replay_20160104_20160331.json"),
        "{err}"
    );
}
