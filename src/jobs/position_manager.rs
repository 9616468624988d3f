//! POSITION_MANAGER (every 15 minutes, to the close): finishes what a dead run started, takes
//! exits at the close tick (bracket stop and target, the strategy's exits, time stops), records
//! the day's equity, and inside the entry windows enters the validated watchlist and the scans'
//! hand-offs within the limits of DESIGN §8 — never while the kill switch is on.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use kobe_actors::kill_switch;
use serde::Deserialize;

use crate::app::App;
use crate::broker::paper::PaperBroker;
use crate::broker::{Broker, OrderRequest, Side};
use crate::data::bars::Bar;
use crate::strategy::exits::max_hold;
use crate::strategy::indicators::{ibs, rsi2};
use crate::strategy::signals::Strategy;
use crate::trading::{client_order_id, Decision, TradingLedger};
use crate::watchlist::{self, GapStatus, Validated};

/// One session's bars by symbol.
type SessionBars = (NaiveDate, BTreeMap<String, Vec<Bar>>);

pub struct PositionManager {
    pub app: Arc<App>,
    /// The session's bars, read once: the manager runs 25 times a session on the same bars.
    cache: std::sync::Mutex<Option<SessionBars>>,
}

impl PositionManager {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            cache: std::sync::Mutex::new(None),
        }
    }
}

/// An entry candidate, from the validated watchlist or a scan's hand-off.
struct Candidate {
    symbol: String,
    strategy: String,
    stop: f64,
    target: Option<f64>,
    source: &'static str,
}

#[derive(Deserialize)]
struct Handoff {
    session: NaiveDate,
    entries: Vec<HandoffEntry>,
}

#[derive(Deserialize)]
struct HandoffEntry {
    symbol: String,
    strategy: String,
    stop: f64,
    target: Option<f64>,
}

fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::Recoverable(e.to_string())
}

impl PositionManager {
    /// The recent bars (up to `session`) of `symbols`, read from the store's snapshot once per
    /// session (live, the store only changes at DATA_UPDATE, before the first tick).
    fn bars(&self, symbols: &[String], session: NaiveDate) -> BTreeMap<String, Vec<Bar>> {
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

    fn candidates(&self, session: NaiveDate) -> Vec<Candidate> {
        let state = self.app.home.state();
        let mut out = Vec::new();
        let validated: Option<Validated> =
            watchlist::read(&watchlist::dir(&state).join(watchlist::VALIDATED))
                .ok()
                .flatten();
        for e in validated
            .into_iter()
            .filter(|v| v.for_session == session)
            .flat_map(|v| v.entries)
        {
            // Unchecked picks are not entered: a gap nobody measured may be a 10 % gap.
            if matches!(
                e.status,
                GapStatus::Ok | GapStatus::Improved | GapStatus::Degraded
            ) {
                out.push(Candidate {
                    symbol: e.pick.symbol,
                    strategy: e.pick.strategy,
                    stop: e.pick.stop,
                    target: e.pick.target,
                    source: "watchlist",
                });
            }
        }
        let handoff_path = state
            .join("scans")
            .join(format!("handoff_{}.json", session.format("%Y%m%d")));
        if let Ok(Some(h)) = watchlist::read::<Handoff>(&handoff_path) {
            for e in h.entries.into_iter().filter(|_| h.session == session) {
                out.push(Candidate {
                    symbol: e.symbol,
                    strategy: e.strategy,
                    stop: e.stop,
                    target: e.target,
                    source: "scan",
                });
            }
        }
        out
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
        let now = ctx.clock.now();
        let at = ctx.started.to_rfc3339();
        let ledger = TradingLedger::open(&app.home.state(), trading.starting_equity, !app.replay)
            .map_err(fail)?;
        let broker = PaperBroker::new(&ledger, at.clone());
        let mut notes = Vec::new();

        // What a dead run left half-done: decisions without orders, orders without fills.
        let unsent = ledger.unsent_decisions().map_err(fail)?;
        for d in &unsent {
            broker.submit(&request(d)).map_err(fail)?;
        }
        let settled = broker.settle_pending().map_err(fail)?;
        if !unsent.is_empty() || settled > 0 {
            // A log line, not the detail: the slot's record must not depend on a crash.
            tracing::warn!(
                unsent = unsent.len(),
                settled,
                "finished what a stopped run left half-done"
            );
        }
        // Reconcile: what the ledger holds must be what the broker holds, or nothing more is
        // traded until a person looks.
        let held: Vec<(String, i64)> = ledger
            .positions()
            .map_err(fail)?
            .into_iter()
            .map(|p| (p.symbol, p.qty))
            .collect();
        let differences =
            crate::broker::alpaca::reconcile(&held, &broker.positions().map_err(fail)?);
        if !differences.is_empty() {
            let reason = format!("reconciliation: {}", differences.join("; "));
            kill_switch::engage(&app.home.state(), &reason, "POSITION_MANAGER", now)
                .map_err(fail)?;
            return Err(JobError::Recoverable(format!(
                "{reason}: kill switch engaged"
            )));
        }

        let decide = |d: Decision| -> Result<(), JobError> {
            ledger.record_decision(&d, &at).map_err(fail)?;
            crate::failpoint::point("after_decision");
            broker.submit(&request(&d)).map_err(fail)?;
            crate::failpoint::point("after_fill");
            let verb = if d.side == "buy" { "entered" } else { "exited" };
            crate::notify::send(format!(
                "kobe {verb} {} {} x{} @ {:.2} ({})",
                d.symbol, d.strategy, d.qty, d.price_ref, d.reason
            ));
            Ok(())
        };

        let close_tick = now >= hours.close_at().with_timezone(&Utc);
        if close_tick {
            let positions = ledger.positions().map_err(fail)?;
            let symbols: Vec<String> = positions.iter().map(|p| p.symbol.clone()).collect();
            let series = self.bars(&symbols, session);
            for pos in positions {
                let bars = series.get(&pos.symbol).cloned().unwrap_or_default();
                let Some(bar) = bars.last().filter(|b| b.date == session) else {
                    continue;
                };
                let held = NyseCalendar.sessions(pos.entry_session, session).len();
                let strategy = if pos.strategy == Strategy::TurtleSoup.as_str() {
                    Strategy::TurtleSoup
                } else {
                    Strategy::IbsRsi
                };
                let exit = match (pos.stop, pos.target) {
                    (Some(stop), _) if bar.low <= stop => {
                        Some((if bar.open <= stop { bar.open } else { stop }, "stop"))
                    }
                    (_, Some(target)) if bar.high >= target => {
                        Some((if bar.open >= target { bar.open } else { target }, "target"))
                    }
                    _ if strategy == Strategy::IbsRsi
                        && (ibs(&bars).is_some_and(|v| v > 0.8)
                            || rsi2(&bars).is_some_and(|v| v > 70.0)) =>
                    {
                        Some((bar.close, "strategy_exit"))
                    }
                    _ if held >= max_hold(strategy) => Some((bar.close, "time_stop")),
                    _ => None,
                };
                if let Some((price, reason)) = exit {
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
                            reason: reason.into(),
                        })?;
                    }
                }
            }
            // Mark to the close and record the day's equity.
            let cash = ledger.cash().map_err(fail)?;
            let mut equity = cash;
            for pos in ledger.positions().map_err(fail)? {
                let last = series
                    .get(&pos.symbol)
                    .and_then(|b| b.last())
                    .map_or(pos.entry_price, |b| b.close);
                equity += pos.qty as f64 * last;
            }
            ledger.record_equity(session, cash, equity).map_err(fail)?;
            let start = ledger
                .equity_before(session)
                .map_err(fail)?
                .unwrap_or(trading.starting_equity);
            // The detail says what the ledger holds, not what this run did: a run re-done after a
            // crash records the same line.
            let exits: Vec<String> = ledger
                .decisions_on(session, "sell")
                .map_err(fail)?
                .into_iter()
                .map(|(symbol, _, price, reason)| format!("{symbol} {reason} @ {price:.2}"))
                .collect();
            notes.push(format!(
                "close: exits today {}; equity {equity:.2}",
                if exits.is_empty() {
                    "none".into()
                } else {
                    exits.join(", ")
                }
            ));
            let breached = equity < start * (1.0 - trading.daily_loss_limit);
            if breached {
                notes.push("daily loss limit reached: kill switch on".into());
            }
            if breached && !ctx.kill_switch.load(std::sync::atomic::Ordering::SeqCst) {
                let reason = format!(
                    "daily_loss: equity {equity:.2} is more than {:.1}% below {start:.2}",
                    trading.daily_loss_limit * 100.0
                );
                kill_switch::engage(&app.home.state(), &reason, "POSITION_MANAGER", now)
                    .map_err(fail)?;
            }
            return Ok(JobOutput::ok(notes.join("; ")));
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
        let mut entered_today = ledger.entries_on(session).map_err(fail)?;
        let mut open: Vec<String> = ledger
            .positions()
            .map_err(fail)?
            .into_iter()
            .map(|p| p.symbol)
            .collect();
        let start_equity = ledger
            .equity_before(session)
            .map_err(fail)?
            .unwrap_or(trading.starting_equity);
        let candidates = self.candidates(session);
        let symbols: Vec<String> = candidates.iter().map(|c| c.symbol.clone()).collect();
        let series = self.bars(&symbols, session);
        for c in candidates {
            if entered_today.len() >= trading.max_entries_per_session
                || open.len() >= trading.max_open_positions
            {
                break;
            }
            if open.contains(&c.symbol) || entered_today.contains(&c.symbol) {
                continue;
            }
            let bars = series.get(&c.symbol).map(Vec::as_slice).unwrap_or_default();
            // Entries fill at the session's open in the market model; live, the latest price.
            let price = match bars.last() {
                Some(b) if b.date == session => b.open,
                Some(b) => b.close,
                None => continue,
            };
            if price <= c.stop || c.target.is_some_and(|t| price >= t) {
                continue; // opened through its stop or past its target: nothing left to trade
            }
            let by_risk = start_equity * trading.risk_per_trade / (price - c.stop);
            let by_notional = start_equity * trading.max_notional / price;
            let cash = ledger.cash().map_err(fail)?;
            let qty = by_risk.min(by_notional).min(cash / price).floor() as i64;
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

fn request(d: &Decision) -> OrderRequest {
    OrderRequest {
        client_order_id: d.client_order_id.clone(),
        symbol: d.symbol.clone(),
        side: if d.side == "buy" {
            Side::Buy
        } else {
            Side::Sell
        },
        qty: d.qty,
        stop: d.stop,
        target: d.target,
    }
}
