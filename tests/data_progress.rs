//! DATA_UPDATE's progress by session against a local Polygon stand-in, through `kobe run-job`:
//! symbols that stop trading, days without bars, a long gap fetched over several runs within
//! the call budget, and what `kobe data stats` says of it.

mod common;
#[path = "common/polygon_stub.rs"]
mod polygon_stub;

use common::http_server::TestServer;
use common::TempHome;
use polygon_stub::{
    data_stats, grouped_answer, grouped_answer_without, grouped_days, home_with_cache_to,
    run_data_update, sample_rows,
};
use serde_json::Value;

/// The detail of the last DATA_UPDATE run, after checking it ended `ok`.
fn ok_detail(home: &TempHome, out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        common::stderr(out)
    );
    let last = home.jobs_log().pop().unwrap();
    assert_eq!(last["status"], "ok", "{last}");
    last["detail"].as_str().unwrap().to_string()
}

/// A store to 2018-01-31 and a market where XOM is gone from 2018-02-01 and NFLX is missing
/// from four answers only (listed again on 2018-02-07).
fn xom_gone_after_jan31() -> (TestServer, TempHome) {
    let rows = sample_rows();
    let server = TestServer::start(move |r| {
        grouped_answer_without(&rows, &r.target, |day, symbol| {
            (symbol == "XOM" && day > "2018-01-31")
                || (symbol == "NFLX" && ("2018-02-01".."2018-02-07").contains(&day))
        })
    });
    let home = home_with_cache_to(&server.base_url, "2018-01-31");
    (server, home)
}

#[test]
fn a_symbol_missing_from_five_grouped_answers_is_reported_inactive_once_and_no_longer_anchors() {
    let (server, home) = xom_gone_after_jan31();
    let first = ok_detail(&home, &run_data_update(&home, "2018-02-08", false));
    let week = [
        "2018-02-01",
        "2018-02-02",
        "2018-02-05",
        "2018-02-06",
        "2018-02-07",
    ];
    assert_eq!(grouped_days(&server), week);
    assert!(
        first.contains(
            "inactive, missing from 5 grouped answers in a row: XOM (last bar 2018-01-31)"
        ),
        "{first}"
    );
    assert!(
        !first.contains("NFLX"),
        "four answers are not enough: {first}"
    );

    // XOM no longer holds the fetch back: nothing is asked again, nothing said again.
    let again = ok_detail(&home, &run_data_update(&home, "2018-02-08", true));
    assert_eq!(grouped_days(&server), week);
    assert!(
        again.starts_with("fetched 0 of 0 sessions, 0 left"),
        "{again}"
    );
    assert!(!again.contains("XOM"), "{again}");
    // The next session is the only one asked for.
    let next = ok_detail(&home, &run_data_update(&home, "2018-02-09", false));
    assert_eq!(grouped_days(&server).last().unwrap(), "2018-02-08");
    assert_eq!(grouped_days(&server).len(), 6);
    assert!(!next.contains("XOM"), "{next}");
}

#[test]
fn a_day_without_results_is_an_empty_day_and_the_job_is_ok() {
    let rows = sample_rows();
    // 2018-02-02 comes back without `results`; so does 2018-02-08, past the sample's end.
    let server = TestServer::start(move |r| {
        grouped_answer_without(&rows, &r.target, |day, _| day == "2018-02-02")
    });
    let home = home_with_cache_to(&server.base_url, "2018-01-31");
    let detail = ok_detail(&home, &run_data_update(&home, "2018-02-09", false));
    assert!(
        detail.starts_with("fetched 5 of 6 sessions, 1 left (2018-02-01..2018-02-07)"),
        "{detail}"
    );
    assert!(detail.contains("days without bars: 2018-02-02"), "{detail}");
    assert!(
        detail.contains("no data yet for 2018-02-08: asked again next run"),
        "{detail}"
    );
    let stats = data_stats(&home);
    assert_eq!(stats["fetched_through"], "2018-02-07", "{stats}");
    // An empty answer says nothing about who trades: nobody is counted missing.
    assert_eq!(stats["inactive"], Value::Array(vec![]), "{stats}");

    // Only the newest session, still without data, is asked again.
    let again = ok_detail(&home, &run_data_update(&home, "2018-02-09", true));
    assert!(
        again.starts_with("fetched 0 of 1 sessions, 1 left"),
        "{again}"
    );
    let days = grouped_days(&server);
    assert_eq!(days[days.len() - 2..], ["2018-02-08", "2018-02-08"]);
    assert_eq!(days.iter().filter(|d| *d == "2018-02-02").count(), 1);
}

#[test]
fn a_long_gap_is_fetched_oldest_first_within_the_budget_and_never_twice() {
    let rows = sample_rows();
    let gap: Vec<String> = rows
        .keys()
        .filter(|d| ("2018-01-02"..="2018-02-07").contains(&d.as_str()))
        .cloned()
        .collect();
    assert_eq!(gap.len(), 26);
    let server = TestServer::start(move |r| grouped_answer(&rows, &r.target));
    let home = home_with_cache_to(&server.base_url, "2017-12-29");
    // A 20-second timeout at no pacing (taken as 60 calls a minute) allows 10 calls a run.
    let config = home.path().join("config/kobe.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(text.matches("timeout = \"30m\"").count(), 1);
    std::fs::write(
        &config,
        text.replace("timeout = \"30m\"", "timeout = \"20s\""),
    )
    .unwrap();

    let runs = [
        (
            "fetched 10 of 26 sessions, 16 left (2018-01-02..2018-01-16)",
            10,
        ),
        (
            "fetched 10 of 16 sessions, 6 left (2018-01-17..2018-01-30)",
            20,
        ),
        (
            "fetched 6 of 6 sessions, 0 left (2018-01-31..2018-02-07)",
            26,
        ),
        ("fetched 0 of 0 sessions, 0 left", 26),
    ];
    for (i, (says, asked)) in runs.into_iter().enumerate() {
        let detail = ok_detail(&home, &run_data_update(&home, "2018-02-08", i > 0));
        assert!(detail.starts_with(says), "run {}: {detail}", i + 1);
        assert_eq!(
            detail.contains("budget of 10 calls spent: the next run goes on"),
            i < 2,
            "run {}: {detail}",
            i + 1
        );
        assert_eq!(grouped_days(&server), gap[..asked], "run {}", i + 1);
    }
    let stats = data_stats(&home);
    assert_eq!(
        (stats["last"].as_str(), stats["fetched_through"].as_str()),
        (Some("2018-02-07"), Some("2018-02-07"))
    );
    let aapl = std::fs::read_to_string(home.path().join("data/bars/AAPL.csv")).unwrap();
    assert!(aapl.ends_with("2018-02-07,163.085,163.4,159.0685,159.54,51608580\n"));
    assert!(aapl.contains("\n2018-01-02,"));
}

#[test]
fn data_stats_shows_the_fetched_through_date_and_the_inactive_symbols() {
    let (_server, home) = xom_gone_after_jan31();
    let text = |home: &TempHome| {
        let out = home.kobe().args(["data", "stats"]).output().unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let before = text(&home);
    assert!(
        before.ends_with("\nfetched through -; inactive: none\n"),
        "{before}"
    );
    assert_eq!(data_stats(&home)["fetched_through"], Value::Null);

    ok_detail(&home, &run_data_update(&home, "2018-02-08", false));
    let after = text(&home);
    assert!(
        after.ends_with(
            "\nfetched through 2018-02-07; inactive: XOM (last bar 2018-01-31, since 2018-02-07)\n"
        ),
        "{after}"
    );
    let stats = data_stats(&home);
    assert_eq!(stats["symbols"], 10);
    assert_eq!(stats["fetched_through"], "2018-02-07");
    assert_eq!(
        stats["inactive"],
        serde_json::json!([{"symbol": "XOM", "last_bar": "2018-01-31", "since": "2018-02-07"}])
    );
}

#[test]
fn a_corrupt_progress_file_is_refused_by_name_and_left_as_it_is() {
    let rows = sample_rows();
    let server = TestServer::start(move |r| grouped_answer(&rows, &r.target));
    let home = home_with_cache_to(&server.base_url, "2018-01-31");
    let state = home.path().join("data/fetched_sessions.json");
    std::fs::write(&state, "{\"version\": 1, \"fetched_thr").unwrap();

    let out = run_data_update(&home, "2018-02-08", false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("data/fetched_sessions.json is corrupt"),
        "{stdout}"
    );
    assert!(server.targets().is_empty(), "nothing is fetched on a guess");

    let stats = home.kobe().args(["data", "stats"]).output().unwrap();
    assert_eq!(stats.status.code(), Some(2));
    assert!(common::stderr(&stats).contains("data/fetched_sessions.json is corrupt"));
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"version\": 1, \"fetched_thr"
    );
}
