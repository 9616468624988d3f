//! Reading the ledger's closed-set columns (sides, strategies, statuses, order types, reasons,
//! session dates) strictly: a value kobe does not know is a `BadRow` naming the table, the row
//! and the value — checked for every row when the ledger opens, and on every typed read.

use chrono::NaiveDate;
use rusqlite::{Connection, Row};

use super::{LedgerError, TradingLedger};
use crate::domain::{DecisionReason, ExitReason, OrderKind, OrderStatus, Side, UnknownValue};
use crate::strategy::signals::Strategy;

/// Where an unknown value sits: the table, the row's key, and the value.
#[derive(Debug, thiserror::Error)]
#[error("table {table}, row {row:?}: {value}")]
pub struct BadRow {
    pub table: &'static str,
    pub row: String,
    pub value: UnknownValue,
}

impl From<rusqlite::Error> for LedgerError {
    /// A bad row travels through rusqlite as a conversion failure (see `typed`); everything
    /// else is SQL.
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::FromSqlConversionFailure(i, t, inner) => {
                match inner.downcast::<BadRow>() {
                    Ok(bad) => LedgerError::BadRow(*bad),
                    Err(inner) => {
                        LedgerError::Sql(rusqlite::Error::FromSqlConversionFailure(i, t, inner))
                    }
                }
            }
            other => LedgerError::Sql(other),
        }
    }
}

/// Column `idx` of a row of `table` read as a closed set's value; an unknown text is a
/// `BadRow` naming the row by its key column `key`.
pub(crate) fn typed<T>(
    r: &Row<'_>,
    idx: usize,
    table: &'static str,
    key: usize,
) -> rusqlite::Result<T>
where
    T: std::str::FromStr<Err = UnknownValue>,
{
    let text: String = r.get(idx)?;
    text.parse().map_err(|value| bad_row(r, table, key, value))
}

/// Column `idx` as a session date (`YYYY-MM-DD`); anything else is a `BadRow`.
pub(crate) fn session_at(
    r: &Row<'_>,
    idx: usize,
    table: &'static str,
    key: usize,
) -> rusqlite::Result<NaiveDate> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|_| {
        let value = UnknownValue {
            what: "session date",
            value: text,
        };
        bad_row(r, table, key, value)
    })
}

fn bad_row(r: &Row<'_>, table: &'static str, key: usize, value: UnknownValue) -> rusqlite::Error {
    let row = r.get::<_, String>(key).unwrap_or_default();
    let bad = Box::new(BadRow { table, row, value });
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, bad)
}

impl TradingLedger {
    /// Every value of a closed set the ledger holds (sides, strategies, statuses, order types,
    /// reasons, session dates) is one kobe knows: a ledger edited by hand or written by another
    /// program is refused at open, naming the row, before anything trades on it.
    pub(super) fn check_rows(&self) -> Result<(), LedgerError> {
        fn each(
            conn: &Connection,
            sql: &str,
            check: impl Fn(&Row<'_>) -> rusqlite::Result<()>,
        ) -> Result<(), LedgerError> {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                check(row)?;
            }
            Ok(())
        }
        let c = &self.conn;
        each(
            c,
            "SELECT client_order_id, side, status, order_type, session FROM orders",
            |r| {
                typed::<Side>(r, 1, "orders", 0)?;
                typed::<OrderStatus>(r, 2, "orders", 0)?;
                typed::<OrderKind>(r, 3, "orders", 0)?;
                session_at(r, 4, "orders", 0).map(drop)
            },
        )?;
        each(
            c,
            "SELECT client_order_id, side, strategy, reason, session FROM decisions",
            |r| {
                typed::<Side>(r, 1, "decisions", 0)?;
                typed::<Strategy>(r, 2, "decisions", 0)?;
                typed::<DecisionReason>(r, 3, "decisions", 0)?;
                session_at(r, 4, "decisions", 0).map(drop)
            },
        )?;
        each(c, "SELECT client_order_id, side, session FROM fills", |r| {
            typed::<Side>(r, 1, "fills", 0)?;
            session_at(r, 2, "fills", 0).map(drop)
        })?;
        each(
            c,
            "SELECT symbol, strategy, entry_session FROM positions",
            |r| {
                typed::<Strategy>(r, 1, "positions", 0)?;
                session_at(r, 2, "positions", 0).map(drop)
            },
        )?;
        each(
            c,
            "SELECT entry_order || ' -> ' || exit_order, strategy, reason, entry_session, exit_session FROM trades",
            |r| {
                typed::<Strategy>(r, 1, "trades", 0)?;
                typed::<ExitReason>(r, 2, "trades", 0)?;
                session_at(r, 3, "trades", 0)?;
                session_at(r, 4, "trades", 0).map(drop)
            },
        )?;
        each(c, "SELECT session FROM equity", |r| {
            session_at(r, 0, "equity", 0).map(drop)
        })
    }
}
