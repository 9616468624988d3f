//! The closed trades' P&L, kept in memory and extended by the rows added since the last read:
//! the EOD report's realized P&L and `performance` take every trade ever closed, each session.
//! Reading them from SQLite each time (an index walk and a row lookup per trade) grew with the
//! square of a replay's length; summing them here is a pass over a few thousand numbers.
//!
//! What is kept answers exactly as the queries it replaces: the same values, in the same order
//! (by entry and exit order for the realized sum, by rowid for `performance`), so every sum is
//! the same to the last bit. Trades are only ever inserted. The kept rows are extended only from
//! committed reads (no transaction open on this connection: a rollback could take a row back),
//! and thrown away when another connection has committed (`data_version` moved).

use std::sync::Mutex;

use chrono::NaiveDate;

use super::{LedgerError, TradingLedger};

/// One closed trade, as the realized sum orders and filters it.
#[derive(Debug, Clone)]
struct Closed {
    entry_order: String,
    exit_order: String,
    exit_session: String,
    pnl: f64,
}

#[derive(Default)]
pub(super) struct ClosedPnl(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// The `data_version` the rows were read at; `None` before the first read.
    data_version: Option<i64>,
    /// The highest rowid read.
    last_rowid: i64,
    /// By (entry order, exit order), as `trades_json` lists them.
    by_orders: Vec<Closed>,
    /// The P&L by rowid, as a plain scan of the table gives it.
    by_rowid: Vec<f64>,
}

impl TradingLedger {
    /// Runs `read` on the closed trades brought up to date; `None` when they cannot be kept
    /// (a transaction is open on this connection): the caller asks SQLite itself.
    fn with_closed<T>(
        &self,
        read: impl FnOnce(&[Closed], &[f64]) -> T,
    ) -> Result<Option<T>, LedgerError> {
        if !self.conn.is_autocommit() {
            return Ok(None);
        }
        let version = self.data_version()?;
        let mut kept = self.closed.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.data_version != Some(version) {
            *kept = Kept {
                data_version: Some(version),
                ..Kept::default()
            };
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid, entry_order, exit_order, exit_session, pnl FROM trades
             WHERE rowid > ?1 ORDER BY rowid",
        )?;
        let added = stmt.query_map([kept.last_rowid], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Closed {
                    entry_order: r.get(1)?,
                    exit_order: r.get(2)?,
                    exit_session: r.get(3)?,
                    pnl: r.get(4)?,
                },
            ))
        })?;
        for row in added {
            let (rowid, closed) = row?;
            let key = (&closed.entry_order, &closed.exit_order);
            // Byte order, as SQLite's BINARY collation sorts the text.
            let at = kept
                .by_orders
                .partition_point(|c| (&c.entry_order, &c.exit_order) < key);
            kept.by_rowid.push(closed.pnl);
            kept.by_orders.insert(at, closed);
            kept.last_rowid = rowid;
        }
        Ok(Some(read(&kept.by_orders, &kept.by_rowid)))
    }

    /// The P&L of the trades closed on or before `session`, in (entry order, exit order).
    pub(super) fn closed_pnl_through(&self, session: NaiveDate) -> Result<Vec<f64>, LedgerError> {
        let through = session.to_string();
        let kept = self.with_closed(|by_orders, _| {
            by_orders
                .iter()
                .filter(|c| c.exit_session <= through)
                .map(|c| c.pnl)
                .collect()
        })?;
        match kept {
            Some(pnls) => Ok(pnls),
            None => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT pnl FROM trades WHERE exit_session <= ?1 ORDER BY entry_order, exit_order",
                )?;
                let pnls = stmt
                    .query_map([&through], |r| r.get::<_, f64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(pnls)
            }
        }
    }

    /// The P&L of every closed trade, by rowid.
    pub(super) fn closed_pnl(&self) -> Result<Vec<f64>, LedgerError> {
        match self.with_closed(|_, by_rowid| by_rowid.to_vec())? {
            Some(pnls) => Ok(pnls),
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT pnl FROM trades ORDER BY rowid")?;
                let pnls = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(pnls)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_actors::atomic_file::Durability;
    use rusqlite::params;

    fn insert(ledger: &TradingLedger, entry: &str, exit: &str, exit_session: &str, pnl: f64) {
        ledger
            .conn
            .execute(
                "INSERT INTO trades (entry_order, exit_order, symbol, strategy, qty, entry_session,
                 entry_price, exit_session, exit_price, reason, pnl, r)
                 VALUES (?1, ?2, 'S', 'IBS_RSI', 1, '2016-01-04', 1.0, ?3, 1.0, 'time_stop', ?4, NULL)",
                params![entry, exit, exit_session, pnl],
            )
            .unwrap();
    }

    /// What the queries answer, read from SQLite itself.
    fn asked(ledger: &TradingLedger, through: &str) -> (Vec<f64>, Vec<f64>) {
        let through_pnls = ledger
            .conn
            .prepare(
                "SELECT pnl FROM trades WHERE exit_session <= ?1 ORDER BY entry_order, exit_order",
            )
            .unwrap()
            .query_map([through], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let all = ledger
            .conn
            .prepare("SELECT pnl FROM trades")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (through_pnls, all)
    }

    fn kept(ledger: &TradingLedger, through: &str) -> (Vec<f64>, Vec<f64>) {
        let session: NaiveDate = through.parse().unwrap();
        (
            ledger.closed_pnl_through(session).unwrap(),
            ledger.closed_pnl().unwrap(),
        )
    }

    #[test]
    fn kept_pnl_answers_as_the_queries_do_as_trades_are_added() {
        let dir = tempfile::tempdir().unwrap();
        let open = || TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash).unwrap();
        let ledger = open();
        assert_eq!(kept(&ledger, "2016-01-10"), (vec![], vec![]));
        // Added out of their (entry, exit) order, and read between the additions.
        insert(&ledger, "2016-01-06-B", "2016-01-07-B", "2016-01-07", 0.1);
        assert_eq!(kept(&ledger, "2016-01-10"), asked(&ledger, "2016-01-10"));
        insert(&ledger, "2016-01-04-A", "2016-01-08-A", "2016-01-08", 0.2);
        insert(&ledger, "2016-01-05-C", "2016-01-05-C2", "2016-01-05", -0.7);
        for through in ["2016-01-04", "2016-01-05", "2016-01-07", "2016-01-10"] {
            assert_eq!(kept(&ledger, through), asked(&ledger, through), "{through}");
        }
        // Another connection's trade is seen.
        let other = open();
        insert(&other, "2016-01-04-0", "2016-01-09-0", "2016-01-09", 3.3);
        assert_eq!(kept(&ledger, "2016-01-10"), asked(&ledger, "2016-01-10"));
        assert_eq!(ledger.closed_pnl().unwrap().len(), 4);
        // Whatever else another connection does (kobe never deletes a trade; a restore
        // might put another file in place) is read afresh.
        other
            .conn
            .execute("DELETE FROM trades WHERE entry_order = '2016-01-04-A'", [])
            .unwrap();
        assert_eq!(kept(&ledger, "2016-01-10"), asked(&ledger, "2016-01-10"));
        assert_eq!(ledger.closed_pnl().unwrap().len(), 3);
        insert(&other, "2016-01-04-A", "2016-01-08-A", "2016-01-08", 0.2);
        assert_eq!(ledger.closed_pnl().unwrap().len(), 4);
        // Inside a transaction, and after it is rolled back, what SQLite says.
        ledger.conn.execute_batch("BEGIN").unwrap();
        insert(&ledger, "2016-01-11-D", "2016-01-12-D", "2016-01-12", 9.0);
        assert_eq!(kept(&ledger, "2016-01-12"), asked(&ledger, "2016-01-12"));
        ledger.conn.execute_batch("ROLLBACK").unwrap();
        assert_eq!(kept(&ledger, "2016-01-12"), asked(&ledger, "2016-01-12"));
        assert_eq!(ledger.closed_pnl().unwrap().len(), 4);
    }
}
