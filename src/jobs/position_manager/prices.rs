//! Where the position manager's prices come from: the store's recent bars (read once a
//! session), today's bar so far and the latest trade from Polygon's snapshots (live), and the
//! paper account marked at them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::job::JobError;

use super::{fail, PositionManager};
use crate::data::bars::Bar;
use crate::trading::TradingLedger;

impl PositionManager {
    /// The recent bars (up to `session`) of `symbols`, read from the store's snapshot once per
    /// session (live, the store only changes at DATA_UPDATE, before the first tick).
    pub(super) fn bars(
        &self,
        symbols: &[String],
        session: NaiveDate,
    ) -> BTreeMap<String, Vec<Bar>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.as_ref().is_none_or(|(day, _)| *day != session) {
            *cache = Some((session, BTreeMap::new()));
        }
        let (_, bars) = cache.as_mut().expect("just set");
        let missing: Vec<String> = symbols
            .iter()
            .filter(|s| !bars.contains_key(*s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let loaded = self
                .app
                .store()
                .load_window(Some(&missing), Some(crate::scan::window(session)))
                .series;
            for symbol in missing {
                let series = loaded.get(&symbol).cloned().unwrap_or_default();
                bars.insert(symbol, series);
            }
        }
        symbols
            .iter()
            .filter_map(|s| bars.get(s).map(|b| (s.clone(), b.clone())))
            .collect()
    }

    /// The session's provisional bars of `symbols` from Polygon's all-tickers snapshot,
    /// appended to the stored bars (live exits before the close, DESIGN §7's provisional bar).
    pub(super) fn with_provisional_bars(
        &self,
        mut series: BTreeMap<String, Vec<Bar>>,
        session: NaiveDate,
    ) -> Result<BTreeMap<String, Vec<Bar>>, String> {
        let rows = self
            .polygon()?
            .day_snapshot(session)
            .map_err(|e| e.to_string())?;
        for (ticker, bar) in rows {
            if let Some(bars) = series.get_mut(&ticker) {
                if bars.last().is_some_and(|b| b.date < session) {
                    bars.push(bar);
                }
            }
        }
        Ok(series)
    }

    /// A Polygon client for today's prices, if there is a key.
    fn polygon(&self) -> Result<crate::data::polygon::PolygonClient, String> {
        let key = self
            .app
            .secrets
            .get("POLYGON_API_KEY")
            .ok_or("no POLYGON_API_KEY")?;
        crate::data::polygon::PolygonClient::new(key, &self.app.config.polygon)
            .map_err(|e| e.to_string())
    }

    /// The latest trade of `symbol` today, from Polygon's ticker snapshot.
    pub(super) fn latest_trade(&self, symbol: &str, session: NaiveDate) -> Result<f64, String> {
        let trade = self
            .polygon()?
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
}

/// The paper account's (cash, equity), its positions marked at the last price of their bars.
pub(super) fn marked_equity(
    ledger: &TradingLedger,
    series: &BTreeMap<String, Vec<Bar>>,
) -> Result<(f64, f64), JobError> {
    let cash = ledger.cash().map_err(fail)?;
    let mut equity = cash;
    for pos in ledger.positions().map_err(fail)? {
        let last = series
            .get(&pos.symbol)
            .and_then(|b| b.last())
            .map_or(pos.entry_price, |b| b.close);
        equity += pos.qty as f64 * last;
    }
    Ok((cash, equity))
}
