//! The watchlist jobs in a live run, against a local server speaking Polygon: PRE_GAME with
//! pre-market prices from the ticker snapshot and news, OVERNIGHT_WATCHLIST on the provisional
//! bar from the all-tickers snapshot. Job bodies through the public API, on a clock that says
//! "live" at a chosen instant.

mod common;

use common::live::{live_context, sample_home, SAMPLE_10};

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use common::http_server::{Response, TestServer};
use kobe::app::{App, RunMode};
use kobe::config::{Config, EMBEDDED_DEFAULT};
use kobe::home::Home;
use kobe::jobs::pre_game::PreGame;
use kobe::secrets::Secrets;
use kobe::strategy::signals::Strategy;
use kobe::watchlist::{self, NextDay, Pick};
use kobe_actors::atomic_file::Durability;
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::job::Job;
use serde_json::Value;

fn pick(rank: usize, symbol: &str, entry_ref: f64) -> Pick {
    Pick {
        rank,
        symbol: symbol.into(),
        strategy: Strategy::IbsRsi,
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
        // 2018-02-08 07:59 ET, and the previous evening.
        let (fresh, stale) = (1_518_094_740_000_000_000_i64, 1_518_033_600_000_000_000_i64);
        let trade = |p: f64, t: i64| {
            let body = format!(
                "{{\"status\":\"OK\",\"ticker\":{{\"ticker\":\"X\",\"lastTrade\":{{\"p\":{p},\"s\":100,\"t\":{t}}}}}}}"
            );
            Response::json(200, body)
        };
        let price = |p: f64| trade(p, fresh);
        match r.target.as_str() {
            t if t.ends_with("/tickers/AAPL") => price(160.0),
            t if t.ends_with("/tickers/MSFT") => price(92.6),
            t if t.ends_with("/tickers/JPM") => price(111.0),
            t if t.ends_with("/tickers/XOM") => Response::json(500, "{\"status\":\"ERROR\",\"error\":\"down\"}"),
            t if t.ends_with("/tickers/GOOG") => trade(1100.0, stale),
            t if t.contains("news?ticker=AAPL") => Response::json(200, "{\"status\":\"OK\",\"results\":[{\"title\":\"Apple beats\",\"published_utc\":\"2018-02-08T11:00:00Z\"},{\"title\":\"Older\",\"published_utc\":\"2018-02-07T20:00:00Z\"}]}"),
            _ => Response::json(200, "{\"status\":\"OK\",\"results\":[]}"),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let app = live_app(dir.path(), Some(&server));
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
            pick(5, "GOOG", 1100.0),
        ],
    };
    let wl = watchlist::dir(&app.home.state());
    watchlist::write_json(
        &wl.join(watchlist::NEXT_DAY),
        &next,
        Durability::ProcessCrash,
    )
    .unwrap();

    let slot = EXCHANGE_TZ.with_ymd_and_hms(2018, 2, 8, 8, 0, 0).unwrap();
    let ctx = live_context("PRE_GAME", slot);
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
    // A trade from the evening before is yesterday's price: UNCHECKED, with the reason.
    assert_eq!(row(4), ("GOOG", "UNCHECKED"));
    assert!(
        e[4]["news"]
            .as_str()
            .unwrap()
            .contains("is before the pre-market"),
        "{}",
        e[4]["news"]
    );
    assert!(e[4]["premarket"].is_null(), "{}", e[4]);
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

fn live_app(dir: &std::path::Path, server: Option<&TestServer>) -> Arc<App> {
    let mut config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
    config.polygon.calls_per_minute = 0;
    config.polygon.max_retries = 0;
    let secrets = match server {
        Some(s) => {
            config.polygon.base_url = s.base_url.clone();
            Secrets::from_pairs(&[("POLYGON_API_KEY", "pk_live_test_9999")])
        }
        None => Secrets::default(),
    };
    Arc::new(App::new(
        RunMode::Paper,
        Home::resolve(Some(dir)),
        config,
        secrets,
    ))
}

#[test]
fn live_overnight_watchlist_scans_todays_provisional_bar_from_the_snapshot() {
    // Today's bars (Monday 2018-02-05) come from the snapshot, as Polygon would give them at 15:45.
    let text = std::fs::read_to_string(SAMPLE_10).unwrap();
    let tickers: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with("2018-02-05"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            serde_json::json!({"ticker": f[6], "day": {"o": n(1), "h": n(2), "l": n(3), "c": n(4), "v": n(5)}})
        })
        .collect();
    let body = serde_json::json!({"status": "OK", "tickers": tickers}).to_string();
    let server = TestServer::start(move |_| Response::json(200, body.clone()));
    let (dir, symbols) = sample_home("2018-02-02");
    let slot = EXCHANGE_TZ.with_ymd_and_hms(2018, 2, 5, 15, 45, 0).unwrap();
    let out = kobe::jobs::overnight_watchlist::OvernightWatchlist {
        app: live_app(dir.path(), Some(&server)),
    }
    .run(&live_context("OVERNIGHT_WATCHLIST", slot))
    .unwrap();
    assert!(
        out.detail.contains("provisional bars of 10 symbols"),
        "{}",
        out.detail
    );
    let path = watchlist::dir(&dir.path().join("state")).join(watchlist::NEXT_DAY);
    let next: NextDay = watchlist::read(&path).unwrap().unwrap();
    assert_eq!(
        (
            next.as_of.to_string().as_str(),
            next.for_session.to_string().as_str()
        ),
        ("2018-02-05", "2018-02-06")
    );
    // The same picks as a scan of the full data on that day.
    let (full, _) = sample_home("2018-02-05");
    let store = kobe::data::store::BarStore::new(full.path());
    let loaded = store.load(Some(&symbols));
    let expected = kobe::scan::scan(&loaded.series, &symbols, next.as_of);
    let got: Vec<&str> = next.top5.iter().map(|p| p.symbol.as_str()).collect();
    let want: Vec<&str> = expected.iter().take(5).map(|s| s.symbol.as_str()).collect();
    assert!(!want.is_empty(), "the day has signals to compare");
    assert_eq!(got, want);
    // The snapshot was not written into the store: its bars are provisional.
    assert!(
        !std::fs::read_to_string(dir.path().join("data/bars/AAPL.csv"))
            .unwrap()
            .contains("2018-02-05")
    );

    // Without a key: the previous session, and the detail says why.
    let (dir, _) = sample_home("2018-02-02");
    let out = kobe::jobs::overnight_watchlist::OvernightWatchlist {
        app: live_app(dir.path(), None),
    }
    .run(&live_context("OVERNIGHT_WATCHLIST", slot))
    .unwrap();
    assert!(
        out.detail
            .contains("no provisional bar (no POLYGON_API_KEY): scanned 2018-02-02"),
        "{}",
        out.detail
    );
}
