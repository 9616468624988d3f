//! POSITION_MANAGER (every 15 minutes, to the close): brings the ledger up to the broker
//! (adopting what a dead run sent, reading fills and bracket legs back) and reconciles; takes
//! the strategy's exits and time stops (at the close tick on the embedded broker, which also
//! triggers its brackets there; live on Alpaca at the last cycle before the close, on the
//! provisional bar); records the day's equity; and inside the entry windows enters the
//! validated watchlist and the scans' hand-offs within the limits of DESIGN §8 — never while
//! the kill switch is on.

mod broker_sync;
mod candidates;
mod exits;
mod prices;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use kobe_actors::kill_switch;

use crate::app::App;
use crate::broker::alpaca::AlpacaClient;
use crate::broker::paper::PaperBroker;
use crate::broker::{to_f64, Broker};
use crate::config::BrokerKind;
use crate::data::bars::Bar;
use crate::trading::{client_order_id, Decision, TradingLedger};
pub use broker_sync::request;
use broker_sync::Placed;
use prices::marked_equity;

/// One session's bars by symbol.
type SessionBars = (NaiveDate, BTreeMap<String, Vec<Bar>>);

pub struct PositionManager {
    pub app: Arc<App>,
    /// The session's bars, read once: the manager runs 25 times a session on the same bars.
    cache: std::sync::Mutex<Option<SessionBars>>,
    /// The trading ledger, opened once (and again after an error): a replay runs the manager
    /// thousands of times.
    ledger: std::sync::Mutex<Option<TradingLedger>>,
}

impl PositionManager {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            cache: std::sync::Mutex::new(None),
            ledger: std::sync::Mutex::new(None),
        }
    }
}

fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::Recoverable(e.to_string())
}

impl PositionManager {
    /// A day's loss beyond the limit engages the kill switch (reason `daily_loss`), once.
    /// Returns whether the limit is breached.
    fn check_daily_loss(
        &self,
        ctx: &JobContext,
        equity: f64,
        start: f64,
        notes: &mut Vec<String>,
    ) -> Result<bool, JobError> {
        let limit = self.app.config.trading.daily_loss_limit;
        if equity >= start * (1.0 - limit) {
            return Ok(false);
        }
        notes.push("daily loss limit reached: kill switch on".into());
        if !ctx.kill_switch.load(std::sync::atomic::Ordering::SeqCst) {
            let reason = format!(
                "daily_loss: equity {equity:.2} is more than {:.1}% below {start:.2}",
                limit * 100.0
            );
            kill_switch::engage(
                &self.app.home.state(),
                &reason,
                "POSITION_MANAGER",
                ctx.clock.now(),
            )
            .map_err(fail)?;
        }
        Ok(true)
    }
}

impl Job for PositionManager {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let trading = &app.config.trading;
        let session = ctx.session;
        let Some(hours) = NyseCalendar.session(session) else {
            return Ok(JobOutput::skipped(
                "no_session",
                format!("{session} is not a session"),
            ));
        };
        let mut cached = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if cached.is_none() {
            *cached = Some(
                TradingLedger::open(&app.home.state(), trading.starting_equity, !app.replay)
                    .map_err(fail)?,
            );
        }
        let ledger = cached.as_ref().expect("just opened");
        let outcome = self.manage(ctx, hours, ledger);
        if outcome.is_err() {
            *cached = None;
        }
        outcome
    }
}

impl PositionManager {
    fn manage(
        &self,
        ctx: &JobContext,
        hours: kobe_actors::calendar::Session,
        ledger: &TradingLedger,
    ) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let trading = &app.config.trading;
        let session = ctx.session;
        let now = ctx.clock.now();
        let at = ctx.started.to_rfc3339();
        let kind = app.broker_kind();
        let paper = PaperBroker::new(ledger, at.clone());
        let alpaca: Option<AlpacaClient> = match kind {
            BrokerKind::Paper => None,
            BrokerKind::Alpaca => Some(app.alpaca().map_err(JobError::Recoverable)?),
        };
        let broker: &dyn Broker = match &alpaca {
            Some(client) => client,
            None => &paper,
        };
        let mut notes = Vec::new();

        // Judged by the slot, not by when the run got to start: a 15:45 run that starts late
        // is still the last cycle before the close.
        let close = hours.close_at().with_timezone(&Utc);
        let slot = ctx.slot.with_timezone(&Utc);
        let close_tick = slot >= close;
        // What earlier cycles left open: unsent decisions, unfilled orders, bracket legs.
        if kind == BrokerKind::Paper {
            paper.settle_pending().map_err(fail)?;
        }
        let legs = alpaca.is_some();
        // Entries are good till cancelled on Alpaca (so their legs outlive the day): what has
        // not filled by the close is cancelled then, keeping what did fill.
        let day_over = legs && close_tick;
        let catch_up = || {
            let allowed = ctx.entries_allowed();
            broker_sync::catch_up(ledger, broker, session, &at, legs, allowed, day_over)
                .map_err(fail)
        };
        let mut caught = catch_up()?;
        for note in &caught.notes {
            tracing::warn!(%note, "a decision left unsent");
        }
        notes.extend(caught.notes.iter().cloned());
        // Reconcile: what the ledger holds must be what the broker holds, or nothing more is
        // traded until a person looks. A leg may fill between the two reads: read once more.
        // (The paper broker keeps its book in the ledger itself: nothing to compare.)
        let mut differences = match &alpaca {
            Some(_) => {
                broker_sync::differences(ledger, broker, &caught.legs_filling).map_err(fail)?
            }
            None => Vec::new(),
        };
        if !differences.is_empty() {
            let again = catch_up()?;
            caught.fills += again.fills;
            caught.leg_exits += again.leg_exits;
            differences =
                broker_sync::differences(ledger, broker, &again.legs_filling).map_err(fail)?;
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
            kill_switch::engage(&app.home.state(), &reason, "POSITION_MANAGER", now)
                .map_err(fail)?;
            return Err(JobError::Recoverable(format!(
                "{reason}: kill switch engaged"
            )));
        }
        let account = match &alpaca {
            Some(client) => {
                let account = client.account_balances().map_err(fail)?;
                // The broker's cash is the truth (fees, dividends, transfers happen there).
                ledger.set_cash(to_f64(account.cash)).map_err(fail)?;
                Some(account)
            }
            None => None,
        };

        let decide = |d: Decision| -> Result<(), JobError> {
            ledger.record_decision(&d, &at).map_err(fail)?;
            crate::failpoint::point("after_decision");
            let placed = broker_sync::place(ledger, broker, &d, &at).map_err(fail)?;
            crate::failpoint::point("after_fill");
            let what = format!(
                "{} {} {} x{} @ {:.2} ({})",
                d.side, d.symbol, d.strategy, d.qty, d.price_ref, d.reason
            );
            match placed {
                Placed::Sent(order) => {
                    crate::notify::send(format!("kobe {what}: {}", order.status))
                }
                Placed::Refused(why) => {
                    tracing::warn!(order = %d.client_order_id, %why, "order refused");
                    crate::notify::send(format!("kobe {what}: REFUSED: {why}"));
                }
                Placed::NothingToClose => {}
            }
            Ok(())
        };

        // A position whose stop the broker no longer holds gets it back, kill switch or not:
        // protecting what is open is managing it.
        for symbol in &caught.unprotected {
            let Some(pos) = ledger
                .positions()
                .map_err(fail)?
                .into_iter()
                .find(|p| &p.symbol == symbol)
            else {
                continue;
            };
            let Some(stop) = pos.stop else { continue };
            let id = client_order_id(session, &pos.strategy, &pos.symbol, "stop");
            if ledger.has_decision(&id).map_err(fail)? {
                notes.push(format!(
                    "{symbol} has no stop at the broker (re-armed once today already): check it"
                ));
                crate::notify::send(format!("kobe: {symbol} has no stop at the broker"));
                continue;
            }
            let rearm = Decision {
                client_order_id: id,
                session,
                strategy: pos.strategy.clone(),
                symbol: pos.symbol.clone(),
                side: "sell".into(),
                qty: pos.qty,
                price_ref: stop,
                stop: None,
                target: None,
                limit: None,
                trigger: Some(stop),
                reason: "stop".into(),
            };
            ledger.record_decision(&rearm, &at).map_err(fail)?;
            match broker_sync::place(ledger, broker, &rearm, &at) {
                Ok(Placed::Sent(_)) => notes.push(format!(
                    "{symbol}: its stop was gone at the broker, re-armed at {stop:.2}"
                )),
                Ok(Placed::NothingToClose) => {}
                Ok(Placed::Refused(why)) => {
                    // Refused: most likely the price is already through the stop. If it is,
                    // the stop has been hit: close at market.
                    let through = self
                        .latest_trade(symbol, session)
                        .is_ok_and(|price| price <= stop);
                    let exit = client_order_id(session, &pos.strategy, symbol, "sell");
                    if through && !ledger.has_decision(&exit).map_err(fail)? {
                        decide(Decision {
                            client_order_id: exit,
                            trigger: None,
                            reason: "stop".into(),
                            ..rearm
                        })?;
                        notes.push(format!(
                            "{symbol}: below its stop {stop:.2}, closed at market"
                        ));
                    } else {
                        notes.push(format!("{symbol}: re-arming its stop was refused ({why})"));
                        crate::notify::send(format!(
                            "kobe: {symbol} has no stop at the broker ({why})"
                        ));
                    }
                }
                Err(e) => notes.push(format!("{symbol}: stop not re-armed yet ({e})")),
            }
        }
        let live = !app.replay;
        // Who judges what, when. The paper broker holds its brackets: in a replay it triggers
        // them on the final bar at the close tick (§7); live, every cycle on today's bar so far.
        // Strategy exits and time stops need the close: at the close tick on the paper broker,
        // which fills at the price its decision records; on Alpaca, an order sent at 16:00 would
        // wait for tomorrow's open, so they are taken at the last cycle before the close, on
        // today's provisional bar.
        let last_cycle = !close_tick && slot + chrono::Duration::minutes(15) >= close;
        let (judge_bracket, judge_strategy) = match kind {
            BrokerKind::Paper => (close_tick || live, close_tick),
            BrokerKind::Alpaca => (false, last_cycle),
        };
        let positions = ledger.positions().map_err(fail)?;
        // The positions' bars up to today: in a replay the final bar, visible at the close;
        // live, today's bar so far from Polygon's snapshot while the store has none.
        let series = if !positions.is_empty() && (judge_bracket || judge_strategy || close_tick) {
            let symbols: Vec<String> = positions.iter().map(|p| p.symbol.clone()).collect();
            let mut series = self.bars(&symbols, session);
            let has_today = |s: &BTreeMap<String, Vec<Bar>>| {
                s.values()
                    .all(|b| b.last().is_some_and(|b| b.date == session))
            };
            if live && !has_today(&series) {
                match self.with_provisional_bars(series.clone(), session) {
                    Ok(with_today) => series = with_today,
                    Err(why) => notes.push(format!(
                        "no price for today ({why}): only time stops judged"
                    )),
                }
            }
            series
        } else {
            BTreeMap::new()
        };
        if judge_bracket || judge_strategy {
            for pos in positions {
                let bars = series.get(&pos.symbol).cloned().unwrap_or_default();
                let exit = judge_bracket
                    .then(|| exits::bracket_exit(&pos, &bars, session))
                    .flatten()
                    .or_else(|| {
                        judge_strategy
                            .then(|| exits::strategy_exit(&pos, &bars, session, live))
                            .flatten()
                    });
                let Some((price, reason)) = exit else {
                    continue;
                };
                let id = client_order_id(session, &pos.strategy, &pos.symbol, "sell");
                if !ledger.has_decision(&id).map_err(fail)? {
                    decide(Decision {
                        client_order_id: id,
                        session,
                        strategy: pos.strategy.clone(),
                        symbol: pos.symbol.clone(),
                        side: "sell".into(),
                        qty: pos.qty,
                        price_ref: price,
                        stop: None,
                        target: None,
                        limit: None,
                        trigger: None,
                        reason: reason.into(),
                    })?;
                }
            }
        }
        if kind == BrokerKind::Alpaca && last_cycle {
            notes.push(format!("exits today {}", exits_today(ledger, session)?));
        }
        if close_tick {
            // Mark to the close and record the day's equity: the broker's own figures on
            // Alpaca, the session's closes on the embedded broker.
            let (cash, equity) = match &account {
                Some(a) => (to_f64(a.cash), to_f64(a.equity)),
                None => marked_equity(ledger, &series)?,
            };
            ledger.record_equity(session, cash, equity).map_err(fail)?;
            let start = start_of_day_equity(ledger, account.as_ref(), session, trading)?;
            // The detail says what the ledger holds, not what this run did: a run re-done after a
            // crash records the same line.
            notes.push(format!(
                "close: exits today {}; equity {equity:.2}",
                exits_today(ledger, session)?
            ));
            self.check_daily_loss(ctx, equity, start, &mut notes)?;
            return Ok(JobOutput::ok(notes.join("; ")));
        }
        // During the day too, wherever a current equity is known: the broker's own, or (live
        // on the paper broker) the positions at today's prices so far.
        let equity_now = match &account {
            Some(a) => Some(to_f64(a.equity)),
            None if live && !series.is_empty() => Some(marked_equity(ledger, &series)?.1),
            None => None,
        };
        if let Some(equity) = equity_now {
            let start = start_of_day_equity(ledger, account.as_ref(), session, trading)?;
            if self.check_daily_loss(ctx, equity, start, &mut notes)? {
                // The switch's flag follows the file a moment later: no entries this cycle.
                return Ok(JobOutput::ok(notes.join("; ")));
            }
        }

        let windows = trading.windows().map_err(JobError::Recoverable)?;
        let t = ctx.slot.time();
        if !windows.iter().any(|(from, to)| *from <= t && t <= *to) {
            notes.push("outside the entry windows: managing only".into());
            return Ok(JobOutput::ok(notes.join("; ")));
        }
        if !ctx.entries_allowed() {
            notes.push("kill switch on: no entries, managing only".into());
            return Ok(JobOutput::ok(notes.join("; ")));
        }
        if let Some(why) = account.as_ref().and_then(|a| a.blocked.clone()) {
            notes.push(format!("{why}: no entries, managing only"));
            return Ok(JobOutput::ok(notes.join("; ")));
        }
        let mut entered_today = ledger.entries_on(session).map_err(fail)?;
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
                    .filter(|p| p.side == "buy")
                    .map(|p| p.symbol),
            )
            .collect();
        open.sort();
        open.dedup();
        let start_equity = start_of_day_equity(ledger, account.as_ref(), session, trading)?;
        let candidates = self.candidates(session);
        let symbols: Vec<String> = candidates.iter().map(|c| c.symbol.clone()).collect();
        let series = self.bars(&symbols, session);
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
            let price = match bars.last() {
                Some(b) if b.date == session => b.open,
                Some(b) if live => match self.latest_trade(&c.symbol, session) {
                    Ok(price) => price,
                    Err(why) => {
                        notes.push(format!("{} priced at its last close ({why})", c.symbol));
                        b.close
                    }
                },
                Some(b) => b.close,
                None => continue,
            };
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
            if !ctx.entries_allowed() {
                notes.push("kill switch engaged mid-run: entries stopped".into());
                break;
            }
            decide(Decision {
                client_order_id: client_order_id(session, &c.strategy, &c.symbol, "buy"),
                session,
                strategy: c.strategy.clone(),
                symbol: c.symbol.clone(),
                side: "buy".into(),
                qty,
                price_ref: price,
                stop: Some(c.stop),
                target: c.target,
                limit,
                trigger: None,
                reason: format!("entry from the {}", c.source),
            })?;
            entered_today.push(c.symbol.clone());
            open.push(c.symbol.clone());
        }
        let today: Vec<String> = ledger
            .decisions_on(session, "buy")
            .map_err(fail)?
            .into_iter()
            .map(|(symbol, qty, price, _)| format!("{symbol} x{qty} @ {price:.2}"))
            .collect();
        notes.push(format!(
            "entries today: {}; {} open",
            if today.is_empty() {
                "none".into()
            } else {
                today.join(", ")
            },
            open.len()
        ));
        Ok(JobOutput::ok(notes.join("; ")))
    }
}

/// The equity the session started with: on Alpaca the broker's own figure for the previous
/// close; else the ledger's last recorded close, or the starting cash of a new account.
fn start_of_day_equity(
    ledger: &TradingLedger,
    account: Option<&crate::broker::Account>,
    session: NaiveDate,
    trading: &crate::config::TradingSection,
) -> Result<f64, JobError> {
    if let Some(last) = account.and_then(|a| a.last_equity.or(Some(a.equity))) {
        return Ok(to_f64(last));
    }
    Ok(ledger
        .equity_before(session)
        .map_err(fail)?
        .unwrap_or(trading.starting_equity))
}

/// The session's exit decisions, as the ledger holds them ("none" when there are none).
fn exits_today(ledger: &TradingLedger, session: NaiveDate) -> Result<String, JobError> {
    let exits: Vec<String> = ledger
        .decisions_on(session, "sell")
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
