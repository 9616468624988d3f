//! EOD_REPORT (close − 30 min): the day's P&L from the trading ledger — equity, cash, realized
//! and unrealized P&L, open positions with their R, trades closed today, running statistics —
//! in `reports/pnl_YYYYMMDD.{json,md}`, with the equity curve in `reports/equity.svg` (in a
//! replay, drawn at its last session only).

use std::sync::Arc;

use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::data::visibility::last_visible_date;
use crate::trading::KeptLedger;

pub struct EodReport {
    pub app: Arc<App>,
    /// The trading ledger, kept open between sessions.
    ledger: KeptLedger,
}

impl EodReport {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            ledger: KeptLedger::default(),
        }
    }
}

impl Job for EodReport {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let report = self.ledger.with(app, |ledger| {
            let now = ctx.clock.now();
            // Positions are marked at the latest close this instant may see (DESIGN §7).
            let visible = last_visible_date(ctx.session, now);
            let held: Vec<String> = ledger.positions()?.into_iter().map(|p| p.symbol).collect();
            // The recent bars of the positions only, from the store's snapshot.
            let series = match visible {
                Some(day) if !held.is_empty() => {
                    app.store()
                        .load_window(Some(&held), Some(crate::scan::window(day)))
                        .series
                }
                _ => Default::default(),
            };
            // Loaded with `until` = the visible date: the last bar is the latest visible close.
            let mark =
                |symbol: &str| -> Option<f64> { series.get(symbol)?.last().map(|b| b.close) };
            let starting = app.config.trading.starting_equity;
            let report = crate::report::pnl(ledger, ctx.session, now, starting, mark)?;
            let curve = match app.draws_equity_chart(ctx.session) {
                true => Some(ledger.equity_curve()?),
                false => None,
            };
            Ok::<_, JobError>((report, curve))
        })?;
        let (report, curve) = report;
        crate::report::write(app.home.root(), &report, curve.as_deref(), app.durability())
            .map_err(JobError::Recoverable)?;
        let summary = format!(
            "equity {:.2} ({:+.2} today), {} open, {} closed today",
            report.equity,
            report.day_pnl,
            report.open_positions.len(),
            report.trades_today.len()
        );
        app.notifier
            .send(format!("kobe EOD {}: {summary}", ctx.session));
        Ok(JobOutput::ok(summary))
    }
}
