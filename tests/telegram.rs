//! Telegram notifications through the built runner to a local server answering as the Bot API
//! does: it hears what the webhook hears, and a refusal or a dead server costs a log line that
//! never shows the token.

mod common;

use std::path::Path;
use std::time::Duration;

use common::http_server::{Request, Response, TestServer};
use common::{eventually, RunningRunner, TempHome};
use serde_json::{json, Value};

const TOKEN: &str = "123456789:AAHsecretTokenForTests_xyz";
const CHAT: i64 = 4242;

/// Config with the webhook and Telegram's base URL pointed at test servers, and the Telegram
/// keys in the home's `.env`.
fn with_channels(home: &TempHome, webhook: Option<&str>, telegram: &str, chat: &str) {
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let mut config = kobe::config::EMBEDDED_DEFAULT.replace(
        "telegram_base_url = \"https://api.telegram.org\"",
        &format!("telegram_base_url = \"{telegram}\""),
    );
    if let Some(url) = webhook {
        config = config.replace(
            "webhook_url = \"\"",
            &format!("webhook_url = \"{url}/hook\""),
        );
    }
    assert!(config.contains(telegram));
    std::fs::write(home.path().join("config/kobe.toml"), config).unwrap();
    std::fs::write(
        home.path().join(".env"),
        format!("TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_CHAT_ID={chat}\n"),
    )
    .unwrap();
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
    let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
        return refusal(400, "Bad Request: message text is empty");
    };
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

/// The texts a server was sent (the webhook's and Telegram's bodies both carry `text`).
fn texts(server: &TestServer) -> Vec<String> {
    server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect()
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
fn telegram_hears_what_the_webhook_hears() {
    let telegram = TestServer::start(bot_api);
    let webhook = TestServer::start(|_| Response::json(200, "ok"));
    let home = TempHome::with_sample();
    with_channels(
        &home,
        Some(&webhook.base_url),
        &telegram.base_url,
        &CHAT.to_string(),
    );
    home.replay("2016-01-04..2016-01-08", &[]);
    let sent = texts(&telegram);
    let eod: Vec<&String> = sent.iter().filter(|t| t.starts_with("kobe EOD")).collect();
    assert_eq!(eod.len(), 5, "{sent:?}");
    assert!(eod[0].starts_with("kobe EOD 2016-01-04: equity"));
    assert_eq!(sent, texts(&webhook), "the two channels differ");
    assert!(
        !logs(home.path()).contains("notification"),
        "a delivery failed"
    );

    let live = TempHome::new();
    with_channels(&live, None, &telegram.base_url, &CHAT.to_string());
    let _runner = RunningRunner::start(live.path(), &[]);
    std::fs::write(live.path().join("state/KILL_SWITCH"), "telegram test\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || texts(&telegram)
            .iter()
            .any(|t| t == "kobe: kill switch ENGAGED: telegram test")),
        "{:?}",
        texts(&telegram)
    );
}

#[test]
fn a_telegram_refusal_costs_a_log_line_and_never_shows_the_token() {
    let telegram = TestServer::start(bot_api);
    let home = TempHome::with_sample();
    // A chat the bot is not in: the Bot API answers 400 "chat not found", every time.
    with_channels(&home, None, &telegram.base_url, "999");
    let out = home
        .runner()
        .args(["--mode", "paper", "--replay", "2016-01-04..2016-01-06"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
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
    with_channels(&gone, None, "http://127.0.0.1:9", &CHAT.to_string());
    let out2 = gone
        .runner()
        .args(["--mode", "paper", "--replay", "2016-01-04..2016-01-04"])
        .output()
        .unwrap();
    assert!(out2.status.success(), "{}", common::stderr(&out2));
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
