//! Notifications through the built runner to a local webhook: kill-switch changes and the EOD
//! summary arrive; a webhook that never answers slows nothing down.

mod common;

use std::time::Duration;

use common::http_server::{Response, TestServer};
use common::{eventually, RunningRunner, TempHome};
use serde_json::Value;

fn with_webhook(home: &TempHome, url: &str) {
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let config = kobe::config::EMBEDDED_DEFAULT.replace(
        "webhook_url = \"\"",
        &format!("webhook_url = \"{url}/hook\""),
    );
    assert!(config.contains("/hook"));
    std::fs::write(home.path().join("config/kobe.toml"), config).unwrap();
}

fn texts(server: &TestServer) -> Vec<String> {
    server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .map(|v| {
            // Slack reads "text", Discord "content": both are sent.
            assert_eq!(v["text"], v["content"]);
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn the_webhook_hears_the_kill_switch_and_the_eod_summary() {
    let server = TestServer::start(|_| Response::json(200, "ok"));
    let home = TempHome::with_sample();
    with_webhook(&home, &server.base_url);
    home.replay("2016-01-04..2016-01-08", &[]);
    let eod: Vec<String> = texts(&server)
        .into_iter()
        .filter(|t| t.starts_with("kobe EOD"))
        .collect();
    assert_eq!(eod.len(), 5, "{eod:?}");
    assert!(eod[0].starts_with("kobe EOD 2016-01-04: equity"));

    let live = TempHome::new();
    with_webhook(&live, &server.base_url);
    let _runner = RunningRunner::start(live.path(), &[]);
    std::fs::write(live.path().join("state/KILL_SWITCH"), "webhook test\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || texts(&server)
            .iter()
            .any(|t| t == "kobe: kill switch ENGAGED: webhook test")),
        "{:?}",
        texts(&server)
    );
}

#[test]
fn a_dead_webhook_slows_nothing() {
    // Accepts, then never answers within the client's timeout.
    let server = TestServer::start(|_| Response {
        delay: Duration::from_secs(30),
        ..Response::json(200, "ok")
    });
    let home = TempHome::with_sample();
    with_webhook(&home, &server.base_url);
    let started = std::time::Instant::now();
    home.replay("2016-01-04..2016-01-08", &[]);
    // Every slot ran and was recorded as usual; the process did not wait out the webhook.
    let log = home.jobs_log();
    assert!(log.iter().all(|r| r["status"] != "failed"), "a job failed");
    assert_eq!(
        log.iter()
            .filter(|r| r["tag"] == "EOD_REPORT" && r["status"] == "ok")
            .count(),
        5
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the replay waited for the webhook"
    );
}
