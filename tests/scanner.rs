//! The scanner and the jobs that decide what to trade, through the built binaries: `kobe scan`
//! against an independent pandas implementation, and a replay's watchlist, pre-game check and
//! blueprint on the shipped sample.

mod common;

use std::sync::OnceLock;

use common::{json, TempHome};
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// A signal's fields, in the contract's order.
const SIGNAL_FIELDS: [&str; 11] = [
    "symbol",
    "strategy",
    "confidence",
    "score",
    "close",
    "stop",
    "target",
    "ibs",
    "rsi2",
    "atr14",
    "sma200",
];

/// A home holding the whole shared set, imported once for all tests here.
fn imported() -> &'static TempHome {
    static HOME: OnceLock<TempHome> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = TempHome::new();
        let out = home
            .kobe()
            .args(["data", "import", &format!("{SHARED}/bars/sp500_5yr.csv.gz")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        home
    })
}

fn scan(home: &TempHome, args: &[&str]) -> std::process::Output {
    home.kobe().arg("scan").args(args).output().unwrap()
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || ((x - y).abs() / x.abs().max(y.abs())) < 1e-9,
        _ => a == b,
    }
}

#[test]
fn kobe_scan_agrees_with_the_pandas_reference() {
    let home = imported();
    let universe = format!("{SHARED}/universe_sp500.csv");
    for as_of in ["2016-06-27", "2015-08-24"] {
        let out = scan(home, &["--as-of", as_of, "--universe", &universe, "--json"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/pandas_scan_{as_of}.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(ours["as_of"], reference["as_of"]);
        let (a, b) = (
            ours["signals"].as_array().unwrap(),
            reference["signals"].as_array().unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{as_of}: signal counts");
        assert!(!a.is_empty());
        for (x, y) in a.iter().zip(b) {
            for field in SIGNAL_FIELDS {
                assert!(
                    close(&x[field], &y[field]),
                    "{as_of} {}: {field} {} vs {}",
                    x["symbol"],
                    x[field],
                    y[field]
                );
            }
        }
        // Byte-identical across runs.
        let again = scan(home, &["--as-of", as_of, "--universe", &universe, "--json"]);
        assert_eq!(out.stdout, again.stdout);
    }
}

#[test]
fn scan_output_shapes_and_limits() {
    let home = imported();
    let universe = format!("{SHARED}/universe_sp500.csv");
    let out = scan(
        home,
        &[
            "--as-of",
            "2015-08-24",
            "--universe",
            &universe,
            "--json",
            "--top",
            "3",
        ],
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    // Fields in the contract's order (the raw text: a JSON map would sort them).
    let first = &text[text.find("{\"symbol\"").unwrap()..text.find('}').unwrap()];
    let keys = SIGNAL_FIELDS;
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| first.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let signals = v["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 3);
    for s in signals {
        assert!(s["confidence"].is_number());
        assert_eq!(s["target"].is_null(), s["strategy"] == "IBS_RSI");
    }
    let table = scan(
        home,
        &[
            "--as-of",
            "2015-08-24",
            "--universe",
            &universe,
            "--cap",
            "100",
        ],
    );
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("scan as of 2015-08-24:"), "{text}");
    // A date with no bars: no signals, not an error.
    let empty = scan(
        home,
        &["--as-of", "2019-06-03", "--universe", &universe, "--json"],
    );
    assert!(empty.status.success());
    // ... but said to be a missing bar, not a quiet market.
    assert!(
        common::stderr(&empty).contains("no bar dated 2019-06-03 in the store"),
        "{}",
        common::stderr(&empty)
    );
    assert_eq!(
        String::from_utf8(empty.stdout).unwrap(),
        "{\"as_of\":\"2019-06-03\",\"signals\":[]}\n"
    );
}

#[test]
fn bad_scan_flags_exit_2_with_one_line() {
    let home = TempHome::new();
    for (args, named) in [
        (&["--as-of", "2016-13-01"][..], "--as-of"),
        (&["--cap", "0"][..], "--cap"),
        (&["--universe", "/nonexistent.csv"][..], "--universe"),
        (&["--top", "x"][..], "--top"),
    ] {
        let out = scan(&home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(named), "{err}");
    }
}

#[test]
fn a_replay_builds_watchlists_checks_gaps_and_writes_blueprints() {
    let home = TempHome::new();
    common::copy_sample(home.path());
    home.replay("2016-06-24..2016-06-28", &["--scan-times", "10:30,15:55"]);
    let state = home.path().join("state");

    // The 06-27 watchlist was made at 15:45 on the provisional bar of the day, for the 28th.
    let validated = json(&state.join("watchlist/today_validated.json"));
    assert_eq!(validated["for_session"], "2016-06-28");
    assert_eq!(validated["price_source"], "replay_open");
    let entries = validated["entries"].as_array().unwrap();
    assert!(!entries.is_empty(), "the sample has signals on 2016-06-27");
    let bars_of = |symbol: &str| {
        std::fs::read_to_string(home.path().join(format!("data/bars/{symbol}.csv"))).unwrap()
    };
    for e in entries {
        // Pre-market price = the session's open; gap and status per DESIGN §8.
        let symbol = e["symbol"].as_str().unwrap();
        let row = bars_of(symbol)
            .lines()
            .find(|l| l.starts_with("2016-06-28"))
            .unwrap()
            .to_string();
        let open: f64 = row.split(',').nth(1).unwrap().parse().unwrap();
        assert_eq!(e["premarket"].as_f64().unwrap(), open);
        let gap = open / e["entry_ref"].as_f64().unwrap() - 1.0;
        assert!((e["gap"].as_f64().unwrap() - gap).abs() < 1e-12);
        let want = if gap.abs() > 0.03 {
            "REMOVED"
        } else if gap <= -0.01 {
            "IMPROVED"
        } else if gap >= 0.01 {
            "DEGRADED"
        } else {
            "OK"
        };
        assert_eq!(e["status"], want, "{symbol}");
        assert_eq!(e["news"], "unchecked (replay)");
    }
    // The watchlist of the 27th's signals equals a scan of the 27th.
    let scan = home
        .kobe()
        .args(["scan", "--as-of", "2016-06-27", "--json", "--top", "5"])
        .output()
        .unwrap();
    let scan: Value = serde_json::from_slice(&scan.stdout).unwrap();
    let scanned: Vec<&str> = scan["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["symbol"].as_str().unwrap())
        .collect();
    let listed: Vec<&str> = entries
        .iter()
        .map(|e| e["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(listed, scanned);

    // The blueprint of the 28th: picks not REMOVED, the first two to execute, both files.
    let blueprint = json(&home.path().join("reports/pregame_20160628.json"));
    let picks = blueprint["picks"].as_array().unwrap();
    let kept: Vec<&str> = entries
        .iter()
        .filter(|e| e["status"] != "REMOVED")
        .map(|e| e["symbol"].as_str().unwrap())
        .collect();
    let planned: Vec<&str> = picks
        .iter()
        .map(|p| p["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(planned, kept);
    for (i, p) in picks.iter().enumerate() {
        assert_eq!(p["execute"], i < 2);
        assert!(p["history"]["signals"].is_number() && p["support"]["low_20d"].is_number());
    }
    let md = std::fs::read_to_string(home.path().join("reports/pregame_20160628.md")).unwrap();
    assert!(md.starts_with("# Pre-game blueprint — 2016-06-28"));

    // Scans: a file per slot with the top 3; a hand-off only from scans inside an entry window.
    let scans = state.join("scans");
    let first = json(&scans.join("scan_20160628_0945.json"));
    assert_eq!(
        (first["tag"].as_str(), first["in_entry_window"].as_bool()),
        (Some("FIRST_SCAN"), Some(false))
    );
    assert!(first["top3"].as_array().unwrap().len() <= 3);
    let mid = json(&scans.join("scan_20160628_1030.json"));
    assert_eq!(mid["in_entry_window"], true);
    let log = home.jobs_log();
    let detail = |tag: &str, slot: &str| {
        log.iter()
            .find(|r| r["tag"] == tag && r["slot_et"].as_str().unwrap().starts_with(slot))
            .map(|r| r["detail"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(detail("FIRST_SCAN", "2016-06-28T09:45").contains("outside the entry windows"));
    // The hand-off comes from the in-window 10:30 scan; the 15:55 scan (outside) leaves it.
    let handoff = json(&scans.join("handoff_20160628.json"));
    assert_eq!(handoff["tag"], "SCAN");
    assert!(
        handoff["slot_et"]
            .as_str()
            .unwrap()
            .starts_with("2016-06-28T10:30"),
        "{handoff}"
    );
    assert_eq!(
        handoff["entries"].as_array().unwrap().len(),
        mid["signals_found"].as_u64().unwrap() as usize
    );
    assert!(detail("SCAN", "2016-06-28T10:30").contains("handed"));
    assert!(detail("SCAN", "2016-06-28T15:55").contains("outside the entry windows"));
    let signals = std::fs::read_to_string(home.path().join("logs/signals.jsonl")).unwrap();
    assert!(signals.lines().count() > 0);
}

#[test]
fn pre_game_reports_a_stale_or_missing_watchlist_instead_of_using_it() {
    let home = TempHome::new();
    common::copy_sample(home.path());
    let run = |session: &str| {
        home.kobe()
            .args(["run-job", "--tag", "PRE_GAME", "--session", session])
            .output()
            .unwrap()
    };
    assert!(run("2016-06-27").status.success());
    let last = home.jobs_log().pop().unwrap();
    assert_eq!(
        (last["status"].as_str(), last["reason"].as_str()),
        (Some("skipped"), Some("no_watchlist"))
    );
    let made = home
        .kobe()
        .args([
            "run-job",
            "--tag",
            "OVERNIGHT_WATCHLIST",
            "--session",
            "2016-06-27",
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", common::stderr(&made));
    // Made for the 28th: on the 29th it is stale.
    assert!(run("2016-06-29").status.success());
    let last = home.jobs_log().pop().unwrap();
    assert_eq!(
        (last["status"].as_str(), last["reason"].as_str()),
        (Some("skipped"), Some("stale_watchlist"))
    );
    assert!(!home
        .path()
        .join("state/watchlist/today_validated.json")
        .exists());
}

#[test]
fn a_new_home_with_only_imported_bars_scans_them_all() {
    // No universe configured: every symbol in the store, the same as naming all 505 of them.
    let home = imported();
    let universe = format!("{SHARED}/universe_sp500.csv");
    let all = scan(home, &["--as-of", "2016-06-27", "--json"]);
    assert!(all.status.success(), "{}", common::stderr(&all));
    let named = scan(
        home,
        &["--as-of", "2016-06-27", "--universe", &universe, "--json"],
    );
    assert_eq!(all.stdout, named.stdout);
    assert!(
        !common::stderr(&all).contains("no bars"),
        "{}",
        common::stderr(&all)
    );
}

#[test]
fn a_configured_universe_file_that_is_not_there_is_refused_at_start() {
    let home = TempHome::new();
    common::copy_sample(home.path());
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/kobe.toml"),
        "[data]\nuniverse = \"data/universe/mine.csv\"\n",
    )
    .unwrap();
    let runner = home.runner().args(["--mode", "paper"]).output().unwrap();
    let scan = home
        .kobe()
        .args(["scan", "--as-of", "2016-06-27"])
        .output()
        .unwrap();
    let run_job = home
        .kobe()
        .args(["run-job", "--tag", "FIRST_SCAN", "--session", "2016-06-27"])
        .output()
        .unwrap();
    for out in [runner, scan, run_job] {
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("data.universe") && err.contains("mine.csv"),
            "{err}"
        );
    }
    assert!(!home.path().join("state").exists(), "something ran");
}
