//! The cycle's last stage: entries inside the entry windows, from the validated watchlist and
//! the scans' hand-offs, within DESIGN §8's limits — never while the kill switch is on or the
//! broker's account cannot trade.

use kobe_actors::job::JobError;

use super::candidates::Candidate;
use super::cycle::Cycle;
use super::fail;
use super::outcome::{CycleOutcome, EntryLine, ManagingOnly, Note};
use crate::broker::{to_f64, Account};
use crate::config::TradingSection;
use crate::data::bars::Bar;
use crate::domain::{DecisionReason, Side};
use crate::trading::{client_order_id, Decision};

/// What today's book already holds, for the limits: symbols entered and exited today, and
/// symbols held or being bought (an entry accepted but not yet filled counts as open).
struct Today {
    entered: Vec<String>,
    exited: Vec<String>,
    open: Vec<String>,
}

impl Today {
    fn full(&self, trading: &TradingSection) -> bool {
        self.entered.len() >= trading.max_entries_per_session
            || self.open.len() >= trading.max_open_positions
    }

    /// Held, entered, or exited today (its exit's order id is taken): not entered again.
    fn taken(&self, symbol: &String) -> bool {
        self.open.contains(symbol) || self.entered.contains(symbol) || self.exited.contains(symbol)
    }
}

/// The most shares one order may carry: far above any real order, far below where share
/// arithmetic in `f64` stops being exact.
const MAX_SHARES: f64 = 1e9;

/// A size in whole shares: at least one, finite, and within `MAX_SHARES`.
fn whole_shares(size: f64) -> Option<i64> {
    let shares = size.floor();
    (shares.is_finite() && (1.0..=MAX_SHARES).contains(&shares)).then_some(shares as i64)
}

impl Cycle<'_> {
    pub fn enter(mut self, account: Option<&Account>) -> Result<CycleOutcome, JobError> {
        if let Some(why) = self.why_managing_only(account)? {
            self.notes.push(Note::ManagingOnly(why));
            return Ok(self.finish());
        }
        let session = self.session();
        let mut today = self.today()?;
        let trading = &self.manager.app.config.trading;
        // A full day (most cycles once the morning's entries are in) reads no candidates.
        if !today.full(trading) {
            self.enter_candidates(&mut today, account)?;
        }
        // What the broker refused is not an entry: it is listed apart, with the broker's words.
        let entries = self
            .ledger
            .entries_taken_on(session)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, qty, price)| EntryLine { symbol, qty, price })
            .collect();
        self.notes.push(Note::EntriesToday {
            entries,
            open: today.open.len(),
        });
        Ok(self.finish())
    }

    /// The candidates, best first, entered until the day is full.
    fn enter_candidates(
        &mut self,
        today: &mut Today,
        account: Option<&Account>,
    ) -> Result<(), JobError> {
        let session = self.session();
        let trading = &self.manager.app.config.trading;
        let start_equity = self.start_of_day_equity(account)?;
        let (candidates, unreadable) = self.manager.candidates(session);
        for why in unreadable {
            tracing::error!(%why, "entry candidates not read");
            self.notes.push(Note::CandidatesUnreadable { why });
        }
        let symbols: Vec<String> = candidates.iter().map(|c| c.symbol.clone()).collect();
        let series = self.manager.bars(&symbols, session);
        // What the broker says the account can buy (a margin account's cash may be negative),
        // less what this cycle has committed; else the ledger's cash, read per candidate.
        let buying_power = account.and_then(|a| a.buying_power).map(to_f64);
        let mut committed = 0.0;
        for c in candidates {
            if today.full(trading) {
                break;
            }
            if today.taken(&c.symbol) {
                continue;
            }
            let bars = series.get(&c.symbol).map(Vec::as_slice).unwrap_or_default();
            let spendable = buying_power.map(|b| b - committed);
            let Some(decision) = self.entry(&c, bars, start_equity, spendable)? else {
                continue;
            };
            // The switch may have been engaged since the run started: look again right before.
            if !self.ctx.entries_allowed() {
                self.notes.push(Note::KillSwitchMidRun);
                break;
            }
            committed += decision.qty as f64 * decision.limit.unwrap_or(decision.price_ref);
            self.decide(decision)?;
            today.entered.push(c.symbol.clone());
            today.open.push(c.symbol);
        }
        Ok(())
    }

    /// Why this cycle makes no entries at all, if so.
    fn why_managing_only(
        &self,
        account: Option<&Account>,
    ) -> Result<Option<ManagingOnly>, JobError> {
        let windows = self
            .manager
            .app
            .config
            .trading
            .windows()
            .map_err(JobError::Recoverable)?;
        let t = self.ctx.slot.time();
        Ok(
            if !windows.iter().any(|(from, to)| *from <= t && t <= *to) {
                Some(ManagingOnly::OutsideWindows)
            } else if !self.ctx.entries_allowed() {
                Some(ManagingOnly::KillSwitch)
            } else {
                account
                    .and_then(|a| a.blocked.clone())
                    .map(ManagingOnly::AccountBlocked)
            },
        )
    }

    fn today(&self) -> Result<Today, JobError> {
        let (ledger, session) = (self.ledger, self.session());
        let entered = ledger
            .decisions_on(session, Side::Buy)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, ..)| symbol)
            .collect();
        let exited = ledger.exited_on(session).map_err(fail)?;
        let pending = ledger.pending_orders().map_err(fail)?;
        let mut open: Vec<String> = ledger
            .positions()
            .map_err(fail)?
            .into_iter()
            .map(|p| p.symbol)
            .chain(
                pending
                    .into_iter()
                    .filter(|p| p.side == Side::Buy)
                    .map(|p| p.symbol),
            )
            .collect();
        open.sort();
        open.dedup();
        Ok(Today {
            entered,
            exited,
            open,
        })
    }

    /// The entry decision for a candidate, priced by the market data and sized by the risk and
    /// notional limits and by what the account can spend (`spendable`, the broker's buying
    /// power; else the ledger's cash); `None` when there is nothing to trade.
    fn entry(
        &mut self,
        c: &Candidate,
        bars: &[Bar],
        start_equity: f64,
        spendable: Option<f64>,
    ) -> Result<Option<Decision>, JobError> {
        let session = self.session();
        // Entries fill at the session's open in the market model; live, at the latest trade
        // (Polygon's snapshot), else the last close known.
        let Some((price, why_last_close)) = self.market.entry_price(&c.symbol, bars, session)
        else {
            return Ok(None);
        };
        if let Some(why) = why_last_close {
            self.notes.push(Note::PricedAtLastClose {
                symbol: c.symbol.clone(),
                why,
            });
        }
        if price <= c.stop || c.target.is_some_and(|t| price >= t) {
            return Ok(None); // opened through its stop or past its target: nothing to trade
        }
        let trading = &self.manager.app.config.trading;
        let limit = trading.entry_limit.map(|x| price * (1.0 + x));
        let worst = limit.unwrap_or(price);
        let cash = match spendable {
            Some(money) => money,
            None => self.ledger.cash().map_err(fail)?,
        };
        // Prices, equity and cash must be real numbers before any size is worked out: one
        // that is not stops entries for a person to look (a bad bar, a broken account).
        for (what, value) in [
            ("price", worst),
            ("stop", c.stop),
            ("equity", start_equity),
            ("cash", cash),
        ] {
            if !value.is_finite() {
                let reason = format!("non-finite {what} {value} for {}", c.symbol);
                self.engage_kill_switch(&reason)?;
                return Err(JobError::Recoverable(format!(
                    "{reason}: kill switch engaged"
                )));
            }
        }
        let by_risk = start_equity * trading.risk_per_trade / (worst - c.stop);
        let by_notional = start_equity * trading.max_notional / worst;
        let Some(qty) = whole_shares(by_risk.min(by_notional).min(cash / worst)) else {
            // The limits allowed a share the money does not: say so, with the figures.
            if whole_shares(by_risk.min(by_notional)).is_some() {
                self.notes.push(Note::NoMoney {
                    symbol: c.symbol.clone(),
                    money: cash,
                    price: worst,
                });
            }
            return Ok(None);
        };
        Ok(Some(Decision {
            client_order_id: client_order_id(session, c.strategy, &c.symbol, "buy"),
            session,
            strategy: c.strategy,
            symbol: c.symbol.clone(),
            side: Side::Buy,
            qty,
            price_ref: price,
            stop: Some(c.stop),
            target: c.target,
            limit,
            trigger: None,
            reason: DecisionReason::Entry(c.source),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_whole_finite_and_bounded() {
        assert_eq!(whole_shares(61.9), Some(61));
        assert_eq!(whole_shares(0.99), None);
        for absurd in [f64::NAN, f64::INFINITY, 9.3e18, 1e20, -5.0] {
            assert_eq!(whole_shares(absurd), None, "{absurd}");
        }
        assert_eq!(whole_shares(MAX_SHARES), Some(1_000_000_000));
    }
}
