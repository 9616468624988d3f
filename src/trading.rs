//! The trading ledger, `state/ledger.sqlite`: decisions (recorded before any order is sent),
//! the paper account's orders, fills and positions, closed trades and daily equity.
//!
//! Every write is one SQLite transaction, so a crash leaves each step done or not done; the
//! position manager's next run finishes what a dead one started, by client order id.

mod closed_pnl;
mod fills;
mod history;
mod memo;
mod open;
mod paper_book;
mod rows;
mod schema;

pub use open::{KeptLedger, Locking};
pub use paper_book::FillTerms;
pub use rows::BadRow;
pub(crate) use rows::{session_at, typed};

use std::path::PathBuf;

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::domain::{DecisionReason, ExitReason, OrderKind, OrderStatus, Side};
use crate::strategy::signals::Strategy;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}: not a readable trading ledger ({why}); the file is kept as it is", path = .path.display())]
    Corrupt { path: PathBuf, why: String },
    /// The ledger is gone (or emptied) in a home that has traded: starting a fresh account
    /// would forget positions that are open at the broker or in the book.
    #[error("{path}: {what}, but this home has traded before ({evidence}); a new account is never started over a lost ledger: restore the newest backup (kobe backup verify FILE, then kobe restore FILE --to NEW_HOME) and run from there", path = .path.display())]
    Lost {
        path: PathBuf,
        what: &'static str,
        evidence: String,
    },
    /// A row holds a value kobe does not know: nothing is guessed, nothing is traded on it.
    #[error("trading ledger ledger.sqlite: {0}; the file is kept as it is: correct the row or restore a backup")]
    BadRow(BadRow),
    /// Another process holds the ledger locked (a running replay keeps it until it ends):
    /// nothing is wrong with the file, and nothing was read or changed.
    #[error("{path}: in use by another kobe process (a running replay holds it until it ends); nothing was read or changed: try again when it is done", path = .path.display())]
    Busy { path: PathBuf },
    #[error("trading ledger: {0}")]
    Sql(rusqlite::Error),
}

/// The schema version this kobe writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i32 = 4;

/// Decisions after a rowid that have no order, by client order id. The `+` keeps SQLite from
/// walking the client-order-id index for the order (which reads every decision ever made and
/// tests each rowid): it searches the rowids past the mark and sorts those few.
const UNSENT_AFTER: &str = "SELECT d.rowid, d.client_order_id, d.session, d.strategy, d.symbol, d.side, d.qty, d.price_ref, d.stop, d.target, d.reason, d.limit_price, d.trigger_price
     FROM decisions d LEFT JOIN orders o ON o.client_order_id = d.client_order_id
     WHERE d.rowid > ?1 AND o.client_order_id IS NULL ORDER BY +d.client_order_id";

/// The trading ledger failing is a storage failure for any job: the run stops rather than
/// trade on without its records (see `JobError::Storage`).
impl From<LedgerError> for kobe_actors::job::JobError {
    fn from(e: LedgerError) -> Self {
        kobe_actors::job::JobError::Storage(e.to_string())
    }
}

/// One open position as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenPosition {
    pub symbol: String,
    pub qty: i64,
    pub entry_price: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub strategy: Strategy,
    pub entry_session: NaiveDate,
    pub entry_order: String,
}

/// A decision not yet turned into an order (a crash between the two).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub client_order_id: String,
    pub session: NaiveDate,
    pub strategy: Strategy,
    pub symbol: String,
    pub side: Side,
    pub qty: i64,
    pub price_ref: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    /// A limit entry's price; `None`: a market order.
    pub limit: Option<f64>,
    /// A resting stop order's trigger (a position's stop re-armed at the broker); `None` for
    /// orders that trade now.
    pub trigger: Option<f64>,
    pub reason: DecisionReason,
}

/// An order the ledger has sent and the broker has not finished (no fill can be lost: each
/// cycle asks the broker about these).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOrder {
    pub client_order_id: String,
    /// The session of the decision it was sent for.
    pub session: NaiveDate,
    pub symbol: String,
    pub side: Side,
    pub status: OrderStatus,
    /// A `Stop` is a resting protective stop, not an order in flight.
    pub order_type: OrderKind,
}

pub struct TradingLedger {
    /// Only the ledger's own modules speak SQL: everyone else uses its calls.
    conn: Connection,
    /// What the repeated reads answered, while nothing has been written.
    memo: memo::ReadMemo,
    /// The closed trades' P&L, extended as trades are added.
    closed: closed_pnl::ClosedPnl,
    /// A replay's connection commits without fsyncs: it is set to sync again before it
    /// closes, so the checkpoint made on the way out is durable.
    sync_on_close: bool,
}

impl Drop for TradingLedger {
    fn drop(&mut self) {
        if self.sync_on_close {
            kobe_actors::db_check::sync_before_close(&self.conn, "trading ledger");
        }
    }
}

impl Decision {
    /// Selling all of `pos` on `session` at market, referenced to `price`, for `reason`.
    pub fn exit(pos: &OpenPosition, session: NaiveDate, price: f64, reason: ExitReason) -> Self {
        Self {
            client_order_id: client_order_id(session, pos.strategy, &pos.symbol, "sell"),
            session,
            strategy: pos.strategy,
            symbol: pos.symbol.clone(),
            side: Side::Sell,
            qty: pos.qty,
            price_ref: price,
            stop: None,
            target: None,
            limit: None,
            trigger: None,
            reason: DecisionReason::Exit(reason),
        }
    }
}

/// The client order id of a decision: the same decision always gets the same id. `what`:
/// `buy`, `sell`, or `stop` (a position's stop re-armed at the broker).
pub fn client_order_id(session: NaiveDate, strategy: Strategy, symbol: &str, what: &str) -> String {
    format!("{session}-{strategy}-{symbol}-{what}")
}

impl TradingLedger {
    /// Records a decision before its order is sent. Recording it again changes nothing.
    pub fn record_decision(&self, d: &Decision, at: &str) -> Result<bool, LedgerError> {
        let n = self.conn.prepare_cached("INSERT OR IGNORE INTO decisions (client_order_id, session, strategy, symbol, side, qty, price_ref, stop, target, reason, at, limit_price, trigger_price)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?.execute(params![d.client_order_id, d.session.to_string(), d.strategy, d.symbol, d.side, d.qty, d.price_ref, d.stop, d.target, d.reason, at, d.limit, d.trigger],
        )?;
        Ok(n == 1)
    }

    /// Decisions that have no order yet.
    pub fn unsent_decisions(&self) -> Result<Vec<Decision>, LedgerError> {
        self.remembered_at("unsent_decisions".into(), |version| {
            // Only decisions past the mark can be unsent (see `memo::SentMark`): the anti-join
            // reads the last few decisions, not every decision ever made.
            let from = self.memo.sent_mark(version);
            let newest: i64 = self
                .conn
                .prepare_cached("SELECT COALESCE(MAX(rowid), 0) FROM decisions")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = self.conn.prepare_cached(UNSENT_AFTER)?;
            let rows = stmt.query_map([from], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Decision {
                        client_order_id: r.get(1)?,
                        session: session_at(r, 2, "decisions", 0)?,
                        strategy: typed(r, 3, "decisions", 0)?,
                        symbol: r.get(4)?,
                        side: typed(r, 5, "decisions", 0)?,
                        qty: r.get(6)?,
                        price_ref: r.get(7)?,
                        stop: r.get(8)?,
                        target: r.get(9)?,
                        reason: typed(r, 10, "decisions", 0)?,
                        limit: r.get(11)?,
                        trigger: r.get(12)?,
                    },
                ))
            })?;
            let unsent: Vec<(i64, Decision)> = rows.collect::<Result<_, _>>()?;
            // Committed reads only: a mark set inside a transaction could count a decision
            // that a rollback takes away, and its rowid be given to an unsent one.
            if self.conn.is_autocommit() {
                let first_unsent = unsent.iter().map(|(rowid, _)| *rowid).min();
                let mark = first_unsent.map_or(newest, |r| newest.min(r - 1));
                self.memo.set_sent_mark(version, mark);
            }
            Ok(unsent.into_iter().map(|(_, d)| d).collect())
        })
    }

    pub fn positions(&self) -> Result<Vec<OpenPosition>, LedgerError> {
        self.remembered("positions".into(), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT symbol, qty, entry_price, stop, target, strategy, entry_session, entry_order FROM positions ORDER BY symbol",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(OpenPosition {
                    symbol: r.get(0)?,
                    qty: r.get(1)?,
                    entry_price: r.get(2)?,
                    stop: r.get(3)?,
                    target: r.get(4)?,
                    strategy: typed(r, 5, "positions", 0)?,
                    entry_session: session_at(r, 6, "positions", 0)?,
                    entry_order: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn cash(&self) -> Result<f64, LedgerError> {
        self.remembered("cash".into(), || {
            Ok(self
                .conn
                .prepare_cached("SELECT cash FROM account WHERE id = 1")?
                .query_row([], |r| r.get(0))?)
        })
    }

    /// The decisions of one side made on `session` to trade now (not resting stops): (symbol,
    /// qty, price, reason), in id order.
    pub fn decisions_on(
        &self,
        session: NaiveDate,
        side: Side,
    ) -> Result<Vec<(String, i64, f64, DecisionReason)>, LedgerError> {
        self.remembered(format!("decisions_on {session} {side}"), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT symbol, qty, price_ref, reason, client_order_id FROM decisions WHERE session = ?1 AND side = ?2 AND trigger_price IS NULL ORDER BY client_order_id",
            )?;
            let rows = stmt.query_map(params![session.to_string(), side], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    typed(r, 3, "decisions", 4)?,
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The entries of `session` the broker took (or has not answered yet): the buy decisions
    /// whose order was not refused, as (symbol, qty, price), in id order.
    pub fn entries_taken_on(
        &self,
        session: NaiveDate,
    ) -> Result<Vec<(String, i64, f64)>, LedgerError> {
        self.remembered(format!("entries_taken_on {session}"), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT d.symbol, d.qty, d.price_ref FROM decisions d
                 LEFT JOIN orders o ON o.client_order_id = d.client_order_id
                 WHERE d.session = ?1 AND d.side = 'buy' AND d.trigger_price IS NULL
                   AND (o.status IS NULL OR o.status != 'rejected')
                 ORDER BY d.client_order_id",
            )?;
            let rows = stmt.query_map(params![session.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The orders of `session` the broker refused: (symbol, qty, its words), in id order.
    pub fn refusals_on(
        &self,
        session: NaiveDate,
    ) -> Result<Vec<(String, i64, String)>, LedgerError> {
        self.remembered(format!("refusals_on {session}"), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT symbol, qty, COALESCE(refusal, 'refused') FROM orders
                 WHERE session = ?1 AND status = 'rejected' ORDER BY client_order_id",
            )?;
            let rows = stmt.query_map(params![session.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Symbols exited on `session`: by an exit decision, or by an exit the broker made (a
    /// bracket leg, a resting stop).
    pub fn exited_on(&self, session: NaiveDate) -> Result<Vec<String>, LedgerError> {
        self.remembered(format!("exited_on {session}"), || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT symbol FROM trades WHERE exit_session = ?1
                 UNION SELECT symbol FROM decisions WHERE session = ?1 AND side = 'sell' AND trigger_price IS NULL
                 ORDER BY symbol",
            )?;
            let rows = stmt.query_map(params![session.to_string()], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn has_decision(&self, client_order_id: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM decisions WHERE client_order_id = ?1")?
            .query_row(params![client_order_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The equity recorded at the last close before `session`, if any.
    pub fn equity_before(&self, session: NaiveDate) -> Result<Option<f64>, LedgerError> {
        self.remembered(format!("equity_before {session}"), || {
            Ok(self
                .conn
                .prepare_cached(
                    "SELECT equity FROM equity WHERE session < ?1 ORDER BY session DESC LIMIT 1",
                )?
                .query_row(params![session.to_string()], |r| r.get(0))
                .optional()?)
        })
    }

    pub fn record_equity(
        &self,
        session: NaiveDate,
        cash: f64,
        equity: f64,
    ) -> Result<(), LedgerError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO equity (session, cash, equity) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![session.to_string(), cash, equity])?;
        Ok(())
    }

    /// The daily equity curve, oldest first.
    pub fn equity_curve(&self) -> Result<Vec<(NaiveDate, f64)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT session, equity FROM equity ORDER BY session")?;
        let rows = stmt.query_map([], |r| {
            Ok((session_at(r, 0, "equity", 0)?, r.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows of a query as JSON objects with the given column names.
    fn rows_json(&self, sql: &str, cols: &[&str]) -> Result<Vec<serde_json::Value>, LedgerError> {
        self.rows_json_with(sql, [], cols)
    }

    /// `rows_json` for a query with parameters.
    fn rows_json_with(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        cols: &[&str],
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| {
            let mut m = serde_json::Map::new();
            for (i, c) in cols.iter().enumerate() {
                let v: rusqlite::types::Value = r.get(i)?;
                let json = match v {
                    rusqlite::types::Value::Null => serde_json::Value::Null,
                    rusqlite::types::Value::Integer(n) => serde_json::Value::from(n),
                    rusqlite::types::Value::Real(f) => serde_json::Value::from(f),
                    rusqlite::types::Value::Text(t) => serde_json::Value::from(t),
                    rusqlite::types::Value::Blob(_) => serde_json::Value::Null,
                };
                m.insert(c.to_string(), json);
            }
            Ok(serde_json::Value::Object(m))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The closed trades, oldest entry first, as `kobe ledger export` prints them.
    pub fn trades_json(&self) -> Result<Vec<serde_json::Value>, LedgerError> {
        self.trades_json_where("", [])
    }

    /// The trades closed on `session`, as `trades_json` prints them, in its order.
    pub fn trades_json_closed_on(
        &self,
        session: NaiveDate,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        self.trades_json_where("WHERE exit_session = ?1", params![session.to_string()])
    }

    /// The trades `filter` keeps, each with every column, oldest entry first.
    fn trades_json_where(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<serde_json::Value>, LedgerError> {
        const COLUMNS: [&str; 12] = [
            "entry_order",
            "exit_order",
            "symbol",
            "strategy",
            "qty",
            "entry_session",
            "entry_price",
            "exit_session",
            "exit_price",
            "reason",
            "pnl",
            "r",
        ];
        let sql = format!(
            "SELECT {} FROM trades {filter} ORDER BY entry_order, exit_order",
            COLUMNS.join(", ")
        );
        self.rows_json_with(&sql, params, &COLUMNS)
    }

    /// How many trades closed on or before `session`, and their P&L summed in `trades_json`'s
    /// order (so the sum is the same to the last bit as one taken over that list).
    pub fn realized_through(&self, session: NaiveDate) -> Result<(usize, f64), LedgerError> {
        let pnls = self.closed_pnl_through(session)?;
        Ok((pnls.len(), pnls.into_iter().sum::<f64>() + 0.0))
    }

    /// Everything, as `kobe ledger export` prints it.
    pub fn export(&self) -> Result<serde_json::Value, LedgerError> {
        let table = |sql: &str, cols: &[&str]| self.rows_json(sql, cols);
        Ok(serde_json::json!({
            "orders": table("SELECT client_order_id, session, symbol, side, order_type, qty, limit_price, stop, target, status, submitted_at, broker_id FROM orders ORDER BY client_order_id",
                &["client_order_id", "session", "symbol", "side", "type", "qty", "limit_price", "stop", "target", "status", "submitted_at", "broker_id"])?,
            "fills": table("SELECT client_order_id, session, symbol, side, qty, price, at FROM fills ORDER BY client_order_id",
                &["client_order_id", "session", "symbol", "side", "qty", "price", "at"])?,
            "positions": table("SELECT symbol, qty, entry_price, stop, target, strategy, entry_session, entry_order FROM positions ORDER BY symbol",
                &["symbol", "qty", "entry_price", "stop", "target", "strategy", "entry_session", "entry_order"])?,
            "trades": self.trades_json()?,
            "equity": table("SELECT session, cash, equity FROM equity ORDER BY session", &["session", "cash", "equity"])?,
        }))
    }

    /// Trades, win rate, profit factor, max drawdown and final equity, from the ledger.
    pub fn performance(&self, starting_equity: f64) -> Result<Performance, LedgerError> {
        let pnls = self.closed_pnl()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT equity FROM equity ORDER BY session")?;
        let curve: Vec<f64> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let wins = pnls.iter().filter(|p| **p > 0.0).count();
        let gross_win: f64 = pnls.iter().filter(|p| **p > 0.0).sum();
        let gross_loss: f64 = -pnls.iter().filter(|p| **p < 0.0).sum::<f64>();
        let mut peak = starting_equity;
        let mut max_dd: f64 = 0.0;
        for e in &curve {
            peak = peak.max(*e);
            max_dd = max_dd.max((peak - e) / peak);
        }
        Ok(Performance {
            trades: pnls.len(),
            win_rate: (!pnls.is_empty()).then(|| wins as f64 / pnls.len() as f64),
            profit_factor: (gross_loss > 0.0).then(|| gross_win / gross_loss),
            max_drawdown: max_dd,
            final_equity: curve.last().copied().unwrap_or(starting_equity),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Performance {
    pub trades: usize,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub max_drawdown: f64,
    pub final_equity: f64,
}

impl std::fmt::Display for Performance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trading: {} trades, win rate {}, profit factor {}, max drawdown {:.1}%, final equity {:.2}",
            self.trades,
            self.win_rate.map_or("-".into(), |w| format!("{:.0}%", w * 100.0)),
            self.profit_factor.map_or("-".into(), |p| format!("{p:.2}")),
            self.max_drawdown * 100.0,
            self.final_equity
        )
    }
}
