//! Notifications through the built runner to a local webhook and a local server answering as
//! Telegram's Bot API does: kill-switch changes and the EOD summary arrive on both; a webhook
//! that never answers slows nothing down; a Telegram refusal or a dead server costs a log line
//! that never shows the token.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::http_server::{Request, Response, TestServer};
use common::{eventually, RunningRunner, TempHome};
use serde_json::{json, Value};

const TOKEN: &str = "123456789:AAHsecretTokenForTests_xyz";
const CHAT: i64 = 4242;

fn with_webhook(home: &TempHome, url: &str) {
    with_channels(home, Some(url), None);
}

/// Config with the webhook and Telegram's base URL pointed at test servers; with Telegram
/// (`(base URL, chat id)`) its keys go in the home's `.env`.
fn with_channels(home: &TempHome, webhook: Option<&str>, telegram: Option<(&str, &str)>) {
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let mut config = kobe::config::EMBEDDED_DEFAULT.to_string();
    if let Some(url) = webhook {
        config = config.replace(
            "webhook_url = \"\"",
            &format!("webhook_url = \"{url}/hook\""),
        );
        assert!(config.contains("/hook"));
    }
    if let Some((base, chat)) = telegram {
        config = config.replace(
            "telegram_base_url = \"https://api.telegram.org\"",
            &format!("telegram_base_url = \"{base}\""),
        );
        assert!(config.contains(base));
        std::fs::write(
            home.path().join(".env"),
            format!("TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_CHAT_ID={chat}\n"),
        )
        .unwrap();
    }
    std::fs::write(home.path().join("config/kobe.toml"), config).unwrap();
}

fn refusal(code: u16, description: &str) -> Response {
    let body = json!({ "ok": false, "error_code": code, "description": description });
    Response::json(code, body.to_string())
}

/// `sendMessage` as the Bot API answers it: the sent Message, or `ok: false` with a code and
/// a description.
fn bot_api(r: &Request) -> Response {
    if r.target != format!("/bot{TOKEN}/sendMessage") {
        return refusal(404, "Not Found");
    }
    let body = serde_json::from_str::<Value>(&r.body).unwrap_or_default();
    if body["chat_id"] != CHAT {
        return refusal(400, "Bad Request: chat not found");
    }
    let Some(text) = body["text"].as_str().filter(|t| !t.is_empty()) else {
        return refusal(400, "Bad Request: message text is empty");
    };
    let message = json!({
        "ok": true,
        "result": {
            "message_id": 1,
            "from": { "id": 123456789, "is_bot": true, "first_name": "kobe", "username": "kobe_test_bot" },
            "chat": { "id": CHAT, "first_name": "Ops", "type": "private" },
            "date": 1451606400,
            "text": text
        }
    });
    Response::json(200, message.to_string())
}

/// The texts a server was sent: both channels' bodies carry `text`.
fn texts(server: &TestServer) -> Vec<String> {
    server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .map(|v| {
            // Slack reads "text", Discord "content": the webhook gets both.
            assert!(v["content"].is_null() || v["text"] == v["content"]);
            v["text"].as_str().unwrap().to_string()
        })
        .collect()
}

fn replay(home: &TempHome, range: &str) -> Output {
    let out = home
        .runner()
        .args(["--mode", "paper", "--replay", range])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    out
}

/// Every log file under the home, as one text.
fn logs(home: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(home.join("logs")).unwrap() {
        text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    text
}

#[test]
fn the_webhook_and_telegram_hear_the_kill_switch_and_the_eod_summary() {
    let server = TestServer::start(|_| Response::json(200, "ok"));
    let telegram = TestServer::start(bot_api);
    let chat = CHAT.to_string();
    let both = Some((telegram.base_url.as_str(), chat.as_str()));
    let home = TempHome::with_sample();
    with_channels(&home, Some(&server.base_url), both);
    home.replay("2016-01-04..2016-01-08", &[]);
    let eod: Vec<String> = texts(&server)
        .into_iter()
        .filter(|t| t.starts_with("kobe EOD"))
        .collect();
    assert_eq!(eod.len(), 5, "{eod:?}");
    assert!(eod[0].starts_with("kobe EOD 2016-01-04: equity"));
    assert_eq!(texts(&telegram), texts(&server), "the channels differ");
    assert!(
        !logs(home.path()).contains("notification"),
        "a delivery failed"
    );

    let live = TempHome::new();
    with_channels(&live, Some(&server.base_url), both);
    let _runner = RunningRunner::start(live.path(), &[]);
    std::fs::write(live.path().join("state/KILL_SWITCH"), "webhook test\n").unwrap();
    for channel in [&server, &telegram] {
        assert!(
            eventually(Duration::from_secs(5), || texts(channel)
                .iter()
                .any(|t| t == "kobe: kill switch ENGAGED: webhook test")),
            "{:?}",
            texts(channel)
        );
    }
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

#[test]
fn a_telegram_refusal_costs_a_log_line_and_never_shows_the_token() {
    let telegram = TestServer::start(bot_api);
    let home = TempHome::with_sample();
    // A chat the bot is not in: the Bot API answers 400 "chat not found", every time.
    with_channels(&home, None, Some((&telegram.base_url, "999")));
    let out = replay(&home, "2016-01-04..2016-01-06");
    let asked = telegram.requests.lock().unwrap().len();
    assert!(asked >= 3, "{asked} requests");
    let log = logs(home.path());
    let lines = log.lines().filter(|l| l.contains("chat not found")).count();
    assert_eq!(
        lines, asked,
        "one line per refused message, no retries:\n{log}"
    );
    assert!(log.contains("telegram"), "{log}");

    // A server that is not there: the transport error names no URL either.
    let gone = TempHome::with_sample();
    let chat = CHAT.to_string();
    with_channels(&gone, None, Some(("http://127.0.0.1:9", &chat)));
    let out2 = replay(&gone, "2016-01-04..2016-01-04");
    let gone_log = logs(gone.path());
    assert!(gone_log.contains("unreachable"), "{gone_log}");

    let secret = TOKEN.split(':').nth(1).unwrap();
    for text in [
        log,
        gone_log,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        String::from_utf8_lossy(&out2.stderr).into_owned(),
    ] {
        assert!(!text.contains(secret), "the token leaked:\n{text}");
    }
}
