//! `kobe positions` and `kobe trades`: the book for a person.

use std::fmt::Write as _;

use crate::trading::{LedgerError, TradingLedger};

pub fn positions(ledger: &TradingLedger) -> Result<String, LedgerError> {
    let positions = ledger.positions()?;
    let mut out = format!(
        "{} open positions, cash {:.2}\n",
        positions.len(),
        ledger.cash()?
    );
    if positions.is_empty() {
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "{:<7} {:<11} {:>6} {:>9} {:>9} {:>9}  since",
        "symbol", "strategy", "qty", "entry", "stop", "target"
    );
    for p in positions {
        let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}"));
        let _ = writeln!(
            out,
            "{:<7} {:<11} {:>6} {:>9.2} {:>9} {:>9}  {}",
            p.symbol,
            p.strategy,
            p.qty,
            p.entry_price,
            f(p.stop),
            f(p.target),
            p.entry_session
        );
    }
    Ok(out)
}

pub fn trades(ledger: &TradingLedger) -> Result<String, LedgerError> {
    let trades = ledger.trades_json()?;
    let mut out = format!("{} closed trades\n", trades.len());
    if trades.is_empty() {
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "{:<7} {:<11} {:<10} {:<10} {:>9} {:>9} {:>10} {:>6}  exit",
        "symbol", "strategy", "entry", "exit", "in", "out", "pnl", "R"
    );
    for t in &trades {
        let _ = writeln!(
            out,
            "{:<7} {:<11} {:<10} {:<10} {:>9.2} {:>9.2} {:>10.2} {:>6}  {}",
            t["symbol"].as_str().unwrap_or(""),
            t["strategy"].as_str().unwrap_or(""),
            t["entry_session"].as_str().unwrap_or(""),
            t["exit_session"].as_str().unwrap_or(""),
            t["entry_price"].as_f64().unwrap_or(0.0),
            t["exit_price"].as_f64().unwrap_or(0.0),
            t["pnl"].as_f64().unwrap_or(0.0),
            t["r"].as_f64().map_or("-".into(), |r| format!("{r:+.2}")),
            t["reason"].as_str().unwrap_or("")
        );
    }
    Ok(out)
}
