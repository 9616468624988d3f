//! Market data against real files and a local server speaking Polygon's documented shapes:
//! the client's outcomes, DATA_UPDATE end to end through `kobe run-job`, import and stats.

mod common;
#[path = "common/polygon_stub.rs"]
mod polygon_stub;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::http_server::{Response, TestServer};
use common::TempHome;
use kobe::data::polygon::{PolygonClient, PolygonError, PolygonSettings};
use polygon_stub::{
    data_stats, grouped_answer, grouped_days, home_with_cache_to, run_data_update, sample_rows,
    KEY, SHARED,
};
use serde_json::Value;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{SHARED}/api/polygon/{name}")).unwrap()
}

fn client(server: &TestServer) -> PolygonClient {
    let settings = PolygonSettings {
        base_url: server.base_url.clone(),
        calls_per_minute: 0,
        max_retries: 2,
        retry_base_ms: 1,
        timeout_secs: 1,
        history_sessions: 300,
    };
    PolygonClient::new(KEY, &settings).unwrap()
}

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

#[test]
fn grouped_daily_success_carries_the_key_in_a_header_only() {
    let body = fixture("grouped_daily_stocks.json");
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    let mut c = client(&server);
    let rows = c.grouped_daily(date("2018-02-07")).unwrap();
    assert_eq!(rows.len(), 5);
    let (ticker, aapl) = &rows[0];
    assert_eq!(
        (ticker.as_str(), aapl.date.to_string().as_str(), aapl.close),
        ("AAPL", "2018-02-07", 159.54)
    );
    let request = server.requests.lock().unwrap()[0].clone();
    assert_eq!(
        request.target,
        "/v2/aggs/grouped/locale/us/market/stocks/2018-02-07?adjusted=true"
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!request.target.contains(KEY));
}

#[test]
fn an_empty_day_is_no_bars() {
    let body = fixture("aggs_range_1_day_empty.json");
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    assert!(client(&server)
        .grouped_daily(date("2018-02-10"))
        .unwrap()
        .is_empty());
}

#[test]
fn paging_follows_next_url_on_our_own_host() {
    let (first, rest) = (
        fixture("aggs_range_1_day_paged.json"),
        fixture("aggs_range_1_day.json"),
    );
    let server = TestServer::start(move |r| {
        Response::json(
            200,
            if r.target.contains("cursor=") {
                rest.clone()
            } else {
                first.clone()
            },
        )
    });
    let bars = client(&server)
        .ticker_range("AAPL", date("2018-02-05"), date("2018-02-07"))
        .unwrap();
    let targets = server.targets();
    assert_eq!(targets.len(), 2);
    assert!(
        targets[1].starts_with("/v2/aggs/ticker/AAPL/range/1/day/1517979600000/2018-02-07?cursor="),
        "{targets:?}"
    );
    let expected_rest: Value = serde_json::from_str(&fixture("aggs_range_1_day.json")).unwrap();
    assert_eq!(
        bars.len(),
        2 + expected_rest["results"].as_array().unwrap().len()
    );
    assert_eq!(bars[0].date.to_string(), "2018-02-05");
}

#[test]
fn a_429_is_retried_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen, body) = (calls.clone(), fixture("grouped_daily_stocks.json"));
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => Response::json(
            429,
            "{\"status\":\"ERROR\",\"error\":\"too many requests\"}",
        ),
        _ => Response::json(200, body.clone()),
    });
    let mut c = client(&server);
    assert_eq!(c.grouped_daily(date("2018-02-07")).unwrap().len(), 5);
    assert_eq!(c.calls, 2);
}

#[test]
fn failures_end_in_the_right_error_and_never_show_the_key() {
    let cases: Vec<(&str, Response, u32)> = vec![
        (
            "500 until give-up",
            Response::json(500, "{\"status\":\"ERROR\",\"error\":\"internal\"}"),
            3,
        ),
        (
            "401",
            Response::json(401, fixture("error_status_error.json")),
            1,
        ),
        (
            "403 plan",
            Response::json(403, fixture("error_not_authorized.json")),
            1,
        ),
        (
            "malformed JSON",
            Response::json(200, "{\"results\": [ {\"T\": "),
            1,
        ),
        (
            "truncated body",
            Response {
                truncate: true,
                ..Response::json(200, fixture("grouped_daily_stocks.json"))
            },
            3,
        ),
        (
            "timeout",
            Response {
                delay: Duration::from_millis(1500),
                ..Response::json(200, "{}")
            },
            3,
        ),
        (
            "404",
            Response::json(
                404,
                "{\"status\":\"NOT_FOUND\",\"message\":\"no such path\"}",
            ),
            1,
        ),
    ];
    for (name, response, calls) in cases {
        let server = TestServer::start(move |_| response.clone());
        let mut c = client(&server);
        let err = c.grouped_daily(date("2018-02-07")).unwrap_err();
        assert_eq!(c.calls, calls, "{name}: {err}");
        match name {
            "500 until give-up" | "truncated body" | "timeout" => {
                assert!(
                    matches!(err, PolygonError::GaveUp { attempts: 3, .. }),
                    "{name}: {err}"
                )
            }
            "401" | "403 plan" => assert!(
                matches!(err, PolygonError::Unauthorized { .. }),
                "{name}: {err}"
            ),
            "malformed JSON" => assert!(
                matches!(err, PolygonError::Malformed { .. }),
                "{name}: {err}"
            ),
            _ => assert!(
                matches!(err, PolygonError::Http { status: 404, .. }),
                "{name}: {err}"
            ),
        }
        let text = err.to_string();
        assert!(
            !text.contains(KEY) && !text.contains('\n'),
            "{name}: {text}"
        );
    }
}

/// A home whose store holds the 10-symbol sample up to 2018-01-31.
fn home_with_cache_to_jan31(server_url: &str) -> TempHome {
    home_with_cache_to(server_url, "2018-01-31")
}

#[test]
fn data_update_fills_feb_1_to_7_with_five_grouped_calls() {
    let rows = sample_rows();
    let server = TestServer::start(move |r| grouped_answer(&rows, &r.target));
    let home = home_with_cache_to_jan31(&server.base_url);
    let out = run_data_update(&home, "2018-02-08", false);
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        common::stderr(&out)
    );
    assert_eq!(
        grouped_days(&server),
        [
            "2018-02-01",
            "2018-02-02",
            "2018-02-05",
            "2018-02-06",
            "2018-02-07"
        ]
    );
    // Every symbol now ends 2018-02-07 with the published bar.
    let aapl = std::fs::read_to_string(home.path().join("data/bars/AAPL.csv")).unwrap();
    assert!(
        aapl.ends_with("2018-02-07,163.085,163.4,159.0685,159.54,51608580\n"),
        "{}",
        &aapl[aapl.len() - 200..]
    );
    let stats = data_stats(&home);
    assert_eq!(
        (stats["symbols"].as_u64(), stats["last"].as_str()),
        (Some(10), Some("2018-02-07"))
    );
    let log = home.jobs_log();
    let last = log.last().unwrap();
    assert_eq!(last["status"], "ok");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .starts_with("fetched 5 of 5 sessions, 0 left"),
        "{last}"
    );
    // Nothing written anywhere carries the key.
    for file in home.files() {
        let text =
            String::from_utf8_lossy(&std::fs::read(home.path().join(&file)).unwrap()).into_owned();
        assert!(!text.contains(KEY), "{file} holds the key");
    }
}

#[test]
fn a_failing_update_leaves_the_cache_intact_and_no_key_skips() {
    let failures: Vec<(&str, Response)> = vec![
        (
            "gave up after 5 attempts",
            Response::json(500, "{\"status\":\"ERROR\",\"error\":\"down\"}"),
        ),
        (
            "refused the API key",
            Response::json(401, fixture("error_status_error.json")),
        ),
        ("malformed answer", Response::json(200, "{\"results\": [")),
        (
            "body cut off",
            Response {
                truncate: true,
                ..Response::json(200, fixture("grouped_daily_stocks.json"))
            },
        ),
    ];
    for (says, response) in failures {
        let server = TestServer::start(move |_| response.clone());
        let home = home_with_cache_to_jan31(&server.base_url);
        let bars = |home: &TempHome| -> Vec<Vec<u8>> {
            home.files()
                .iter()
                .filter(|f| f.starts_with("data/bars"))
                .map(|f| std::fs::read(home.path().join(f)).unwrap())
                .collect()
        };
        let before = bars(&home);
        let out = run_data_update(&home, "2018-02-08", false);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{says}: {stdout}");
        assert!(
            stdout.contains("failed") && stdout.contains(says),
            "{says}: {stdout}"
        );
        assert!(!stdout.contains(KEY));
        assert_eq!(before, bars(&home), "{says}: the cache changed");
    }

    let home = TempHome::new();
    let skipped = home
        .kobe()
        .args(["run-job", "--tag", "DATA_UPDATE", "--session", "2018-02-09"])
        .env_remove("POLYGON_API_KEY")
        .output()
        .unwrap();
    assert_eq!(skipped.status.code(), Some(0));
    let last = home.jobs_log().pop().unwrap();
    assert_eq!(
        (last["status"].as_str(), last["reason"].as_str()),
        (Some("skipped"), Some("no_api_key"))
    );
}

#[test]
fn universe_symbols_without_bars_are_reported_once() {
    let home = TempHome::new();
    std::fs::create_dir_all(home.path().join("data/bars")).unwrap();
    std::fs::write(
        home.path().join("data/bars/AAA.csv"),
        "date,open,high,low,close,volume\n2018-01-02,1,2,1,1.5,10\n",
    )
    .unwrap();
    let universe = home.path().join("u.csv");
    std::fs::write(&universe, "symbol\nAAA\nNOBARS\n").unwrap();
    let out = home
        .runner()
        .args([
            "--mode",
            "paper",
            "--replay",
            "2018-01-02..2018-01-05",
            "--universe",
        ])
        .arg(&universe)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert_eq!(
        err.matches("universe symbols with no bars").count(),
        1,
        "{err}"
    );
    assert!(err.contains("NOBARS"));
}

#[test]
fn importing_the_shared_set_gives_505_symbols_and_reports_its_anomalies() {
    let home = TempHome::new();
    let out = home
        .kobe()
        .args(["data", "import", &format!("{SHARED}/bars/sp500_5yr.csv.gz")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        summary.starts_with("imported 619040 rows from 1 file(s): 505 symbols"),
        "{summary}"
    );
    for anomaly in [
        "AOS 2014-05-19 high_below_low",
        "DHR 2016-01-12 missing_ohlc",
        "LNT 2016-05-19 range_excludes_open_or_close",
    ] {
        assert!(summary.contains(anomaly), "{anomaly} not reported");
    }
    let stats = data_stats(&home);
    assert_eq!(stats["symbols"], 505);
    assert_eq!(
        (stats["first"].as_str(), stats["last"].as_str()),
        (Some("2013-02-08"), Some("2018-02-07"))
    );
    assert_eq!(stats["bars"], 619040 - 23);

    // A corrupt file is named with its line; every other symbol still loads.
    std::fs::write(
        home.path().join("data/bars/ZTS.csv"),
        "date,open,high,low,close,volume\n2018-01-02,1,2,1,oops,1\n",
    )
    .unwrap();
    let stats = data_stats(&home);
    assert_eq!(stats["symbols"], 504);
    assert!(
        stats["unreadable_files"][0]
            .as_str()
            .unwrap()
            .contains("ZTS.csv line 2"),
        "{stats}"
    );
}

#[test]
fn a_malformed_import_exits_2_naming_file_and_line() {
    let home = TempHome::new();
    let bad = home.path().join("bad.csv");
    std::fs::write(&bad, "symbol,date,open,high,low,close,volume\nAAA,2018-01-02,1,2,1,1.5,10\nAAA,2018-01-03,1,2,1,x,10\n").unwrap();
    let out = home
        .kobe()
        .args(["data", "import"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("bad.csv line 3: close \"x\" is not a number"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert!(!home.path().join("data/bars").exists());
}

#[test]
fn the_shipped_sample_replays_2016_with_no_keys() {
    let home = TempHome::with_sample();
    let out = home
        .runner()
        .env_remove("POLYGON_API_KEY")
        .args(["--mode", "paper", "--replay", "2016-01-04..2016-12-30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        summary.starts_with("replay 2016-01-04..2016-12-30: 252 sessions"),
        "{summary}"
    );
    let data_updates: Vec<Value> = home
        .jobs_log()
        .into_iter()
        .filter(|r| r["tag"] == "DATA_UPDATE")
        .collect();
    assert_eq!(data_updates.len(), 252);
    assert!(data_updates.iter().all(|r| r["status"] == "ok"));
    let stats = data_stats(&home);
    assert_eq!(stats["symbols"], 50);
}
