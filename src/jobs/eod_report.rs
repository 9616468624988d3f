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
            // The latest visible close of each position (a replay's kept store lends its bars;
            // a live store reads the positions' recent ones).
            let closes: std::collections::BTreeMap<String, f64> = match visible {
                Some(day) if !held.is_empty() => {
                    let window = crate::scan::window(day);
                    app.store().with_series(&held, Some(window), |series| {
                        held.iter()
                            .filter_map(|symbol| {
                                let last = series.up_to(symbol, day)?.last()?;
                                Some((symbol.clone(), last.close))
                            })
                            .collect()
                    })
                }
                _ => Default::default(),
            };
            let mark = |symbol: &str| -> Option<f64> { closes.get(symbol).copied() };
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
