//! The broker seam: what the position manager asks of any broker — the embedded paper broker
//! (`paper`) or Alpaca's Trading API (`alpaca`) — in the broker's own terms. Money crossing this
//! seam is `Decimal`, as brokers quote it; the strategy's arithmetic stays in `f64`.

pub mod alpaca;
pub mod paper;

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::Serialize;

pub use crate::domain::{OrderKind, OrderStatus, Side};

/// A market or limit order, optionally the parent of a bracket (a stop and an optional target
/// the broker holds once the entry fills).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderRequest {
    /// Derived from the decision (`session-strategy-symbol-side`): the same decision can never
    /// become two orders, whatever restarts in between.
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub qty: i64,
    /// `Some` makes it a limit order at this price; `None` a market order.
    pub limit: Option<Decimal>,
    pub stop: Option<Decimal>,
    pub target: Option<Decimal>,
    /// `Some` makes it a resting stop order (good till cancelled) that sells at market once
    /// the price trades at or below this; `stop` and `target` are then unused.
    pub trigger: Option<Decimal>,
}

impl OrderRequest {
    pub fn kind(&self) -> OrderKind {
        if self.trigger.is_some() {
            OrderKind::Stop
        } else if self.limit.is_some() {
            OrderKind::Limit
        } else {
            OrderKind::Market
        }
    }

    /// A plain market sell (closing a position).
    pub fn market_sell(client_order_id: &str, symbol: &str, qty: i64) -> Self {
        Self {
            client_order_id: client_order_id.into(),
            symbol: symbol.into(),
            side: Side::Sell,
            qty,
            limit: None,
            stop: None,
            target: None,
            trigger: None,
        }
    }
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub client_order_id: String,
    /// The broker's own id (Alpaca's UUID); the paper broker has none.
    pub broker_id: Option<String>,
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub qty: i64,
    pub filled_qty: i64,
    /// The broker's word for where the order stands.
    pub status: OrderStatus,
    pub fill_price: Option<Decimal>,
    /// A bracket's exit orders (stop loss, take profit), once the broker shows them.
    pub legs: Vec<Order>,
    /// When the broker filled it (RFC 3339), if it says.
    pub filled_at: Option<String>,
    /// A status the broker sent that kobe does not know: the order is taken as in flight
    /// (`status` then says `new`), nothing is changed in the ledger, and the cycle reports it.
    pub unrecognized: Option<String>,
}

impl From<&crate::trading::Decision> for OrderRequest {
    /// The order a decision stands for, its prices in cents.
    fn from(d: &crate::trading::Decision) -> Self {
        Self {
            client_order_id: d.client_order_id.clone(),
            symbol: d.symbol.clone(),
            side: d.side,
            qty: d.qty,
            limit: d.limit.map(cents),
            stop: d.stop.map(cents),
            target: d.target.map(cents),
            trigger: d.trigger.map(cents),
        }
    }
}

impl Order {
    /// No fill can come any more.
    pub fn is_done(&self) -> bool {
        self.status.is_terminal()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position {
    pub symbol: String,
    /// As the broker says it: a fractional quantity (bought by hand) is a difference the
    /// reconciliation names, not a number to round.
    pub qty: Decimal,
    pub entry_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub cash: Decimal,
    /// Cash plus positions at market.
    pub equity: Decimal,
    /// Why the broker would refuse new orders (account not active, trading blocked), if so.
    pub blocked: Option<String>,
    /// Equity at the previous session's close, as the broker computed it.
    pub last_equity: Option<Decimal>,
    /// What the account can buy now, as the broker computes it (a margin account's cash may be
    /// negative while it can still buy); `None`: the cash is what it can spend.
    pub buying_power: Option<Decimal>,
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker answered no to this order: sending it again gets the same answer.
    #[error("broker refused: {0}")]
    Refused(String),
    /// No usable answer (network, 5xx, a malformed body): ask again next cycle.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("broker storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The paper broker's book is the trading ledger: its errors (a bad row) come through.
    #[error(transparent)]
    Ledger(crate::trading::LedgerError),
}

/// When an order sent now fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fills {
    /// At once, at the price its decision records (the embedded paper broker: the market model
    /// decides that price), so an exit can wait for the close tick.
    AtDecisionPrice,
    /// When the market takes it, read back by a later look-up: an order sent at the close
    /// would wait for the next open, so exits that need the close go out before it.
    AtMarket,
}

pub trait Broker {
    /// The broker keeps its own book (account, positions, bracket legs that it triggers
    /// itself), which the ledger is reconciled against; `false`: the ledger is the book, and
    /// kobe's market model triggers the brackets.
    fn keeps_own_book(&self) -> bool;
    fn fills(&self) -> Fills;
    /// Finishes, before a cycle reads anything, what a dead run left half-done on the
    /// broker's side (nothing to do where the broker itself holds the orders).
    fn settle(&self) -> Result<(), BrokerError> {
        Ok(())
    }
    fn account(&self) -> Result<Account, BrokerError>;
    fn positions(&self) -> Result<Vec<Position>, BrokerError>;
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError>;
    /// Idempotent by client order id: submitting an id already known returns that order.
    fn submit(&self, request: &OrderRequest) -> Result<Order, BrokerError>;
    fn cancel(&self, client_order_id: &str) -> Result<(), BrokerError>;
    /// Sells `qty` of the position at market under our client order id, first cancelling the
    /// exit orders that hold its shares (the legs of the bracket entered by `entry_order`, and
    /// any other open sell of the symbol). Callers look the id up first: a close already sent
    /// is adopted, not sent again.
    fn close_position(
        &self,
        symbol: &str,
        qty: i64,
        client_order_id: &str,
        entry_order: &str,
    ) -> Result<Order, BrokerError>;
    /// The order with its bracket legs, `None` if the broker never saw it.
    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError>;
}

/// A strategy price as a broker price: cents, as US equities above $1 are quoted.
pub fn cents(price: f64) -> Decimal {
    Decimal::from_f64(price)
        .unwrap_or_default()
        .round_dp(2)
        .normalize()
}

/// A ledger amount as a broker reports it (the ledger holds exactly what was filled).
pub fn from_ledger(amount: f64) -> Decimal {
    Decimal::try_from(amount).unwrap_or_default()
}

/// A broker amount for the ledger's arithmetic (a SQLite REAL).
pub fn to_f64(amount: Decimal) -> f64 {
    amount.to_f64().unwrap_or(f64::NAN)
}

/// What the ledger and the broker disagree on, symbol by symbol (quantities).
pub fn reconcile(ledger: &[(String, i64)], broker: &[Position]) -> Vec<String> {
    let mut out = Vec::new();
    for (symbol, qty) in ledger {
        match broker.iter().find(|p| &p.symbol == symbol) {
            Some(p) if p.qty == Decimal::from(*qty) => {}
            Some(p) => out.push(format!("{symbol}: ledger {qty}, broker {}", p.qty)),
            None => out.push(format!("{symbol}: ledger {qty}, broker none")),
        }
    }
    for p in broker {
        if !ledger.iter().any(|(s, _)| s == &p.symbol) {
            out.push(format!("{}: ledger none, broker {}", p.symbol, p.qty));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_names_every_difference() {
        let pos = |s: &str, q: i64| Position {
            symbol: s.into(),
            qty: Decimal::from(q),
            entry_price: Decimal::ONE,
        };
        let ledger = [("AAPL".to_string(), 10), ("MSFT".to_string(), 5)];
        assert!(reconcile(&ledger, &[pos("AAPL", 10), pos("MSFT", 5)]).is_empty());
        let diff = reconcile(&ledger, &[pos("AAPL", 7), pos("XOM", 3)]);
        assert_eq!(
            diff,
            [
                "AAPL: ledger 10, broker 7",
                "MSFT: ledger 5, broker none",
                "XOM: ledger none, broker 3"
            ]
        );
    }
}
