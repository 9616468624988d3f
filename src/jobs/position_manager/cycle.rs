//! One POSITION_MANAGER cycle, stage by stage: bring the ledger up to the broker and reconcile,
//! protect what is open, take exits, close the day or check the day's loss, enter.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kobe_actors::job::{JobContext, JobError};
use kobe_actors::kill_switch;

use super::broker_sync::{self, CatchUp, Placed};
use super::outcome::{CycleOutcome, ExitLine, Note, Refusal};
use super::prices::marked_equity;
use super::{exits, fail, PositionManager};
use crate::broker::{to_f64, Account, Broker};
use crate::data::bars::Bar;
use crate::data::market::{MarketData, Provisional};
use crate::domain::{ExitReason, Side};
use crate::jobs::JobTag;
use crate::metrics::OrderResult;
use crate::trading::{client_order_id, Decision, TradingLedger};

/// Bars by symbol.
pub(super) type Series = BTreeMap<String, Vec<Bar>>;

pub(super) struct Cycle<'a> {
    pub manager: &'a PositionManager,
    pub ctx: &'a JobContext,
    pub ledger: &'a TradingLedger,
    pub broker: &'a dyn Broker,
    /// When this cycle's orders and fills happen, on the runtime's clock.
    pub at: String,
    /// Where today's prices come from (and whether they move during the session).
    pub market: &'a dyn MarketData,
    /// What the slot's detail will say.
    pub notes: Vec<Note>,
    /// Orders the broker refused this cycle.
    pub refusals: Vec<Refusal>,
}

impl Cycle<'_> {
    pub(super) fn session(&self) -> NaiveDate {
        self.ctx.session
    }

    pub fn finish(self) -> CycleOutcome {
        CycleOutcome {
            notes: self.notes,
            refusals: self.refusals,
        }
    }

    /// Records a decision, then sends its order (adopting one the broker already has).
    pub(super) fn decide(&mut self, d: Decision) -> Result<(), JobError> {
        self.ledger.record_decision(&d, &self.at).map_err(fail)?;
        crate::failpoint::point("after_decision");
        let placed = broker_sync::place(self.ledger, self.broker, &d, &self.at).map_err(fail)?;
        crate::failpoint::point("after_fill");
        let what = format!(
            "{} {} {} x{} @ {:.2} ({})",
            d.side, d.symbol, d.strategy, d.qty, d.price_ref, d.reason
        );
        let orders = &self.manager.app.orders;
        match placed {
            Placed::Sent(order) => {
                orders.count(OrderResult::Accepted);
                self.manager
                    .app
                    .notifier
                    .send(format!("kobe {what}: {}", order.status))
            }
            Placed::Refused(why) => {
                orders.count(OrderResult::Refused);
                tracing::warn!(order = %d.client_order_id, %why, "order refused");
                self.manager
                    .app
                    .notifier
                    .send(format!("kobe {what}: REFUSED: {why}"));
                self.refusals.push(Refusal {
                    client_order_id: d.client_order_id.clone(),
                    symbol: d.symbol.clone(),
                    qty: d.qty,
                    why,
                });
            }
            Placed::NothingToClose => orders.count(OrderResult::NothingToClose),
        }
        Ok(())
    }

    /// What earlier cycles left open (unsent decisions, unfilled orders, bracket legs), then
    /// the reconciliation: what the ledger holds must be what the broker holds, or nothing
    /// more is traded until a person looks. `day_over`: cancel entries still open.
    pub fn reconcile(&mut self, day_over: bool) -> Result<CatchUp, JobError> {
        // A broker with its own book has legs to read back and positions to compare.
        let legs = self.broker.keeps_own_book();
        let (ledger, broker, ctx, at) = (self.ledger, self.broker, self.ctx, self.at.clone());
        let catch_up = || {
            let allowed = ctx.entries_allowed();
            broker_sync::catch_up(ledger, broker, ctx.session, &at, legs, allowed, day_over)
                .map_err(fail)
        };
        let mut caught = catch_up()?;
        for note in &caught.notes {
            tracing::warn!(%note, "catching up with the broker");
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
            self.engage_kill_switch(&reason)?;
            return Err(JobError::Recoverable(format!(
                "{reason}: kill switch engaged"
            )));
        }
        Ok(caught)
    }

    /// Engages the kill switch in the manager's name: no entry goes out until a person looks.
    pub(super) fn engage_kill_switch(&self, reason: &str) -> Result<(), JobError> {
        let state = self.manager.app.home.state();
        let by = JobTag::PositionManager.as_str();
        // Nothing may be traded on without the switch's file: a storage failure.
        kill_switch::engage(&state, reason, by, self.ctx.clock.now())
            .map_err(|e| JobError::Storage(format!("state/KILL_SWITCH: {e}")))
    }

    /// Alpaca's account, its cash mirrored into the ledger (fees, dividends and transfers
    /// happen there); `None` on the paper broker.
    pub fn account(&self) -> Result<Option<Account>, JobError> {
        if !self.broker.keeps_own_book() {
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
                self.notes.push(Note::StopStillMissing {
                    symbol: symbol.clone(),
                });
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
                Ok(Placed::Sent(_)) => self.notes.push(Note::StopRearmed {
                    symbol: symbol.clone(),
                    stop,
                }),
                Ok(Placed::NothingToClose) => {}
                Ok(Placed::Refused(why)) => {
                    self.refusals.push(Refusal {
                        client_order_id: rearm.client_order_id.clone(),
                        symbol: symbol.clone(),
                        qty: rearm.qty,
                        why: why.clone(),
                    });
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
                        self.notes.push(Note::ClosedThroughStop {
                            symbol: symbol.clone(),
                            stop,
                        });
                    } else {
                        self.notes.push(Note::RearmRefused {
                            symbol: symbol.clone(),
                            why: why.clone(),
                        });
                        self.manager
                            .app
                            .notifier
                            .send(format!("kobe: {symbol} has no stop at the broker ({why})"));
                    }
                }
                Err(e) => self.notes.push(Note::RearmNotYet {
                    symbol: symbol.clone(),
                    why: e.to_string(),
                }),
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
            self.notes.push(Note::NoPriceToday { why });
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

    /// The session's exit decisions, as the ledger holds them.
    pub fn exits_today(&self) -> Result<Vec<ExitLine>, JobError> {
        Ok(self
            .ledger
            .decisions_on(self.session(), Side::Sell)
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, _, price, reason)| ExitLine {
                symbol,
                reason,
                price,
            })
            .collect())
    }

    /// The close tick: the day's equity recorded — the broker's own figures on Alpaca, the
    /// session's closes on the paper broker — and the day's loss checked.
    pub fn close_the_day(
        mut self,
        account: Option<&Account>,
        series: &Series,
    ) -> Result<CycleOutcome, JobError> {
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
        self.notes.push(Note::DayClosed { exits, equity });
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
    pub(super) fn start_of_day_equity(&self, account: Option<&Account>) -> Result<f64, JobError> {
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
        if !(equity.is_finite() && start.is_finite()) {
            // An equity that is not a number can breach nothing and prove nothing: no entries
            // until a person looks.
            let reason = format!("non-finite equity {equity} (start of day {start})");
            if !self
                .ctx
                .kill_switch
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                self.engage_kill_switch(&reason)?;
            }
            self.notes.push(Note::EquityNotANumber { equity });
            return Ok(true);
        }
        let limit = self.manager.app.config.trading.daily_loss_limit;
        if equity >= start * (1.0 - limit) {
            return Ok(false);
        }
        self.notes.push(Note::DailyLossLimit);
        if !self
            .ctx
            .kill_switch
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            let reason = format!(
                "daily_loss: equity {equity:.2} is more than {:.1}% below {start:.2}",
                limit * 100.0
            );
            self.engage_kill_switch(&reason)?;
        }
        Ok(true)
    }
}
