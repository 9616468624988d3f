//! A Polygon stand-in for DATA_UPDATE tests: a home whose store holds the shared 10-symbol
//! sample up to a cut date, and grouped-daily answers built from the same file in Polygon's
//! documented shape (a day without bars has no `results` key). Included with `#[path]`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use crate::common::http_server::{Response, TestServer};
use crate::common::{self, TempHome};

pub const KEY: &str = "pk_test_SECRET_1234";
pub const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

/// One day's rows of the sample: symbol and open, high, low, close, volume.
pub type Rows = BTreeMap<String, Vec<(String, [f64; 5])>>;

/// Rows of the shared 10-symbol sample, by date.
pub fn sample_rows() -> Rows {
    let text = std::fs::read_to_string(format!("{SHARED}/bars/sample_10.csv")).unwrap();
    let mut by_date: Rows = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let n = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        by_date
            .entry(f[0].to_string())
            .or_default()
            .push((f[6].to_string(), [n(1), n(2), n(3), n(4), n(5)]));
    }
    by_date
}

/// A home whose store holds the 10-symbol sample up to `last` (inclusive), configured to call
/// `server_url` with no pacing.
pub fn home_with_cache_to(server_url: &str, last: &str) -> TempHome {
    let home = TempHome::new();
    let text = std::fs::read_to_string(format!("{SHARED}/bars/sample_10.csv")).unwrap();
    let mut cut = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || &line[..10] <= last {
            cut.push_str(line);
            cut.push('\n');
        }
    }
    let long = home.path().join("cut.csv");
    std::fs::write(&long, cut).unwrap();
    let out = home
        .kobe()
        .args(["data", "import"])
        .arg(&long)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    std::fs::create_dir_all(home.path().join("data/universe")).unwrap();
    std::fs::write(
        home.path().join("data/universe/sample.csv"),
        "symbol\nAAPL\nAMZN\nDHR\nEBAY\nGOOG\nJPM\nLNT\nMSFT\nNFLX\nXOM\n",
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    let config = kobe::config::EMBEDDED_DEFAULT
        .replace(
            "base_url = \"https://api.polygon.io\"",
            &format!("base_url = \"{server_url}\""),
        )
        .replace("calls_per_minute = 5", "calls_per_minute = 0")
        .replace("retry_base_ms = 2000", "retry_base_ms = 1");
    assert!(config.contains(server_url));
    std::fs::write(home.path().join("config/kobe.toml"), config).unwrap();
    home
}

/// The date a grouped-daily request target asks for.
pub fn grouped_day(target: &str) -> &str {
    target
        .split('/')
        .nth(8)
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
}

/// The dates of the grouped-daily calls the server received, in order.
pub fn grouped_days(server: &TestServer) -> Vec<String> {
    server
        .targets()
        .iter()
        .map(|t| grouped_day(t).to_string())
        .collect()
}

/// Polygon's grouped-daily answer for the day `target` asks, from `rows`, leaving out the
/// symbols `skip` says. Without bars the answer has no `results`, as Polygon documents it.
pub fn grouped_answer_without(
    rows: &Rows,
    target: &str,
    skip: impl Fn(&str, &str) -> bool,
) -> Response {
    let day = grouped_day(target);
    let t = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(5, 0, 0).unwrap().and_utc().timestamp_millis())
        .unwrap_or(0);
    let results: Vec<Value> = rows
        .get(day)
        .into_iter()
        .flatten()
        .filter(|(sym, _)| !skip(day, sym))
        .map(|(sym, [o, h, l, c, v])| {
            serde_json::json!({"T": sym, "o": o, "h": h, "l": l, "c": c, "v": v, "t": t})
        })
        .collect();
    let mut body = serde_json::json!({"adjusted": true, "queryCount": results.len(), "resultsCount": results.len(), "status": "OK", "request_id": "x"});
    if !results.is_empty() {
        body["results"] = Value::Array(results);
    }
    Response::json(200, body.to_string())
}

pub fn grouped_answer(rows: &Rows, target: &str) -> Response {
    grouped_answer_without(rows, target, |_, _| false)
}

/// `kobe run-job --tag DATA_UPDATE --session SESSION` with the key, `--force` to run a slot
/// the ledger shows done again.
pub fn run_data_update(home: &TempHome, session: &str, force: bool) -> Output {
    let mut cmd = home.kobe();
    cmd.args(["run-job", "--tag", "DATA_UPDATE", "--session", session])
        .env("POLYGON_API_KEY", KEY)
        .env_remove("POLYGON_BASE_URL");
    if force {
        cmd.arg("--force");
    }
    cmd.output().unwrap()
}

/// `kobe data stats --json` of a home.
pub fn data_stats(home: &TempHome) -> Value {
    let out = home
        .kobe()
        .args(["data", "stats", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}
