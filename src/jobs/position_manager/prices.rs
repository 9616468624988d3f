//! The position manager's bars: the store's recent bars, read once a session (today's bar so
//! far and the latest trade come from the run's `MarketData`), and the paper account marked at
//! them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
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
