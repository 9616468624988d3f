//! The status page at `/` of a running runner, as served and as headless Chromium renders it:
//! status, kill switch, last and next jobs, open positions, today's P&L and the equity chart.

mod common;

use std::path::Path;
use std::process::Command;

use common::{RunningRunner, TempHome};

const SECTIONS: [&str; 7] = [
    "status",
    "kill-switch",
    "last-job",
    "next-job",
    "positions",
    "pnl",
    "equity",
];

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
    home.replay("2016-01-04..2016-02-26", &[]);
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
    let shot = scratch.path().join("status.png");
    let out = headless(&scratch.path().join("p2"))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1100,1400", &url])
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
    // Kept for a person to look at.
    let _ = std::fs::copy(&shot, std::env::temp_dir().join("kobe_status_page.png"));
}
