//! The ledger's side of the embedded paper broker: the paper account's book is the ledger, so
//! the broker reads and changes it only through these calls.

use rusqlite::{params, OptionalExtension};

use super::{typed, LedgerError, TradingLedger};
use crate::broker::{from_ledger, Order};
use crate::domain::{OrderStatus, Side};

/// What a paper order fills on: its side, size and limit, and the price its decision recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct FillTerms {
    pub side: Side,
    pub qty: i64,
    pub limit: Option<f64>,
    /// The decision's reference price: the market model's (or the latest) price.
    pub price: f64,
}

impl TradingLedger {
    /// Orders accepted and not yet filled (only a crashed run leaves any), in id order.
    pub fn new_order_ids(&self) -> Result<Vec<String>, LedgerError> {
        self.remembered("new_order_ids".into(), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT client_order_id FROM orders WHERE status = 'new' ORDER BY client_order_id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The terms order `id` fills on (its decision's price).
    pub fn fill_terms(&self, id: &str) -> Result<FillTerms, LedgerError> {
        Ok(self.conn.prepare_cached("SELECT o.side, o.qty, o.limit_price, d.price_ref, o.client_order_id FROM orders o
             JOIN decisions d ON d.client_order_id = o.client_order_id WHERE o.client_order_id = ?1")?.query_row(params![id],
            |r| {
                Ok(FillTerms {
                    side: typed(r, 0, "orders", 4)?,
                    qty: r.get(1)?,
                    limit: r.get(2)?,
                    price: r.get(3)?,
                })
            },
        )?)
    }

    /// Order `id` as the paper broker reports it (with its fill, if any).
    pub fn paper_order(&self, id: &str) -> Result<Option<Order>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT o.client_order_id, o.symbol, o.side, o.qty, o.status, f.price, f.qty, o.order_type FROM orders o
                 LEFT JOIN fills f ON f.client_order_id = o.client_order_id WHERE o.client_order_id = ?1")?.query_row(params![id],
                |r| {
                    Ok(Order {
                        client_order_id: r.get(0)?,
                        broker_id: None,
                        symbol: r.get(1)?,
                        side: typed(r, 2, "orders", 0)?,
                        qty: r.get(3)?,
                        status: typed(r, 4, "orders", 0)?,
                        fill_price: r.get::<_, Option<f64>>(5)?.map(from_ledger),
                        filled_qty: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
                        kind: typed(r, 7, "orders", 0)?,
                        legs: Vec::new(),
                        filled_at: None,
                        unrecognized: None,
                    })
                },
            )
            .optional()?)
    }

    /// The session of the decision behind order `id`, if one was recorded.
    pub fn decision_session(&self, id: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT session FROM decisions WHERE client_order_id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?)
    }

    /// Cancels order `id` if it is still `new` (accepted, not filled).
    pub fn cancel_new(&self, id: &str) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "UPDATE orders SET status = ?2 WHERE client_order_id = ?1 AND status = ?3",
            )?
            .execute(params![id, OrderStatus::Canceled, OrderStatus::New])?;
        Ok(())
    }
}
