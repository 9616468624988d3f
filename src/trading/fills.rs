//! The ledger's half of order flow: recording what was sent to a broker, asking about what is
//! unfinished, and applying fills — for the paper broker in the same transaction as its order,
//! for Alpaca when a later cycle reads the fill back.

use rusqlite::{params, OptionalExtension};

use super::{session_at, typed, Decision, LedgerError, PendingOrder, TradingLedger};
use crate::broker::{to_f64, Order, OrderRequest};
use crate::domain::{ExitReason, OrderStatus, Side};

impl TradingLedger {
    /// Records an order the broker accepted (or already knew): once, then only its status and
    /// the broker's id change. `session` is the decision's.
    pub fn record_order(
        &self,
        session: &str,
        request: &OrderRequest,
        order: &Order,
        at: &str,
    ) -> Result<(), LedgerError> {
        let (stop, target): (Option<f64>, Option<f64>) = self
            .conn
            .prepare_cached("SELECT stop, target FROM decisions WHERE client_order_id = ?1")?
            .query_row(params![request.client_order_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .unwrap_or((request.stop.map(to_f64), request.target.map(to_f64)));
        let kind = request.kind().as_str();
        self.conn.prepare_cached("INSERT OR IGNORE INTO orders (client_order_id, session, symbol, side, qty, stop, target, status, submitted_at, order_type, limit_price, broker_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?.execute(params![request.client_order_id, session, request.symbol, request.side.as_str(), request.qty, stop, target,
                order.status, at, kind, request.limit.map(to_f64), order.broker_id],
        )?;
        // Without a broker id (the paper book) there is nothing to set: no second write.
        if order.broker_id.is_some() {
            self.conn
                .prepare_cached("UPDATE orders SET broker_id = ?2 WHERE client_order_id = ?1")?
                .execute(params![request.client_order_id, order.broker_id])?;
        }
        Ok(())
    }

    /// Records a bracket leg the broker filled on its own (a stop or a target): there is no
    /// decision behind it, only the entry it protects.
    pub fn record_leg(&self, session: &str, leg: &Order, at: &str) -> Result<(), LedgerError> {
        self.conn.prepare_cached("INSERT OR IGNORE INTO orders (client_order_id, session, symbol, side, qty, status, submitted_at, order_type, broker_id)
             VALUES (?1, ?2, ?3, ?4, ?5, 'new', ?6, ?7, ?8)")?.execute(params![leg.client_order_id, session, leg.symbol, leg.side.as_str(), leg.qty, at, leg.kind.as_str(), leg.broker_id],
        )?;
        Ok(())
    }

    /// Marks a decision whose order was not placed — the broker refused it, or the position
    /// it would close was already gone — so that it is never sent again. `status`: `rejected`
    /// or `canceled`.
    /// `refusal`: the broker's words, when it said no.
    pub fn record_not_placed(
        &self,
        d: &Decision,
        status: OrderStatus,
        at: &str,
        refusal: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn.prepare_cached("INSERT OR IGNORE INTO orders (client_order_id, session, symbol, side, qty, stop, target, status, submitted_at, order_type, limit_price, refusal)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?.execute(params![d.client_order_id, d.session.to_string(), d.symbol, d.side, d.qty, d.stop, d.target, status, at,
                OrderRequest::from(d).kind().as_str(), d.limit, refusal],
        )?;
        Ok(())
    }

    /// Orders sent whose fill has not been recorded and that may still fill, oldest first.
    pub fn pending_orders(&self) -> Result<Vec<PendingOrder>, LedgerError> {
        self.remembered("pending_orders".into(), || {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT client_order_id, symbol, side, status, order_type, session FROM orders
                 WHERE {} ORDER BY submitted_at, client_order_id",
                super::schema::unfinished_orders()
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(PendingOrder {
                    client_order_id: r.get(0)?,
                    symbol: r.get(1)?,
                    side: typed(r, 2, "orders", 0)?,
                    status: typed(r, 3, "orders", 0)?,
                    order_type: typed(r, 4, "orders", 0)?,
                    session: session_at(r, 5, "orders", 0)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// A status the broker reported for an order that did not fill (yet).
    pub fn set_order_status(
        &self,
        client_order_id: &str,
        status: OrderStatus,
    ) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "UPDATE orders SET status = ?2 WHERE client_order_id = ?1 AND status != 'filled'",
            )?
            .execute(params![client_order_id, status])?;
        Ok(())
    }

    /// The broker's cash is the account's truth (fees, dividends, transfers happen there).
    pub fn set_cash(&self, cash: f64) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached("UPDATE account SET cash = ?1 WHERE id = 1")?
            .execute(params![cash])?;
        Ok(())
    }

    /// Applies a fill of `qty` at `price` to order `id`, once: the fill, the order's status,
    /// the position (opened by a buy; reduced or closed by a sell, with the closed trade), and
    /// the cash, in one transaction. `exit_reason` names a sell that has no decision behind it
    /// (a bracket leg). Returns false if the order was already filled.
    pub fn apply_fill(
        &self,
        id: &str,
        qty: i64,
        price: f64,
        at: &str,
        exit_reason: Option<ExitReason>,
    ) -> Result<bool, LedgerError> {
        let tx = self.conn.unchecked_transaction()?;
        let Some((session, symbol, side, stop, target)) = tx
            .prepare_cached("SELECT session, symbol, side, stop, target, client_order_id FROM orders WHERE client_order_id = ?1 AND status != 'filled'")?.query_row(params![id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, typed::<Side>(r, 2, "orders", 5)?, r.get::<_, Option<f64>>(3)?, r.get::<_, Option<f64>>(4)?)),
            )
            .optional()?
        else {
            return Ok(false);
        };
        let decision: Option<(String, String)> = tx
            .prepare_cached("SELECT strategy, reason FROM decisions WHERE client_order_id = ?1")?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        tx.prepare_cached("INSERT INTO fills (client_order_id, session, symbol, side, qty, price, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![id, session, symbol, side, qty, price, at],
        )?;
        tx.prepare_cached("UPDATE orders SET status = 'filled' WHERE client_order_id = ?1")?
            .execute(params![id])?;
        let notional = qty as f64 * price;
        if side == Side::Buy {
            let strategy = decision.map(|d| d.0).unwrap_or_default();
            tx.prepare_cached("INSERT INTO positions (symbol, qty, entry_price, stop, target, strategy, entry_session, entry_order) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?.execute(params![symbol, qty, price, stop, target, strategy, session, id],
            )?;
            tx.prepare_cached("UPDATE account SET cash = cash - ?1 WHERE id = 1")?
                .execute(params![notional])?;
        } else {
            let (held, entry_price, pos_stop, strategy, entry_session, entry_order): (i64, f64, Option<f64>, String, String, String) = tx.prepare_cached("SELECT qty, entry_price, stop, strategy, entry_session, entry_order FROM positions WHERE symbol = ?1")?.query_row(params![symbol],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )?;
            let reason = decision.map_or(
                exit_reason.map_or("", ExitReason::as_str).to_string(),
                |d| d.1,
            );
            let pnl = (price - entry_price) * qty as f64;
            let r_multiple = pos_stop
                .filter(|s| entry_price > *s)
                .map(|s| (price - entry_price) / (entry_price - s));
            tx.prepare_cached("INSERT INTO trades (entry_order, exit_order, symbol, strategy, qty, entry_session, entry_price, exit_session, exit_price, reason, pnl, r)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?.execute(params![entry_order, id, symbol, strategy, qty, entry_session, entry_price, session, price, reason, pnl, r_multiple],
            )?;
            if qty >= held {
                tx.prepare_cached("DELETE FROM positions WHERE symbol = ?1")?
                    .execute(params![symbol])?;
            } else {
                tx.prepare_cached("UPDATE positions SET qty = qty - ?2 WHERE symbol = ?1")?
                    .execute(params![symbol, qty])?;
            }
            tx.prepare_cached("UPDATE account SET cash = cash + ?1 WHERE id = 1")?
                .execute(params![notional])?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Brings one ledger order up to what the broker says of it: a fill (whole, or what was
    /// filled of an order that will not fill more) is applied, another status recorded.
    /// Returns true when a fill was applied.
    pub fn adopt_broker_order(
        &self,
        order: &Order,
        at: &str,
        exit_reason: Option<ExitReason>,
    ) -> Result<bool, LedgerError> {
        if order.unrecognized.is_some() {
            // In flight as far as kobe knows: the ledger keeps what it had.
            return Ok(false);
        }
        let filled = order.filled_qty > 0 && order.is_done();
        match (filled, order.fill_price) {
            (true, Some(price)) => self.apply_fill(
                &order.client_order_id,
                order.filled_qty,
                to_f64(price),
                at,
                exit_reason,
            ),
            // Filled, but without its price yet: ask again next cycle rather than record a
            // fill nobody can price.
            _ if order.status == OrderStatus::Filled => Ok(false),
            _ => {
                self.set_order_status(&order.client_order_id, order.status)?;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DecisionReason, EntrySource};
    use crate::strategy::signals::Strategy;
    use crate::trading::client_order_id;
    use chrono::NaiveDate;
    use kobe_actors::atomic_file::Durability;

    #[test]
    fn a_position_closed_in_two_fills_makes_two_trades() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = TradingLedger::open(dir.path(), 10_000.0, Durability::ProcessCrash).unwrap();
        let day = NaiveDate::from_ymd_opt(2018, 2, 7).unwrap();
        let order = |id: &str, side: &str, qty: i64| {
            ledger
                .conn
                .execute(
                    "INSERT INTO orders (client_order_id, session, symbol, side, qty, stop, status, submitted_at)
                     VALUES (?1, '2018-02-07', 'AAPL', ?2, ?3, 95.0, 'new', 't')",
                    params![id, side, qty],
                )
                .unwrap();
        };
        let entry = client_order_id(day, Strategy::IbsRsi, "AAPL", "buy");
        let decision = Decision {
            client_order_id: entry.clone(),
            session: day,
            strategy: Strategy::IbsRsi,
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty: 100,
            price_ref: 100.0,
            stop: Some(95.0),
            target: None,
            limit: None,
            trigger: None,
            reason: DecisionReason::Entry(EntrySource::Scan),
        };
        ledger.record_decision(&decision, "t").unwrap();
        order(&entry, "buy", 100);
        assert!(ledger.apply_fill(&entry, 100, 100.0, "t", None).unwrap());
        assert!(
            !ledger.apply_fill(&entry, 100, 100.0, "t", None).unwrap(),
            "applied twice"
        );
        order("leg-1", "sell", 40);
        ledger
            .apply_fill("leg-1", 40, 110.0, "t", Some(ExitReason::Target))
            .unwrap();
        assert_eq!(ledger.positions().unwrap()[0].qty, 60);
        order("close-1", "sell", 60);
        ledger
            .apply_fill("close-1", 60, 104.0, "t", Some(ExitReason::TimeStop))
            .unwrap();
        assert!(ledger.positions().unwrap().is_empty());
        let trades = ledger.trades_json().unwrap();
        let pnl: Vec<f64> = trades.iter().map(|t| t["pnl"].as_f64().unwrap()).collect();
        assert_eq!(pnl, [240.0, 400.0]);
        assert_eq!(
            ledger.cash().unwrap(),
            10_000.0 - 10_000.0 + 4_400.0 + 6_240.0
        );
    }
}
