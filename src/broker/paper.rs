//! The embedded paper broker: orders, fills and positions in the trading ledger. An order fills
//! at the price its decision recorded (the market model of DESIGN §7 decides that price: the
//! session's open for entries, the stop, target or close for exits), so a replay is exact and a
//! restarted run fills a pending order exactly as the dead one would have.

use rusqlite::{params, OptionalExtension};

use super::{Account, Broker, BrokerError, Order, OrderRequest, Position, Side};
use crate::trading::TradingLedger;

pub struct PaperBroker<'a> {
    ledger: &'a TradingLedger,
    /// When orders and fills happen, on the runtime's clock (simulated in a replay).
    at: String,
}

impl<'a> PaperBroker<'a> {
    pub fn new(ledger: &'a TradingLedger, at: String) -> Self {
        Self { ledger, at }
    }

    /// Fills every order a crashed run left unfilled.
    pub fn settle_pending(&self) -> Result<usize, BrokerError> {
        let pending: Vec<String> = {
            let mut stmt = self.ledger.conn.prepare(
                "SELECT client_order_id FROM orders WHERE status = 'new' ORDER BY client_order_id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &pending {
            self.fill(id)?;
        }
        Ok(pending.len())
    }

    /// Fills one order at its decision's price: order, fill, position, cash and (for an exit)
    /// the closed trade change in one transaction.
    fn fill(&self, id: &str) -> Result<(), BrokerError> {
        let tx = self.ledger.conn.unchecked_transaction()?;
        let (session, symbol, side, qty, stop, target): (String, String, String, i64, Option<f64>, Option<f64>) = tx.query_row(
            "SELECT session, symbol, side, qty, stop, target FROM orders WHERE client_order_id = ?1 AND status = 'new'",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?;
        let (price, strategy, reason): (f64, String, String) = tx.query_row(
            "SELECT price_ref, strategy, reason FROM decisions WHERE client_order_id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        tx.execute(
            "INSERT INTO fills (client_order_id, session, symbol, side, qty, price, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, session, symbol, side, qty, price, self.at],
        )?;
        tx.execute(
            "UPDATE orders SET status = 'filled' WHERE client_order_id = ?1",
            params![id],
        )?;
        let notional = qty as f64 * price;
        if side == "buy" {
            tx.execute(
                "INSERT INTO positions (symbol, qty, entry_price, stop, target, strategy, entry_session, entry_order) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![symbol, qty, price, stop, target, strategy, session, id],
            )?;
            tx.execute(
                "UPDATE account SET cash = cash - ?1 WHERE id = 1",
                params![notional],
            )?;
        } else {
            let (entry_price, pos_stop, entry_session, entry_order): (f64, Option<f64>, String, String) = tx.query_row(
                "SELECT entry_price, stop, entry_session, entry_order FROM positions WHERE symbol = ?1",
                params![symbol],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let pnl = (price - entry_price) * qty as f64;
            let r_multiple = pos_stop
                .filter(|s| entry_price > *s)
                .map(|s| (price - entry_price) / (entry_price - s));
            tx.execute(
                "INSERT INTO trades (entry_order, exit_order, symbol, strategy, qty, entry_session, entry_price, exit_session, exit_price, reason, pnl, r)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![entry_order, id, symbol, strategy, qty, entry_session, entry_price, session, price, reason, pnl, r_multiple],
            )?;
            tx.execute("DELETE FROM positions WHERE symbol = ?1", params![symbol])?;
            tx.execute(
                "UPDATE account SET cash = cash + ?1 WHERE id = 1",
                params![notional],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn order(&self, id: &str) -> Result<Option<Order>, BrokerError> {
        Ok(self
            .ledger
            .conn
            .query_row(
                "SELECT o.client_order_id, o.symbol, o.side, o.qty, o.status, f.price FROM orders o
                 LEFT JOIN fills f ON f.client_order_id = o.client_order_id WHERE o.client_order_id = ?1",
                params![id],
                |r| {
                    Ok(Order {
                        client_order_id: r.get(0)?,
                        symbol: r.get(1)?,
                        side: if r.get::<_, String>(2)? == "buy" { Side::Buy } else { Side::Sell },
                        qty: r.get(3)?,
                        status: r.get(4)?,
                        fill_price: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }
}

impl Broker for PaperBroker<'_> {
    fn account(&self) -> Result<Account, BrokerError> {
        Ok(Account {
            cash: self
                .ledger
                .conn
                .query_row("SELECT cash FROM account WHERE id = 1", [], |r| r.get(0))?,
        })
    }

    fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        // The paper account's positions are the ledger's (it is the broker).
        let positions = self
            .ledger
            .positions()
            .map_err(|e| BrokerError::Rejected(e.to_string()))?;
        Ok(positions
            .into_iter()
            .map(|p| Position {
                symbol: p.symbol,
                qty: p.qty,
                entry_price: p.entry_price,
                stop: p.stop,
                target: p.target,
            })
            .collect())
    }

    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        let ids: Vec<String> = {
            let mut stmt = self.ledger.conn.prepare(
                "SELECT client_order_id FROM orders WHERE status = 'new' ORDER BY client_order_id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        Ok(ids
            .iter()
            .filter_map(|id| self.order(id).ok().flatten())
            .collect())
    }

    fn submit(&self, request: &OrderRequest) -> Result<Order, BrokerError> {
        if let Some(existing) = self.order(&request.client_order_id)? {
            return Ok(existing);
        }
        let session: String = self
            .ledger
            .conn
            .query_row(
                "SELECT session FROM decisions WHERE client_order_id = ?1",
                params![request.client_order_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| {
                BrokerError::Rejected(format!(
                    "{}: no decision recorded for this order",
                    request.client_order_id
                ))
            })?;
        self.ledger.conn.execute(
            "INSERT INTO orders (client_order_id, session, symbol, side, qty, stop, target, status, submitted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'new', ?8)",
            params![request.client_order_id, session, request.symbol, request.side.as_str(), request.qty, request.stop, request.target, self.at],
        )?;
        crate::failpoint::point("after_order");
        self.fill(&request.client_order_id)?;
        self.order(&request.client_order_id)?
            .ok_or_else(|| BrokerError::Rejected("order vanished".into()))
    }

    fn cancel(&self, client_order_id: &str) -> Result<(), BrokerError> {
        self.ledger.conn.execute(
            "UPDATE orders SET status = 'canceled' WHERE client_order_id = ?1 AND status = 'new'",
            params![client_order_id],
        )?;
        Ok(())
    }

    fn order_by_client_id(&self, client_order_id: &str) -> Result<Option<Order>, BrokerError> {
        self.order(client_order_id)
    }
}
