//! The status page at `/` of a running runner, as served and as headless Chromium renders it:
//! status, kill switch, last and next jobs, open positions, today's P&L, the equity chart, the
//! validated watchlist, the latest scan's top signals and the last closed trades.

mod common;

use std::path::Path;
use std::process::Command;

use common::{RunningRunner, TempHome};
use kobe_actors::atomic_file::Durability;

const SECTIONS: [&str; 10] = [
    "status",
    "kill-switch",
    "last-job",
    "next-job",
    "positions",
    "pnl",
    "equity",
    "watchlist",
    "signals",
    "trades",
];

/// A replay whose last day has a validated watchlist, scan signals and closed trades behind it.
const REPLAY: &str = "2016-01-04..2016-02-09";

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Flags for a headless Chromium on a machine with no network but loopback.
fn headless(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium().expect("chromium"));
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    // The browser only looks at the page: under CI's faked wall clock (.ci/at-time) it runs
    // at the real time, where its many timers behave (faked, it took minutes).
    .env_remove("LD_PRELOAD");
    cmd
}

#[test]
fn the_status_page_shows_the_runner_and_the_book() {
    let home = TempHome::with_sample();
    home.replay(REPLAY, &[]);
    let expected = Expected::from_home(home.path());
    // The live runner only serves the page: the jobs that would write what it shows are off,
    // so it reads the same whatever the day and hour (a Monday 09:45 would scan anew).
    common::jobs_only(home.path(), &["DB_BACKUP"]);
    let runner = RunningRunner::start(home.path(), &[]);
    std::fs::write(home.path().join("state/KILL_SWITCH"), "page test\n").unwrap();
    assert!(common::eventually(
        std::time::Duration::from_secs(2),
        || runner.health().1["kill_switch"]["active"] == true
    ));

    let (code, html) = runner.get("/");
    assert_eq!(code, 200);
    for id in SECTIONS {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "no #{id} in the page"
        );
    }
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "the page does not refresh itself"
    );
    assert!(
        html.contains("page test") && html.contains("<svg"),
        "kill switch reason or chart missing"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    expected.check(&html);

    let Some(_) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (.ci/run does)"
        );
        eprintln!("status page: chromium not installed here (apt-get install chromium); rendered check skipped");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let url = runner.health_url("/");
    let dom = headless(&scratch.path().join("p1"))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in SECTIONS {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "no #{id} in the rendered page"
        );
    }
    assert!(dom.contains("<svg"), "the chart did not render");
    expected.check(&dom);
    // Wide as a desktop, and narrower than the chart is drawn (it must scale, not be cut).
    for (name, size) in [
        ("status_page", "1100,2600"),
        ("status_page_narrow", "600,2600"),
    ] {
        let shot = screenshot(&scratch.path().join(name), &url, size);
        // Kept for a person to look at.
        let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::copy(&shot, &kept).unwrap();
        eprintln!("status page screenshot: {}", kept.display());
    }
}

fn screenshot(profile: &Path, url: &str, size: &str) -> std::path::PathBuf {
    let shot = profile.with_extension("png");
    let out = headless(profile)
        .arg(format!("--screenshot={}", shot.display()))
        .args([&format!("--window-size={size}"), url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot is {} bytes",
        png.len()
    );
    shot
}

/// What the replay left, read from its files and ledger before the runner starts.
struct Expected {
    watchlist: Vec<(String, String)>,
    signals: Vec<String>,
    /// The newest exits first, at most ten.
    trades: Vec<(String, String)>,
}

impl Expected {
    fn from_home(home: &Path) -> Self {
        let state = home.join("state");
        let validated = common::json(&state.join("watchlist/today_validated.json"));
        let watchlist: Vec<(String, String)> = validated["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (str_of(&e["symbol"]), str_of(&e["status"])))
            .collect();
        let mut scans: Vec<_> = std::fs::read_dir(state.join("scans"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        scans.sort();
        let scan = common::json(scans.last().unwrap());
        let signals: Vec<String> = scan["top3"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| str_of(&s["symbol"]))
            .collect();
        let ledger =
            kobe::trading::TradingLedger::open(&state, 100_000.0, Durability::ProcessCrash)
                .unwrap();
        let mut trades: Vec<_> = ledger
            .trades_json()
            .unwrap()
            .iter()
            .map(|t| {
                let exit = (str_of(&t["exit_session"]), str_of(&t["exit_order"]));
                (exit, str_of(&t["symbol"]))
            })
            .collect();
        trades.sort_by(|a, b| b.cmp(a));
        let trades = trades
            .into_iter()
            .take(10)
            .map(|((session, _), symbol)| (session, symbol))
            .collect::<Vec<_>>();
        assert!(
            !watchlist.is_empty() && !signals.is_empty() && trades.len() >= 3,
            "the replay left too little to show"
        );
        Self {
            watchlist,
            signals,
            trades,
        }
    }

    fn check(&self, html: &str) {
        let watchlist = section(html, "watchlist");
        for (symbol, status) in &self.watchlist {
            let row = format!("<td>{symbol}</td>");
            assert!(
                watchlist.contains(&row) && watchlist.contains(status.as_str()),
                "{symbol} {status} not in {watchlist}"
            );
        }
        let signals = section(html, "signals");
        for symbol in &self.signals {
            assert!(
                signals.contains(&format!("<td>{symbol}</td>")),
                "{symbol} not in {signals}"
            );
        }
        let trades = section(html, "trades");
        let rows: Vec<&str> = trades.split("<tr>").skip(2).collect();
        assert_eq!(rows.len(), self.trades.len(), "{trades}");
        for (row, (exit, symbol)) in rows.iter().zip(&self.trades) {
            assert!(
                row.starts_with(&format!("<td>{symbol}</td>")) && row.contains(exit.as_str()),
                "{row} is not {symbol} out on {exit}"
            );
        }
        // Scaled to the window: drawn 900 px wide, it would be cut off in a narrower one.
        assert!(
            section(html, "equity").contains("max-width:900px"),
            "the chart is not scaled"
        );
    }
}

fn str_of(v: &serde_json::Value) -> String {
    v.as_str().unwrap().to_string()
}

/// The `<section id=ID>` of a page, to its end.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let len = html[start..].find("</section>").unwrap();
    &html[start..start + len]
}
