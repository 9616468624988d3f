//! Polygon daily aggregates over HTTP (reqwest, rustls): grouped daily for the whole market,
//! per-ticker ranges with `next_url` paging, a calls-per-minute limit, and retries with backoff.
//!
//! The key travels in the `Authorization` header only, never in a URL, so no request error,
//! log line or report can carry it; bodies quoted in errors are scrubbed of it as well.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::calendar::EXCHANGE_TZ;
use serde::Deserialize;

use super::bars::Bar;

/// Client settings (`[polygon]` in config/kobe.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolygonSettings {
    /// `POLYGON_BASE_URL` in the environment wins over this.
    pub base_url: String,
    /// Polygon's free tier allows 5.
    pub calls_per_minute: u32,
    /// Retries after the first attempt, for 429, 5xx, timeouts and cut-off bodies.
    pub max_retries: u32,
    /// First backoff; doubles each retry (a 429's Retry-After wins when longer).
    pub retry_base_ms: u64,
    pub timeout_secs: u64,
    /// Sessions of history fetched for a symbol new to the universe (200 are needed to trade it).
    pub history_sessions: usize,
}

impl Default for PolygonSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.polygon.io".into(),
            calls_per_minute: 5,
            max_retries: 4,
            retry_base_ms: 2000,
            timeout_secs: 30,
            history_sessions: 300,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolygonError {
    #[error("Polygon refused the API key (HTTP {status}: {message}): check POLYGON_API_KEY and the plan")]
    Unauthorized { status: u16, message: String },
    #[error("Polygon {what}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("Polygon {what}: malformed answer: {why}")]
    Malformed { what: String, why: String },
    #[error("Polygon {what}: HTTP {status}: {message}")]
    Http {
        what: String,
        status: u16,
        message: String,
    },
    #[error("Polygon client: {0}")]
    Setup(String),
}

#[derive(Deserialize)]
struct AggsPage {
    #[serde(default)]
    results: Vec<Agg>,
    next_url: Option<String>,
}

#[derive(Deserialize)]
struct SnapshotPage {
    ticker: Option<TickerSnapshot>,
}

#[derive(Deserialize)]
struct TickerSnapshot {
    #[serde(rename = "lastTrade")]
    last_trade: Option<LastTrade>,
}

#[derive(Deserialize)]
struct LastTrade {
    p: f64,
    /// Unix nanoseconds.
    t: Option<i64>,
}

#[derive(Deserialize)]
struct AllTickersPage {
    #[serde(default)]
    tickers: Vec<TickerDay>,
}

#[derive(Deserialize)]
struct TickerDay {
    ticker: String,
    day: Option<DayAgg>,
}

#[derive(Deserialize)]
struct DayAgg {
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
}

#[derive(Deserialize)]
struct NewsPage {
    #[serde(default)]
    results: Vec<NewsItem>,
}

#[derive(Deserialize)]
struct NewsItem {
    title: String,
}

#[derive(Deserialize)]
struct Agg {
    #[serde(rename = "T")]
    ticker: Option<String>,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
    /// Unix milliseconds; the bar's date is this instant's New York date.
    t: i64,
}

impl Agg {
    fn bar(&self) -> Option<Bar> {
        let date = DateTime::<Utc>::from_timestamp_millis(self.t)?
            .with_timezone(&EXCHANGE_TZ)
            .date_naive();
        Some(Bar {
            date,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
        })
    }
}

pub struct PolygonClient {
    http: reqwest::blocking::Client,
    key: String,
    base: String,
    settings: PolygonSettings,
    last_call: Option<Instant>,
    /// Requests sent (attempts included), for the job's detail and tests.
    pub calls: u32,
}

enum Attempt {
    Done(String),
    Retry(String, Option<Duration>),
    Fail(PolygonError),
}

impl PolygonClient {
    pub fn new(key: &str, settings: &PolygonSettings) -> Result<Self, PolygonError> {
        let base = std::env::var("POLYGON_BASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| settings.base_url.clone());
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()
            .map_err(|e| PolygonError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            key: key.to_string(),
            base: base.trim_end_matches('/').to_string(),
            settings: settings.clone(),
            last_call: None,
            calls: 0,
        })
    }

    fn scrub(&self, text: &str) -> String {
        let text: String = text.chars().take(200).collect();
        if self.key.len() >= 4 {
            text.replace(&self.key, "***")
        } else {
            text
        }
    }

    /// Sleeps until the next call is allowed by `calls_per_minute`.
    fn pace(&mut self) {
        if let (Some(last), Some(per_min)) = (
            self.last_call,
            std::num::NonZeroU32::new(self.settings.calls_per_minute),
        ) {
            let gap = Duration::from_secs(60) / per_min.get();
            let since = last.elapsed();
            if since < gap {
                std::thread::sleep(gap - since);
            }
        }
        self.last_call = Some(Instant::now());
    }

    fn attempt(&mut self, url: &str, what: &str) -> Attempt {
        self.pace();
        self.calls += 1;
        let response = match self.http.get(url).bearer_auth(&self.key).send() {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(self.scrub(&e.without_url().to_string()), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.text() {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry(
                    format!("HTTP {status}, body cut off: {}", e.without_url()),
                    None,
                )
            }
        };
        let message = || {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let text = v["error"]
                .as_str()
                .or(v["message"].as_str())
                .map(String::from)
                .unwrap_or(body.clone());
            self.scrub(&text)
        };
        match status.as_u16() {
            200..=299 => Attempt::Done(body),
            401 | 403 => Attempt::Fail(PolygonError::Unauthorized {
                status: status.as_u16(),
                message: message(),
            }),
            429 => Attempt::Retry("HTTP 429 (rate limited)".into(), retry_after),
            500..=599 => Attempt::Retry(format!("HTTP {}: {}", status.as_u16(), message()), None),
            code => Attempt::Fail(PolygonError::Http {
                what: what.into(),
                status: code,
                message: message(),
            }),
        }
    }

    /// GETs a page, retrying what can pass (429, 5xx, network, cut-off bodies) with backoff.
    fn get_page<T: for<'de> Deserialize<'de>>(
        &mut self,
        url: &str,
        what: &str,
    ) -> Result<T, PolygonError> {
        let mut last = String::new();
        let attempts = self.settings.max_retries + 1;
        for attempt in 0..attempts {
            match self.attempt(url, what) {
                Attempt::Done(body) => {
                    return serde_json::from_str(&body).map_err(|e| PolygonError::Malformed {
                        what: what.into(),
                        why: self.scrub(&e.to_string()),
                    })
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(why, retry_after) => {
                    tracing::warn!(what, attempt = attempt + 1, why = %why, "Polygon call failed; retrying");
                    last = why;
                    if attempt + 1 < attempts {
                        let backoff = Duration::from_millis(
                            self.settings
                                .retry_base_ms
                                .saturating_mul(1 << attempt.min(10)),
                        );
                        std::thread::sleep(
                            backoff
                                .max(retry_after.unwrap_or_default())
                                .min(Duration::from_secs(120)),
                        );
                    }
                }
            }
        }
        Err(PolygonError::GaveUp {
            what: what.into(),
            attempts,
            last,
        })
    }

    /// Rebases a `next_url` onto our base URL: paging never sends the key to another host.
    fn rebase(&self, next: &str) -> String {
        let path = next
            .split_once("://")
            .map_or(next, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
        format!("{}{path}", self.base)
    }

    /// Every US stock's bar for `date`. A day without bars (a holiday, a session not yet
    /// published) is answered without `results`, as Polygon documents it: an empty list.
    pub fn grouped_daily(&mut self, date: NaiveDate) -> Result<Vec<(String, Bar)>, PolygonError> {
        let url = format!(
            "{}/v2/aggs/grouped/locale/us/market/stocks/{date}?adjusted=true",
            self.base
        );
        let page: AggsPage = self.get_page(&url, &format!("grouped daily {date}"))?;
        // A bar dated another day than asked for is not trusted into the store.
        Ok(page
            .results
            .iter()
            .filter_map(|a| Some((a.ticker.clone()?, a.bar()?)))
            .filter(|(_, bar)| bar.date == date)
            .collect())
    }

    /// The latest trade of `symbol` (price and time) from the ticker snapshot; `None` when the
    /// snapshot has no priced, timed trade.
    pub fn last_trade(
        &mut self,
        symbol: &str,
    ) -> Result<Option<(f64, DateTime<Utc>)>, PolygonError> {
        let url = format!(
            "{}/v2/snapshot/locale/us/markets/stocks/tickers/{symbol}",
            self.base
        );
        let page: SnapshotPage = self.get_page(&url, &format!("snapshot {symbol}"))?;
        Ok(page.ticker.and_then(|t| t.last_trade).and_then(|t| {
            let at = DateTime::<Utc>::from_timestamp_nanos(t.t?);
            (t.p > 0.0 && t.p.is_finite()).then_some((t.p, at))
        }))
    }

    /// Today's bar so far for every US stock, from the all-tickers snapshot (one call): the
    /// provisional bar of `date` that the overnight watchlist scans on (DESIGN §7).
    pub fn day_snapshot(&mut self, date: NaiveDate) -> Result<Vec<(String, Bar)>, PolygonError> {
        let url = format!("{}/v2/snapshot/locale/us/markets/stocks/tickers", self.base);
        let page: AllTickersPage = self.get_page(&url, "all-tickers snapshot")?;
        Ok(page
            .tickers
            .into_iter()
            .filter_map(|t| {
                let d = t.day?;
                let bar = Bar {
                    date,
                    open: d.o,
                    high: d.h,
                    low: d.l,
                    close: d.c,
                    volume: d.v,
                };
                bar.check().is_ok().then_some((t.ticker, bar))
            })
            .collect())
    }

    /// Headlines about `symbol` published since `since` (newest first, at most 10).
    pub fn news(
        &mut self,
        symbol: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, PolygonError> {
        let url = format!(
            "{}/v2/reference/news?ticker={symbol}&published_utc.gte={}&order=desc&limit=10",
            self.base,
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        let page: NewsPage = self.get_page(&url, &format!("news {symbol}"))?;
        Ok(page.results.into_iter().map(|n| n.title).collect())
    }

    /// A symbol's daily bars from..=to, following `next_url` pages.
    pub fn ticker_range(
        &mut self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Bar>, PolygonError> {
        let what = format!("{symbol} {from}..{to}");
        let mut url = format!(
            "{}/v2/aggs/ticker/{symbol}/range/1/day/{from}/{to}?adjusted=true&sort=asc&limit=50000",
            self.base
        );
        let mut bars = Vec::new();
        for _ in 0..1000 {
            let page: AggsPage = self.get_page(&url, &what)?;
            bars.extend(page.results.iter().filter_map(Agg::bar));
            match page.next_url {
                Some(next) if !next.is_empty() => url = self.rebase(&next),
                _ => return Ok(bars),
            }
        }
        Err(PolygonError::Malformed {
            what,
            why: "more than 1000 pages".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_dates_are_new_york_dates() {
        // Grouped example: 2018-02-07 00:00 New York; and an end-of-window stamp 16:00 NY.
        let a = Agg {
            ticker: None,
            o: 1.0,
            h: 1.0,
            l: 1.0,
            c: 1.0,
            v: 1.0,
            t: 1518037200000,
        };
        assert_eq!(a.bar().unwrap().date.to_string(), "2018-02-07");
        let b = Agg {
            t: 1602705600000,
            ..a
        };
        assert_eq!(b.bar().unwrap().date.to_string(), "2020-10-14");
    }

    #[test]
    fn next_urls_are_rebased_onto_our_host() {
        let client = PolygonClient::new(
            "k",
            &PolygonSettings {
                base_url: "http://127.0.0.1:9/".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            client.rebase("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=x"),
            "http://127.0.0.1:9/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=x"
        );
    }
}
