//! One POSITION_MANAGER cycle, stage by stage: bring the ledger up to the broker and reconcile,
//! protect what is open, take exits, close the day or check the day's loss, enter.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kobe_actors::job::{JobContext, JobError, JobOutput};
use kobe_actors::kill_switch;

use super::broker_sync::{self, CatchUp, Placed};
use super::prices::marked_equity;
use super::{exits, fail, PositionManager};
use crate::broker::{to_f64, Account, Broker};
use crate::data::bars::Bar;
use crate::data::market::{MarketData, Provisional};
use crate::domain::{DecisionReason, ExitReason, Side};
use crate::jobs::JobTag;
use crate::trading::{client_order_id, Decision, TradingLedger};

/// Bars by symbol.
pub(super) type Series = BTreeMap<String, Vec<Bar>>;

pub(super) struct Cycle<'a> {
    pub manager: &'a PositionManager,
    pub ctx: &'a JobContext,
    pub ledger: &'a TradingLedger,
    pub broker: &'a dyn Broker,
    /// The broker keeps its own book (Alpaca): its account, bracket legs and positions are
    /// read back and reconciled. The paper broker's book is the ledger itself.
    pub external: bool,
    /// When this cycle's orders and fills happen, on the runtime's clock.
    pub at: String,
    /// Where today's prices come from (and whether they move during the session).
    pub market: &'a dyn MarketData,
    /// What the slot's detail will say.
    pub notes: Vec<String>,
}

impl Cycle<'_> {
    fn session(&self) -> NaiveDate {
        self.ctx.session
    }

    pub fn finish(self) -> JobOutput {
        JobOutput::ok(self.notes.join("; "))
    }

    /// Records a decision, then sends its order (adopting one the broker already has).
    fn decide(&self, d: Decision) -> Result<(), JobError> {
        self.ledger.record_decision(&d, &self.at).map_err(fail)?;
        crate::failpoint::point("after_decision");
        let placed = broker_sync::place(self.ledger, self.broker, &d, &self.at).map_err(fail)?;
        crate::failpoint::point("after_fill");
        let what = format!(
            "{} {} {} x{} @ {:.2} ({})",
            d.side, d.symbol, d.strategy, d.qty, d.price_ref, d.reason
        );
        match placed {
            Placed::Sent(order) => self
                .manager
                .app
                .notifier
                .send(format!("kobe {what}: {}", order.status)),
            Placed::Refused(why) => {
                tracing::warn!(order = %d.client_order_id, %why, "order refused");
                self.manager
                    .app
                    .notifier
                    .send(format!("kobe {what}: REFUSED: {why}"));
            }
            Placed::NothingToClose => {}
        }
        Ok(())
    }

    /// What earlier cycles left open (unsent decisions, unfilled orders, bracket legs), then
    /// the reconciliation: what the ledger holds must be what the broker holds, or nothing
    /// more is traded until a person looks. `day_over`: cancel entries still open.
    pub fn reconcile(&mut self, day_over: bool) -> Result<CatchUp, JobError> {
        let legs = self.external;
        let (ledger, broker, ctx, at) = (self.ledger, self.broker, self.ctx, self.at.clone());
        let catch_up = || {
            let allowed = ctx.entries_allowed();
            broker_sync::catch_up(ledger, broker, ctx.session, &at, legs, allowed, day_over)
                .map_err(fail)
        };
        let mut caught = catch_up()?;
        for note in &caught.notes {
            tracing::warn!(%note, "a decision left unsent");
        }
        self.notes.extend(caught.notes.iter().cloned());
        // A leg may fill between the two reads: read once more before acting. (The paper
        // broker keeps its book in the ledger itself: nothing to compare.)
        let mut differences = if legs {
            broker_sync::differences(self.ledger, self.broker, &caught.legs_filling)
                .map_err(fail)?
        } else {
            Vec::new()
        };
        if !differences.is_empty() {
            let again = catch_up()?;
            caught.fills += again.fills;
            caught.leg_exits += again.leg_exits;
            differences = broker_sync::differences(self.ledger, self.broker, &again.legs_filling)
                .map_err(fail)?;
        }
        for id in &caught.unknown {
            differences.push(format!("order {id}: in the ledger, unknown to the broker"));
        }
        if caught.placed + caught.fills + caught.leg_exits > 0 {
            // A log line, not the detail: the slot's record must not depend on a crash.
            tracing::info!(
                placed = caught.placed,
                fills = caught.fills,
                leg_exits = caught.leg_exits,
                "ledger brought up to the broker"
            );
        }
        if !differences.is_empty() {
            let reason = format!("reconciliation: {}", differences.join("; "));
            let state = self.manager.app.home.state();
            kill_switch::engage(
                &state,
                &reason,
                JobTag::PositionManager.as_str(),
                self.ctx.clock.now(),
            )
            .map_err(fail)?;
            return Err(JobError::Recoverable(format!(
                "{reason}: kill switch engaged"
            )));
        }
        Ok(caught)
    }

    /// Alpaca's account, its cash mirrored into the ledger (fees, dividends and transfers
    /// happen there); `None` on the paper broker.
    pub fn account(&self) -> Result<Option<Account>, JobError> {
        if !self.external {
            return Ok(None);
        }
        let account = self.broker.account().map_err(fail)?;
        self.ledger.set_cash(to_f64(account.cash)).map_err(fail)?;
        Ok(Some(account))
    }

    /// A position whose stop the broker no longer holds gets it back, kill switch or not:
    /// protecting what is open is managing it. Once a session; if the broker refuses and the
    /// price is already through the stop, the stop has been hit: close at market.
    pub fn protect(&mut self, unprotected: &[String]) -> Result<(), JobError> {
        if unprotected.is_empty() {
            return Ok(());
        }
        let session = self.session();
        let positions = self.ledger.positions().map_err(fail)?;
        for pos in positions.iter().filter(|p| unprotected.contains(&p.symbol)) {
            let symbol = &pos.symbol;
            let Some(stop) = pos.stop else { continue };
            let id = client_order_id(session, pos.strategy, &pos.symbol, "stop");
            if self.ledger.has_decision(&id).map_err(fail)? {
                self.notes.push(format!(
                    "{symbol} has no stop at the broker (re-armed once today already): check it"
                ));
                self.manager
                    .app
                    .notifier
                    .send(format!("kobe: {symbol} has no stop at the broker"));
                continue;
            }
            // The position's exit, resting at the broker until the price trades at its stop.
            let close = Decision::exit(pos, session, stop, ExitReason::Stop);
            let rearm = Decision {
                client_order_id: id,
                trigger: Some(stop),
                ..close.clone()
            };
            self.ledger
                .record_decision(&rearm, &self.at)
                .map_err(fail)?;
            match broker_sync::place(self.ledger, self.broker, &rearm, &self.at) {
                Ok(Placed::Sent(_)) => self.notes.push(format!(
                    "{symbol}: its stop was gone at the broker, re-armed at {stop:.2}"
                )),
                Ok(Placed::NothingToClose) => {}
                Ok(Placed::Refused(why)) => {
                    let through = self
                        .market
                        .latest_trade(symbol, session)
                        .is_ok_and(|price| price <= stop);
                    let taken = self
                        .ledger
                        .has_decision(&close.client_order_id)
                        .map_err(fail)?;
                    if through && !taken {
                        self.decide(close)?;
                        self.notes.push(format!(
                            "{symbol}: below its stop {stop:.2}, closed at market"
                        ));
                    } else {
                        self.notes
                            .push(format!("{symbol}: re-arming its stop was refused ({why})"));
                        self.manager
                            .app
                            .notifier
                            .send(format!("kobe: {symbol} has no stop at the broker ({why})"));
                    }
                }
                Err(e) => self
                    .notes
                    .push(format!("{symbol}: stop not re-armed yet ({e})")),
            }
        }
        Ok(())
    }

    /// The open positions' bars up to today: on daily bars the final bar, visible at the
    /// close; intraday, today's bar so far (Polygon's snapshot) while the store has none.
    pub fn prices(&mut self) -> Result<Series, JobError> {
        let session = self.session();
        let positions = self.ledger.positions().map_err(fail)?;
        if positions.is_empty() {
            return Ok(Series::new());
        }
        let symbols: Vec<String> = positions.iter().map(|p| p.symbol.clone()).collect();
        let mut series = self.manager.bars(&symbols, session);
        let has_today = series
            .values()
            .all(|b| b.last().is_some_and(|b| b.date == session));
        if has_today {
            return Ok(series);
        }
        if let Provisional::Unavailable(why) =
            self.market.add_provisional_bars(&mut series, session)
        {
            self.notes.push(format!(
                "no price for today ({why}): only time stops judged"
            ));
        }
        Ok(series)
    }

    /// Exits on `series`: the bracket where kobe holds it (`bracket`), the strategy's exits
    /// and time stops where due (`strategy`).
    pub fn take_exits(
        &mut self,
        series: &Series,
        bracket: bool,
        strategy: bool,
    ) -> Result<(), JobError> {
        let session = self.session();
        for pos in self.ledger.positions().map_err(fail)? {
            let bars = series.get(&pos.symbol).cloned().unwrap_or_default();
            let exit = bracket
                .then(|| exits::bracket_exit(&pos, &bars, session))
                .flatten()
                .or_else(|| {
                    strategy
                        .then(|| exits::strategy_exit(&pos, &bars, session, self.market.intraday()))
                        .flatten()
                });
            let Some((price, reason)) = exit else {
                continue;
            };
            let exit = Decision::exit(&pos, session, price, reason);
            if !self
                .ledger
                .has_decision(&exit.client_order_id)
                .map_err(fail)?
            {
                self.decide(exit)?;
            }
        }
        Ok(())
    }

    /// The session's exit decisions, as the ledger holds them ("none" when there are none).
    pub fn exits_today(&self) -> Result<String, JobError> {
        let exits: Vec<String> = self
            .ledger
            .decisions_on(self.session(), Side::Sell)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, _, price, reason)| format!("{symbol} {reason} @ {price:.2}"))
            .collect();
        Ok(if exits.is_empty() {
            "none".into()
        } else {
            exits.join(", ")
        })
    }

    /// The close tick: the day's equity recorded — the broker's own figures on Alpaca, the
    /// session's closes on the paper broker — and the day's loss checked.
    pub fn close_the_day(
        mut self,
        account: Option<&Account>,
        series: &Series,
    ) -> Result<JobOutput, JobError> {
        let (cash, equity) = match account {
            Some(a) => (to_f64(a.cash), to_f64(a.equity)),
            None => marked_equity(self.ledger, series)?,
        };
        self.ledger
            .record_equity(self.session(), cash, equity)
            .map_err(fail)?;
        let start = self.start_of_day_equity(account)?;
        // The detail says what the ledger holds, not what this run did: a run re-done after a
        // crash records the same line.
        let exits = self.exits_today()?;
        self.notes
            .push(format!("close: exits today {exits}; equity {equity:.2}"));
        self.check_daily_loss(equity, start)?;
        Ok(self.finish())
    }

    /// During the day, wherever a current equity is known (the broker's own, or live on the
    /// paper broker the positions at today's prices so far): whether the day's loss is past
    /// its limit.
    pub fn daily_loss_now(
        &mut self,
        account: Option<&Account>,
        series: &Series,
    ) -> Result<bool, JobError> {
        let equity = match account {
            Some(a) => to_f64(a.equity),
            None if self.market.intraday() && !series.is_empty() => {
                marked_equity(self.ledger, series)?.1
            }
            None => return Ok(false),
        };
        let start = self.start_of_day_equity(account)?;
        self.check_daily_loss(equity, start)
    }

    /// The equity the session started with: on Alpaca the broker's own figure for the
    /// previous close; else the ledger's last recorded close, or the starting cash of a new
    /// account.
    fn start_of_day_equity(&self, account: Option<&Account>) -> Result<f64, JobError> {
        if let Some(last) = account.and_then(|a| a.last_equity.or(Some(a.equity))) {
            return Ok(to_f64(last));
        }
        Ok(self
            .ledger
            .equity_before(self.session())
            .map_err(fail)?
            .unwrap_or(self.manager.app.config.trading.starting_equity))
    }

    /// A day's loss beyond the limit engages the kill switch (reason `daily_loss`), once.
    /// Returns whether the limit is breached.
    fn check_daily_loss(&mut self, equity: f64, start: f64) -> Result<bool, JobError> {
        let limit = self.manager.app.config.trading.daily_loss_limit;
        if equity >= start * (1.0 - limit) {
            return Ok(false);
        }
        self.notes
            .push("daily loss limit reached: kill switch on".into());
        if !self
            .ctx
            .kill_switch
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            let reason = format!(
                "daily_loss: equity {equity:.2} is more than {:.1}% below {start:.2}",
                limit * 100.0
            );
            let state = self.manager.app.home.state();
            kill_switch::engage(
                &state,
                &reason,
                JobTag::PositionManager.as_str(),
                self.ctx.clock.now(),
            )
            .map_err(fail)?;
        }
        Ok(true)
    }

    /// Entries inside the entry windows, from the validated watchlist and the scans'
    /// hand-offs, within DESIGN §8's limits; never while the kill switch is on or the
    /// broker's account cannot trade.
    pub fn enter(mut self, account: Option<&Account>) -> Result<JobOutput, JobError> {
        let trading = &self.manager.app.config.trading;
        let session = self.session();
        let ledger = self.ledger;
        let windows = trading.windows().map_err(JobError::Recoverable)?;
        let t = self.ctx.slot.time();
        if !windows.iter().any(|(from, to)| *from <= t && t <= *to) {
            self.notes
                .push("outside the entry windows: managing only".into());
            return Ok(self.finish());
        }
        if !self.ctx.entries_allowed() {
            self.notes
                .push("kill switch on: no entries, managing only".into());
            return Ok(self.finish());
        }
        if let Some(why) = account.and_then(|a| a.blocked.clone()) {
            self.notes.push(format!("{why}: no entries, managing only"));
            return Ok(self.finish());
        }
        let mut entered_today: Vec<String> = ledger
            .decisions_on(session, Side::Buy)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, ..)| symbol)
            .collect();
        // A symbol exited today is not entered again today (its exit's order id is taken).
        let exited_today = ledger.exited_on(session).map_err(fail)?;
        // Held, or being bought: an entry accepted but not yet filled counts as open.
        let mut open: Vec<String> = ledger
            .positions()
            .map_err(fail)?
            .into_iter()
            .map(|p| p.symbol)
            .chain(
                ledger
                    .pending_orders()
                    .map_err(fail)?
                    .into_iter()
                    .filter(|p| p.side == Side::Buy)
                    .map(|p| p.symbol),
            )
            .collect();
        open.sort();
        open.dedup();
        let start_equity = self.start_of_day_equity(account)?;
        let candidates = self.manager.candidates(session);
        let symbols: Vec<String> = candidates.iter().map(|c| c.symbol.clone()).collect();
        let series = self.manager.bars(&symbols, session);
        for c in candidates {
            if entered_today.len() >= trading.max_entries_per_session
                || open.len() >= trading.max_open_positions
            {
                break;
            }
            if open.contains(&c.symbol)
                || entered_today.contains(&c.symbol)
                || exited_today.contains(&c.symbol)
            {
                continue;
            }
            let bars = series.get(&c.symbol).map(Vec::as_slice).unwrap_or_default();
            // Entries fill at the session's open in the market model; live, at the latest
            // trade (Polygon's snapshot), else the last close known.
            let Some((price, note)) = self.market.entry_price(&c.symbol, bars, session) else {
                continue;
            };
            self.notes.extend(note);
            if price <= c.stop || c.target.is_some_and(|t| price >= t) {
                continue; // opened through its stop or past its target: nothing left to trade
            }
            let limit = trading.entry_limit.map(|x| price * (1.0 + x));
            let worst = limit.unwrap_or(price);
            let by_risk = start_equity * trading.risk_per_trade / (worst - c.stop);
            let by_notional = start_equity * trading.max_notional / worst;
            let cash = ledger.cash().map_err(fail)?;
            let qty = by_risk.min(by_notional).min(cash / worst).floor() as i64;
            if qty < 1 {
                continue;
            }
            // The switch may have been engaged since the run started: look again right before.
            if !self.ctx.entries_allowed() {
                self.notes
                    .push("kill switch engaged mid-run: entries stopped".into());
                break;
            }
            self.decide(Decision {
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
            })?;
            entered_today.push(c.symbol.clone());
            open.push(c.symbol.clone());
        }
        let today: Vec<String> = ledger
            .decisions_on(session, Side::Buy)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, qty, price, _)| format!("{symbol} x{qty} @ {price:.2}"))
            .collect();
        self.notes.push(format!(
            "entries today: {}; {} open",
            if today.is_empty() {
                "none".into()
            } else {
                today.join(", ")
            },
            open.len()
        ));
        Ok(self.finish())
    }
}
