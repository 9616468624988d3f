//! `kobe positions`, `kobe trades` and `kobe ledger export`: the trading ledger, for a person
//! or as JSON.

use std::fmt::Write as _;

use super::{ensure, CommandError, Context, Done};
use crate::trading::{LedgerError, TradingLedger};

/// The trading ledger (`state/ledger.sqlite`), which must exist: these commands never create it.
fn open_ledger(ctx: &Context) -> Result<TradingLedger, CommandError> {
    let config = ctx.load_config()?;
    let state = ctx.home.state();
    let path = state.join("ledger.sqlite");
    // A missing ledger in a home that has traded is named as lost, not as "nothing yet"; one
    // that is there is checked whole by the open.
    if !path.exists() {
        TradingLedger::check(&state)?;
    }
    ensure(path.exists(), || {
        format!(
            "no trading ledger in {} yet: nothing has traded here",
            state.display()
        )
    })?;
    Ok(TradingLedger::open(
        &state,
        config.trading.starting_equity,
        kobe_actors::atomic_file::Durability::PowerLoss,
    )?)
}

#[derive(Debug, clap::Args)]
pub struct Ledger {
    #[command(subcommand)]
    pub action: LedgerAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum LedgerAction {
    /// JSON {orders, fills, positions, trades, equity}.
    Export,
}

impl Ledger {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        let LedgerAction::Export = self.action;
        let ledger = open_ledger(&ctx)?;
        Ok((serde_json::to_string_pretty(&ledger.export()?)? + "\n").into())
    }
}

#[derive(Debug, clap::Args)]
pub struct Positions {}

impl Positions {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        Ok(positions(&open_ledger(&ctx)?)?.into())
    }
}

#[derive(Debug, clap::Args)]
pub struct Trades {}

impl Trades {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        Ok(trades(&open_ledger(&ctx)?)?.into())
    }
}

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
