//! Reading the ledger's closed-set columns (sides, strategies, statuses, order types, reasons,
//! session dates) strictly: a value kobe does not know is a `BadRow` naming the table, the row
//! and the value — checked for every row when the ledger opens, and on every typed read. Its
//! number columns are checked when it opens: numbers, finite, whole for quantities.

use chrono::NaiveDate;
use rusqlite::{Connection, Row};

use super::LedgerError;
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

/// Every value of a closed set the ledger holds (sides, strategies, statuses, order types,
/// reasons, session dates) is one kobe knows, and every number column holds a number: a ledger
/// edited by hand or written by another program is refused, naming the row, before anything
/// trades on it — when it opens, and by the runner's check before anything starts. `c` holds
/// the current schema. One pass over each table.
pub(super) fn check_rows(c: &Connection) -> Result<(), LedgerError> {
    for (table, key, columns) in CHECKED {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let mut stmt = c.prepare(&format!("SELECT {key}, {} FROM {table}", names.join(", ")))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            for (i, (name, column)) in columns.iter().enumerate() {
                column.check(r, i + 1, name, table)?;
            }
        }
    }
    Ok(())
}

/// The tables a ledger's history is in: every checked table but the account.
pub(super) fn history_tables() -> impl Iterator<Item = &'static str> {
    CHECKED
        .iter()
        .map(|(table, _, _)| *table)
        .filter(|table| *table != "account")
}

/// What a checked column must hold.
#[derive(Clone, Copy)]
enum Column {
    Side,
    Strategy,
    OrderStatus,
    OrderKind,
    DecisionReason,
    ExitReason,
    /// A session date, `YYYY-MM-DD`.
    Session,
    /// A whole number (a quantity).
    Whole,
    /// A finite number (a price, an amount of money, a multiple).
    Finite,
    /// A finite number, or nothing (a stop or a target not set).
    FiniteOrNone,
}

impl Column {
    /// Column `idx` of `r`, named `name`, holds what `self` allows; else a `BadRow` naming the
    /// row by column 0.
    fn check(
        self,
        r: &Row<'_>,
        idx: usize,
        name: &'static str,
        table: &'static str,
    ) -> rusqlite::Result<()> {
        match self {
            Column::Side => typed::<Side>(r, idx, table, 0).map(drop),
            Column::Strategy => typed::<Strategy>(r, idx, table, 0).map(drop),
            Column::OrderStatus => typed::<OrderStatus>(r, idx, table, 0).map(drop),
            Column::OrderKind => typed::<OrderKind>(r, idx, table, 0).map(drop),
            Column::DecisionReason => typed::<DecisionReason>(r, idx, table, 0).map(drop),
            Column::ExitReason => typed::<ExitReason>(r, idx, table, 0).map(drop),
            Column::Session => session_at(r, idx, table, 0).map(drop),
            Column::Whole | Column::Finite | Column::FiniteOrNone => {
                number_at(r, idx, name, self, table)
            }
        }
    }
}

/// A table, the expression that names one of its rows, and its checked columns.
type Checked = (
    &'static str,
    &'static str,
    &'static [(&'static str, Column)],
);

/// Every checked column of the ledger, by table. Prices, money and quantities are read as
/// numbers everywhere: anything else in one (a text, a blob, an infinity, a fraction of a
/// share) is refused, like an unknown side, before a report sums it or a cycle trades on it.
const CHECKED: [Checked; 7] = {
    use Column::*;
    [
        (
            "orders",
            "client_order_id",
            &[
                ("side", Side),
                ("status", OrderStatus),
                ("order_type", OrderKind),
                ("session", Session),
                ("qty", Whole),
                ("stop", FiniteOrNone),
                ("target", FiniteOrNone),
                ("limit_price", FiniteOrNone),
            ],
        ),
        (
            "decisions",
            "client_order_id",
            &[
                ("side", Side),
                ("strategy", Strategy),
                ("reason", DecisionReason),
                ("session", Session),
                ("qty", Whole),
                ("price_ref", Finite),
                ("stop", FiniteOrNone),
                ("target", FiniteOrNone),
                ("limit_price", FiniteOrNone),
                ("trigger_price", FiniteOrNone),
            ],
        ),
        (
            "fills",
            "client_order_id",
            &[
                ("side", Side),
                ("session", Session),
                ("qty", Whole),
                ("price", Finite),
            ],
        ),
        (
            "positions",
            "symbol",
            &[
                ("strategy", Strategy),
                ("entry_session", Session),
                ("qty", Whole),
                ("entry_price", Finite),
                ("stop", FiniteOrNone),
                ("target", FiniteOrNone),
            ],
        ),
        (
            "trades",
            "entry_order || ' -> ' || exit_order",
            &[
                ("strategy", Strategy),
                ("reason", ExitReason),
                ("entry_session", Session),
                ("exit_session", Session),
                ("qty", Whole),
                ("entry_price", Finite),
                ("exit_price", Finite),
                ("pnl", Finite),
                ("r", FiniteOrNone),
            ],
        ),
        (
            "equity",
            "session",
            &[("session", Session), ("cash", Finite), ("equity", Finite)],
        ),
        ("account", "CAST(id AS TEXT)", &[("cash", Finite)]),
    ]
};

/// A number column's value at `idx` is what `kind` allows; else a `BadRow` naming the row by
/// column 0.
fn number_at(
    r: &Row<'_>,
    idx: usize,
    name: &'static str,
    kind: Column,
    table: &'static str,
) -> rusqlite::Result<()> {
    use rusqlite::types::ValueRef;
    let shown = match (r.get_ref(idx)?, kind) {
        (ValueRef::Integer(_), _) | (ValueRef::Null, Column::FiniteOrNone) => return Ok(()),
        (ValueRef::Real(x), Column::Finite | Column::FiniteOrNone) if x.is_finite() => {
            return Ok(())
        }
        (ValueRef::Real(x), _) => x.to_string(),
        (ValueRef::Null, _) => "nothing".to_string(),
        (ValueRef::Text(t), _) => String::from_utf8_lossy(t).into_owned(),
        (ValueRef::Blob(b), _) => format!("a blob of {} bytes", b.len()),
    };
    let value = UnknownValue {
        what: name,
        value: shown,
    };
    Err(bad_row(r, table, 0, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trading::TradingLedger;
    use kobe_actors::atomic_file::Durability;

    #[test]
    fn a_number_column_holding_anything_but_a_number_is_refused_at_open_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        drop(TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash).unwrap());
        let db = Connection::open(&path).unwrap();
        db.execute_batch(
            "INSERT INTO trades VALUES ('E1', 'X1', 'AAA', 'IBS_RSI', 10, '2024-01-02', 10.0,
                 '2024-01-03', 11.0, 'target', 10.0, NULL);
             INSERT INTO positions VALUES ('BBB', 5, 20.0, NULL, NULL, 'IBS_RSI', '2024-01-02',
                 'E2');",
        )
        .unwrap();
        drop(db);
        let pristine = std::fs::read(&path).unwrap();
        let open_after = |edit: &str| {
            std::fs::write(&path, &pristine).unwrap();
            let db = Connection::open(&path).unwrap();
            db.execute_batch(edit).unwrap();
            drop(db);
            TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash)
        };
        // Numbers, whole where a quantity is, and nothing where a stop may be unset: kept.
        for fine in [
            "UPDATE trades SET pnl = 10",
            "UPDATE trades SET r = NULL",
            "UPDATE positions SET stop = 19.5",
        ] {
            assert!(open_after(fine).is_ok(), "{fine}");
        }
        for (edit, named) in [
            (
                "UPDATE trades SET pnl = 'lost'",
                r#"table trades, row "E1 -> X1": unknown pnl "lost""#,
            ),
            (
                "UPDATE trades SET exit_price = 9e999",
                r#"table trades, row "E1 -> X1": unknown exit_price "inf""#,
            ),
            (
                "UPDATE positions SET qty = 2.5",
                r#"table positions, row "BBB": unknown qty "2.5""#,
            ),
            (
                "UPDATE account SET cash = x'00ff'",
                r#"table account, row "1": unknown cash "a blob of 2 bytes""#,
            ),
        ] {
            match open_after(edit) {
                Err(LedgerError::BadRow(bad)) => assert_eq!(bad.to_string(), named, "{edit}"),
                other => panic!("{edit}: {:?}", other.map(|_| ())),
            }
        }
    }
}
