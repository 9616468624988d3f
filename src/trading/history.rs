//! What a backtest report reads back from the ledger: closed trades with the stop their entry
//! carried, which the `trades` table alone does not keep (its `r` is against the position's
//! stop when it closed).

use super::{session_at, typed, LedgerError, TradingLedger};
use crate::backtest::ClosedTrade;

impl TradingLedger {
    /// Every closed trade, oldest entry first, with its initial stop: the entry decision's
    /// stop, else the stop its entry order carried (an order adopted from the broker has no
    /// decision), else none.
    pub fn closed_trades(&self) -> Result<Vec<ClosedTrade>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.entry_order || ' -> ' || t.exit_order, t.symbol, t.strategy, t.qty,
                    t.entry_session, t.entry_price, t.exit_session, t.pnl, COALESCE(d.stop, o.stop)
             FROM trades t
             LEFT JOIN decisions d ON d.client_order_id = t.entry_order
             LEFT JOIN orders o ON o.client_order_id = t.entry_order
             ORDER BY t.entry_order, t.exit_order",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ClosedTrade {
                symbol: r.get(1)?,
                strategy: typed(r, 2, "trades", 0)?,
                qty: r.get(3)?,
                entry_session: session_at(r, 4, "trades", 0)?,
                entry_price: r.get(5)?,
                exit_session: session_at(r, 6, "trades", 0)?,
                pnl: r.get(7)?,
                initial_stop: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
