//! Bringing the ledger up to the broker at the start of every cycle: decisions a dead run left
//! unsent are adopted if the broker has them and sent otherwise, orders still open are asked
//! about and their fills applied, bracket legs the broker filled become exits, and what is
//! left is compared position by position.

use chrono::NaiveDate;
use kobe_actors::calendar::EXCHANGE_TZ;

use super::outcome::{NotSent, Note};
use crate::broker::{Broker, BrokerError, Order, OrderKind, OrderRequest, OrderStatus, Side};
use crate::domain::ExitReason;
use crate::trading::{Decision, LedgerError, TradingLedger};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A decision whose prices are not all finite never becomes an order (a NaN stop would go
    /// out as a stop at 0.00).
    #[error("{0}: a price that is not a finite number: not sent")]
    NotFinite(String),
}

/// What happened to one decision's order.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    Sent(Order),
    /// The broker said no (its message): recorded `rejected`, never sent again.
    Refused(String),
    /// A close for a position the broker no longer holds (a leg filled first).
    NothingToClose,
}

/// Sends a recorded decision's order — unless the broker already has it (a run that died
/// after the POST) — and records the order. A sell closes the position: the broker first
/// releases the shares its bracket legs hold.
pub fn place(
    ledger: &TradingLedger,
    broker: &dyn Broker,
    d: &Decision,
    at: &str,
) -> Result<Placed, SyncError> {
    let prices = [Some(d.price_ref), d.stop, d.target, d.limit, d.trigger];
    if prices.into_iter().flatten().any(|p| !p.is_finite()) {
        return Err(SyncError::NotFinite(d.client_order_id.clone()));
    }
    let req = OrderRequest::from(d);
    let sent = match broker.order_by_client_id(&d.client_order_id)? {
        Some(order) => Ok(order),
        None if d.side == Side::Sell => {
            let held = broker
                .positions()?
                .into_iter()
                .find(|p| p.symbol == d.symbol)
                .map_or(0, |p| p.qty.trunc().try_into().unwrap_or(0));
            if held <= 0 {
                ledger.record_not_placed(d, OrderStatus::Canceled, at, None)?;
                return Ok(Placed::NothingToClose);
            }
            if d.trigger.is_some() {
                // A resting stop: it holds the shares itself.
                broker.submit(&req)
            } else {
                let entry = ledger
                    .positions()?
                    .into_iter()
                    .find(|p| p.symbol == d.symbol)
                    .map(|p| p.entry_order)
                    .unwrap_or_default();
                broker.close_position(&d.symbol, d.qty.min(held), &d.client_order_id, &entry)
            }
        }
        None => broker.submit(&req),
    };
    let order = match sent {
        Ok(order) => order,
        Err(BrokerError::Refused(why)) => {
            ledger.record_not_placed(d, OrderStatus::Rejected, at, Some(&why))?;
            return Ok(Placed::Refused(why));
        }
        Err(e) => return Err(e.into()),
    };
    ledger.record_order(&d.session.to_string(), &req, &order, at)?;
    ledger.adopt_broker_order(&order, fill_time(&order, at), None)?;
    Ok(Placed::Sent(order))
}

/// When a fill happened: the broker's time if it says, else now.
fn fill_time<'a>(order: &'a Order, now: &'a str) -> &'a str {
    order.filled_at.as_deref().unwrap_or(now)
}

/// The exchange session a broker timestamp falls in (its New York date).
fn session_of(at: &str, fallback: NaiveDate) -> NaiveDate {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&EXCHANGE_TZ).date_naive())
        .unwrap_or(fallback)
}

/// What a catch-up did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CatchUp {
    pub placed: usize,
    pub fills: usize,
    pub leg_exits: usize,
    /// Orders the ledger sent that the broker does not know.
    pub unknown: Vec<String>,
    /// Symbols whose exit leg is filling right now (the broker's quantity is moving).
    pub legs_filling: Vec<String>,
    /// Held symbols whose stop the broker no longer holds (its leg cancelled or expired, and
    /// nothing else resting or closing the position).
    pub unprotected: Vec<String>,
    /// Decisions left unsent and why: a session that is over, entries stopped by the kill
    /// switch, or a broker that did not answer (tried again next cycle).
    pub notes: Vec<Note>,
}

/// Finishes what earlier cycles left open. A decision left unsent is placed only while it
/// still stands — on its own session, and for an entry only while entries are allowed — and
/// one that no longer stands is first looked up (a run may have sent it and died): adopted if
/// the broker has it, else recorded as never sent. Entries still open at the broker that no
/// longer stand (an earlier session's, any while entries are stopped, all once `day_over`)
/// are cancelled, keeping what filled. `legs`: read bracket legs back from the broker (Alpaca;
/// the paper broker triggers its bracket in the market model).
pub fn catch_up(
    ledger: &TradingLedger,
    broker: &dyn Broker,
    session: NaiveDate,
    at: &str,
    legs: bool,
    entries_allowed: bool,
    day_over: bool,
) -> Result<CatchUp, SyncError> {
    let sync = Sync {
        ledger,
        broker,
        session,
        at,
        entries_allowed,
        day_over,
    };
    let mut done = CatchUp::default();
    sync.unsent_decisions(&mut done)?;
    sync.pending_orders(&mut done)?;
    if legs {
        sync.bracket_legs(&mut done)?;
    }
    Ok(done)
}

/// What one catch-up works with.
struct Sync<'a> {
    ledger: &'a TradingLedger,
    broker: &'a dyn Broker,
    session: NaiveDate,
    at: &'a str,
    entries_allowed: bool,
    day_over: bool,
}

impl Sync<'_> {
    /// Decisions a dead run left unsent: placed while they still stand, else looked up and
    /// adopted or written off.
    fn unsent_decisions(&self, done: &mut CatchUp) -> Result<(), SyncError> {
        let (ledger, broker, at) = (self.ledger, self.broker, self.at);
        for d in ledger.unsent_decisions()? {
            let stale = d.session < self.session;
            if stale || (d.side == Side::Buy && !self.entries_allowed) {
                self.write_off(&d, stale, done)?;
                continue;
            }
            match place(ledger, broker, &d, at) {
                Ok(_) => done.placed += 1,
                // One order the broker cannot take now must not stop the cycle.
                Err(SyncError::Broker(e)) => done.notes.push(Note::NotSent {
                    client_order_id: d.client_order_id.clone(),
                    why: NotSent::NotYet(e.to_string()),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A decision that no longer stands: adopted if a dead run sent it after all, else
    /// recorded as never sent (expired with its session, or cancelled by the kill switch).
    fn write_off(&self, d: &Decision, stale: bool, done: &mut CatchUp) -> Result<(), SyncError> {
        let (ledger, at) = (self.ledger, self.at);
        match self.broker.order_by_client_id(&d.client_order_id)? {
            Some(order) => {
                let session = d.session.to_string();
                ledger.record_order(&session, &OrderRequest::from(d), &order, at)?;
                ledger.adopt_broker_order(&order, fill_time(&order, at), None)?;
            }
            None => {
                let (status, why) = if stale {
                    (OrderStatus::Expired, NotSent::SessionOver)
                } else {
                    (OrderStatus::Canceled, NotSent::KillSwitch)
                };
                ledger.record_not_placed(d, status, at, None)?;
                done.notes.push(Note::NotSent {
                    client_order_id: d.client_order_id.clone(),
                    why,
                });
            }
        }
        Ok(())
    }

    /// Orders sent and unfinished: asked about and their fills applied; entries that no longer
    /// stand are cancelled first, keeping what filled.
    fn pending_orders(&self, done: &mut CatchUp) -> Result<(), SyncError> {
        for pending in self.ledger.pending_orders()? {
            let stands = pending.side != Side::Buy
                || (pending.session == self.session && self.entries_allowed && !self.day_over);
            if !stands {
                self.broker.cancel(&pending.client_order_id)?;
            }
            match self.broker.order_by_client_id(&pending.client_order_id)? {
                Some(order) => {
                    done.notice(&order);
                    let when = fill_time(&order, self.at);
                    if self.ledger.adopt_broker_order(&order, when, None)? {
                        done.fills += 1;
                    }
                }
                None => done.unknown.push(pending.client_order_id),
            }
        }
        Ok(())
    }

    /// Each position's bracket legs as the broker shows them: filled legs become exits, a
    /// leg filling right now is noted, and a position left without any stop is named.
    fn bracket_legs(&self, done: &mut CatchUp) -> Result<(), SyncError> {
        let pending = self.ledger.pending_orders()?;
        // The broker's open orders, asked for once and only when a stop seems gone.
        let mut open_orders: Option<Vec<Order>> = None;
        for pos in self.ledger.positions()? {
            let Some(entry) = self.broker.order_by_client_id(&pos.entry_order)? else {
                continue;
            };
            done.notice(&entry);
            let resting_or_closing = pending
                .iter()
                .any(|p| p.symbol == pos.symbol && p.side == Side::Sell);
            // A leg edited by hand is `replaced` by another that carries on.
            let stop_leg_alive = entry.legs.iter().any(|l| {
                l.kind == OrderKind::Stop
                    && (!l.is_done() || l.filled_qty > 0 || l.status == OrderStatus::Replaced)
            });
            if pos.stop.is_some() && !stop_leg_alive && !resting_or_closing {
                // A stop someone placed by hand protects the position as well.
                if open_orders.is_none() {
                    open_orders = Some(self.broker.open_orders()?);
                }
                if !has_resting_stop(open_orders.iter().flatten(), &pos.symbol) {
                    done.unprotected.push(pos.symbol.clone());
                }
            }
            if entry.legs.iter().any(|l| l.filled_qty > 0 && !l.is_done()) {
                done.legs_filling.push(pos.symbol.clone());
            }
            self.filled_legs(&entry, done)?;
        }
        Ok(())
    }

    /// Legs the broker filled (a stop or a target) become the position's exits, once.
    fn filled_legs(&self, entry: &Order, done: &mut CatchUp) -> Result<(), SyncError> {
        for leg in entry
            .legs
            .iter()
            .filter(|l| l.filled_qty > 0 && l.is_done())
        {
            let when = fill_time(leg, self.at);
            let leg_session = session_of(when, self.session).to_string();
            self.ledger.record_leg(&leg_session, leg, self.at)?;
            let reason = if leg.kind == OrderKind::Stop {
                ExitReason::Stop
            } else {
                ExitReason::Target
            };
            if self.ledger.adopt_broker_order(leg, when, Some(reason))? {
                done.leg_exits += 1;
            }
        }
        Ok(())
    }
}

impl CatchUp {
    /// Notes an order (or leg) whose status the broker sent and kobe does not know, once.
    fn notice(&mut self, order: &Order) {
        for o in std::iter::once(order).chain(order.legs.iter()) {
            if let Some(status) = &o.unrecognized {
                let note = Note::UnknownStatus {
                    client_order_id: o.client_order_id.clone(),
                    status: status.clone(),
                };
                if !self.notes.contains(&note) {
                    tracing::warn!(order = %o.client_order_id, %status, "unknown order status: kept in flight");
                    self.notes.push(note);
                }
            }
        }
    }
}

/// Whether any of `orders` (or their legs) is a live sell stop of `symbol`.
fn has_resting_stop<'a>(orders: impl Iterator<Item = &'a Order>, symbol: &str) -> bool {
    orders
        .flat_map(|o| std::iter::once(o).chain(o.legs.iter()))
        .any(|o| {
            o.symbol == symbol && o.side == Side::Sell && o.kind == OrderKind::Stop && !o.is_done()
        })
}

/// What the ledger and the broker disagree on, symbol by symbol; symbols with an order still
/// in flight (one of ours, or an exit leg filling) are left out: the next cycle settles them.
pub fn differences(
    ledger: &TradingLedger,
    broker: &dyn Broker,
    legs_filling: &[String],
) -> Result<Vec<String>, SyncError> {
    // A resting stop is not in flight until it starts to fill.
    let in_flight: Vec<String> = ledger
        .pending_orders()?
        .into_iter()
        .filter(|p| p.order_type != OrderKind::Stop || p.status == OrderStatus::PartiallyFilled)
        .map(|p| p.symbol)
        .chain(legs_filling.iter().cloned())
        .collect();
    let held: Vec<(String, i64)> = ledger
        .positions()?
        .into_iter()
        .filter(|p| !in_flight.contains(&p.symbol))
        .map(|p| (p.symbol, p.qty))
        .collect();
    let at_broker: Vec<_> = broker
        .positions()?
        .into_iter()
        .filter(|p| !in_flight.contains(&p.symbol))
        .collect();
    Ok(crate::broker::reconcile(&held, &at_broker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::paper::PaperBroker;
    use crate::domain::{DecisionReason, EntrySource};
    use crate::strategy::signals::Strategy;
    use kobe_actors::atomic_file::Durability;

    #[test]
    fn a_decision_with_a_price_that_is_not_a_number_is_never_sent() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = TradingLedger::open(dir.path(), 10_000.0, Durability::ProcessCrash).unwrap();
        let broker = PaperBroker::new(&ledger, "t".into());
        let d = Decision {
            client_order_id: "2018-02-07-IBS_RSI-AAPL-buy".into(),
            session: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
            strategy: Strategy::IbsRsi,
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty: 10,
            price_ref: 100.0,
            stop: Some(f64::NAN),
            target: None,
            limit: None,
            trigger: None,
            reason: DecisionReason::Entry(EntrySource::Scan),
        };
        ledger.record_decision(&d, "t").unwrap();
        let err = place(&ledger, &broker, &d, "t").unwrap_err();
        assert!(matches!(err, SyncError::NotFinite(_)), "{err}");
        assert!(ledger.export().unwrap()["orders"]
            .as_array()
            .unwrap()
            .is_empty());
    }
}
