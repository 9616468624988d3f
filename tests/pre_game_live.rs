//! PRE_GAME in a live run: pre-market prices from Polygon's ticker snapshot and news risk from
//! its news endpoint, against a local server; the job body through the public API on a clock
//! that says "live" at a chosen instant.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::http_server::{Response, TestServer};
use kobe::app::App;
use kobe::config::{Config, EMBEDDED_DEFAULT};
use kobe::home::Home;
use kobe::jobs::pre_game::PreGame;
use kobe::secrets::Secrets;
use kobe::watchlist::{self, NextDay, Pick};
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::clock::{Clock, ClockKind};
use kobe_actors::job::{Job, JobContext};
use serde_json::Value;

/// A live clock stopped at one instant.
struct StoppedLiveClock(DateTime<Utc>);

impl Clock for StoppedLiveClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    fn kind(&self) -> ClockKind {
        ClockKind::Live
    }
    fn wait_step(&self, _due: DateTime<Utc>) -> Option<Duration> {
        None
    }
}

fn pick(rank: usize, symbol: &str, entry_ref: f64) -> Pick {
    Pick {
        rank,
        symbol: symbol.into(),
        strategy: "IBS_RSI".into(),
        entry_ref,
        stop: entry_ref * 0.95,
        target: None,
        confidence: 0.5,
        atr14: 1.0,
        reason: "test".into(),
    }
}

#[test]
fn live_pre_game_uses_snapshot_prices_and_news() {
    let server = TestServer::start(|r| {
        let price = |p: f64| {
            Response::json(200, format!("{{\"status\":\"OK\",\"ticker\":{{\"ticker\":\"X\",\"lastTrade\":{{\"p\":{p},\"s\":100}}}}}}"))
        };
        match r.target.as_str() {
            t if t.ends_with("/tickers/AAPL") => price(160.0),
            t if t.ends_with("/tickers/MSFT") => price(92.6),
            t if t.ends_with("/tickers/JPM") => price(111.0),
            t if t.ends_with("/tickers/XOM") => Response::json(500, "{\"status\":\"ERROR\",\"error\":\"down\"}"),
            t if t.contains("news?ticker=AAPL") => Response::json(200, "{\"status\":\"OK\",\"results\":[{\"title\":\"Apple beats\",\"published_utc\":\"2018-02-08T11:00:00Z\"},{\"title\":\"Older\",\"published_utc\":\"2018-02-07T20:00:00Z\"}]}"),
            _ => Response::json(200, "{\"status\":\"OK\",\"results\":[]}"),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
    config.polygon.base_url = server.base_url.clone();
    config.polygon.calls_per_minute = 0;
    config.polygon.max_retries = 0;
    let app = Arc::new(App {
        home: Home::resolve(Some(dir.path())),
        config,
        secrets: Secrets::from_pairs(&[("POLYGON_API_KEY", "pk_live_test_9999")]),
        replay: false,
        universe: None,
        cap: None,
    });
    let session = NaiveDate::from_ymd_opt(2018, 2, 8).unwrap();
    let next = NextDay {
        generated_at: Utc.with_ymd_and_hms(2018, 2, 7, 20, 45, 0).unwrap(),
        session: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
        as_of: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
        for_session: session,
        trade_of_the_day: Some(pick(1, "AAPL", 159.54)),
        top5: vec![
            pick(1, "AAPL", 159.54),
            pick(2, "MSFT", 89.61),
            pick(3, "JPM", 112.87),
            pick(4, "XOM", 76.94),
        ],
    };
    let wl = watchlist::dir(&app.home.state());
    watchlist::write_json(&wl.join(watchlist::NEXT_DAY), &next).unwrap();

    let slot = EXCHANGE_TZ.with_ymd_and_hms(2018, 2, 8, 8, 0, 0).unwrap();
    let clock = Arc::new(StoppedLiveClock(slot.with_timezone(&Utc)));
    let ctx = JobContext {
        tag: "PRE_GAME".into(),
        session,
        slot,
        started: clock.now(),
        clock,
        manage_only: false,
        kill_switch: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    let out = PreGame { app: app.clone() }.run(&ctx).unwrap();
    assert!(out.skipped_reason.is_none(), "{out:?}");

    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(wl.join(watchlist::VALIDATED)).unwrap())
            .unwrap();
    assert_eq!(v["price_source"], "polygon_last_trade");
    let e = v["entries"].as_array().unwrap();
    let row = |i: usize| {
        (
            e[i]["symbol"].as_str().unwrap(),
            e[i]["status"].as_str().unwrap(),
        )
    };
    assert_eq!(row(0), ("AAPL", "OK"));
    assert_eq!(row(1), ("MSFT", "REMOVED"));
    assert_eq!(row(2), ("JPM", "IMPROVED"));
    // No price: UNCHECKED and the reason, never a silent OK.
    assert_eq!(row(3), ("XOM", "UNCHECKED"));
    assert!(
        e[3]["news"].as_str().unwrap().contains("price unchecked"),
        "{}",
        e[3]["news"]
    );
    assert!(e[0]["news"]
        .as_str()
        .unwrap()
        .starts_with("2 articles in the last 24 h; latest: Apple beats"));
    assert_eq!(e[1]["news"], "no news in the last 24 h");
    assert!((e[0]["gap"].as_f64().unwrap() - (160.0 / 159.54 - 1.0)).abs() < 1e-12);
    // The key went in a header only.
    assert!(server
        .targets()
        .iter()
        .all(|t| !t.contains("pk_live_test_9999")));
}
