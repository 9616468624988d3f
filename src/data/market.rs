//! Where a job's prices come from — one seam, two sources. `History` is the past as the store
//! holds it, seen by the daily-bar market model of DESIGN §7 (a replay, or a slot of a past
//! session); `Polygon` is now: the store for what has closed, Polygon's snapshots for today.
//! Jobs ask; they never branch on which source answers.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use kobe_actors::calendar::EXCHANGE_TZ;

use super::bars::Bar;
use super::polygon::{PolygonClient, PolygonSettings};
use super::snapshot::Window;
use super::store::BarStore;

/// Bars by symbol.
pub type Series = BTreeMap<String, Vec<Bar>>;

/// What became of a request for the session's provisional bars.
#[derive(Debug, Clone, PartialEq)]
pub enum Provisional {
    /// The source has no bar of the session before its close (the daily-bar market model):
    /// the series stays as the store has it.
    NotKept,
    /// The session's bar so far was appended for this many symbols.
    Added(usize),
    /// The source could not say (why).
    Unavailable(String),
}

/// A pre-market price, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Premarket {
    pub price: Option<f64>,
    /// Why the price is missing, when the source knows (e.g. a stale last trade).
    pub note: Option<String>,
    /// News in the last 24 h, or why it was not checked.
    pub news: String,
}

/// The seam. Implementations: `History` and `Polygon`.
pub trait MarketData: Send + Sync {
    /// Prices move during the session (a live source): brackets and the day's loss can be
    /// judged every cycle, and a time stop taken without the session's bar. The daily-bar
    /// market model judges them at the close tick on the final bar.
    fn intraday(&self) -> bool;

    /// Appends the session's bar so far to each series that lacks it (DESIGN §7's provisional
    /// bar).
    fn add_provisional_bars(&self, series: &mut Series, session: NaiveDate) -> Provisional;

    /// The price an entry on `session` fills at, given the symbol's visible bars: the session's
    /// open when its bar is there; else the latest trade (live) or the last close — with why,
    /// when the latest trade was wanted and not had.
    fn entry_price(
        &self,
        symbol: &str,
        bars: &[Bar],
        session: NaiveDate,
    ) -> Option<(f64, Option<String>)>;

    /// The latest trade of `symbol` on `session` (live only).
    fn latest_trade(&self, symbol: &str, session: NaiveDate) -> Result<f64, String>;

    /// Each symbol's pre-market price on `session` and its news since `since`, in order.
    fn premarket(
        &self,
        symbols: &[String],
        session: NaiveDate,
        since: DateTime<Utc>,
    ) -> Vec<Premarket>;

    /// Where pre-market prices come from, as the validated watchlist records it.
    fn price_source(&self) -> &'static str;
}

/// The past: the store's bars, by the market model (pre-market price = the session's open).
pub struct History {
    pub store: BarStore,
}

impl MarketData for History {
    fn intraday(&self) -> bool {
        false
    }

    fn add_provisional_bars(&self, _series: &mut Series, _session: NaiveDate) -> Provisional {
        Provisional::NotKept
    }

    fn entry_price(
        &self,
        _symbol: &str,
        bars: &[Bar],
        session: NaiveDate,
    ) -> Option<(f64, Option<String>)> {
        let last = bars.last()?;
        Some((
            if last.date == session {
                last.open
            } else {
                last.close
            },
            None,
        ))
    }

    fn latest_trade(&self, _symbol: &str, _session: NaiveDate) -> Result<f64, String> {
        Err("no latest trade in history".into())
    }

    fn premarket(
        &self,
        symbols: &[String],
        session: NaiveDate,
        _since: DateTime<Utc>,
    ) -> Vec<Premarket> {
        // Each symbol's bar of the session, read once for all of them.
        let window = Window {
            until: session,
            keep: 1,
        };
        let bars = self.store.load_window(Some(symbols), Some(window)).series;
        symbols
            .iter()
            .map(|symbol| Premarket {
                price: bars
                    .get(symbol)
                    .and_then(|b| b.last())
                    .filter(|b| b.date == session)
                    .map(|b| b.open),
                note: None,
                news: "unchecked (replay)".into(),
            })
            .collect()
    }

    fn price_source(&self) -> &'static str {
        "replay_open"
    }
}

/// Now: Polygon's snapshots for today (a client per request batch, so its pacing holds within
/// the batch), the store for what has closed.
pub struct Polygon {
    /// `None` without `POLYGON_API_KEY`: every question is answered "unavailable".
    pub key: Option<String>,
    pub settings: PolygonSettings,
}

impl Polygon {
    fn client(&self) -> Result<PolygonClient, String> {
        let key = self.key.as_deref().ok_or("no POLYGON_API_KEY")?;
        PolygonClient::new(key, &self.settings).map_err(|e| e.to_string())
    }
}

impl MarketData for Polygon {
    fn intraday(&self) -> bool {
        true
    }

    fn add_provisional_bars(&self, series: &mut Series, session: NaiveDate) -> Provisional {
        let rows = match self
            .client()
            .and_then(|mut c| c.day_snapshot(session).map_err(|e| e.to_string()))
        {
            Ok(rows) => rows,
            Err(why) => return Provisional::Unavailable(why),
        };
        let mut added = 0;
        for (ticker, bar) in rows {
            if let Some(bars) = series.get_mut(&ticker) {
                if bars.last().is_some_and(|b| b.date < session) {
                    bars.push(bar);
                    added += 1;
                }
            }
        }
        Provisional::Added(added)
    }

    fn entry_price(
        &self,
        symbol: &str,
        bars: &[Bar],
        session: NaiveDate,
    ) -> Option<(f64, Option<String>)> {
        let last = bars.last()?;
        if last.date == session {
            return Some((last.open, None));
        }
        Some(match self.latest_trade(symbol, session) {
            Ok(price) => (price, None),
            Err(why) => (last.close, Some(why)),
        })
    }

    fn latest_trade(&self, symbol: &str, session: NaiveDate) -> Result<f64, String> {
        let trade = self
            .client()?
            .last_trade(symbol)
            .map_err(|e| e.to_string())?;
        match trade {
            Some((price, at)) if at.with_timezone(&EXCHANGE_TZ).date_naive() == session => {
                Ok(price)
            }
            Some((_, at)) => Err(format!("its last trade is from {at}")),
            None => Err("no last trade".into()),
        }
    }

    fn premarket(
        &self,
        symbols: &[String],
        session: NaiveDate,
        since: DateTime<Utc>,
    ) -> Vec<Premarket> {
        let mut client = self.client().ok();
        // A trade from before today's pre-market (04:00 ET) is yesterday's price: using it
        // would report a gap of about zero, a silent OK.
        let opens = NaiveTime::from_hms_opt(4, 0, 0).expect("constant time");
        let premarket_opens = kobe_actors::schedule::et_instant(session, opens);
        symbols
            .iter()
            .map(|symbol| {
                let mut note = None;
                let price = match client.as_mut().map(|c| c.last_trade(symbol)) {
                    Some(Ok(Some((price, at)))) if at >= premarket_opens => Some(price),
                    Some(Ok(Some((_, at)))) => {
                        note = Some(format!(
                            "price unchecked (last trade {at} is before the pre-market)"
                        ));
                        None
                    }
                    Some(Ok(None)) | None => None,
                    Some(Err(e)) => {
                        note = Some(format!("price unchecked ({e})"));
                        None
                    }
                };
                let news = match client.as_mut() {
                    None => "unchecked (no POLYGON_API_KEY)".to_string(),
                    Some(c) => match c.news(symbol, since) {
                        Ok(titles) if titles.is_empty() => "no news in the last 24 h".to_string(),
                        Ok(titles) => format!(
                            "{} articles in the last 24 h; latest: {}",
                            titles.len(),
                            titles[0]
                        ),
                        Err(e) => format!("unchecked ({e})"),
                    },
                };
                Premarket { price, note, news }
            })
            .collect()
    }

    fn price_source(&self) -> &'static str {
        if self.key.is_some() {
            "polygon_last_trade"
        } else {
            "unavailable (no POLYGON_API_KEY)"
        }
    }
}

/// How far back the pre-market news check looks.
pub const NEWS_WINDOW: TimeDelta = TimeDelta::hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(day: u32, open: f64, close: f64) -> Bar {
        Bar {
            date: NaiveDate::from_ymd_opt(2018, 2, day).unwrap(),
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1e6,
        }
    }

    #[test]
    fn history_fills_entries_at_the_sessions_open_else_the_last_close() {
        let history = History {
            store: BarStore::new(std::path::Path::new("/nonexistent")),
        };
        let day = |d| NaiveDate::from_ymd_opt(2018, 2, d).unwrap();
        let bars = [bar(5, 10.0, 11.0), bar(6, 12.0, 13.0)];
        assert_eq!(history.entry_price("X", &bars, day(6)), Some((12.0, None)));
        assert_eq!(history.entry_price("X", &bars, day(7)), Some((13.0, None)));
        assert_eq!(history.entry_price("X", &[], day(7)), None);
        let mut series = Series::from([("X".to_string(), bars.to_vec())]);
        assert_eq!(
            history.add_provisional_bars(&mut series, day(7)),
            Provisional::NotKept
        );
        assert!(!history.intraday());
    }

    #[test]
    fn polygon_without_a_key_says_so_and_prices_at_the_last_close() {
        let now = Polygon {
            key: None,
            settings: PolygonSettings::default(),
        };
        let day = NaiveDate::from_ymd_opt(2018, 2, 7).unwrap();
        let bars = [bar(6, 12.0, 13.0)];
        assert_eq!(
            now.entry_price("X", &bars, day),
            Some((13.0, Some("no POLYGON_API_KEY".into())))
        );
        let mut series = Series::new();
        assert_eq!(
            now.add_provisional_bars(&mut series, day),
            Provisional::Unavailable("no POLYGON_API_KEY".into())
        );
        let since = DateTime::<Utc>::MIN_UTC;
        let quotes = now.premarket(&["X".to_string()], day, since);
        assert_eq!(quotes[0].price, None);
        assert_eq!(quotes[0].news, "unchecked (no POLYGON_API_KEY)");
        assert_eq!(now.price_source(), "unavailable (no POLYGON_API_KEY)");
    }
}
